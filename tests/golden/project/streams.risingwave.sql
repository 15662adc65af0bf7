-- materializer: project fraud, engine risingwave

create table if not exists transactions (
    tx_id varchar,
    cc_num varchar,
    merchant varchar,
    amount numeric,
    ts timestamptz
) append only
with (
    connector = 'kafka',
    topic = 'transactions',
    properties.bootstrap.server = 'redpanda:9092',
    scan.startup.mode = 'earliest'
)
format plain encode json;

create view transactions__all as
select
    tx_id,
    cc_num,
    merchant,
    amount,
    ts
from raw.transactions_history
where ts < cast('2026-11-01T00:00:00+00:00' as timestamptz)
union all
select
    tx_id,
    cc_num,
    merchant,
    amount,
    ts
from transactions
where ts >= cast('2026-11-01T00:00:00+00:00' as timestamptz);

create table if not exists predictions (
    tx_id varchar,
    predicted_at timestamptz,
    score double precision,
    model_version varchar,
    context jsonb,
    flagged boolean
) append only
with (
    connector = 'kafka',
    topic = 'model.predictions',
    properties.bootstrap.server = 'redpanda:9092',
    scan.startup.mode = 'latest'
)
format plain encode json;

create table if not exists chargebacks (
    tx_id varchar,
    reported_at timestamptz,
    is_fraud integer
) append only;

create view chargebacks__all as
select
    tx_id,
    reported_at,
    is_fraud
from raw.chargebacks_history
where reported_at < cast('2026-11-01T00:00:00+00:00' as timestamptz)
union all
select
    tx_id,
    reported_at,
    is_fraud
from chargebacks
where reported_at >= cast('2026-11-01T00:00:00+00:00' as timestamptz);

create materialized view card_activity as
with events as (
    select
        cc_num,
        ts,
        amount
    from transactions__all
),

windowed as (
    -- each event once per window that holds it: t - W <= ts <= t
    select
        '1d' as _window,
        events.*
    from events
    where ts <= now()
        and ts + interval '24 hours' >= now()

    union all

    select
        '1h' as _window,
        events.*
    from events
    where ts <= now()
        and ts + interval '1 hour' >= now()
),

aggregated as (
    select
        cc_num,
        _window,
        max(ts) as _event_ts,
        count(*) as _tx_count,
        sum(amount) as _amount_sum
    from windowed
    group by cc_num, _window
),

final as (
    select
        cc_num,
        max(case when _window = '1d' then _event_ts end) as _event_ts,
        coalesce(max(case when _window = '1h' then _tx_count end), 0) as tx_count_1h,
        max(case when _window = '1h' then _amount_sum end) as amount_sum_1h,
        max(case when _window = '1d' then _tx_count end) as tx_count_1d,
        max(case when _window = '1d' then _amount_sum end) as amount_sum_1d
    from aggregated
    group by cc_num
)

select * from final;

create materialized view fraud_model__scored as
with deduped as (
    select distinct on (p.tx_id)
        p.tx_id as prediction_id,
        p.predicted_at as predicted_at,
        cast(p.score as double precision) as score,
        p.model_version
    from predictions as p
    where p.tx_id is not null
        and p.predicted_at <= now()
        and p.predicted_at + interval '24 hours' >= now()
    order by p.tx_id, p.predicted_at, p.score desc nulls last, p.model_version
),

labels as (
    select distinct on (o.tx_id)
        o.tx_id as prediction_id,
        cast(o.is_fraud as integer) as label
    from chargebacks__all as o
    where o.is_fraud is not null
        and o.reported_at <= now()
        and o.reported_at + interval '24 hours' >= now()
    order by o.tx_id, o.reported_at desc, o.is_fraud desc
),

final as (
    select
        deduped.prediction_id,
        deduped.predicted_at,
        deduped.predicted_at as cohort_at,
        deduped.score,
        deduped.score is not null and deduped.score >= 0 and deduped.score <= 1
            and (labels.label is null or labels.label in (0, 1)) as valid,
        labels.label is not null as labelled,
        labels.label,
        case when deduped.score >= 0.5 then 1 else 0 end as predicted,
        deduped.model_version
    from deduped
    left join labels on labels.prediction_id = deduped.prediction_id
)

select * from final;

create materialized view fraud_model__metrics as
with flagged as (
    select
        '1d' as window_name,
        scored.model_version,
        scored.valid and scored.labelled as in_metrics,
        scored.valid and scored.labelled as labelled,
        scored.valid and not scored.labelled as pending,
        not scored.valid as invalid,
        scored.label,
        scored.predicted,
        scored.score
    from fraud_model__scored as scored
    -- the cohort of window 1d: t - 1d <= cohort_at <= t
    where scored.cohort_at <= now()
        and scored.cohort_at + interval '24 hours' >= now()
),

cells as (
    select
        window_name,
        model_version,
        least(floor(score * 100), 99) as bin,
        count(*) filter (where in_metrics) as n,
        count(*) filter (where in_metrics and labelled) as n_labelled,
        count(*) filter (where pending) as pending,
        count(*) filter (where invalid) as n_invalid,
        count(*) filter (where in_metrics and label = 1 and predicted = 1) as tp,
        count(*) filter (where in_metrics and label = 0 and predicted = 1) as fp,
        count(*) filter (where in_metrics and label = 0 and predicted = 0) as tn,
        count(*) filter (where in_metrics and label = 1 and predicted = 0) as fn,
        sum(-(label * ln(least(greatest(score, 1e-15), 1 - 1e-15))
            + (1 - label) * ln(1 - least(greatest(score, 1e-15), 1 - 1e-15)))) filter (where in_metrics) as sum_log_loss,
        sum((score - label) * (score - label)) filter (where in_metrics) as sum_brier,
        sum(score) filter (where in_metrics) as sum_score
    from flagged
    group by window_name, model_version, least(floor(score * 100), 99)
),

sliced as (
    select
        window_name,
        'all' as slice,
        'all' as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells

    union all

    select
        window_name,
        'version' as slice,
        coalesce(cast(model_version as text), '(null)') as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells
),

counters as (
    select
        window_name,
        slice,
        slice_value,
        cast(sum(n) as bigint) as n,
        cast(sum(n_labelled) as bigint) as n_labelled,
        cast(sum(pending) as bigint) as pending,
        cast(sum(n_invalid) as bigint) as n_invalid,
        cast(sum(tp) as bigint) as tp,
        cast(sum(fp) as bigint) as fp,
        cast(sum(tn) as bigint) as tn,
        cast(sum(fn) as bigint) as fn,
        sum(sum_log_loss) as sum_log_loss,
        sum(sum_brier) as sum_brier
    from sliced
    group by window_name, slice, slice_value
    -- a group is listed when anything counts in it
    having sum(n) > 0 or sum(pending) > 0 or sum(n_invalid) > 0
),

histogram as (
    select
        window_name,
        slice,
        slice_value,
        bin,
        sum(tp + fn) as positives,
        sum(fp + tn) as negatives,
        sum(sum_score) as sum_score
    from sliced
    where n > 0
    group by window_name, slice, slice_value, bin
),

pairs_above as (
    -- negatives of a bin times positives of every higher bin (Mann-Whitney, binned)
    select
        low.window_name,
        low.slice,
        low.slice_value,
        sum(low.negatives * high.positives) as pairs
    from histogram as low
    inner join histogram as high
        on high.window_name = low.window_name and high.slice = low.slice and high.slice_value = low.slice_value
        and high.bin > low.bin
    group by low.window_name, low.slice, low.slice_value
),

pairs_tied as (
    -- pairs within a bin count one half
    select
        window_name,
        slice,
        slice_value,
        sum(negatives * positives) as pairs
    from histogram
    group by window_name, slice, slice_value
),

calibration as (
    -- 10 equal-width bins: bin b of 10 holds the 100-bins 10b .. 10b + 9
    select
        window_name,
        slice,
        slice_value,
        abs(sum(sum_score) - sum(positives)) as gap
    from histogram
    group by window_name, slice, slice_value, floor(bin / 10)
),

ece as (
    select
        window_name,
        slice,
        slice_value,
        sum(gap) as gap
    from calibration
    group by window_name, slice, slice_value
),

final as (
    select
        counters.window_name,
        counters.slice,
        counters.slice_value,
        counters.n,
        counters.n_labelled,
        cast(counters.n_labelled as double precision) / nullif(counters.n_labelled + counters.pending, 0) as coverage,
        counters.pending,
        counters.n_invalid,
        counters.tp,
        counters.fp,
        counters.tn,
        counters.fn,
        cast(counters.tp + counters.tn as double precision) / nullif(counters.n, 0) as accuracy,
        cast(counters.tp as double precision) / nullif(counters.tp + counters.fp, 0) as precision,
        cast(counters.tp as double precision) / nullif(counters.tp + counters.fn, 0) as recall,
        cast(2 * counters.tp as double precision) / nullif(2 * counters.tp + counters.fp + counters.fn, 0) as f1,
        cast(counters.tn as double precision) / nullif(counters.tn + counters.fp, 0) as specificity,
        cast(counters.tp + counters.fn as double precision) / nullif(counters.n, 0) as positive_rate,
        cast(counters.tp + counters.fp as double precision) / nullif(counters.n, 0) as predicted_positive_rate,
        counters.sum_log_loss / nullif(counters.n, 0) as log_loss,
        counters.sum_brier / nullif(counters.n, 0) as brier,
        (coalesce(pairs_above.pairs, 0) + 0.5 * coalesce(pairs_tied.pairs, 0))
            / nullif(cast(counters.tp + counters.fn as double precision) * (counters.fp + counters.tn), 0) as roc_auc,
        ece.gap / nullif(counters.n, 0) as ece,
        cast(null as double precision) as cost
    from counters
    left join pairs_above using (window_name, slice, slice_value)
    left join pairs_tied using (window_name, slice, slice_value)
    left join ece using (window_name, slice, slice_value)
)

select * from final;

create materialized view fraud_model__timeseries as
with flagged as (
    select
        to_timestamp(floor(extract(epoch from cohort_at) / 3600) * 3600) as bucket_start,
        model_version,
        valid and labelled as in_metrics,
        valid and labelled as labelled,
        valid and not labelled as pending,
        not valid as invalid,
        label,
        predicted,
        score
    from fraud_model__scored
    -- cohort_at <= t, in a bucket that started at most interval '24 hours' before t
    where cohort_at <= now()
        and to_timestamp(floor(extract(epoch from cohort_at) / 3600) * 3600) + interval '24 hours' >= now()
),

cells as (
    select
        bucket_start,
        model_version,
        least(floor(score * 100), 99) as bin,
        count(*) filter (where in_metrics) as n,
        count(*) filter (where in_metrics and labelled) as n_labelled,
        count(*) filter (where pending) as pending,
        count(*) filter (where invalid) as n_invalid,
        count(*) filter (where in_metrics and label = 1 and predicted = 1) as tp,
        count(*) filter (where in_metrics and label = 0 and predicted = 1) as fp,
        count(*) filter (where in_metrics and label = 0 and predicted = 0) as tn,
        count(*) filter (where in_metrics and label = 1 and predicted = 0) as fn,
        sum(-(label * ln(least(greatest(score, 1e-15), 1 - 1e-15))
            + (1 - label) * ln(1 - least(greatest(score, 1e-15), 1 - 1e-15)))) filter (where in_metrics) as sum_log_loss,
        sum((score - label) * (score - label)) filter (where in_metrics) as sum_brier,
        sum(score) filter (where in_metrics) as sum_score
    from flagged
    group by bucket_start, model_version, least(floor(score * 100), 99)
),

sliced as (
    select
        bucket_start,
        'all' as slice,
        'all' as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells

    union all

    select
        bucket_start,
        'version' as slice,
        coalesce(cast(model_version as text), '(null)') as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells
),

counters as (
    select
        bucket_start,
        slice,
        slice_value,
        cast(sum(n) as bigint) as n,
        cast(sum(n_labelled) as bigint) as n_labelled,
        cast(sum(pending) as bigint) as pending,
        cast(sum(n_invalid) as bigint) as n_invalid,
        cast(sum(tp) as bigint) as tp,
        cast(sum(fp) as bigint) as fp,
        cast(sum(tn) as bigint) as tn,
        cast(sum(fn) as bigint) as fn,
        sum(sum_log_loss) as sum_log_loss,
        sum(sum_brier) as sum_brier
    from sliced
    group by bucket_start, slice, slice_value
    -- a group is listed when anything counts in it
    having sum(n) > 0 or sum(pending) > 0 or sum(n_invalid) > 0
),

histogram as (
    select
        bucket_start,
        slice,
        slice_value,
        bin,
        sum(tp + fn) as positives,
        sum(fp + tn) as negatives,
        sum(sum_score) as sum_score
    from sliced
    where n > 0
    group by bucket_start, slice, slice_value, bin
),

pairs_above as (
    -- negatives of a bin times positives of every higher bin (Mann-Whitney, binned)
    select
        low.bucket_start,
        low.slice,
        low.slice_value,
        sum(low.negatives * high.positives) as pairs
    from histogram as low
    inner join histogram as high
        on high.bucket_start = low.bucket_start and high.slice = low.slice and high.slice_value = low.slice_value
        and high.bin > low.bin
    group by low.bucket_start, low.slice, low.slice_value
),

pairs_tied as (
    -- pairs within a bin count one half
    select
        bucket_start,
        slice,
        slice_value,
        sum(negatives * positives) as pairs
    from histogram
    group by bucket_start, slice, slice_value
),

calibration as (
    -- 10 equal-width bins: bin b of 10 holds the 100-bins 10b .. 10b + 9
    select
        bucket_start,
        slice,
        slice_value,
        abs(sum(sum_score) - sum(positives)) as gap
    from histogram
    group by bucket_start, slice, slice_value, floor(bin / 10)
),

ece as (
    select
        bucket_start,
        slice,
        slice_value,
        sum(gap) as gap
    from calibration
    group by bucket_start, slice, slice_value
),

final as (
    select
        counters.bucket_start,
        counters.slice,
        counters.slice_value,
        counters.n,
        counters.n_labelled,
        cast(counters.n_labelled as double precision) / nullif(counters.n_labelled + counters.pending, 0) as coverage,
        counters.pending,
        counters.n_invalid,
        counters.tp,
        counters.fp,
        counters.tn,
        counters.fn,
        cast(counters.tp + counters.tn as double precision) / nullif(counters.n, 0) as accuracy,
        cast(counters.tp as double precision) / nullif(counters.tp + counters.fp, 0) as precision,
        cast(counters.tp as double precision) / nullif(counters.tp + counters.fn, 0) as recall,
        cast(2 * counters.tp as double precision) / nullif(2 * counters.tp + counters.fp + counters.fn, 0) as f1,
        cast(counters.tn as double precision) / nullif(counters.tn + counters.fp, 0) as specificity,
        cast(counters.tp + counters.fn as double precision) / nullif(counters.n, 0) as positive_rate,
        cast(counters.tp + counters.fp as double precision) / nullif(counters.n, 0) as predicted_positive_rate,
        counters.sum_log_loss / nullif(counters.n, 0) as log_loss,
        counters.sum_brier / nullif(counters.n, 0) as brier,
        (coalesce(pairs_above.pairs, 0) + 0.5 * coalesce(pairs_tied.pairs, 0))
            / nullif(cast(counters.tp + counters.fn as double precision) * (counters.fp + counters.tn), 0) as roc_auc,
        ece.gap / nullif(counters.n, 0) as ece,
        cast(null as double precision) as cost
    from counters
    left join pairs_above using (bucket_start, slice, slice_value)
    left join pairs_tied using (bucket_start, slice, slice_value)
    left join ece using (bucket_start, slice, slice_value)
)

select * from final;

create materialized view fraud_model__versions as
with versions as (
    select *
    from fraud_model__metrics
    where slice = 'version'
        and n > 0
),

pairs as (
    select
        a.window_name,
        a.slice_value as version_a,
        b.slice_value as version_b,
        a.n as n_a,
        b.n as n_b,
        a.tp + a.tn as correct_a,
        b.tp + b.tn as correct_b,
        a.accuracy as accuracy_a,
        b.accuracy as accuracy_b,
        a.roc_auc as auc_a,
        b.roc_auc as auc_b,
        -- Hanley-McNeil squared standard errors of each AUC
        (a.roc_auc * (1 - a.roc_auc)
            + (a.tp + a.fn - 1) * (a.roc_auc / (2 - a.roc_auc) - a.roc_auc * a.roc_auc)
            + (a.fp + a.tn - 1) * (2 * a.roc_auc * a.roc_auc / (1 + a.roc_auc) - a.roc_auc * a.roc_auc))
            / nullif(cast(a.tp + a.fn as double precision) * (a.fp + a.tn), 0) as auc_se2_a,
        (b.roc_auc * (1 - b.roc_auc)
            + (b.tp + b.fn - 1) * (b.roc_auc / (2 - b.roc_auc) - b.roc_auc * b.roc_auc)
            + (b.fp + b.tn - 1) * (2 * b.roc_auc * b.roc_auc / (1 + b.roc_auc) - b.roc_auc * b.roc_auc))
            / nullif(cast(b.tp + b.fn as double precision) * (b.fp + b.tn), 0) as auc_se2_b
    from versions as a
    inner join versions as b
        on b.window_name = a.window_name
        and a.slice_value < b.slice_value
),

accuracy as (
    select
        window_name,
        'accuracy' as metric,
        version_a,
        version_b,
        n_a,
        n_b,
        accuracy_a as value_a,
        accuracy_b as value_b,
        (accuracy_a - accuracy_b) / nullif(sqrt(
            (cast(correct_a + correct_b as double precision) / (n_a + n_b))
            * (1 - cast(correct_a + correct_b as double precision) / (n_a + n_b))
            * (1.0 / n_a + 1.0 / n_b)
        ), 0) as statistic
    from pairs
),

auc as (
    select
        window_name,
        'roc_auc' as metric,
        version_a,
        version_b,
        n_a,
        n_b,
        auc_a as value_a,
        auc_b as value_b,
        (auc_a - auc_b) / nullif(sqrt(auc_se2_a + auc_se2_b), 0) as statistic
    from pairs
),

compared as (
    select * from accuracy
    union all
    select * from auc
),

final as (
    select
        window_name,
        metric,
        version_a,
        version_b,
        n_a,
        n_b,
        value_a,
        value_b,
        value_a - value_b as difference,
        case when statistic > cast('-Infinity' as double precision) and statistic < cast('Infinity' as double precision) then statistic end as statistic,
        -- null, never true, when the statistic is undefined (abs(NaN) > 1.96 would be true)
        case when statistic > cast('-Infinity' as double precision) and statistic < cast('Infinity' as double precision) then abs(statistic) > 1.96 end as significant
    from compared
)

select * from final;

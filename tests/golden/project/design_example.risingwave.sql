-- materializer: project fraud, engine risingwave

create table if not exists transactions (
    tx_id varchar,
    cc_num varchar,
    merchant varchar,
    amount numeric,
    status varchar,
    ts timestamptz
) append only;

create table if not exists predictions (
    tx_id varchar,
    predicted_at timestamptz,
    score double precision,
    model_version varchar,
    channel varchar
) append only;

create materialized view card_activity as
with events as (
    select
        cc_num,
        ts,
        amount,
        merchant,
        status
    from transactions
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

    union all

    select
        '10m' as _window,
        events.*
    from events
    where ts <= now()
        and ts + interval '10 minutes' >= now()
),

aggregated as (
    select
        cc_num,
        _window,
        max(ts) as _event_ts,
        count(*) as _tx_count,
        max(amount) as _amount_max,
        avg(amount) as _amount_avg,
        count(distinct merchant) as _merchants,
        count(*) filter (where (status = 'failed')) as _failed_count
    from windowed
    group by cc_num, _window
),

final as (
    select
        cc_num,
        max(case when _window = '1d' then _event_ts end) as _event_ts,
        coalesce(max(case when _window = '10m' then _tx_count end), 0) as tx_count_10m,
        max(case when _window = '10m' then _amount_max end) as amount_max_10m,
        max(case when _window = '10m' then _amount_avg end) as amount_avg_10m,
        coalesce(max(case when _window = '10m' then _merchants end), 0) as merchants_10m,
        coalesce(max(case when _window = '10m' then _failed_count end), 0) as failed_count_10m,
        coalesce(max(case when _window = '1h' then _tx_count end), 0) as tx_count_1h,
        max(case when _window = '1h' then _amount_max end) as amount_max_1h,
        max(case when _window = '1h' then _amount_avg end) as amount_avg_1h,
        coalesce(max(case when _window = '1h' then _merchants end), 0) as merchants_1h,
        coalesce(max(case when _window = '1h' then _failed_count end), 0) as failed_count_1h,
        max(case when _window = '1d' then _tx_count end) as tx_count_1d,
        max(case when _window = '1d' then _amount_max end) as amount_max_1d,
        max(case when _window = '1d' then _amount_avg end) as amount_avg_1d,
        max(case when _window = '1d' then _merchants end) as merchants_1d,
        max(case when _window = '1d' then _failed_count end) as failed_count_1d
    from aggregated
    group by cc_num
)

select * from final;

create materialized view card_last_tx as
with events as (
    select
        cc_num,
        ts,
        amount,
        merchant
    from transactions
    where ts <= now()
        and ts + interval '168 hours' >= now()
),

latest_ts as (
    select
        cc_num,
        max(ts) as ts
    from events
    group by cc_num
),

latest as (
    select
        cc_num,
        max(ts) as _event_ts,
        max(events.amount) as last_amount,
        max(events.merchant) as last_merchant
    from events
    inner join latest_ts using (cc_num, ts)
    group by cc_num
),

final as (
    select
        cc_num,
        _event_ts,
        -- every row left is within max_age (older events have expired)
        true as _within_max_age,
        last_amount,
        last_merchant
    from latest
)

select * from final;

create table if not exists fraud_model__reference (
    column_name varchar,
    bin integer,
    lower_bound double precision,
    upper_bound double precision,
    share double precision,
    version integer
) append only;

create materialized view fraud_model__scored as
with deduped as (
    select distinct on (p.tx_id)
        p.tx_id as prediction_id,
        p.predicted_at as predicted_at,
        cast(p.score as double precision) as score,
        p.model_version,
        p.channel
    from predictions as p
    where p.tx_id is not null
        and p.predicted_at <= now()
        and p.predicted_at + interval '192 hours' >= now()
    order by p.tx_id, p.predicted_at, p.score desc nulls last, p.model_version, p.channel
),

reported as (
    -- the outcomes with a label of the last interval '192 hours', and those dated after t
    -- (the label is the latest outcome dated by the prediction's deadline, whatever t)
    select
        o.tx_id,
        o.reported_at,
        o.is_fraud
    from raw.chargebacks as o
    where o.is_fraud is not null
        and o.reported_at + interval '192 hours' >= now()
),

labels as (
    -- the label is the latest outcome reported by the deadline of the id's earliest prediction
    select distinct on (reported.tx_id)
        reported.tx_id as prediction_id,
        cast(reported.is_fraud as integer) as label
    from reported
    inner join deduped on deduped.prediction_id = reported.tx_id
    where reported.reported_at <= deduped.predicted_at + interval '168 hours'
    order by reported.tx_id, reported.reported_at desc, reported.is_fraud desc
),

final as (
    select
        deduped.prediction_id,
        deduped.predicted_at,
        deduped.predicted_at + interval '168 hours' as cohort_at,
        deduped.score,
        deduped.score is not null and deduped.score >= 0 and deduped.score <= 1
            and (labels.label is null or labels.label in (0, 1)) as valid,
        labels.label is not null as labelled,
        coalesce(labels.label, 0) as label,
        case when deduped.score >= 0.5 then 1 else 0 end as predicted,
        deduped.model_version,
        deduped.channel
    from deduped
    left join labels on labels.prediction_id = deduped.prediction_id
)

select * from final;

create materialized view fraud_model__metrics as
with flagged as (
    select
        '1h' as window_name,
        scored.model_version,
        scored.channel,
        scored.valid as in_metrics,
        scored.valid and scored.labelled as labelled,
        false as pending,
        not scored.valid as invalid,
        scored.label,
        scored.predicted,
        scored.score
    from fraud_model__scored as scored
    -- the cohort of window 1h: t - 1h <= cohort_at <= t
    where scored.cohort_at <= now()
        and scored.cohort_at + interval '1 hour' >= now()

    union all

    select
        '1d' as window_name,
        scored.model_version,
        scored.channel,
        scored.valid as in_metrics,
        scored.valid and scored.labelled as labelled,
        false as pending,
        not scored.valid as invalid,
        scored.label,
        scored.predicted,
        scored.score
    from fraud_model__scored as scored
    -- the cohort of window 1d: t - 1d <= cohort_at <= t
    where scored.cohort_at <= now()
        and scored.cohort_at + interval '24 hours' >= now()

    union all

    select
        '1h' as window_name,
        scored.model_version,
        scored.channel,
        false as in_metrics,
        false as labelled,
        scored.score is not null and scored.score >= 0 and scored.score <= 1 as pending,
        false as invalid,
        scored.label,
        scored.predicted,
        scored.score
    from fraud_model__scored as scored
    -- pending: predicted_at <= t < cohort_at (predicted_at + maturity)
    where scored.predicted_at <= now()
        and scored.cohort_at - interval '1 microsecond' >= now()

    union all

    select
        '1d' as window_name,
        scored.model_version,
        scored.channel,
        false as in_metrics,
        false as labelled,
        scored.score is not null and scored.score >= 0 and scored.score <= 1 as pending,
        false as invalid,
        scored.label,
        scored.predicted,
        scored.score
    from fraud_model__scored as scored
    -- pending: predicted_at <= t < cohort_at (predicted_at + maturity)
    where scored.predicted_at <= now()
        and scored.cohort_at - interval '1 microsecond' >= now()
),

cells as (
    select
        window_name,
        model_version,
        channel,
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
    group by window_name, model_version, channel, least(floor(score * 100), 99)
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

    union all

    select
        window_name,
        'channel' as slice,
        coalesce(cast(channel as text), '(null)') as slice_value,
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
        cast(counters.n_labelled as double precision) / nullif(counters.n, 0) as coverage,
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
        cast(counters.fp * 5 + counters.fn * 120 as double precision) as cost
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
        channel,
        valid as in_metrics,
        valid and labelled as labelled,
        false as pending,
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
        channel,
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
    group by bucket_start, model_version, channel, least(floor(score * 100), 99)
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

    union all

    select
        bucket_start,
        'channel' as slice,
        coalesce(cast(channel as text), '(null)') as slice_value,
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
        cast(counters.n_labelled as double precision) / nullif(counters.n, 0) as coverage,
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
        cast(counters.fp * 5 + counters.fn * 120 as double precision) as cost
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

create materialized view fraud_model__drift as
with observed as (
    select
        '1h' as window_name,
        'score' as column_name,
        cast(score as double precision) as value
    from fraud_model__scored
    where cast(score as double precision) > cast('-Infinity' as double precision) and cast(score as double precision) < cast('Infinity' as double precision)
        and predicted_at <= now()
        and predicted_at + interval '1 hour' >= now()

    union all

    select
        '1d' as window_name,
        'score' as column_name,
        cast(score as double precision) as value
    from fraud_model__scored
    where cast(score as double precision) > cast('-Infinity' as double precision) and cast(score as double precision) < cast('Infinity' as double precision)
        and predicted_at <= now()
        and predicted_at + interval '24 hours' >= now()
),

reference_bins as (
    select
        stored.column_name,
        stored.bin,
        stored.lower_bound,
        stored.upper_bound,
        stored.share
    from (
        select
            coalesce(version, 1) as version,
            column_name,
            bin,
            lower_bound,
            upper_bound,
            share
        from fraud_model__reference
    ) as stored
    inner join (
        select max(coalesce(version, 1)) as version
        from fraud_model__reference
    ) as newest
        on newest.version = stored.version
),

grid as (
    -- every reference bin in every window, so that empty bins count as zero
    select
        '1h' as window_name,
        reference_bins.column_name,
        reference_bins.bin,
        reference_bins.lower_bound,
        reference_bins.upper_bound,
        reference_bins.share as expected
    from reference_bins

    union all

    select
        '1d' as window_name,
        reference_bins.column_name,
        reference_bins.bin,
        reference_bins.lower_bound,
        reference_bins.upper_bound,
        reference_bins.share as expected
    from reference_bins
),

counted as (
    select
        grid.window_name,
        grid.column_name,
        grid.bin,
        grid.expected,
        count(observed.value) as observed_count
    from grid
    left join observed
        on observed.window_name = grid.window_name
        and observed.column_name = grid.column_name
        and observed.value >= grid.lower_bound
        and observed.value < grid.upper_bound
    group by grid.window_name, grid.column_name, grid.bin, grid.expected
),

totals as (
    select
        window_name,
        column_name,
        sum(observed_count) as n
    from counted
    group by window_name, column_name
),

shares as (
    select
        counted.window_name,
        counted.column_name,
        counted.bin,
        counted.expected as p,
        cast(counted.observed_count as double precision) / nullif(totals.n, 0) as q,
        totals.n
    from counted
    inner join totals using (window_name, column_name)
),

cumulative as (
    select
        shares.window_name,
        shares.column_name,
        shares.bin,
        sum(upto.p) as cum_p,
        sum(upto.q) as cum_q
    from shares
    inner join shares as upto
        on upto.window_name = shares.window_name
        and upto.column_name = shares.column_name
        and upto.bin <= shares.bin
    group by shares.window_name, shares.column_name, shares.bin
),

distances as (
    select
        window_name,
        column_name,
        max(n) as n,
        sum((greatest(q, 1e-4) - greatest(p, 1e-4)) * ln(greatest(q, 1e-4) / greatest(p, 1e-4))) as psi,
        sqrt(greatest(0.5 * sum(case when p > 0 then p * ln(p / ((p + q) / 2)) else 0 end)
            + 0.5 * sum(case when q > 0 then q * ln(q / ((p + q) / 2)) else 0 end), 0)) / sqrt(ln(2)) as js
    from shares
    group by window_name, column_name
),

final as (
    select
        distances.window_name,
        distances.column_name,
        distances.n,
        case when distances.n > 0 then distances.psi end as psi,
        case when distances.n > 0 then distances.js end as js,
        max(abs(cumulative.cum_p - cumulative.cum_q)) as ks
    from distances
    inner join cumulative using (window_name, column_name)
    group by distances.window_name, distances.column_name, distances.n, distances.psi, distances.js
)

select * from final;

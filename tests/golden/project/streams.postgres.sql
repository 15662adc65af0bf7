-- materializer: project fraud, engine postgres

create schema if not exists materializer;

create or replace function materializer.clock() returns timestamptz
language sql stable parallel safe as $$
    select coalesce(nullif(current_setting('materializer.as_of', true), '')::timestamptz, now())
$$;

create table if not exists transactions (
    tx_id uuid,
    cc_num text,
    merchant text,
    amount numeric(12,2),
    ts timestamptz
);

create index if not exists transactions__cc_num_ts__idx on transactions (cc_num, ts);

create index if not exists transactions__ts__idx on transactions (ts);

alter table transactions
    drop constraint if exists transactions__amount__finite,
    add constraint transactions__amount__finite check (amount > '-Infinity' and amount < 'Infinity') not valid;

alter table transactions
    drop constraint if exists transactions__ts__event_time,
    add constraint transactions__ts__event_time check (ts is not null) not valid;

alter table transactions
    drop constraint if exists transactions__ts__time_range,
    add constraint transactions__ts__time_range check (ts >= '0001-01-01 00:00:00+00' and ts < '10000-01-01 00:00:00+00') not valid;

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
    tx_id text,
    predicted_at timestamptz,
    score double precision,
    model_version text,
    context jsonb,
    flagged boolean
);

create index if not exists predictions__tx_id_predicted_at__idx on predictions (tx_id, predicted_at);

alter table predictions
    drop constraint if exists predictions__predicted_at__event_time,
    add constraint predictions__predicted_at__event_time check (predicted_at is not null) not valid;

alter table predictions
    drop constraint if exists predictions__predicted_at__time_range,
    add constraint predictions__predicted_at__time_range check (predicted_at >= '0001-01-01 00:00:00+00' and predicted_at < '10000-01-01 00:00:00+00') not valid;

alter table predictions
    drop constraint if exists predictions__score__finite,
    add constraint predictions__score__finite check (score > '-Infinity' and score < 'Infinity') not valid;

create table if not exists chargebacks (
    tx_id text,
    reported_at timestamptz,
    is_fraud integer
);

create index if not exists chargebacks__tx_id_reported_at__idx on chargebacks (tx_id, reported_at);

alter table chargebacks
    drop constraint if exists chargebacks__reported_at__event_time,
    add constraint chargebacks__reported_at__event_time check (reported_at is not null) not valid;

alter table chargebacks
    drop constraint if exists chargebacks__reported_at__time_range,
    add constraint chargebacks__reported_at__time_range check (reported_at >= '0001-01-01 00:00:00+00' and reported_at < '10000-01-01 00:00:00+00') not valid;

alter table chargebacks
    drop constraint if exists chargebacks__is_fraud__binary,
    add constraint chargebacks__is_fraud__binary check (is_fraud in (0, 1)) not valid;

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

create view card_activity as
with events as (
    select
        cc_num,
        ts,
        amount
    from transactions__all
    where ts <= (select materializer.clock())
        and ts >= (select materializer.clock()) - interval '24 hours'
),

final as (
    select
        cc_num,
        max(ts) as _event_ts,
        count(*) filter (where ts >= (select materializer.clock()) - interval '1 hour') as tx_count_1h,
        sum(amount) filter (where ts >= (select materializer.clock()) - interval '1 hour') as amount_sum_1h,
        count(*) as tx_count_1d,
        sum(amount) as amount_sum_1d
    from events
    group by cc_num
)

select * from final;

create view fraud_model__scored as
with deduped as (
    select distinct on (p.tx_id)
        p.tx_id as prediction_id,
        p.predicted_at as predicted_at,
        cast(p.score as double precision) as score,
        p.model_version
    from predictions as p
    where p.tx_id is not null
        and p.predicted_at <= (select materializer.clock())
    order by p.tx_id, p.predicted_at, p.score desc nulls last, p.model_version
),

labels as (
    select distinct on (o.tx_id)
        o.tx_id as prediction_id,
        cast(o.is_fraud as integer) as label
    from chargebacks__all as o
    where o.is_fraud is not null
        and o.reported_at <= (select materializer.clock())
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

create view fraud_model__metrics as
with spans as (
    select *
    from (
        values
            ('1d', 'cohort', interval '0 seconds', interval '0 seconds' + interval '24 hours')
    ) as spans (window_name, kind, opens, closes)
),

flagged as (
    select
        spans.window_name,
        scored.model_version,
        scored.valid and scored.labelled as in_metrics,
        scored.valid and scored.labelled as labelled,
        scored.valid and not scored.labelled as pending,
        spans.kind = 'cohort' and not scored.valid as invalid,
        scored.label,
        scored.predicted,
        scored.score
    from fraud_model__scored as scored
    cross join spans
    where scored.predicted_at + spans.opens <= (select materializer.clock())
        and scored.predicted_at + spans.closes >= (select materializer.clock())
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
        window_name,
        slice,
        slice_value,
        sum(negatives * positives_above) as pairs
    from (
        select
            window_name,
            slice,
            slice_value,
            negatives,
            coalesce(sum(positives) over (
                partition by window_name, slice, slice_value
                order by bin
                rows between 1 following and unbounded following
            ), 0) as positives_above
        from histogram
    ) as running
    group by window_name, slice, slice_value
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

create view fraud_model__timeseries as
with flagged as (
    select
        date_bin(interval '1 hour', cohort_at, timestamptz '1970-01-01 00:00:00+00') as bucket_start,
        model_version,
        valid and labelled as in_metrics,
        valid and labelled as labelled,
        valid and not labelled as pending,
        not valid as invalid,
        label,
        predicted,
        score
    from fraud_model__scored
    where cohort_at <= (select materializer.clock())
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
        bucket_start,
        slice,
        slice_value,
        sum(negatives * positives_above) as pairs
    from (
        select
            bucket_start,
            slice,
            slice_value,
            negatives,
            coalesce(sum(positives) over (
                partition by bucket_start, slice, slice_value
                order by bin
                rows between 1 following and unbounded following
            ), 0) as positives_above
        from histogram
    ) as running
    group by bucket_start, slice, slice_value
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

create view fraud_model__versions as
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

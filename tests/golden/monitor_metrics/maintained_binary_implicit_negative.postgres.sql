with spans as (
    -- each span reads rows from `opens` to t: [opens, head_until) and [whole_until, t] from the
    -- state rows, the whole buckets [whole_from, whole_until) from the cells
    select
        window_name,
        kind,
        opens,
        whole_from,
        least(whole_from, whole_until) as head_until,
        whole_until
    from (
        select
            window_name,
            kind,
            (select materializer.clock()) - length as opens,
            date_bin(interval '1 hour', (select materializer.clock()) - length + interval '1 hour' - interval '1 microsecond', timestamptz '1970-01-01 00:00:00+00') as whole_from,
            date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00') as whole_until
        from (
            values
                ('1h', 'cohort', interval '1 hour'),
                ('1d', 'cohort', interval '24 hours'),
                ('1h', 'pending', interval '168 hours' - interval '1 microsecond'),
                ('1d', 'pending', interval '168 hours' - interval '1 microsecond')
        ) as spans (window_name, kind, length)
    ) as bounds
),

stored as (
    select
        spans.window_name,
        cells.model_version,
        cells.channel,
        cells.bin,
        cells.n,
        cells.n_labelled,
        cells.pending,
        cells.n_invalid,
        cells.tp,
        cells.fp,
        cells.tn,
        cells.fn,
        case when cells.n > 0 then cells.sum_log_loss end as sum_log_loss,
        case when cells.n > 0 then cells.sum_brier end as sum_brier,
        case when cells.n > 0 then cells.sum_score end as sum_score
    from spans
    cross join lateral (
        select *
        from materializer.fraud_model__cells as cells
        where cells.kind = spans.kind
            and cells.bucket_start >= spans.whole_from
            and cells.bucket_start < spans.whole_until
    ) as cells
),

tail as materialized (
    -- the rows of the bucket holding t, read once for every span
    select
        s.prediction_id,
        s.predicted_at,
        s.cohort_at,
        s.score,
        s.valid,
        s.labelled,
        s.label,
        s.predicted,
        s.model_version,
        s.channel,
        s.amount
    from materializer.fraud_model__state as s
    where s.cohort_at >= date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00') and s.cohort_at <= (select materializer.clock())
),

pending_tail as materialized (
    select
        s.prediction_id,
        s.predicted_at,
        s.cohort_at,
        s.score,
        s.valid,
        s.labelled,
        s.label,
        s.predicted,
        s.model_version,
        s.channel,
        s.amount
    from materializer.fraud_model__state as s
    where s.predicted_at >= date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00') and s.predicted_at <= (select materializer.clock())
),

live as (
    -- the first partial bucket of each span, read through the index of the state rows
    select spans.window_name, spans.kind, rows.*
    from spans
    cross join lateral (
        select
            s.prediction_id,
            s.predicted_at,
            s.cohort_at,
            s.score,
            s.valid,
            s.labelled,
            s.label,
            s.predicted,
            s.model_version,
            s.channel,
            s.amount
        from materializer.fraud_model__state as s
        where s.cohort_at >= spans.opens and s.cohort_at < spans.head_until
    ) as rows
    where spans.kind = 'cohort'

    union all

    select spans.window_name, spans.kind, rows.*
    from tail as rows
    inner join spans on spans.kind = 'cohort' and rows.cohort_at >= spans.opens

    union all

    -- pending: prediction times, the same way
    select spans.window_name, spans.kind, rows.*
    from spans
    cross join lateral (
        select
            s.prediction_id,
            s.predicted_at,
            s.cohort_at,
            s.score,
            s.valid,
            s.labelled,
            s.label,
            s.predicted,
            s.model_version,
            s.channel,
            s.amount
        from materializer.fraud_model__state as s
        where s.predicted_at >= spans.opens and s.predicted_at < spans.head_until
    ) as rows
    where spans.kind = 'pending'

    union all

    select spans.window_name, spans.kind, rows.*
    from pending_tail as rows
    inner join spans on spans.kind = 'pending' and rows.predicted_at >= spans.opens
),

flagged as (
    select
        live.window_name,
        coalesce(cast(live.model_version as text), '(null)') as model_version,
        coalesce(cast(live.channel as text), '(null)') as channel,
        live.kind = 'cohort' and live.valid as in_metrics,
        live.kind = 'cohort' and live.valid and live.labelled as labelled,
        live.kind = 'pending' and live.score is not null and live.score >= 0 and live.score <= 1 as pending,
        live.kind = 'cohort' and not live.valid as invalid,
        live.label,
        live.predicted,
        live.score
    from live
),

live_cells as (
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

cells as (
    select * from stored
    union all
    select * from live_cells
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

select * from final

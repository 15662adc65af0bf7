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

select * from final

with flagged as (
    select
        '1h' as window_name,
        scored.model_version,
        scored.valid and scored.labelled as in_metrics,
        scored.valid and scored.labelled as labelled,
        scored.valid and not scored.labelled as pending,
        not scored.valid as invalid,
        scored.label,
        scored.predicted,
        scored.score
    from eta_model__scored as scored
    -- the cohort of window 1h: t - 1h <= cohort_at <= t
    where scored.cohort_at <= now()
        and scored.cohort_at + interval '1 hour' >= now()
),

cells as (
    select
        window_name,
        model_version,
        count(*) filter (where in_metrics) as n,
        count(*) filter (where in_metrics and labelled) as n_labelled,
        count(*) filter (where pending) as pending,
        count(*) filter (where invalid) as n_invalid,
        sum(label - score) filter (where in_metrics) as sum_error,
        sum(abs(label - score)) filter (where in_metrics) as sum_abs_error,
        sum((label - score) * (label - score)) filter (where in_metrics) as sum_sq_error,
        sum(abs(label - score) / abs(label)) filter (where in_metrics and label <> 0) as sum_ape,
        count(*) filter (where in_metrics and label <> 0) as n_nonzero,
        sum(label) filter (where in_metrics) as sum_y,
        sum(label * label) filter (where in_metrics) as sum_y2
    from flagged
    group by window_name, model_version
),

sliced as (
    select
        window_name,
        'all' as slice,
        'all' as slice_value,
        n, n_labelled, pending, n_invalid, sum_error, sum_abs_error, sum_sq_error, sum_ape, n_nonzero, sum_y, sum_y2
    from cells

    union all

    select
        window_name,
        'version' as slice,
        coalesce(cast(model_version as text), '(null)') as slice_value,
        n, n_labelled, pending, n_invalid, sum_error, sum_abs_error, sum_sq_error, sum_ape, n_nonzero, sum_y, sum_y2
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
        sum(sum_error) as sum_error,
        sum(sum_abs_error) as sum_abs_error,
        sum(sum_sq_error) as sum_sq_error,
        sum(sum_ape) as sum_ape,
        cast(sum(n_nonzero) as bigint) as n_nonzero,
        sum(sum_y) as sum_y,
        sum(sum_y2) as sum_y2
    from sliced
    group by window_name, slice, slice_value
    -- a group is listed when anything counts in it
    having sum(n) > 0 or sum(pending) > 0 or sum(n_invalid) > 0
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
        counters.sum_abs_error / nullif(counters.n, 0) as mae,
        sqrt(counters.sum_sq_error / nullif(counters.n, 0)) as rmse,
        counters.sum_error / nullif(counters.n, 0) as mean_error,
        counters.sum_ape / nullif(counters.n_nonzero, 0) as mape,
        1 - counters.sum_sq_error
            / nullif(counters.sum_y2 - counters.sum_y * counters.sum_y / nullif(counters.n, 0), 0) as r2,
        counters.sum_abs_error as _sum_abs_error,
        counters.sum_sq_error as _sum_sq_error
    from counters
)

select * from final

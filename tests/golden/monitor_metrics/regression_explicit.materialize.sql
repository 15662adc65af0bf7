with windowed as (
    select
        '1h' as window_name,
        'cohort' as kind,
        scored.*
    from eta_model__scored as scored
    where mz_now() >= cohort_at
        and cohort_at + interval '1 hour' >= mz_now()
),

flagged as (
    select
        window_name,
        model_version,
        kind = 'cohort' and valid and labelled as in_metrics,
        kind = 'cohort' and valid and labelled as labelled,
        kind = 'cohort' and valid and not labelled as pending,
        kind = 'cohort' and not valid as invalid,
        label,
        predicted,
        score
    from windowed
),

sliced as (
    select
        window_name,
        'all' as slice,
        'all' as slice_value,
        in_metrics, labelled, pending, invalid, label, predicted, score
    from flagged

    union all

    select
        window_name,
        'version' as slice,
        coalesce(cast(model_version as text), '(null)') as slice_value,
        in_metrics, labelled, pending, invalid, label, predicted, score
    from flagged
),

counters as (
    select
        window_name,
        slice,
        slice_value,
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
    from sliced
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

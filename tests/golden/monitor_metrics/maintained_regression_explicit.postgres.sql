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
                ('1h', 'cohort', interval '1 hour')
        ) as spans (window_name, kind, length)
    ) as bounds
),

unsettled as (
    -- buckets holding an outcome dated after t: their labels at t are not the maintained ones
    select distinct bucket_start
    from materializer.eta_model__cells
    where kind = 'cohort'
        and max_labelled_at > (select materializer.clock())
),

stored as (
    select
        spans.window_name,
        cells.model_version,
        cells.n,
        cells.n_labelled,
        cells.pending,
        cells.n_invalid,
        case when cells.n > 0 then cells.sum_error end as sum_error,
        case when cells.n > 0 then cells.sum_abs_error end as sum_abs_error,
        case when cells.n > 0 then cells.sum_sq_error end as sum_sq_error,
        case when cells.n_nonzero > 0 then cells.sum_ape end as sum_ape,
        cells.n_nonzero,
        case when cells.n > 0 then cells.sum_y end as sum_y,
        case when cells.n > 0 then cells.sum_y2 end as sum_y2
    from spans
    cross join lateral (
        select *
        from materializer.eta_model__cells as cells
        where cells.kind = spans.kind
            and cells.bucket_start >= spans.whole_from
            and cells.bucket_start < spans.whole_until
    ) as cells
    where cells.bucket_start not in (select bucket_start from unsettled)
),

tail as materialized (
    -- the rows of the bucket holding t, read once for every span
    select
        s.prediction_id,
        s.predicted_at,
        s.cohort_at,
        s.score,
        case
            when s.labelled_at > (select materializer.clock())
                then s.score is not null and s.score > cast('-Infinity' as double precision) and s.score < cast('Infinity' as double precision) and (at_t.label is null or at_t.label > cast('-Infinity' as double precision) and at_t.label < cast('Infinity' as double precision))
            else s.valid
        end as valid,
        case when s.labelled_at > (select materializer.clock()) then at_t.label is not null else s.labelled end as labelled,
        case when s.labelled_at > (select materializer.clock()) then at_t.label else s.label end as label,
        s.predicted,
        s.model_version
    from materializer.eta_model__state as s
    left join lateral (
        -- only for an id whose latest outcome is dated after t: its label at t
        select cast(o.actual_eta as double precision) as label
        from chargebacks as o
        where s.labelled_at > (select materializer.clock())
            and o.tx_id = s.prediction_id
            and o.actual_eta is not null
            and o.reported_at <= (select materializer.clock())
        order by o.reported_at desc, o.actual_eta desc
        limit 1
    ) as at_t on true
    where s.cohort_at >= date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00') and s.cohort_at <= (select materializer.clock())
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
            case
                when s.labelled_at > (select materializer.clock())
                    then s.score is not null and s.score > cast('-Infinity' as double precision) and s.score < cast('Infinity' as double precision) and (at_t.label is null or at_t.label > cast('-Infinity' as double precision) and at_t.label < cast('Infinity' as double precision))
                else s.valid
            end as valid,
            case when s.labelled_at > (select materializer.clock()) then at_t.label is not null else s.labelled end as labelled,
            case when s.labelled_at > (select materializer.clock()) then at_t.label else s.label end as label,
            s.predicted,
            s.model_version
        from materializer.eta_model__state as s
        left join lateral (
            -- only for an id whose latest outcome is dated after t: its label at t
            select cast(o.actual_eta as double precision) as label
            from chargebacks as o
            where s.labelled_at > (select materializer.clock())
                and o.tx_id = s.prediction_id
                and o.actual_eta is not null
                and o.reported_at <= (select materializer.clock())
            order by o.reported_at desc, o.actual_eta desc
            limit 1
        ) as at_t on true
        where s.cohort_at >= spans.opens and s.cohort_at < spans.head_until
    ) as rows
    where spans.kind = 'cohort'

    union all

    select spans.window_name, spans.kind, rows.*
    from tail as rows
    inner join spans on spans.kind = 'cohort' and rows.cohort_at >= spans.opens

    union all

    -- the unsettled buckets
    select spans.window_name, spans.kind, rows.*
    from spans
    inner join unsettled
        on unsettled.bucket_start >= spans.whole_from
        and unsettled.bucket_start < spans.whole_until
    cross join lateral (
        select
            s.prediction_id,
            s.predicted_at,
            s.cohort_at,
            s.score,
            case
                when s.labelled_at > (select materializer.clock())
                    then s.score is not null and s.score > cast('-Infinity' as double precision) and s.score < cast('Infinity' as double precision) and (at_t.label is null or at_t.label > cast('-Infinity' as double precision) and at_t.label < cast('Infinity' as double precision))
                else s.valid
            end as valid,
            case when s.labelled_at > (select materializer.clock()) then at_t.label is not null else s.labelled end as labelled,
            case when s.labelled_at > (select materializer.clock()) then at_t.label else s.label end as label,
            s.predicted,
            s.model_version
        from materializer.eta_model__state as s
        left join lateral (
            -- only for an id whose latest outcome is dated after t: its label at t
            select cast(o.actual_eta as double precision) as label
            from chargebacks as o
            where s.labelled_at > (select materializer.clock())
                and o.tx_id = s.prediction_id
                and o.actual_eta is not null
                and o.reported_at <= (select materializer.clock())
            order by o.reported_at desc, o.actual_eta desc
            limit 1
        ) as at_t on true
        where s.cohort_at >= unsettled.bucket_start and s.cohort_at < unsettled.bucket_start + interval '1 hour'
    ) as rows
    where spans.kind = 'cohort'
),

flagged as (
    select
        live.window_name,
        coalesce(cast(live.model_version as text), '(null)') as model_version,
        live.valid and live.labelled as in_metrics,
        live.valid and live.labelled as labelled,
        live.valid and not live.labelled as pending,
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

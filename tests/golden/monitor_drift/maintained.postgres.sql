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
                ('1h', 'predicted', interval '1 hour'),
                ('1d', 'predicted', interval '24 hours')
        ) as spans (window_name, kind, length)
    ) as bounds
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

stored as (
    select
        spans.window_name,
        cells.column_name,
        cells.bin,
        cells.n
    from spans
    cross join lateral (
        select *
        from materializer.fraud_model__drift_cells as cells
        where cells.bucket_start >= spans.whole_from
            and cells.bucket_start < spans.whole_until
    ) as cells
),

tail as materialized (
    -- the rows of the bucket holding t, read once for every window
    select *
    from materializer.fraud_model__state as s
    where s.predicted_at >= date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00')
        and s.predicted_at <= (select materializer.clock())
),

live as (
    -- the first partial bucket of each window, read through the index of the state rows
    select spans.window_name, state.*
    from spans
    cross join lateral (
        select *
        from materializer.fraud_model__state as s
        where s.predicted_at >= spans.opens
            and s.predicted_at < spans.head_until
    ) as state

    union all

    select spans.window_name, tail.*
    from tail
    inner join spans on tail.predicted_at >= spans.opens
),

observed as (
    select
        live.window_name,
        bins.column_name,
        bins.bin,
        count(*) as n
    from live
    cross join lateral (
        values
            ('score', cast(live.score as double precision)),
            ('amount', cast(live.amount as double precision))
    ) as value (column_name, value)
    inner join reference_bins as bins
        on bins.column_name = value.column_name
        and value.value > cast('-Infinity' as double precision) and value.value < cast('Infinity' as double precision)
        and value.value >= bins.lower_bound
        and value.value < bins.upper_bound
    group by live.window_name, bins.column_name, bins.bin
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
        coalesce(sum(counts.n), 0) as observed_count
    from grid
    left join (
        select * from stored
        union all
        select * from observed
    ) as counts
        on counts.window_name = grid.window_name
        and counts.column_name = grid.column_name
        and counts.bin = grid.bin
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

select * from final

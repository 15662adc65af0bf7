with observed as (
    select
        '1h' as window_name,
        'score' as column_name,
        cast(score as double precision) as value
    from fraud_model__scored
    where cast(score as double precision) > cast('-Infinity' as double precision) and cast(score as double precision) < cast('Infinity' as double precision)
        and mz_now() >= predicted_at
        and predicted_at + interval '1 hour' >= mz_now()

    union all

    select
        '1h' as window_name,
        'amount' as column_name,
        cast(amount as double precision) as value
    from fraud_model__scored
    where cast(amount as double precision) > cast('-Infinity' as double precision) and cast(amount as double precision) < cast('Infinity' as double precision)
        and mz_now() >= predicted_at
        and predicted_at + interval '1 hour' >= mz_now()

    union all

    select
        '1d' as window_name,
        'score' as column_name,
        cast(score as double precision) as value
    from fraud_model__scored
    where cast(score as double precision) > cast('-Infinity' as double precision) and cast(score as double precision) < cast('Infinity' as double precision)
        and mz_now() >= predicted_at
        and predicted_at + interval '24 hours' >= mz_now()

    union all

    select
        '1d' as window_name,
        'amount' as column_name,
        cast(amount as double precision) as value
    from fraud_model__scored
    where cast(amount as double precision) > cast('-Infinity' as double precision) and cast(amount as double precision) < cast('Infinity' as double precision)
        and mz_now() >= predicted_at
        and predicted_at + interval '24 hours' >= mz_now()
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

select * from final

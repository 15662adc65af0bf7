with reference_values as (
    select
        'score' as column_name,
        cast(score as double precision) as value
    from training_scores
    where cast(score as double precision) > cast('-Infinity' as double precision) and cast(score as double precision) < cast('Infinity' as double precision)

    union all

    select
        'amount' as column_name,
        cast(amount as double precision) as value
    from training_scores
    where cast(amount as double precision) > cast('-Infinity' as double precision) and cast(amount as double precision) < cast('Infinity' as double precision)
),

ranked as (
    select
        column_name,
        value,
        row_number() over (partition by column_name order by value) - 1 as position
    from reference_values
),

counts as (
    select
        column_name,
        count(*) as n
    from reference_values
    group by column_name
),

positions as (
    select
        column_name,
        n,
        cast(1 as double precision) / 10 * (n - 1) as pos
    from counts

    union all

    select
        column_name,
        n,
        cast(2 as double precision) / 10 * (n - 1) as pos
    from counts

    union all

    select
        column_name,
        n,
        cast(3 as double precision) / 10 * (n - 1) as pos
    from counts

    union all

    select
        column_name,
        n,
        cast(4 as double precision) / 10 * (n - 1) as pos
    from counts

    union all

    select
        column_name,
        n,
        cast(5 as double precision) / 10 * (n - 1) as pos
    from counts

    union all

    select
        column_name,
        n,
        cast(6 as double precision) / 10 * (n - 1) as pos
    from counts

    union all

    select
        column_name,
        n,
        cast(7 as double precision) / 10 * (n - 1) as pos
    from counts

    union all

    select
        column_name,
        n,
        cast(8 as double precision) / 10 * (n - 1) as pos
    from counts

    union all

    select
        column_name,
        n,
        cast(9 as double precision) / 10 * (n - 1) as pos
    from counts
),

cuts as (
    select distinct
        positions.column_name,
        low.value + (high.value - low.value) * (positions.pos - floor(positions.pos)) as cut
    from positions
    inner join ranked as low
        on low.column_name = positions.column_name
        and low.position = cast(floor(positions.pos) as bigint)
    inner join ranked as high
        on high.column_name = positions.column_name
        and high.position = least(cast(floor(positions.pos) as bigint) + 1, positions.n - 1)
),

numbered as (
    select
        column_name,
        cut,
        row_number() over (partition by column_name order by cut) as k
    from cuts
),

bins as (
    select
        column_name,
        0 as bin,
        cast('-Infinity' as double precision) as lower_bound,
        cut as upper_bound
    from numbered
    where k = 1

    union all

    select
        numbered.column_name,
        numbered.k as bin,
        numbered.cut as lower_bound,
        coalesce(following.cut, cast('Infinity' as double precision)) as upper_bound
    from numbered
    left join numbered as following
        on following.column_name = numbered.column_name
        and following.k = numbered.k + 1
),

final as (
    select
        bins.column_name,
        cast(bins.bin as integer) as bin,
        bins.lower_bound,
        bins.upper_bound,
        cast(count(reference_values.value) as double precision) / counts.n as share,
        cast(1 as integer) as version
    from bins
    inner join counts
        on counts.column_name = bins.column_name
    left join reference_values
        on reference_values.column_name = bins.column_name
        and reference_values.value >= bins.lower_bound
        and reference_values.value < bins.upper_bound
    group by bins.column_name, bins.bin, bins.lower_bound, bins.upper_bound, counts.n
)

select * from final

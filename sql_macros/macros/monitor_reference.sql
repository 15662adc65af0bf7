{#- The fixed drift bins of a monitor's reference, computed in SQL: what `materializer reference
    MONITOR` stores, for a dbt project (the reference model of a monitor, read by monitor_drift).

    Per column: the deciles of its finite values (linear interpolation between the closest ranks,
    as percentile_cont; cut points that repeat are kept once) cut the line into bins
    [lower_bound, upper_bound), the first lower and the last upper bound infinite; `share` is the
    fraction of the column's finite values in the bin. Columns: column_name, bin (0, 1, ...),
    lower_bound, upper_bound, share, version (always 1: a model rebuilt by dbt holds one version
    of the bins; the table `materializer reference` fills appends versions, and monitor_drift
    reads the newest of either). The same floating-point operations, in the same order, as
    `materializer.monitoring.metrics.reference_bins`, so both store the same bins.

    Arguments: `relation` (the rows a model was trained or validated on), `columns` (list of
    {name, column}: the name stored in the bins, and the column of `relation` holding the values).
-#}
{% macro monitor_reference(relation, columns) -%}
    {{ return(adapter.dispatch('monitor_reference', 'materializer')(relation, columns)) }}
{%- endmacro %}

{#- One text for the three engines: no percentile_cont (Materialize has none; RisingWave has no
    streaming one), the deciles come from row_number() over each column's values, and the nine
    quantiles are a UNION ALL rather than a join to VALUES (RisingWave streams no nested-loop
    join). https://materialize.com/docs/sql/functions/#window-functions,
    https://docs.risingwave.com/processing/sql/window-functions -#}
{% macro default__monitor_reference(relation, columns) -%}
with reference_values as (
{%- for c in columns %}
    select
        '{{ c.name }}' as column_name,
        cast({{ c.column }} as double precision) as value
    from {{ relation }}
    where {{ materializer.monitor_finite('cast(' ~ c.column ~ ' as double precision)') }}
{%- if not loop.last %}

    union all
{% endif %}
{%- endfor %}
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
{%- for q in range(1, 10) %}
    select
        column_name,
        n,
        cast({{ q }} as double precision) / 10 * (n - 1) as pos
    from counts
{%- if not loop.last %}

    union all
{% endif %}
{%- endfor %}
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
{%- endmacro %}

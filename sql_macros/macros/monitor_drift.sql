{#- Drift of the score and of watched feature columns against a fixed reference, per window.

    The reference bins are computed once (`materializer reference MONITOR`) from the reference
    deciles and stored in the `reference` relation: (column_name, bin, lower_bound,
    upper_bound, share, version), the first lower and last upper bound infinite; they are never
    recomputed per window, so values are comparable across windows. Each `materializer reference`
    appends a new version (rows stored before versions existed, version null, are version 1) and
    the views read the newest one (monitor_reference_newest). One row per
    (window_name, column_name): n (the window's finite values: null, NaN and infinite ones count
    nowhere; report n beside psi: under no drift psi shrinks like 1/n), psi (shares floored at
    1e-4), js (Jensen-Shannon distance, base 2) and ks (largest gap of the cumulative shares over
    the bins). A window without values has n = 0 and null distances. Formulas: MONITORING.md.

    Arguments: `scored` (the monitor's scored relation), `reference` (the bins relation),
    `windows` (list of {name, interval}), `columns` (list of {name, column}: the name stored
    in the bins and the scored column holding the values), and on PostgreSQL `maintained`:
    the monitor's maintained tables (monitor_maintenance), or none.
-#}
{% macro monitor_drift(scored, reference, windows, columns, maintained=none) -%}
    {{ return(adapter.dispatch('monitor_drift', 'materializer')(scored, reference, windows, columns, maintained)) }}
{%- endmacro %}

{#- One text for the three engines (PostgreSQL computes it on read for an external source). The
    windows' values are one filtered select per (window, column) combined with UNION ALL, each
    temporal filter on the scored row's own predicted_at; the grid of every reference bin in every
    window is a UNION ALL of one select per window too, not a cross join with a list of windows:
    RisingWave runs no join without an equality condition in a streaming view
    (e2e_test/streaming/natural_and_cross_join.slt; risingwavelabs/risingwave#22752 for a VALUES
    list). The other joins have an equality on window and column. -#}
{% macro default__monitor_drift(scored, reference, windows, columns, maintained=none) -%}
with observed as (
{%- for w in windows %}
{%- set outer = loop %}
{%- for c in columns %}
    select
        '{{ w.name }}' as window_name,
        '{{ c.name }}' as column_name,
        cast({{ c.column }} as double precision) as value
    from {{ scored }}
    where {{ materializer.monitor_finite('cast(' ~ c.column ~ ' as double precision)') }}
        and {{ materializer.temporal_filter('predicted_at', w.interval) }}
{%- if not (outer.last and loop.last) %}

    union all
{% endif %}
{%- endfor %}
{%- endfor %}
),

reference_bins as (
{{ materializer.monitor_reference_newest(reference) | indent(4, true) }}
),

{{ materializer.monitor_drift_grid(windows) }}

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

{{ materializer.monitor_drift_distances() }}
{%- endmacro %}

{#- The newest version of the reference bins of `reference` (a table or a dbt model with
    column_name, bin, lower_bound, upper_bound, share, version): its rows whose version is the
    greatest, a null version read as 1 (rows stored before versions existed). An equi-join with
    the one-row maximum, so a streaming engine maintains it (and it switches when a new version
    is appended). Columns: column_name, bin, lower_bound, upper_bound, share. -#}
{% macro monitor_reference_newest(reference) -%}
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
    from {{ reference }}
) as stored
inner join (
    select max(coalesce(version, 1)) as version
    from {{ reference }}
) as newest
    on newest.version = stored.version
{%- endmacro %}

{#- Every bin of `reference_bins` (the CTE of the newest reference bins) in every window, so that
    empty bins count as zero: CTE `grid`, one select per window. -#}
{% macro monitor_drift_grid(windows) -%}
grid as (
    -- every reference bin in every window, so that empty bins count as zero
{%- for w in windows %}
    select
        '{{ w.name }}' as window_name,
        reference_bins.column_name,
        reference_bins.bin,
        reference_bins.lower_bound,
        reference_bins.upper_bound,
        reference_bins.share as expected
    from reference_bins
{%- if not loop.last %}

    union all
{% endif %}
{%- endfor %}
),
{%- endmacro %}

{#- From `counted` (window_name, column_name, bin, expected, observed_count): the distances of
    every (window, column), CTEs `totals` through `final`, then `select * from final`. -#}
{% macro monitor_drift_distances() -%}
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
{%- endmacro %}

{#- PostgreSQL with maintained drift cells (monitor_maintenance): a window's whole buckets are
    counted from the cells, the partial buckets at both ends from the scored rows. -#}
{% macro postgres__monitor_drift(scored, reference, windows, columns, maintained=none) -%}
{%- if maintained is none -%}
{{ materializer.default__monitor_drift(scored, reference, windows, columns) }}
{%- else -%}
{%- set spans = [] -%}
{%- for w in windows %}{% do spans.append((w.name, 'predicted', w.interval)) %}{% endfor -%}
with {{ materializer.monitor_spans(spans, maintained.bucket) }}

reference_bins as (
{{ materializer.monitor_reference_newest(reference) | indent(4, true) }}
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
        from {{ maintained.drift_cells }} as cells
        where cells.bucket_start >= spans.whole_from
            and cells.bucket_start < spans.whole_until
    ) as cells
),

tail as materialized (
    -- the rows of the bucket holding t, read once for every window
    select *
    from {{ maintained.state }} as s
    where s.predicted_at >= {{ materializer.time_bucket(materializer.clock(), maintained.bucket.interval, maintained.bucket.seconds) }}
        and s.predicted_at <= {{ materializer.clock() }}
),

live as (
    -- the first partial bucket of each window, read through the index of the state rows
    select spans.window_name, state.*
    from spans
    cross join lateral (
        select *
        from {{ maintained.state }} as s
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
{%- for c in columns %}
            ('{{ c.name }}', cast(live.{{ c.column }} as double precision)){{ "," if not loop.last }}
{%- endfor %}
    ) as value (column_name, value)
    inner join reference_bins as bins
        on bins.column_name = value.column_name
        and {{ materializer.monitor_finite('value.value') }}
        and value.value >= bins.lower_bound
        and value.value < bins.upper_bound
    group by live.window_name, bins.column_name, bins.bin
),

{{ materializer.monitor_drift_grid(windows) }}

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

{{ materializer.monitor_drift_distances() }}
{%- endif %}
{%- endmacro %}

{#- Materialize and RisingWave maintain the view itself (no cells). -#}
{% macro materialize__monitor_drift(scored, reference, windows, columns, maintained=none) -%}
{{ materializer.default__monitor_drift(scored, reference, windows, columns) }}
{%- endmacro %}

{% macro risingwave__monitor_drift(scored, reference, windows, columns, maintained=none) -%}
{{ materializer.default__monitor_drift(scored, reference, windows, columns) }}
{%- endmacro %}

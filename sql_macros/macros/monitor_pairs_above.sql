{#- The Mann-Whitney pairs of the binned AUC: for each group, the negatives of every score bin times
    the positives of every higher bin (ties within a bin are counted apart, in `pairs_tied`).

    Renders the body of the `pairs_above` CTE of monitor_rollup over its `histogram` CTE (the group
    keys, `bin`, `positives`, `negatives`). Argument: `group_by` (list of key columns).
-#}
{% macro monitor_pairs_above(group_by) -%}
    {{ return(adapter.dispatch('monitor_pairs_above', 'materializer')(group_by)) }}
{%- endmacro %}

{#- A self-join on the bins: only sums and an equi-join, so a streaming engine maintains it
    incrementally (window functions are recomputed per partition on every change there). -#}
{% macro default__monitor_pairs_above(group_by) -%}
    select
{%- for k in group_by %}
        low.{{ k }},
{%- endfor %}
        sum(low.negatives * high.positives) as pairs
    from histogram as low
    inner join histogram as high
        on {% for k in group_by %}high.{{ k }} = low.{{ k }}{{ " and " if not loop.last }}{% endfor %}
        and high.bin > low.bin
    group by {% for k in group_by %}low.{{ k }}{{ ", " if not loop.last }}{% endfor %}
{%- endmacro %}

{#- PostgreSQL reads the views on demand: one sort of the histogram and a running sum of the
    positives above each bin, instead of a join whose row estimate (one row per group, for a CTE)
    makes the planner pick a nested loop that compares every bin of every bucket with every other
    (seconds for a week of hourly buckets). -#}
{% macro postgres__monitor_pairs_above(group_by) -%}
    select
{%- for k in group_by %}
        {{ k }},
{%- endfor %}
        sum(negatives * positives_above) as pairs
    from (
        select
{%- for k in group_by %}
            {{ k }},
{%- endfor %}
            negatives,
            coalesce(sum(positives) over (
                partition by {{ group_by | join(', ') }}
                order by bin
                rows between 1 following and unbounded following
            ), 0) as positives_above
        from histogram
    ) as running
    group by {{ group_by | join(', ') }}
{%- endmacro %}

{% macro materialize__monitor_pairs_above(group_by) -%}
    {{ return(materializer.default__monitor_pairs_above(group_by)) }}
{%- endmacro %}

{% macro risingwave__monitor_pairs_above(group_by) -%}
    {{ return(materializer.default__monitor_pairs_above(group_by)) }}
{%- endmacro %}

{#- The cells of a monitor, repeated once per slice: overall (`all`), then one per slice column.

    Arguments: `cells` (relation with `key` columns, the slice columns, `bin` for binary
    monitors and the counter columns), `key` (the time key: window_name or bucket_start),
    `slices` (list of {name, column}), `task`. Columns: key, slice, slice_value, [bin,] counters.
    A null slice value reads '(null)'.
-#}
{% macro monitor_slices(cells, key, slices, task) -%}
    {{ return(adapter.dispatch('monitor_slices', 'materializer')(cells, key, slices, task)) }}
{%- endmacro %}

{% macro default__monitor_slices(cells, key, slices, task) -%}
{%- set counters = materializer.monitor_counter_columns(task) -%}
{%- set extra = ['bin'] if task == 'binary_classification' else [] %}
    select
        {{ key }},
        'all' as slice,
        'all' as slice_value,
        {{ (extra + counters) | join(', ') }}
    from {{ cells }}
{%- for s in slices %}

    union all

    select
        {{ key }},
        '{{ s.name }}' as slice,
        coalesce(cast({{ s.column }} as text), '(null)') as slice_value,
        {{ (extra + counters) | join(', ') }}
    from {{ cells }}
{%- endfor %}
{%- endmacro %}

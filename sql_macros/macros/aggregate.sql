{#- One aggregate expression of a feature (DESIGN §5), with an optional FILTER condition.

    Arguments: `feature` ({agg, column, filter}), `condition` (an extra SQL condition ANDed
    with the feature's filter, or none). `count` without a column counts rows; with one it
    counts non-null values; `stddev` is the sample standard deviation.
-#}
{% macro aggregate(feature, condition=none) -%}
    {{ return(adapter.dispatch('aggregate', 'materializer')(feature, condition)) }}
{%- endmacro %}

{% macro default__aggregate(feature, condition=none) -%}
    {%- set column = feature.column -%}
    {%- if feature.agg == 'count' -%}
        {%- set expr = 'count(' ~ (column or '*') ~ ')' -%}
    {%- elif feature.agg == 'count_distinct' -%}
        {%- set expr = 'count(distinct ' ~ column ~ ')' -%}
    {%- elif feature.agg == 'stddev' -%}
        {%- set expr = 'stddev_samp(' ~ column ~ ')' -%}
    {%- elif feature.agg in ('sum', 'avg', 'min', 'max') -%}
        {%- set expr = feature.agg ~ '(' ~ column ~ ')' -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown aggregate '" ~ feature.agg ~ "' for feature " ~ feature.name) }}
    {%- endif -%}
    {%- set conditions = [] -%}
    {%- if condition %}{% do conditions.append(condition) %}{% endif -%}
    {%- if feature.filter %}{% do conditions.append('(' ~ feature.filter ~ ')') %}{% endif -%}
    {{ expr }}{% if conditions %} filter (where {{ conditions | join(' and ') }}){% endif %}
{%- endmacro %}

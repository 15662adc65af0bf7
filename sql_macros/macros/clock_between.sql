{#- A WHERE condition keeping rows while `lower <= t <= upper`, for t = clock().

    Arguments: `lower`, `upper` (timestamp expressions over columns). Both conditions compare the
    clock directly with a column expression and are ANDed: the form every engine maintains as a
    temporal filter (a row enters at `lower` and retracts after `upper`).
-#}
{% macro clock_between(lower, upper) -%}
    {{ return(adapter.dispatch('clock_between', 'materializer')(lower, upper)) }}
{%- endmacro %}

{% macro default__clock_between(lower, upper) -%}
{{ lower }} <= {{ materializer.clock() }}
        and {{ upper }} >= {{ materializer.clock() }}
{%- endmacro %}

{#- Materialize: mz_now() alone on its side of each comparison.
    https://materialize.com/docs/transform-data/patterns/temporal-filters/ -#}
{% macro materialize__clock_between(lower, upper) -%}
mz_now() >= {{ lower }}
        and {{ upper }} >= mz_now()
{%- endmacro %}

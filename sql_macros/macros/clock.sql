{#- The evaluation time `t` of DESIGN §5, as an SQL expression.

    PostgreSQL reads it through one function, `materializer.clock()`, that a
    session setting (`materializer.as_of`) can pin for reproducible results
    (`--as-of`); the streaming engines use their own logical clock.
-#}
{% macro clock() -%}
    {{ return(adapter.dispatch('clock', 'materializer')()) }}
{%- endmacro %}

{#- PostgreSQL: the pinned time when `materializer.as_of` is set, else now(). As a scalar
    subquery the planner evaluates it once per query (an InitPlan), not once per row, and can
    still use it in index conditions. -#}
{% macro postgres__clock() -%}
(select materializer.clock())
{%- endmacro %}

{#- Materialize: mz_now() is the only clock a materialized view may read; it may
    appear only in WHERE/HAVING comparisons (see temporal_filter).
    https://materialize.com/docs/sql/functions/now_and_mz_now/ -#}
{% macro materialize__clock() -%}
mz_now()
{%- endmacro %}

{#- RisingWave: now() in a materialized view is a temporal filter, allowed only in WHERE/HAVING.
    https://docs.risingwave.com/processing/sql/temporal-filters -#}
{% macro risingwave__clock() -%}
now()
{%- endmacro %}

{#- A WHERE condition keeping rows while `t <= expression`, for t = clock(): a lower bound on the
    rows' times only (no upper bound, so a row dated after t is kept too).

    Argument: `expression` (a timestamp expression over the columns of one relation, such as
    "ts + interval '1 hour'"). On Materialize and RisingWave it is a temporal filter that retracts
    a row once the clock passes `expression`: what bounds a view's state to the rows of a span.
-#}
{% macro clock_until(expression) -%}
    {{ return(adapter.dispatch('clock_until', 'materializer')(expression)) }}
{%- endmacro %}

{#- PostgreSQL reads its clock function; RisingWave compares now() with a column expression of
    one side, the form its temporal filters take (risingwave-docs processing/sql/temporal-filters.mdx:
    "t > NOW() - INTERVAL '1 hour'"). -#}
{% macro default__clock_until(expression) -%}
{{ expression }} >= {{ materializer.clock() }}
{%- endmacro %}

{#- Materialize: mz_now() alone on its side, compared with an expression free of it
    (doc/user/content/transform-data/patterns/temporal-filters.md: `mz_now() <= event_ts + INTERVAL '5min'`). -#}
{% macro materialize__clock_until(expression) -%}
{{ expression }} >= mz_now()
{%- endmacro %}

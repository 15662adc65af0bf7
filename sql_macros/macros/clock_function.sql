{#- DDL for the clock function that PostgreSQL views read (see clock()).

    `materializer.clock()` is STABLE, so the planner evaluates it once per
    scan and can use it in index conditions.
-#}
{% macro clock_function() -%}
    {{ return(adapter.dispatch('clock_function', 'materializer')()) }}
{%- endmacro %}

{% macro postgres__clock_function() -%}
create or replace function materializer.clock() returns timestamptz
language sql stable parallel safe as $$
    select coalesce(nullif(current_setting('materializer.as_of', true), '')::timestamptz, now())
$$
{%- endmacro %}

{#- The streaming engines read their own clock (mz_now(), now()): nothing to create. -#}
{% macro default__clock_function() -%}
{%- endmacro %}

{% macro materialize__clock_function() -%}
{%- endmacro %}

{% macro risingwave__clock_function() -%}
{%- endmacro %}

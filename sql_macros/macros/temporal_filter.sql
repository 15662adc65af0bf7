{#- A WHERE condition keeping events `t - lookback <= ts <= t` (DESIGN §5: both ends inclusive),
    or only `ts <= t` when `lookback` is none. `t` is clock().

    Arguments: `timestamp` (column expression), `lookback` (an interval literal such as
    "interval '1 hour'", or none). The conditions are ANDed, never ORed, so every
    engine accepts them as temporal filters.
-#}
{% macro temporal_filter(timestamp, lookback=none) -%}
    {{ return(adapter.dispatch('temporal_filter', 'materializer')(timestamp, lookback)) }}
{%- endmacro %}

{#- PostgreSQL: the bound is on the bare column, so a btree on (entity, ts) serves it. -#}
{% macro postgres__temporal_filter(timestamp, lookback=none) -%}
{{ timestamp }} <= {{ materializer.clock() }}
{%- if lookback is not none %}
        and {{ timestamp }} >= {{ materializer.clock() }} - {{ lookback }}
{%- endif %}
{%- endmacro %}

{#- Materialize: mz_now() only compared, never in arithmetic: `ts + W >= mz_now()`.
    An upper bound `mz_now() >= ts` delays events stamped in the future until their time.
    https://materialize.com/docs/transform-data/patterns/temporal-filters/
    (doc/user/content/transform-data/patterns/temporal-filters.md) -#}
{% macro materialize__temporal_filter(timestamp, lookback=none) -%}
mz_now() >= {{ timestamp }}
{%- if lookback is not none %}
        and {{ timestamp }} + {{ lookback }} >= mz_now()
{%- endif %}
{%- endmacro %}

{#- RisingWave: one side a column expression, the other a non-decreasing expression with one NOW();
    the lower bound expires rows, the upper bound `ts <= now()` delays future events.
    https://docs.risingwave.com/processing/sql/temporal-filters
    (risingwave-docs: processing/sql/temporal-filters.mdx) -#}
{% macro risingwave__temporal_filter(timestamp, lookback=none) -%}
{{ timestamp }} <= now()
{%- if lookback is not none %}
        and {{ timestamp }} + {{ lookback }} >= now()
{%- endif %}
{%- endmacro %}

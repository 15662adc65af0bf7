{#- The start of the fixed-width time bucket holding `timestamp` (buckets aligned on the Unix epoch).

    Arguments: `timestamp` (a timestamptz expression), `interval` (an interval literal),
    `seconds` (the same width in seconds).
-#}
{% macro time_bucket(timestamp, interval, seconds) -%}
    {{ return(adapter.dispatch('time_bucket', 'materializer')(timestamp, interval, seconds)) }}
{%- endmacro %}

{#- PostgreSQL and Materialize: date_bin (Materialize documents it for tumbling windows:
    https://materialize.com/docs/transform-data/patterns/window-functions/ ). -#}
{% macro default__time_bucket(timestamp, interval, seconds) -%}
date_bin({{ interval }}, {{ timestamp }}, timestamptz '1970-01-01 00:00:00+00')
{%- endmacro %}

{#- RisingWave does not document date_bin; epoch arithmetic gives the same bucket start.
    https://docs.risingwave.com/sql/functions/datetime -#}
{% macro risingwave__time_bucket(timestamp, interval, seconds) -%}
to_timestamp(floor(extract(epoch from {{ timestamp }}) / {{ seconds }}) * {{ seconds }})
{%- endmacro %}

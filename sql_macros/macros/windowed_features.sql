{#- The windowed aggregates of one feature view: one row per entity with at least one event
    in the longest window (the lookback), one column `<feature>_<window>` per feature and window,
    and `_event_ts`, the entity's latest event time in the lookback (after the keys, so that
    new features append columns and `create or replace view` keeps dependent views).

    Arguments:
      relation   the source table
      entity     list of key columns
      timestamp  the event-time column
      windows    list of {name, interval}: the windows, e.g. {name: '1h', interval: "interval '1 hour'"}
      features   list of {name, agg, column, filter}
      columns    the source columns to read (keys, timestamp, feature and filter columns);
                 none reads every column
    Window `W` at clock() `t` covers `t - W <= ts <= t`; count of nothing is 0, other
    aggregates of nothing are null (DESIGN §5).
-#}
{% macro windowed_features(relation, entity, timestamp, windows, features, columns=none) -%}
    {{ return(adapter.dispatch('windowed_features', 'materializer')(relation, entity, timestamp, windows, features, columns)) }}
{%- endmacro %}

{#- The longest window (the view's lookback). -#}
{% macro longest_window(windows) -%}
    {{ return((windows | sort(attribute='seconds'))[-1]) }}
{%- endmacro %}

{#- PostgreSQL (computed on read): one pass over the longest window, each shorter window
    an aggregate FILTER. A lookup `where <entity> = $1` is pushed through the group by
    into an index range scan of (entity, ts). -#}
{% macro postgres__windowed_features(relation, entity, timestamp, windows, features, columns=none) -%}
{%- set longest = materializer.longest_window(windows) -%}
with events as (
    select {{ materializer.select_columns(columns) }}
    from {{ relation }}
    where {{ materializer.temporal_filter(timestamp, longest.interval) }}
),

final as (
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
        max({{ timestamp }}) as _event_ts,
{%- for w in windows %}
{%- set in_window = none if w.name == longest.name else timestamp ~ ' >= ' ~ materializer.clock() ~ ' - ' ~ w.interval %}
{%- for f in features %}
        {{ materializer.aggregate(f, in_window) }} as {{ f.name }}_{{ w.name }}{{ "," if not (loop.last and w is sameas windows[-1]) }}
{%- endfor %}
{%- endfor %}
    from events
    group by {{ entity | join(', ') }}
)

select * from final
{%- endmacro %}

{#- Streaming engines (Materialize, RisingWave): a clock may not appear in an aggregate FILTER,
    so each window is its own aggregate with its temporal filter in WHERE, maintained
    incrementally (events enter at ts and retract at ts + W); the windows are then
    left-joined to the longest one, which holds every entity with an event in the lookback.
    A count missing from a shorter window is 0. -#}
{% macro default__windowed_features(relation, entity, timestamp, windows, features, columns=none) -%}
{%- set longest = materializer.longest_window(windows) -%}
{%- set ordered = windows | sort(attribute='seconds', reverse=true) -%}
with events as (
    select {{ materializer.select_columns(columns) }}
    from {{ relation }}
),
{% for w in ordered %}
window_{{ w.name }} as (
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
{%- if w.name == longest.name %}
        max({{ timestamp }}) as _event_ts,
{%- endif %}
{%- for f in features %}
        {{ materializer.aggregate(f) }} as {{ f.name }}_{{ w.name }}{{ "," if not loop.last }}
{%- endfor %}
    from events
    where {{ materializer.temporal_filter(timestamp, w.interval) }}
    group by {{ entity | join(', ') }}
),
{% endfor %}
final as (
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
        window_{{ longest.name }}._event_ts,
{%- for w in windows %}
{%- set last_window = loop.last %}
{%- for f in features %}
{%- set comma = "," if not (loop.last and last_window) else "" %}
{%- if f.agg in ('count', 'count_distinct') and w.name != longest.name %}
        coalesce(window_{{ w.name }}.{{ f.name }}_{{ w.name }}, 0) as {{ f.name }}_{{ w.name }}{{ comma }}
{%- else %}
        window_{{ w.name }}.{{ f.name }}_{{ w.name }}{{ comma }}
{%- endif %}
{%- endfor %}
{%- endfor %}
    from window_{{ longest.name }}
{%- for w in ordered if w.name != longest.name %}
    left join window_{{ w.name }} using ({{ entity | join(', ') }})
{%- endfor %}
)

select * from final
{%- endmacro %}

{#- Materialize: the streaming form; mz_now() only in WHERE (never in FILTER or CASE).
    https://materialize.com/docs/transform-data/patterns/temporal-filters/ -#}
{% macro materialize__windowed_features(relation, entity, timestamp, windows, features, columns=none) -%}
{{ materializer.default__windowed_features(relation, entity, timestamp, windows, features, columns) }}
{%- endmacro %}

{#- RisingWave: the streaming form; now() only in WHERE as a temporal filter.
    https://docs.risingwave.com/processing/sql/temporal-filters -#}
{% macro risingwave__windowed_features(relation, entity, timestamp, windows, features, columns=none) -%}
{{ materializer.default__windowed_features(relation, entity, timestamp, windows, features, columns) }}
{%- endmacro %}

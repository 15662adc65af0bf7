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
    so each event is fanned out to the windows that hold it, one select per window with its
    temporal filter in WHERE (an event enters at ts and retracts at ts + W, so the state is the
    events of the longest window), combined with UNION ALL; the aggregates are taken per (entity,
    window), then turned into one row per entity by a GROUP BY on the keys (`max(case when _window
    = W then ... end)` picks a window's value; a count missing from a shorter window is 0). No
    join: a join on the keys would lose the entities whose key holds a null (null = null is not
    true), where PostgreSQL's GROUP BY keeps them as one group; GROUP BY groups nulls together on
    every engine. -#}
{% macro default__windowed_features(relation, entity, timestamp, windows, features, columns=none) -%}
{%- set longest = materializer.longest_window(windows) -%}
{%- set ordered = windows | sort(attribute='seconds', reverse=true) -%}
{%- set keys = entity | join(', ') -%}
with events as (
    select {{ materializer.select_columns(columns) }}
    from {{ relation }}
),

windowed as (
    -- each event once per window that holds it: t - W <= ts <= t
{%- for w in ordered %}
    select
        '{{ w.name }}' as _window,
        events.*
    from events
    where {{ materializer.temporal_filter(timestamp, w.interval) }}
{%- if not loop.last %}

    union all
{% endif %}
{%- endfor %}
),

aggregated as (
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
        _window,
        max({{ timestamp }}) as _event_ts,
{%- for f in features %}
        {{ materializer.aggregate(f) }} as _{{ f.name }}{{ "," if not loop.last }}
{%- endfor %}
    from windowed
    group by {{ keys }}, _window
),

final as (
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
        max(case when _window = '{{ longest.name }}' then _event_ts end) as _event_ts,
{%- for w in windows %}
{%- set last_window = loop.last %}
{%- for f in features %}
{%- set comma = "," if not (loop.last and last_window) else "" %}
{%- set value = "max(case when _window = '" ~ w.name ~ "' then _" ~ f.name ~ " end)" %}
{%- if f.agg in ('count', 'count_distinct') and w.name != longest.name %}
        coalesce({{ value }}, 0) as {{ f.name }}_{{ w.name }}{{ comma }}
{%- else %}
        {{ value }} as {{ f.name }}_{{ w.name }}{{ comma }}
{%- endif %}
{%- endfor %}
{%- endfor %}
    from aggregated
    group by {{ keys }}
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

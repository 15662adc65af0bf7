{#- The latest values of one feature view: one row per entity with an event at or before
    clock() `t`, taken from the event with the greatest `ts <= t` (DESIGN §5).

    Arguments:
      relation    the source table
      entity      list of key columns
      timestamp   the event-time column
      features    list of {name, column}
      max_age     an interval literal, or none: older values are null (status OUTSIDE_MAX_AGE)
      tie_break   a column that orders events with equal timestamps, or none
      columns     the source columns to read; none reads every column
    Ties on `ts`: the rows with the greatest `tie_break` when declared; then, per column,
    the greatest non-null value among the tied rows. A null in the latest event stays null
    (no fall-back to older events). Columns: keys, `_event_ts` (the latest event time),
    `_within_max_age` (with max_age), then the features.
-#}
{% macro latest_features(relation, entity, timestamp, features, max_age=none, tie_break=none, columns=none) -%}
    {{ return(adapter.dispatch('latest_features', 'materializer')(relation, entity, timestamp, features, max_age, tie_break, columns)) }}
{%- endmacro %}

{#- PostgreSQL (computed on read): rank() over each entity's events finds the tied latest rows
    in one pass; a lookup `where <entity> = $1` is pushed into the partition (an index scan). -#}
{% macro postgres__latest_features(relation, entity, timestamp, features, max_age=none, tie_break=none, columns=none) -%}
{%- set keys = entity | join(', ') -%}
with events as (
    select {{ materializer.select_columns(columns) }},
        rank() over (
            partition by {{ keys }}
            order by {{ timestamp }} desc{% if tie_break %}, {{ tie_break }} desc nulls last{% endif %}
        ) as _rank
    from {{ relation }}
    where {{ materializer.temporal_filter(timestamp) }}
),

latest as (
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
        max({{ timestamp }}) as _event_ts,
{%- for f in features %}
        max({{ f.column }}) as {{ f.name }}{{ "," if not loop.last }}
{%- endfor %}
    from events
    where _rank = 1
    group by {{ keys }}
),

final as (
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
        _event_ts,
{%- if max_age is not none %}
        _event_ts >= {{ materializer.clock() }} - {{ max_age }} as _within_max_age,
{%- endif %}
{%- for f in features %}
{%- if max_age is not none %}
        case when _event_ts >= {{ materializer.clock() }} - {{ max_age }} then {{ f.name }} end as {{ f.name }}{{ "," if not loop.last }}
{%- else %}
        {{ f.name }}{{ "," if not loop.last }}
{%- endif %}
{%- endfor %}
    from latest
)

select * from final
{%- endmacro %}

{#- Streaming engines: the latest timestamp per entity is a max() reduction joined back to
    the events (no window functions: Materialize recomputes a whole partition on any change,
    and documents DISTINCT ON / joins for top-1). max_age is a temporal filter in WHERE on a
    second copy of the latest row, left-joined, because the clock may not appear in CASE or
    in the SELECT list. -#}
{% macro default__latest_features(relation, entity, timestamp, features, max_age=none, tie_break=none, columns=none) -%}
{%- set keys = entity | join(', ') -%}
{%- set tie_keys = entity + [timestamp] -%}
with events as (
    select {{ materializer.select_columns(columns) }}
    from {{ relation }}
    where {{ materializer.temporal_filter(timestamp) }}
),

latest_ts as (
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
        max({{ timestamp }}) as {{ timestamp }}
    from events
    group by {{ keys }}
),
{%- if tie_break %}

latest_tie as (
    select
{%- for c in tie_keys %}
        {{ c }},
{%- endfor %}
        max({{ tie_break }}) as {{ tie_break }}
    from events
    inner join latest_ts using ({{ tie_keys | join(', ') }})
    group by {{ tie_keys | join(', ') }}
),
{%- endif %}

latest as (
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
        {{ timestamp }} as _event_ts,
{%- for f in features %}
        max(events.{{ f.column }}) as {{ f.name }}{{ "," if not loop.last }}
{%- endfor %}
    from events
{%- if tie_break %}
    inner join latest_tie using ({{ (entity + [timestamp]) | join(', ') }})
    -- rows whose tie-break is null win only when every tied row's is null (as `nulls last`)
    where events.{{ tie_break }} is not distinct from latest_tie.{{ tie_break }}
{%- else %}
    inner join latest_ts using ({{ tie_keys | join(', ') }})
{%- endif %}
    group by {{ (entity + [timestamp]) | join(', ') }}
),
{%- if max_age is not none %}

fresh as (
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
        _event_ts as _fresh_ts
    from latest
    where {{ materializer.temporal_filter('_event_ts', max_age) }}
),
{%- endif %}

final as (
    select
{%- for c in entity %}
        latest.{{ c }},
{%- endfor %}
        latest._event_ts,
{%- if max_age is not none %}
        fresh._fresh_ts is not null as _within_max_age,
{%- for f in features %}
        case when fresh._fresh_ts is not null then latest.{{ f.name }} end as {{ f.name }}{{ "," if not loop.last }}
{%- endfor %}
    from latest
    left join fresh using ({{ keys }})
{%- else %}
{%- for f in features %}
        latest.{{ f.name }}{{ "," if not loop.last }}
{%- endfor %}
    from latest
{%- endif %}
)

select * from final
{%- endmacro %}

{#- Materialize: the streaming form (top-1 by reduction and join; mz_now() only in WHERE).
    https://materialize.com/docs/transform-data/idiomatic-materialize-sql/top-k/ -#}
{% macro materialize__latest_features(relation, entity, timestamp, features, max_age=none, tie_break=none, columns=none) -%}
{{ materializer.default__latest_features(relation, entity, timestamp, features, max_age, tie_break, columns) }}
{%- endmacro %}

{#- RisingWave: the streaming form (now() only in WHERE as a temporal filter).
    https://docs.risingwave.com/processing/sql/temporal-filters -#}
{% macro risingwave__latest_features(relation, entity, timestamp, features, max_age=none, tie_break=none, columns=none) -%}
{{ materializer.default__latest_features(relation, entity, timestamp, features, max_age, tie_break, columns) }}
{%- endmacro %}

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
    and documents DISTINCT ON / joins for top-1). The events are kept for max_age: a temporal
    filter on their own time, `t - max_age <= ts <= t`, so the engine drops an event max_age after
    its time and its state is the events of the last max_age. The latest event within max_age is
    the latest event when that one is within max_age, so the values are PostgreSQL's; an entity
    whose newest event is older has no row (its lookup says NOT_FOUND, where PostgreSQL keeps the
    row with null values and `_within_max_age` false: OUTSIDE_MAX_AGE). Without max_age the
    view would keep every event ever seen: the Materialize and RisingWave variants refuse it. -#}
{% macro default__latest_features(relation, entity, timestamp, features, max_age=none, tie_break=none, columns=none) -%}
{%- set keys = entity | join(', ') -%}
{%- set tie_keys = entity + [timestamp] -%}
with events as (
    select {{ materializer.select_columns(columns) }}
    from {{ relation }}
    where {{ materializer.temporal_filter(timestamp, max_age) }}
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
        max({{ timestamp }}) as _event_ts,
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
    {#- grouped by the entity alone (every row left has its latest time): RisingWave makes the group
        keys of a view's last aggregation its primary key (risingwavelabs/risingwave planner tests
        src/frontend/planner_test/tests/testdata/output/agg.yaml: `select v1, ... group by v1` is
        `StreamMaterialize { ..., pk_columns: [v1] }`), so a lookup by entity is a point get #}
    group by {{ keys }}
),

final as (
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
        _event_ts,
{%- if max_age is not none %}
        -- every row left is within max_age (older events have expired)
        true as _within_max_age,
{%- endif %}
{%- for f in features %}
        {{ f.name }}{{ "," if not loop.last }}
{%- endfor %}
    from latest
)

select * from final
{%- endmacro %}

{#- The streaming variants keep the events of the last max_age, so a view without one would hold
    every event ever seen: refused with the fix. -#}
{% macro latest_features_retention(max_age, engine) -%}
{%- if max_age is none -%}
{{ exceptions.raise_compiler_error("latest_features on " ~ engine ~ " needs max_age: its materialized view keeps the events of the last max_age (without it, every event ever seen stays in memory); declare max_age on the view, for example 30d") }}
{%- endif -%}
{%- endmacro %}

{#- Materialize: the streaming form (top-1 by reduction and join; mz_now() only in WHERE).
    https://materialize.com/docs/transform-data/idiomatic-materialize-sql/top-k/; a temporal filter
    with a lower bound retracts a row once mz_now() passes it, so the view holds only the rows
    that pass (doc/user/content/transform-data/patterns/temporal-filters.md). -#}
{% macro materialize__latest_features(relation, entity, timestamp, features, max_age=none, tie_break=none, columns=none) -%}
{{- materializer.latest_features_retention(max_age, 'materialize') -}}
{{ materializer.default__latest_features(relation, entity, timestamp, features, max_age, tie_break, columns) }}
{%- endmacro %}

{#- RisingWave: the streaming form (now() only in WHERE as a temporal filter; records that fall
    out of its range are deleted from storage: https://docs.risingwave.com/processing/sql/temporal-filters,
    risingwave-docs processing/sql/temporal-filters.mdx). -#}
{% macro risingwave__latest_features(relation, entity, timestamp, features, max_age=none, tie_break=none, columns=none) -%}
{{- materializer.latest_features_retention(max_age, 'risingwave') -}}
{{ materializer.default__latest_features(relation, entity, timestamp, features, max_age, tie_break, columns) }}
{%- endmacro %}

{#- Point-in-time windowed aggregates: every point (a spine row) gets the features of one
    windowed feature view evaluated at its own timestamp, with exactly the rules of the online
    view (DESIGN §5): window W at t covers t - W <= ts <= t; count of nothing is 0; no event
    after t is ever seen.

    Arguments:
      points     a relation with `_row` (the spine row number), `_ts` (its timestamp) and the
                 view's entity columns
      relation, entity, timestamp, windows, features, columns   as for windowed_features
    Columns: `_row`, then `<feature>_<window>` for each window and feature.
-#}
{% macro training_windowed(points, relation, entity, timestamp, windows, features, columns=none) -%}
    {{ return(adapter.dispatch('training_windowed', 'materializer')(points, relation, entity, timestamp, windows, features, columns)) }}
{%- endmacro %}

{#- PostgreSQL: the events of the spine's keys and the spine's points are sorted together once
    per key and every window is a RANGE frame ending at the current row (its peers included, so
    events at exactly t count), so the cost grows with (points + events) * log, not with
    points * events per window. Points carry nulls in every event column (`_event` marks events),
    so no aggregate needs a FILTER: PostgreSQL slides count/sum/avg/stddev frames with inverse
    transitions only without one (a filter is a CASE inside the argument). count_distinct has no
    window form in PostgreSQL: it is read per point through the (entity, ts) index. -#}
{% macro postgres__training_windowed(points, relation, entity, timestamp, windows, features, columns=none) -%}
{%- if columns is none -%}
{#- the events' columns are unknown (an external source with filters): read per point -#}
{{ materializer.default__training_windowed(points, relation, entity, timestamp, windows, features, columns) }}
{%- else -%}
{%- set keys = entity | join(', ') -%}
{%- set longest = materializer.longest_window(windows) -%}
{%- set distinct = features | selectattr('agg', 'equalto', 'count_distinct') | list -%}
{%- set framed = features | rejectattr('agg', 'equalto', 'count_distinct') | list -%}
{%- set event_columns = [] -%}
{%- for c in (columns or []) %}{% if c not in entity and c != timestamp %}{% do event_columns.append(c) %}{% endif %}{% endfor -%}
with bounds as (
    select
        min(_ts) - {{ longest.interval }} as since,
        max(_ts) as until
    from {{ points }}
),

events as (
    select
{%- for c in entity %}
        e.{{ c }},
{%- endfor %}
        e.{{ timestamp }} as _ts,
        cast(null as bigint) as _row,
        1 as _event{{ "," if event_columns }}
{%- for c in event_columns %}
        e.{{ c }}{{ "," if not loop.last }}
{%- endfor %}
    from {{ relation }} as e
    cross join bounds
    where e.{{ timestamp }} >= bounds.since
        and e.{{ timestamp }} <= bounds.until
        and ({{ keys }}) in (select {{ keys }} from {{ points }})
),

stacked as (
    select * from events
    union all
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
        _ts,
        _row,
        null{{ "," if event_columns }}
{%- for c in event_columns %}
        null{{ "," if not loop.last }}
{%- endfor %}
    from {{ points }}
),

framed as (
    select
        _row{{ "," if framed }}
{%- for w in windows %}
{%- set outer = loop %}
{%- for f in framed %}
        {{ materializer.training_aggregate(f) }} over window_{{ w.name }} as {{ f.name }}_{{ w.name }}{{ "," if not (outer.last and loop.last) }}
{%- endfor %}
{%- endfor %}
    from stacked
    window
{%- for w in windows %}
        window_{{ w.name }} as (
            partition by {{ keys }}
            order by _ts
            range between {{ w.interval }} preceding and current row
        ){{ "," if not loop.last }}
{%- endfor %}
),

final as (
    select
        framed._row{{ "," if features }}
{%- for w in windows %}
{%- set outer = loop %}
{%- for f in features %}
{%- if f.agg == 'count_distinct' %}
        (
            select {{ materializer.aggregate(f) }}
            from {{ relation }} as e
            where {% for c in entity %}e.{{ c }} = p.{{ c }} and {% endfor %}e.{{ timestamp }} <= p._ts
                and e.{{ timestamp }} >= p._ts - {{ w.interval }}
        ) as {{ f.name }}_{{ w.name }}{{ "," if not (outer.last and loop.last) }}
{%- else %}
        framed.{{ f.name }}_{{ w.name }}{{ "," if not (outer.last and loop.last) }}
{%- endif %}
{%- endfor %}
{%- endfor %}
    from framed
    inner join {{ points }} as p on p._row = framed._row
    where framed._row is not null
)

select * from final
{%- endif %}
{%- endmacro %}

{#- A windowed aggregate without FILTER: `count(*)` counts `_event`, a feature's filter is a CASE. -#}
{% macro training_aggregate(feature) -%}
{%- set column = feature.column or '_event' -%}
{%- set value = ('case when (' ~ feature.filter ~ ') then ' ~ column ~ ' end') if feature.filter else column -%}
{%- set function = {'count': 'count', 'sum': 'sum', 'avg': 'avg', 'min': 'min', 'max': 'max', 'stddev': 'stddev_samp'}[feature.agg] -%}
{{ function }}({{ value }})
{%- endmacro %}

{#- Materialize and RisingWave: a one-off SELECT (ENGINES.md: never maintain training sets as views),
    each point reading its own window through correlated subqueries. Materialize documents no
    RANGE frames with offsets; RisingWave plans correlated subqueries as joins.
    https://materialize.com/docs/sql/select/ -#}
{% macro default__training_windowed(points, relation, entity, timestamp, windows, features, columns=none) -%}
with final as (
    select
        p._row{{ "," if features }}
{%- for w in windows %}
{%- set outer = loop %}
{%- for f in features %}
        (
            select {{ materializer.aggregate(f) }}
            from {{ relation }} as e
            where {% for c in entity %}e.{{ c }} = p.{{ c }} and {% endfor %}e.{{ timestamp }} <= p._ts
                and e.{{ timestamp }} + {{ w.interval }} >= p._ts
        ) as {{ f.name }}_{{ w.name }}{{ "," if not (outer.last and loop.last) }}
{%- endfor %}
{%- endfor %}
    from {{ points }} as p
)

select * from final
{%- endmacro %}

{% macro materialize__training_windowed(points, relation, entity, timestamp, windows, features, columns=none) -%}
{{ materializer.default__training_windowed(points, relation, entity, timestamp, windows, features, columns) }}
{%- endmacro %}

{% macro risingwave__training_windowed(points, relation, entity, timestamp, windows, features, columns=none) -%}
{{ materializer.default__training_windowed(points, relation, entity, timestamp, windows, features, columns) }}
{%- endmacro %}

{#- Point-in-time latest values: every point (a spine row) gets the features of one latest-value
    view as they were at its own timestamp (DESIGN §5): from the events with the greatest
    ts <= t (ties: the greatest `tie_break`, then per column the greatest non-null value); null
    when that ts < t - max_age.

    Arguments:
      points     a relation with `_row`, `_ts` and the view's entity columns
      relation, entity, timestamp, features, max_age, tie_break   as for latest_features
    Columns: `_row`, `_event_ts`, then the features. Each point costs index probes on
    (entity, ts): the cost grows with points * log(events).
-#}
{% macro training_latest(points, relation, entity, timestamp, features, max_age=none, tie_break=none) -%}
    {{ return(adapter.dispatch('training_latest', 'materializer')(points, relation, entity, timestamp, features, max_age, tie_break)) }}
{%- endmacro %}

{% macro default__training_latest(points, relation, entity, timestamp, features, max_age=none, tie_break=none) -%}
{%- set same_key -%}
{% for c in entity %}e.{{ c }} = p.{{ c }}{{ " and " if not loop.last }}{% endfor %}
{%- endset -%}
with newest as (
    select
        p._row,
        p._ts,
{%- for c in entity %}
        p.{{ c }},
{%- endfor %}
        (
            select max(e.{{ timestamp }})
            from {{ relation }} as e
            where {{ same_key }} and e.{{ timestamp }} <= p._ts
        ) as _event_ts
    from {{ points }} as p
),
{%- if tie_break %}

tied as (
    select
        p.*,
        (
            select max(e.{{ tie_break }})
            from {{ relation }} as e
            where {{ same_key }} and e.{{ timestamp }} = p._event_ts
        ) as _tie
    from newest as p
),
{%- endif %}

final as (
    select
        p._row,
        p._event_ts{{ "," if features }}
{%- for f in features %}
        (
            select max(e.{{ f.column }})
            from {{ relation }} as e
            where {{ same_key }} and e.{{ timestamp }} = p._event_ts
{%- if tie_break %}
                and (p._tie is null or e.{{ tie_break }} = p._tie)
{%- endif %}
{%- if max_age is not none %}
                and p._event_ts >= p._ts - {{ max_age }}
{%- endif %}
        ) as {{ f.name }}{{ "," if not loop.last }}
{%- endfor %}
    from {{ 'tied' if tie_break else 'newest' }} as p
)

select * from final
{%- endmacro %}

{#- RisingWave: ASOF LEFT JOIN finds each point's latest event time (streaming since 2.1; the
    native point-in-time join), then the tied events at that time are read per column with max()
    as everywhere. https://docs.risingwave.com/processing/sql/joins#asof-joins -#}
{% macro risingwave__training_latest(points, relation, entity, timestamp, features, max_age=none, tie_break=none) -%}
{%- if tie_break -%}
{{ materializer.default__training_latest(points, relation, entity, timestamp, features, max_age, tie_break) }}
{%- else -%}
{%- set keys = entity | join(', ') -%}
with newest as (
    select
        p._row,
        p._ts,
{%- for c in entity %}
        p.{{ c }},
{%- endfor %}
        e.{{ timestamp }} as _event_ts
    from {{ points }} as p
    asof left join {{ relation }} as e
        on {% for c in entity %}e.{{ c }} = p.{{ c }} and {% endfor %}e.{{ timestamp }} <= p._ts
),

final as (
    select
        p._row,
        p._event_ts{{ "," if features }}
{%- for f in features %}
        max(e.{{ f.column }}){% if max_age is not none %} filter (where p._event_ts >= p._ts - {{ max_age }}){% endif %} as {{ f.name }}{{ "," if not loop.last }}
{%- endfor %}
    from newest as p
    left join {{ relation }} as e
        on {% for c in entity %}e.{{ c }} = p.{{ c }} and {% endfor %}e.{{ timestamp }} = p._event_ts
    group by p._row, p._ts, p._event_ts
)

select * from final
{%- endif %}
{%- endmacro %}

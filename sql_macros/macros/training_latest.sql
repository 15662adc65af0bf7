{#- Point-in-time latest values: every point (a spine row) gets the features of one latest-value
    view as they were at its own timestamp (DESIGN §5): from the events with the greatest
    ts <= t (ties: the greatest `tie_break`, then per column the greatest non-null value); null
    when that ts < t - max_age.

    Arguments:
      points     a relation with `_row`, `_ts` and the view's entity columns
      relation, entity, timestamp, features, max_age, tie_break   as for latest_features
    Columns: `_row`, `_event_ts` (the time of the events the values come from; on PostgreSQL
    null when none is within max_age), then the features. The cost grows with
    points * log(events): index probes on (entity, ts).
-#}
{% macro training_latest(points, relation, entity, timestamp, features, max_age=none, tie_break=none) -%}
    {{ return(adapter.dispatch('training_latest', 'materializer')(points, relation, entity, timestamp, features, max_age, tie_break)) }}
{%- endmacro %}

{#- PostgreSQL: per point, the newest event time comes from a backward index-only scan of
    (entity, ts) (only events within max_age), then one index scan reads the events at exactly
    that time; with a tie_break, `fetch first 1 row with ties` keeps those with the greatest one
    (nulls last: if all are null, all are kept), and max() reduces the ties per column. Two index
    probes and one heap fetch per point, on points sorted by (entity, ts) so consecutive probes
    share pages. https://www.postgresql.org/docs/current/sql-select.html#SQL-LIMIT -#}
{% macro postgres__training_latest(points, relation, entity, timestamp, features, max_age=none, tie_break=none) -%}
with final as (
    select
        p._row,
        newest._event_ts{{ "," if features }}
{%- for f in features %}
        newest.{{ f.name }}{{ "," if not loop.last }}
{%- endfor %}
    from {{ points }} as p
    cross join lateral (
        select
            max(tied._ts) as _event_ts{{ "," if features }}
{%- for f in features %}
            max(tied.{{ f.name }}) as {{ f.name }}{{ "," if not loop.last }}
{%- endfor %}
        from (
            select
                e.{{ timestamp }} as _ts{{ "," if features }}
{%- for f in features %}
                e.{{ f.column }} as {{ f.name }}{{ "," if not loop.last }}
{%- endfor %}
            from {{ relation }} as e
            where {% for c in entity %}e.{{ c }} = p.{{ c }} and {% endfor %}e.{{ timestamp }} = (
                select max(n.{{ timestamp }})
                from {{ relation }} as n
                where {% for c in entity %}n.{{ c }} = p.{{ c }} and {% endfor %}n.{{ timestamp }} <= p._ts
{%- if max_age is not none %}
                    and n.{{ timestamp }} >= p._ts - {{ max_age }}
{%- endif %}
            )
{%- if tie_break %}
            order by e.{{ tie_break }} desc nulls last
            fetch first 1 row with ties
{%- endif %}
        ) as tied
    ) as newest
)

select * from final
{%- endmacro %}

{#- Any other engine (Materialize through materialize__): correlated subqueries per point, the
    newest event time first, then max() per column among the events at that time. -#}
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

{#- Materialize: the per-point correlated subqueries of default__ (the newest event time, then
    max() per column at that time) rather than PostgreSQL's LATERAL ... FETCH FIRST ... WITH
    TIES, which Materialize does not document.
    https://materialize.com/docs/sql/select/ -#}
{% macro materialize__training_latest(points, relation, entity, timestamp, features, max_age=none, tie_break=none) -%}
{{ materializer.default__training_latest(points, relation, entity, timestamp, features, max_age, tie_break) }}
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

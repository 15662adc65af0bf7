{#- Point-in-time windowed aggregates: every point (a spine row) gets the features of one
    windowed feature view evaluated at its own timestamp, with exactly the rules of the online
    view (DESIGN §5): window W at t covers t - W <= ts <= t; count of nothing is 0; no event
    after t is ever seen.

    Arguments:
      points     a relation with `_row` (the spine row number), `_ts` (its timestamp) and the
                 view's entity columns
      relation, entity, timestamp, windows, features, columns   as for windowed_features
      outputs    the `<feature>_<window>` columns to compute (none: every one)
      method     'frames' (sort the points with the events, one RANGE frame per window) or
                 'probes' (one (entity, ts) index range scan per point); PostgreSQL only, the
                 caller picks by estimated cost (materializer/training.py)
      byte_sorted   entity columns of text types that 'frames' partitions by in the "C"
                 collation (same groups, faster sort); PostgreSQL only
    Columns: `_row`, then `<feature>_<window>` for each requested window and feature.
-#}
{% macro training_windowed(points, relation, entity, timestamp, windows, features, columns=none, outputs=none, method='frames', byte_sorted=none) -%}
    {{ return(adapter.dispatch('training_windowed', 'materializer')(points, relation, entity, timestamp, windows, features, columns, outputs, method, byte_sorted)) }}
{%- endmacro %}

{#- The (feature, window) pairs to compute, windows in declared order. -#}
{% macro training_pairs(windows, features, outputs=none) -%}
{%- set pairs = [] -%}
{%- for w in windows -%}
{%- for f in features -%}
{%- if outputs is none or (f.name ~ '_' ~ w.name) in outputs -%}
{%- do pairs.append({'feature': f, 'window': w, 'name': f.name ~ '_' ~ w.name}) -%}
{%- endif -%}
{%- endfor -%}
{%- endfor -%}
{{ return(pairs) }}
{%- endmacro %}

{#- PostgreSQL has two forms, both reading only the events that some point can see:
    'frames' — the points are sorted together with the events of their keys (restricted per key
    to [first point - longest window, last point]) and every window is a RANGE frame ending at the
    current row, its peers included, so events at exactly t count. count/sum/avg/stddev frames
    slide with inverse transitions (no aggregate FILTER: PostgreSQL slides a frame only without
    one, so a filter is a CASE inside the argument and points carry nulls); min/max frames are
    recomputed when their head moves (cost: events per window). The cost grows with
    (points + events) * log.
    'probes' — each point reads its longest window through the (entity, ts) index and every
    shorter window is an aggregate FILTER, exactly as the online view: the cost grows with
    points * events per window, which wins for sparse spines (measured in BENCHMARKS.md).
    count_distinct has no window form in PostgreSQL: 'frames' reads it per point. Text keys are
    partitioned in the "C" collation: the same groups (equality is bytewise in deterministic
    collations), a faster sort. -#}
{% macro postgres__training_windowed(points, relation, entity, timestamp, windows, features, columns=none, outputs=none, method='frames', byte_sorted=none) -%}
{%- if method == 'probes' or columns is none -%}
{#- the events' columns are unknown (an external source with filters): probes read them all -#}
{{ materializer.training_windowed_probes(points, relation, entity, timestamp, windows, features, outputs) }}
{%- else -%}
{%- set keys = entity | join(', ') -%}
{%- set partition = [] -%}
{%- for c in entity %}{% do partition.append(c ~ ' collate "C"' if c in (byte_sorted or []) else c) %}{% endfor -%}
{%- set pairs = materializer.training_pairs(windows, features, outputs) -%}
{%- set used = [] -%}
{%- for p in pairs %}{% if p.window not in used %}{% do used.append(p.window) %}{% endif %}{% endfor -%}
{%- set longest = materializer.longest_window(used) -%}
{%- set framed = pairs | rejectattr('feature.agg', 'equalto', 'count_distinct') | list -%}
{%- set framed_windows = [] -%}
{%- for p in framed %}{% if p.window not in framed_windows %}{% do framed_windows.append(p.window) %}{% endif %}{% endfor -%}
{#- a filter or a feature (max of the time) may read the event time too: then the events carry it
    under its own name beside _ts -#}
{%- set reads_time = features | selectattr('filter') | list or features | selectattr('column', 'equalto', timestamp) | list -%}
{%- set event_columns = [] -%}
{%- for c in (columns or []) %}{% if c not in entity and (c != timestamp or reads_time) %}{% do event_columns.append(c) %}{% endif %}{% endfor -%}
with bounds as (
    select
{%- for c in entity %}
        {{ c }},
{%- endfor %}
        min(_ts) - {{ longest.interval }} as _since,
        max(_ts) as _until
    from {{ points }}
    group by {{ keys }}
),

key_events as (
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
    inner join bounds
        on {% for c in entity %}bounds.{{ c }} = e.{{ c }}{{ " and " if not loop.last }}{% endfor %}
    where e.{{ timestamp }} >= bounds._since
        and e.{{ timestamp }} <= bounds._until
),

stacked as (
    select * from key_events
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
{%- for p in framed %}
        {{ materializer.training_aggregate(p.feature) }} over window_{{ p.window.name }} as {{ p.name }}{{ "," if not loop.last }}
{%- endfor %}
    from stacked
{%- if framed_windows %}
    window
{%- for w in framed_windows %}
        window_{{ w.name }} as (
            partition by {{ partition | join(', ') }}
            order by _ts
            range between {{ w.interval }} preceding and current row
        ){{ "," if not loop.last }}
{%- endfor %}
{%- endif %}
),

final as (
    select
        framed._row{{ "," if pairs }}
{%- for p in pairs %}
{%- if p.feature.agg == 'count_distinct' %}
        (
            select {{ materializer.aggregate(p.feature) }}
            from {{ relation }} as e
            where {% for c in entity %}e.{{ c }} = p.{{ c }} and {% endfor %}e.{{ timestamp }} <= p._ts
                and e.{{ timestamp }} >= p._ts - {{ p.window.interval }}
        ) as {{ p.name }}{{ "," if not loop.last }}
{%- else %}
        framed.{{ p.name }}{{ "," if not loop.last }}
{%- endif %}
{%- endfor %}
    from framed
{%- if pairs | selectattr('feature.agg', 'equalto', 'count_distinct') | list %}
    inner join {{ points }} as p on p._row = framed._row
{%- endif %}
    where framed._row is not null
)

select * from final
{%- endif %}
{%- endmacro %}

{#- One index range scan of the longest requested window per point; the shorter windows are
    aggregate FILTERs, as in the online view (postgres__windowed_features), so every value is
    computed by the same aggregate over the same rows. -#}
{% macro training_windowed_probes(points, relation, entity, timestamp, windows, features, outputs=none) -%}
{%- set pairs = materializer.training_pairs(windows, features, outputs) -%}
{%- set used = [] -%}
{%- for p in pairs %}{% if p.window not in used %}{% do used.append(p.window) %}{% endif %}{% endfor -%}
{%- set longest = materializer.longest_window(used) if used else none -%}
with final as (
    select
        p._row{{ "," if pairs }}
{%- for pair in pairs %}
        probed.{{ pair.name }}{{ "," if not loop.last }}
{%- endfor %}
    from {{ points }} as p
{%- if pairs %}
    cross join lateral (
        select
{%- for pair in pairs %}
{%- set in_window = none if pair.window.seconds == longest.seconds else 'e.' ~ timestamp ~ ' >= p._ts - ' ~ pair.window.interval %}
            {{ materializer.aggregate(pair.feature, in_window) }} as {{ pair.name }}{{ "," if not loop.last }}
{%- endfor %}
        from {{ relation }} as e
        where {% for c in entity %}e.{{ c }} = p.{{ c }} and {% endfor %}e.{{ timestamp }} <= p._ts
            and e.{{ timestamp }} >= p._ts - {{ longest.interval }}
    ) as probed
{%- endif %}
)

select * from final
{%- endmacro %}

{#- A windowed aggregate without FILTER: `count(*)` counts `_event`, a feature's filter is a CASE. -#}
{% macro training_aggregate(feature) -%}
{%- set column = feature.column or '_event' -%}
{%- set value = ('case when (' ~ feature.filter ~ ') then ' ~ column ~ ' end') if feature.filter else column -%}
{%- set function = {'count': 'count', 'sum': 'sum', 'avg': 'avg', 'min': 'min', 'max': 'max', 'stddev': 'stddev_samp'}[feature.agg] -%}
{{ function }}({{ value }})
{%- endmacro %}

{#- Materialize and RisingWave: a one-off SELECT (never maintained as views: a lateral join kept as a view may hold state quadratic in rows per key),
    each point reading its own window through correlated subqueries. Materialize documents no
    RANGE frames with offsets; RisingWave plans correlated subqueries as joins. `method` is
    PostgreSQL's choice and ignored here.
    https://materialize.com/docs/sql/select/ -#}
{% macro default__training_windowed(points, relation, entity, timestamp, windows, features, columns=none, outputs=none, method='frames', byte_sorted=none) -%}
{%- set pairs = materializer.training_pairs(windows, features, outputs) -%}
with final as (
    select
        p._row{{ "," if pairs }}
{%- for pair in pairs %}
        (
            select {{ materializer.aggregate(pair.feature) }}
            from {{ relation }} as e
            where {% for c in entity %}e.{{ c }} = p.{{ c }} and {% endfor %}e.{{ timestamp }} <= p._ts
                and e.{{ timestamp }} + {{ pair.window.interval }} >= p._ts
        ) as {{ pair.name }}{{ "," if not loop.last }}
{%- endfor %}
    from {{ points }} as p
)

select * from final
{%- endmacro %}

{% macro materialize__training_windowed(points, relation, entity, timestamp, windows, features, columns=none, outputs=none, method='frames', byte_sorted=none) -%}
{{ materializer.default__training_windowed(points, relation, entity, timestamp, windows, features, columns, outputs, method, byte_sorted) }}
{%- endmacro %}

{% macro risingwave__training_windowed(points, relation, entity, timestamp, windows, features, columns=none, outputs=none, method='frames', byte_sorted=none) -%}
{{ materializer.default__training_windowed(points, relation, entity, timestamp, windows, features, columns, outputs, method, byte_sorted) }}
{%- endmacro %}

{#- Incremental maintenance of a monitor on PostgreSQL: what Materialize and RisingWave do for
    the monitor views, done by statement-level triggers on the two managed source tables.

    Tables in the `materializer` schema hold derived data only (apply drops and rebuilds them
    whenever the monitor's definition changes; they never hold anything the sources do not):

    - `state`: one row per prediction id, the deduplicated prediction joined to its outcome,
      without the clock. Under implicit_negative the label (the latest outcome by the deadline)
      does not depend on t; under explicit the stored label is the latest outcome of all, and
      `labelled_at` (its timestamp) tells a reader at t whether it is the label at t.
    - `cells`: the counters of MONITORING.md summed per (kind, time bucket, slice columns, score
      bin), over the state rows: kind `cohort` buckets a row by its cohort time (the windows and
      the time series), kind `pending` (implicit_negative) by its prediction time. Counters are
      sums, so a change of some ids subtracts their old rows and adds their new ones.
    - `drift cells` (with a reference): the watched values counted per (bucket of prediction
      time, column, reference bin).

    After every statement that writes a source, the trigger sends `pg_notify('materializer_changes',
    '<monitor>')` (delivered when the transaction commits, once per transaction: `materializer serve`
    LISTENs and re-reads the monitor for its live stream), and `refresh(ids)` takes the touched ids' rows out of
    the cells, recomputes their state rows from the sources and adds them back: the cost of a
    write grows with the rows it touches, and a read sums whole buckets of cells plus the rows of
    the partial buckets at the ends of its span (see monitor_metrics). Writers of one monitor take
    turns (a transaction-level advisory lock), so each recomputes from what committed before it.
    TRUNCATE of either source rebuilds everything. Needs PostgreSQL 14 (create or replace trigger).

    Arguments (all from the validated project):
      monitor      the monitor's name
      state, cells the two tables (schema-qualified)
      predictions  {relation, id, timestamp, score, columns, id_type, column_types}
      outcomes     {relation, id, timestamp, label, id_type}
      task, label_policy, maturity (interval literal or none), threshold
      bucket       {interval, seconds}
      slices       list of {name, column}
      drift        none, or {cells, reference, columns}: the drift cells table, the reference bins
                   table and the watched columns ({name, column}); the drift cells count the
                   values per (bucket of prediction time, column, bin of the newest version of
                   the reference bins), and a write to the reference bins (`materializer
                   reference` appends a version) recounts them
-#}
{% macro monitor_maintenance(monitor, state, cells, predictions, outcomes, task, label_policy, maturity, threshold, bucket, slices, drift=none) -%}
    {{ return(adapter.dispatch('monitor_maintenance', 'materializer')(monitor, state, cells, predictions, outcomes, task, label_policy, maturity, threshold, bucket, slices, drift)) }}
{%- endmacro %}

{#- Materialize and RisingWave maintain the monitor views themselves: nothing to create. -#}
{% macro default__monitor_maintenance(monitor, state, cells, predictions, outcomes, task, label_policy, maturity, threshold, bucket, slices, drift=none) -%}
{%- endmacro %}

{% macro materialize__monitor_maintenance(monitor, state, cells, predictions, outcomes, task, label_policy, maturity, threshold, bucket, slices, drift=none) -%}
{%- endmacro %}

{% macro risingwave__monitor_maintenance(monitor, state, cells, predictions, outcomes, task, label_policy, maturity, threshold, bucket, slices, drift=none) -%}
{%- endmacro %}

{% macro postgres__monitor_maintenance(monitor, state, cells, predictions, outcomes, task, label_policy, maturity, threshold, bucket, slices, drift=none) -%}
{%- set binary = task == 'binary_classification' -%}
{%- set implicit = label_policy == 'implicit_negative' -%}
{%- set value_type = 'integer' if binary else 'double precision' -%}
{%- set keys = materializer.monitor_slice_columns(slices) -%}
{%- set key_list = (['kind', 'bucket_start'] + keys + (['bin'] if binary else [])) | join(', ') -%}
{%- set counters = materializer.monitor_counter_columns(task) -%}
{%- set lock = "perform pg_advisory_xact_lock(hashtext('materializer.monitor." ~ monitor ~ "'))" -%}
drop table if exists {{ cells }}, {{ state }}{% if drift %}, {{ drift.cells }}{% endif %} cascade;

create table {{ state }} (
    prediction_id {{ predictions.id_type }} primary key,
    predicted_at timestamptz not null,
    cohort_at timestamptz not null,
    score double precision,
    valid boolean not null,
    labelled boolean not null,
    label {{ value_type }},
    predicted {{ value_type }},
    labelled_at timestamptz{{ "," if predictions.columns }}
{%- for c in predictions.columns %}
    {{ c }} {{ predictions.column_types[c] }}{{ "," if not loop.last }}
{%- endfor %}
);

create index on {{ state }} (cohort_at);

create index on {{ state }} (predicted_at);

create table {{ cells }} (
    kind text not null,
    bucket_start timestamptz not null,
{%- for c in keys %}
    {{ c }} text not null,
{%- endfor %}
{%- if binary %}
    bin integer not null,
{%- endif %}
{%- for c in counters %}
    {{ c }} {{ 'double precision' if c.startswith('sum_') else 'bigint' }} not null,
{%- endfor %}
    max_labelled_at timestamptz,
    primary key ({{ key_list }})
);

create index on {{ cells }} (kind) where n = 0 and pending = 0 and n_invalid = 0;
{%- if not implicit %}

create index on {{ cells }} (max_labelled_at);
{%- endif %}

{%- if drift %}

create table {{ drift.cells }} (
    bucket_start timestamptz not null,
    column_name text not null,
    bin integer not null,
    n bigint not null,
    primary key (bucket_start, column_name, bin)
);
{%- endif %}

create or replace function materializer.{{ monitor }}__refresh(_materializer_ids {{ predictions.id_type }}[]) returns void
language plpgsql as $$
begin
    {{ lock }};
    -- take the touched ids' rows out of the cells
    with changed as (
        delete from {{ state }} as s
        where s.prediction_id = any(_materializer_ids)
        returning s.*
    ),
{{ materializer.monitor_state_delta('changed', task, label_policy, bucket, slices) }}
{%- if drift %},
{{ materializer.monitor_drift_delta('changed', drift, bucket, '-') }}
{%- endif %}
{{ materializer.monitor_state_upsert(cells, key_list, counters, '-') }};
    -- recompute them from the sources and add them back
    with changed as (
        insert into {{ state }}
{{ materializer.monitor_state_rows(predictions, outcomes, task, label_policy, maturity, threshold, '_materializer_ids') | indent(8, true) }}
        returning *
    ),
{{ materializer.monitor_state_delta('changed', task, label_policy, bucket, slices) }}
{%- if drift %},
{{ materializer.monitor_drift_delta('changed', drift, bucket, '+') }}
{%- endif %}
{{ materializer.monitor_state_upsert(cells, key_list, counters, '+') }};
    delete from {{ cells }} where n = 0 and pending = 0 and n_invalid = 0;
{%- if drift %}
    delete from {{ drift.cells }} where n = 0;
{%- endif %}
end
$$;

create or replace function materializer.{{ monitor }}__rebuild() returns void
language plpgsql as $$
begin
    {{ lock }};
    truncate {{ state }}, {{ cells }};
    with changed as (
        insert into {{ state }}
{{ materializer.monitor_state_rows(predictions, outcomes, task, label_policy, maturity, threshold) | indent(8, true) }}
        returning *
    ),
{{ materializer.monitor_state_delta('changed', task, label_policy, bucket, slices) }}
{{ materializer.monitor_state_upsert(cells, key_list, counters, '+') }};
{%- if drift %}
    perform materializer.{{ monitor }}__recount_drift();
{%- endif %}
end
$$;
{%- if drift %}

create or replace function materializer.{{ monitor }}__recount_drift() returns void
language plpgsql as $$
begin
    {{ lock }};
    truncate {{ drift.cells }};
    with changed as (
        select * from {{ state }}
    ),
{{ materializer.monitor_drift_delta('changed', drift, bucket) }}
    insert into {{ drift.cells }} (bucket_start, column_name, bin, n)
    select bucket_start, column_name, bin, n
    from drift_delta;
end
$$;

create or replace function materializer.{{ monitor }}__on_reference() returns trigger
language plpgsql as $$
begin
    perform materializer.{{ monitor }}__recount_drift();
    perform pg_notify('materializer_changes', '{{ monitor }}');
    return null;
end
$$;
{%- for event in ['insert', 'update', 'delete', 'truncate'] %}

create or replace trigger {{ monitor }}__reference_{{ event }}
after {{ event }} on {{ drift.reference }}
for each statement execute function materializer.{{ monitor }}__on_reference();
{%- endfor %}
{%- endif %}
{%- for side, name in [(predictions, 'predictions'), (outcomes, 'outcomes')] %}

create or replace function materializer.{{ monitor }}__on_{{ name }}() returns trigger
language plpgsql as $$
declare
    _materializer_ids {{ predictions.id_type }}[];
begin
    -- `materializer serve` listens: the stream reads the monitor again once this transaction commits
    perform pg_notify('materializer_changes', '{{ monitor }}');
    if tg_op = 'TRUNCATE' then
        perform materializer.{{ monitor }}__rebuild();
        return null;
    elsif tg_op = 'INSERT' then
        select array_agg(distinct {{ side.id }}) into _materializer_ids from new_rows where {{ side.id }} is not null;
    elsif tg_op = 'UPDATE' then
        select array_agg(distinct {{ side.id }}) into _materializer_ids
        from (select {{ side.id }} from old_rows union all select {{ side.id }} from new_rows) as touched
        where {{ side.id }} is not null;
    else
        select array_agg(distinct {{ side.id }}) into _materializer_ids from old_rows where {{ side.id }} is not null;
    end if;
    if _materializer_ids is not null then
        perform materializer.{{ monitor }}__refresh(_materializer_ids);
    end if;
    return null;
end
$$;
{%- for event, referencing in [('insert', 'new table as new_rows'), ('update', 'old table as old_rows new table as new_rows'), ('delete', 'old table as old_rows'), ('truncate', none)] %}

create or replace trigger {{ monitor }}__{{ name }}_{{ event }}
after {{ event }} on {{ side.relation }}
{%- if referencing %}
referencing {{ referencing }}
{%- endif %}
for each statement execute function materializer.{{ monitor }}__on_{{ name }}();
{%- endfor %}
{%- endfor %}

select materializer.{{ monitor }}__rebuild()
{%- endmacro %}

{#- The slice columns of a monitor, each once, in order. -#}
{% macro monitor_slice_columns(slices) -%}
{%- set columns = [] -%}
{%- for s in slices %}{% if s.column not in columns %}{% do columns.append(s.column) %}{% endif %}{% endfor -%}
{{ return(columns) }}
{%- endmacro %}

{#- The state rows of the predictions (of the ids in the array variable `ids`, or of all):
    the earliest row per id (ties: the non-null, greater score, then the smaller extra columns,
    as monitor_scored; rows with a null id or time never count), joined to its outcome with one
    probe of the outcomes' (id, ts) index: under implicit_negative the latest outcome reported
    by predicted_at + maturity, under explicit the latest of all (a reader at t checks
    labelled_at). -#}
{% macro monitor_state_rows(predictions, outcomes, task, label_policy, maturity, threshold, ids=none) -%}
{%- set binary = task == 'binary_classification' -%}
{%- set implicit = label_policy == 'implicit_negative' -%}
{%- set value_type = 'integer' if binary else 'double precision' -%}
with deduped as (
    select distinct on (p.{{ predictions.id }})
        p.{{ predictions.id }} as prediction_id,
        p.{{ predictions.timestamp }} as predicted_at,
        cast(p.{{ predictions.score }} as double precision) as score{{ "," if predictions.columns }}
{%- for c in predictions.columns %}
        p.{{ c }}{{ "," if not loop.last }}
{%- endfor %}
    from {{ predictions.relation }} as p
    where p.{{ predictions.id }} is not null
        and p.{{ predictions.timestamp }} is not null
{%- if ids %}
        and p.{{ predictions.id }} = any({{ ids }})
{%- endif %}
    order by p.{{ predictions.id }}, p.{{ predictions.timestamp }}, p.{{ predictions.score }} desc nulls last{% for c in predictions.columns %}, p.{{ c }}{% endfor %}
)

select
    deduped.prediction_id,
    deduped.predicted_at,
    deduped.predicted_at{% if implicit %} + {{ maturity }}{% endif %} as cohort_at,
    deduped.score,
    {{ materializer.monitor_judgement('deduped', 'outcome', task, label_policy, threshold) | indent(4) }},
    outcome.labelled_at{{ "," if predictions.columns }}
{%- for c in predictions.columns %}
    deduped.{{ c }}{{ "," if not loop.last }}
{%- endfor %}
from deduped
left join lateral (
    select
        cast(o.{{ outcomes.label }} as {{ value_type }}) as label,
        o.{{ outcomes.timestamp }} as labelled_at
    from {{ outcomes.relation }} as o
    where o.{{ outcomes.id }} = deduped.prediction_id
        and o.{{ outcomes.label }} is not null
{%- if implicit %}
        and o.{{ outcomes.timestamp }} <= deduped.predicted_at + {{ maturity }}
{%- endif %}
    order by o.{{ outcomes.timestamp }} desc, o.{{ outcomes.label }} desc
    limit 1
) as outcome on true
{%- endmacro %}

{#- CTEs `flagged` and `delta`: the state rows of `rows` summed into cells. A row counts in
    the `cohort` cell of its cohort time and, under implicit_negative, when its score is usable,
    in the `pending` cell of its prediction time (score bin -1). Slice values are text, '(null)'
    for null; an unusable score (null, NaN, infinite, out of range) has bin -1. -#}
{% macro monitor_state_delta(rows, task, label_policy, bucket, slices) -%}
{%- set binary = task == 'binary_classification' -%}
{%- set implicit = label_policy == 'implicit_negative' -%}
{%- set keys = materializer.monitor_slice_columns(slices) %}
    flagged as (
        select
            kinds.kind,
            {{ materializer.time_bucket("case when kinds.kind = 'cohort' then " ~ rows ~ ".cohort_at else " ~ rows ~ ".predicted_at end", bucket.interval, bucket.seconds) }} as bucket_start,
{%- for c in keys %}
            coalesce(cast({{ rows }}.{{ c }} as text), '(null)') as {{ c }},
{%- endfor %}
{%- if binary %}
            case when kinds.kind = 'cohort' and {{ materializer.monitor_score_ok(rows ~ '.score', task) }} then least(floor({{ rows }}.score * 100), 99) else -1 end as bin,
{%- endif %}
            {{ materializer.monitor_flags('kinds.kind', rows, label_policy, task) | indent(12) }}
            {{ rows }}.label,
            {{ rows }}.predicted,
            {{ rows }}.score{{ "," if not implicit }}
{%- if not implicit %}
            {{ rows }}.labelled_at
{%- endif %}
        from {{ rows }}
        cross join (values ('cohort'){% if implicit %}, ('pending'){% endif %}) as kinds (kind)
{%- if implicit %}
        where kinds.kind = 'cohort' or ({{ materializer.monitor_score_ok(rows ~ '.score', task) }})
{%- endif %}
    ),

    delta as (
        select
            kind,
            bucket_start,
{%- for c in keys %}
            {{ c }},
{%- endfor %}
{%- if binary %}
            bin,
{%- endif %}
{{- materializer.monitor_cell_counters(task) | indent(4) }},
{%- if implicit %}
            cast(null as timestamptz) as max_labelled_at
{%- else %}
            max(labelled_at) as max_labelled_at
{%- endif %}
        from flagged
        group by kind, bucket_start{% for c in keys %}, {{ c }}{% endfor %}{% if binary %}, bin{% endif %}
    )
{%- endmacro %}

{#- Add (`+`) or subtract (`-`) the `delta` cells: a sum that is null (no rows in metrics) adds 0.
    The newest outcome time of a cell only grows (a reader at t recomputes a bucket holding an
    outcome dated after t, so a stale, later time only costs a recomputation). -#}
{% macro monitor_state_upsert(cells, key_list, counters, sign) %}
    insert into {{ cells }} as c ({{ key_list }}, {{ counters | join(', ') }}, max_labelled_at)
    select
        {{ key_list }},
{%- for x in counters %}
        {{ sign if sign == '-' }}coalesce({{ x }}, 0),
{%- endfor %}
        max_labelled_at
    from delta
    on conflict ({{ key_list }}) do update set
{%- for x in counters %}
        {{ x }} = c.{{ x }} + excluded.{{ x }},
{%- endfor %}
        max_labelled_at = greatest(c.max_labelled_at, excluded.max_labelled_at)
{%- endmacro %}

{#- The CTEs through `sliced` of a monitor view that reads maintained cells (PostgreSQL).

    A CTE `spans` (monitor_spans) has, per row, `kind` (cohort or pending) and the bounds of
    what it reads, plus `window_name` when `key` is window_name; with `key` bucket_start,
    every row and cell keeps its own bucket (the time series). The whole buckets come from the
    cells; the rows of each span's first partial bucket, of the bucket holding t (read once for
    all spans) and, under explicit, of the buckets holding an outcome dated after t come from the
    state rows at t (monitor_state_at), flagged as in monitor_metrics and summed into cells of the
    same shape. A cohort time <= t implies a prediction time <= t, so these reads need only the
    index of their own time.
-#}
{% macro monitor_cells_read(maintained, task, label_policy, slices, key) -%}
{%- set implicit = label_policy == 'implicit_negative' -%}
{%- set binary = task == 'binary_classification' -%}
{%- set clock = materializer.clock() -%}
{%- set now_bucket = materializer.time_bucket(clock, maintained.bucket.interval, maintained.bucket.seconds) -%}
{%- set keys = materializer.monitor_slice_columns(slices) -%}
{%- set counters = materializer.monitor_counter_columns(task) -%}
{%- set span_key = 'spans.window_name, ' if key == 'window_name' else '' -%}
{%- if not implicit %}
unsettled as (
    -- buckets holding an outcome dated after t: their labels at t are not the maintained ones
    select distinct bucket_start
    from {{ maintained.cells }}
    where kind = 'cohort'
        and max_labelled_at > {{ clock }}
),
{% endif %}
stored as (
    select
        {{ 'spans.window_name' if key == 'window_name' else 'cells.bucket_start' }},
{%- for c in keys %}
        cells.{{ c }},
{%- endfor %}
{%- if binary %}
        cells.bin,
{%- endif %}
{%- for c in counters %}
{%- if c == 'sum_ape' %}
        case when cells.n_nonzero > 0 then cells.{{ c }} end as {{ c }}{{ "," if not loop.last }}
{%- elif c.startswith('sum_') %}
        case when cells.n > 0 then cells.{{ c }} end as {{ c }}{{ "," if not loop.last }}
{%- else %}
        cells.{{ c }}{{ "," if not loop.last }}
{%- endif %}
{%- endfor %}
    from spans
    cross join lateral (
        select *
        from {{ maintained.cells }} as cells
        where cells.kind = spans.kind
            and cells.bucket_start >= spans.whole_from
            and cells.bucket_start < spans.whole_until
    ) as cells
{%- if not implicit %}
    where cells.bucket_start not in (select bucket_start from unsettled)
{%- endif %}
),

tail as materialized (
    -- the rows of the bucket holding t, read once for every span
{{ materializer.monitor_state_at(maintained, task, label_policy, 's.cohort_at >= ' ~ now_bucket ~ ' and s.cohort_at <= ' ~ clock) | indent(4, true) }}
),
{%- if implicit %}

pending_tail as materialized (
{{ materializer.monitor_state_at(maintained, task, label_policy, 's.predicted_at >= ' ~ now_bucket ~ ' and s.predicted_at <= ' ~ clock) | indent(4, true) }}
),
{%- endif %}

live as (
    -- the first partial bucket of each span, read through the index of the state rows
    select {{ span_key }}spans.kind, rows.*
    from spans
    cross join lateral (
{{ materializer.monitor_state_at(maintained, task, label_policy, 's.cohort_at >= spans.opens and s.cohort_at < spans.head_until') | indent(8, true) }}
    ) as rows
    where spans.kind = 'cohort'

    union all

    select {{ span_key }}spans.kind, rows.*
    from tail as rows
    inner join spans on spans.kind = 'cohort' and rows.cohort_at >= spans.opens
{%- if implicit %}

    union all

    -- pending: prediction times, the same way
    select {{ span_key }}spans.kind, rows.*
    from spans
    cross join lateral (
{{ materializer.monitor_state_at(maintained, task, label_policy, 's.predicted_at >= spans.opens and s.predicted_at < spans.head_until') | indent(8, true) }}
    ) as rows
    where spans.kind = 'pending'

    union all

    select {{ span_key }}spans.kind, rows.*
    from pending_tail as rows
    inner join spans on spans.kind = 'pending' and rows.predicted_at >= spans.opens
{%- else %}

    union all

    -- the unsettled buckets
    select {{ span_key }}spans.kind, rows.*
    from spans
    inner join unsettled
        on unsettled.bucket_start >= spans.whole_from
        and unsettled.bucket_start < spans.whole_until
    cross join lateral (
{{ materializer.monitor_state_at(maintained, task, label_policy, 's.cohort_at >= unsettled.bucket_start and s.cohort_at < unsettled.bucket_start + ' ~ maintained.bucket.interval) | indent(8, true) }}
    ) as rows
    where spans.kind = 'cohort'
{%- endif %}
),

flagged as (
    select
{%- if key == 'window_name' %}
        live.window_name,
{%- else %}
        {{ materializer.time_bucket('live.cohort_at', maintained.bucket.interval, maintained.bucket.seconds) }} as bucket_start,
{%- endif %}
{%- for c in keys %}
        coalesce(cast(live.{{ c }} as text), '(null)') as {{ c }},
{%- endfor %}
        {{ materializer.monitor_flags('live.kind', 'live', label_policy, task) | indent(8) }}
        live.label,
        live.predicted,
        live.score
    from live
),

live_cells as ({{ materializer.monitor_cells('flagged', key, keys, task) }}
),

cells as (
    select * from stored
    union all
    select * from live_cells
),

sliced as ({{ materializer.monitor_slices('cells', key, slices, task) }}
),
{%- endmacro %}

{#- CTE `drift_delta`: the watched values of the state rows `rows` counted per (bucket of
    prediction time, column, reference bin); with `sign`, also `drift_upsert`, which adds (`+`)
    them to or subtracts (`-`) them from the drift cells. A null, NaN or infinite value counts
    nowhere, as in monitor_drift. -#}
{% macro monitor_drift_delta(rows, drift, bucket, sign=none) -%}
    drift_delta as (
        select
            {{ materializer.time_bucket(rows ~ '.predicted_at', bucket.interval, bucket.seconds) }} as bucket_start,
            bins.column_name,
            bins.bin,
            count(*) as n
        from {{ rows }}
        cross join lateral (
            values
{%- for c in drift.columns %}
                ('{{ c.name }}', cast({{ rows }}.{{ c.column }} as double precision)){{ "," if not loop.last }}
{%- endfor %}
        ) as observed (column_name, value)
        inner join (
            -- the newest version of the reference bins
{{ materializer.monitor_reference_newest(drift.reference) | indent(12, true) }}
        ) as bins
            on bins.column_name = observed.column_name
            and {{ materializer.monitor_finite('observed.value') }}
            and observed.value >= bins.lower_bound
            and observed.value < bins.upper_bound
        group by 1, 2, 3
    )
{%- if sign %},

    drift_upsert as (
        insert into {{ drift.cells }} as c (bucket_start, column_name, bin, n)
        select bucket_start, column_name, bin, {{ sign if sign == '-' }}n
        from drift_delta
        on conflict (bucket_start, column_name, bin) do update set
            n = c.n + excluded.n
    )
{%- endif %}
{%- endmacro %}

{#- CTE `spans` of a view over maintained cells: per (window, kind), the rows from `opens` = t -
    length to t count; the whole buckets [whole_from, whole_until) are read from the cells (none
    when whole_from >= whole_until), the rows of the first partial bucket [opens, head_until)
    and of the bucket holding t [whole_until, t] from the state. `spans` is a list of (window
    name, kind, length interval). -#}
{% macro monitor_spans(spans, bucket) -%}
{%- set clock = materializer.clock() -%}
spans as (
    -- each span reads rows from `opens` to t: [opens, head_until) and [whole_until, t] from the
    -- state rows, the whole buckets [whole_from, whole_until) from the cells
    select
        window_name,
        kind,
        opens,
        whole_from,
        least(whole_from, whole_until) as head_until,
        whole_until
    from (
        select
            window_name,
            kind,
            {{ clock }} - length as opens,
            {{ materializer.time_bucket(clock ~ " - length + " ~ bucket.interval ~ " - interval '1 microsecond'", bucket.interval, bucket.seconds) }} as whole_from,
            {{ materializer.time_bucket(clock, bucket.interval, bucket.seconds) }} as whole_until
        from (
            values
{%- for name, kind, length in spans %}
                ('{{ name }}', '{{ kind }}', {{ length }}){{ "," if not loop.last }}
{%- endfor %}
        ) as spans (window_name, kind, length)
    ) as bounds
),
{%- endmacro %}

{#- The maintained state rows that satisfy `condition` (over `s`), as the scored view has them
    at t: under explicit, an id whose latest outcome is dated after t reads its label at t with
    one probe of the outcomes' (id, ts) index (and is valid or not by that label). -#}
{% macro monitor_state_at(maintained, task, label_policy, condition) -%}
{%- set clock = materializer.clock() -%}
{%- set outcomes = maintained.outcomes -%}
{%- set explicit = label_policy == 'explicit' -%}
select
    s.prediction_id,
    s.predicted_at,
    s.cohort_at,
    s.score,
{%- if explicit %}
    case
        when s.labelled_at > {{ clock }}
            then {{ materializer.monitor_score_ok('s.score', task) }} and {{ materializer.monitor_label_ok('at_t.label', task) }}
        else s.valid
    end as valid,
{%- else %}
    s.valid,
{%- endif %}
{%- if explicit %}
    case when s.labelled_at > {{ clock }} then at_t.label is not null else s.labelled end as labelled,
    case when s.labelled_at > {{ clock }} then at_t.label else s.label end as label,
{%- else %}
    s.labelled,
    s.label,
{%- endif %}
    s.predicted{{ "," if maintained.columns }}
{%- for c in maintained.columns %}
    s.{{ c }}{{ "," if not loop.last }}
{%- endfor %}
from {{ maintained.state }} as s
{%- if explicit %}
left join lateral (
    -- only for an id whose latest outcome is dated after t: its label at t
    select cast(o.{{ outcomes.label }} as {{ 'integer' if task == 'binary_classification' else 'double precision' }}) as label
    from {{ outcomes.relation }} as o
    where s.labelled_at > {{ clock }}
        and o.{{ outcomes.id }} = s.prediction_id
        and o.{{ outcomes.label }} is not null
        and o.{{ outcomes.timestamp }} <= {{ clock }}
    order by o.{{ outcomes.timestamp }} desc, o.{{ outcomes.label }} desc
    limit 1
) as at_t on true
{%- endif %}
where {{ condition }}
{%- endmacro %}

{#- Live model quality per trailing window, overall and by each slice (DESIGN §5, MONITORING.md).

    One row per (window_name, slice, slice_value): slice `all` (slice_value `all`), `version`,
    and one per segment column; the counters and metrics of monitor_rollup.

    Arguments:
      scored       the monitor's scored relation (see monitor_scored)
      task, label_policy, cost_fp, cost_fn   as for monitor_rollup
      windows      list of {name, interval}
      slices       list of {name, column}: `version` and the segment columns
      maturity     an interval literal (implicit_negative), or none
      maintained   PostgreSQL only: the monitor's maintained tables (monitor_maintenance), or none
    Cohort of window W at t: predictions with t - W <= cohort_at <= t (cohort_at is predicted_at,
    or predicted_at + maturity under implicit_negative: only mature predictions count).
    Pending under implicit_negative: every valid prediction with predicted_at <= t < cohort_at,
    whatever the window. Values of a slice column are text; a null value is '(null)'.
-#}
{% macro monitor_metrics(scored, task, label_policy, windows, slices, cost_fp=none, cost_fn=none, maturity=none, maintained=none) -%}
    {{ return(adapter.dispatch('monitor_metrics', 'materializer')(scored, task, label_policy, windows, slices, cost_fp, cost_fn, maturity, maintained)) }}
{%- endmacro %}

{#- One text for the three engines (PostgreSQL computes it on read for an external source). Each
    prediction row is fanned out to the spans that hold it at t, one filtered select per span
    combined with UNION ALL: per window W, the cohort span `t - W <= cohort_at <= t`, and under
    implicit_negative the pending span `predicted_at <= t < cohort_at` (once per window: pending
    counts whatever the window). Every clock comparison reads the scored row's own columns, is a
    top-level ANDed WHERE condition and sits in a select of one relation: RisingWave keeps a
    temporal filter only on the columns of one input (one over two join inputs is pushed into the
    join condition and rejected: planner test predicate_pushdown.yaml, "now() in a complex cmp expr
    does not get pushed down"), and runs no join without an equality condition in a streaming
    view (e2e_test/streaming/natural_and_cross_join.slt: "Nested-loop joins are not supported in
    the streaming mode"); Materialize takes mz_now() only compared with an expression free of it
    in WHERE (doc/user/content/transform-data/patterns/temporal-filters.md). The rows are then
    summed into cells per (window, slice columns, score bin), and the slices and metrics computed
    from the cells. -#}
{% macro default__monitor_metrics(scored, task, label_policy, windows, slices, cost_fp=none, cost_fn=none, maturity=none, maintained=none) -%}
{%- set implicit = label_policy == 'implicit_negative' -%}
{%- set columns = [] -%}
{%- for s in slices %}{% if s.column not in columns %}{% do columns.append(s.column) %}{% endif %}{% endfor -%}
{%- set spans = [] -%}
{%- for w in windows %}{% do spans.append((w, 'cohort')) %}{% endfor -%}
{%- if implicit %}{% for w in windows %}{% do spans.append((w, 'pending')) %}{% endfor %}{% endif -%}
with flagged as (
{%- for w, kind in spans %}
    select
        '{{ w.name }}' as window_name,
{%- for c in columns %}
        scored.{{ c }},
{%- endfor %}
        {{ materializer.monitor_span_flags(kind, 'scored', label_policy, task) | indent(8) }}
        scored.label,
        scored.predicted,
        scored.score
    from {{ scored }} as scored
{%- if kind == 'cohort' %}
    -- the cohort of window {{ w.name }}: t - {{ w.name }} <= cohort_at <= t
    where {{ materializer.temporal_filter('scored.cohort_at', w.interval) }}
{%- else %}
    -- pending: predicted_at <= t < cohort_at (predicted_at + maturity)
    where {{ materializer.clock_between('scored.predicted_at', "scored.cohort_at - interval '1 microsecond'") }}
{%- endif %}
{%- if not loop.last %}

    union all
{% endif %}
{%- endfor %}
),

cells as ({{ materializer.monitor_cells('flagged', 'window_name', columns, task) }}
),

sliced as ({{ materializer.monitor_slices('cells', 'window_name', slices, task) }}
),

{{ materializer.monitor_rollup(['window_name', 'slice', 'slice_value'], task, label_policy, cost_fp, cost_fn) }}

select * from final
{%- endmacro %}

{#- PostgreSQL computed on read (an external source): the scored view, itself computed on read,
    is read once and joined to a small table of time spans (one per window, and under
    implicit_negative one `pending` span per window, from predicted_at to just before maturity);
    the clock bounds the span in a top-level ANDed WHERE (clock_between). The streaming text
    (default__) reads the scored view once per span instead, which a maintained view makes cheap
    and a view computed on read would not; the join it avoids is no problem here. -#}
{% macro monitor_metrics_on_read(scored, task, label_policy, windows, slices, cost_fp=none, cost_fn=none, maturity=none) -%}
{%- set implicit = label_policy == 'implicit_negative' -%}
{%- set offset = maturity if implicit else "interval '0 seconds'" -%}
{%- set columns = [] -%}
{%- for s in slices %}{% if s.column not in columns %}{% do columns.append(s.column) %}{% endif %}{% endfor -%}
with spans as (
    select *
    from (
        values
{%- for w in windows %}
            ('{{ w.name }}', 'cohort', {{ offset }}, {{ offset }} + {{ w.interval }}){{ "," if implicit or not loop.last }}
{%- endfor %}
{%- if implicit %}
{%- for w in windows %}
            ('{{ w.name }}', 'pending', interval '0 seconds', {{ maturity }} - interval '1 microsecond'){{ "," if not loop.last }}
{%- endfor %}
{%- endif %}
    ) as spans (window_name, kind, opens, closes)
),

flagged as (
    select
        spans.window_name,
{%- for c in columns %}
        scored.{{ c }},
{%- endfor %}
        {{ materializer.monitor_flags('spans.kind', 'scored', label_policy, task) | indent(8) }}
        scored.label,
        scored.predicted,
        scored.score
    from {{ scored }} as scored
    cross join spans
    where {{ materializer.clock_between('scored.predicted_at + spans.opens', 'scored.predicted_at + spans.closes') }}
),

cells as ({{ materializer.monitor_cells('flagged', 'window_name', columns, task) }}
),

sliced as ({{ materializer.monitor_slices('cells', 'window_name', slices, task) }}
),

{{ materializer.monitor_rollup(['window_name', 'slice', 'slice_value'], task, label_policy, cost_fp, cost_fn) }}

select * from final
{%- endmacro %}

{#- PostgreSQL with maintained cells (monitor_maintenance): a window's whole buckets are summed
    from the cells, and only the rows of the partial buckets at both ends of its span are read
    from the scored view, so a read costs (buckets x cells + the rows of two buckets), not the
    rows of the window. Under explicit, a bucket holding an outcome dated after t (a reading in
    the past) is read from the scored rows too. -#}
{% macro postgres__monitor_metrics(scored, task, label_policy, windows, slices, cost_fp=none, cost_fn=none, maturity=none, maintained=none) -%}
{%- if maintained is none -%}
{{ materializer.monitor_metrics_on_read(scored, task, label_policy, windows, slices, cost_fp, cost_fn, maturity) }}
{%- else -%}
{%- set implicit = label_policy == 'implicit_negative' -%}
{%- set spans = [] -%}
{%- for w in windows %}{% do spans.append((w.name, 'cohort', w.interval)) %}{% endfor -%}
{%- if implicit %}{% for w in windows %}{% do spans.append((w.name, 'pending', maturity ~ " - interval '1 microsecond'")) %}{% endfor %}{% endif -%}
with {{ materializer.monitor_spans(spans, maintained.bucket) }}

{{ materializer.monitor_cells_read(maintained, task, label_policy, slices, 'window_name') }}

{{ materializer.monitor_rollup(['window_name', 'slice', 'slice_value'], task, label_policy, cost_fp, cost_fn) }}

select * from final
{%- endif %}
{%- endmacro %}

{#- Materialize and RisingWave maintain the view itself (no cells). -#}
{% macro materialize__monitor_metrics(scored, task, label_policy, windows, slices, cost_fp=none, cost_fn=none, maturity=none, maintained=none) -%}
{{ materializer.default__monitor_metrics(scored, task, label_policy, windows, slices, cost_fp, cost_fn, maturity) }}
{%- endmacro %}

{% macro risingwave__monitor_metrics(scored, task, label_policy, windows, slices, cost_fp=none, cost_fn=none, maturity=none, maintained=none) -%}
{{ materializer.default__monitor_metrics(scored, task, label_policy, windows, slices, cost_fp, cost_fn, maturity) }}
{%- endmacro %}

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

{#- One text for the three engines. Every prediction is read once: a small table of time spans
    (one per window, and under implicit_negative one `pending` span per window, from predicted_at
    to just before maturity) is joined to it, and the clock only bounds the span in a top-level
    ANDed WHERE (clock_between), never in CASE or FILTER. Rows are then summed into cells per
    (window, slice columns, score bin), and the slices and metrics are computed from the cells. -#}
{% macro default__monitor_metrics(scored, task, label_policy, windows, slices, cost_fp=none, cost_fn=none, maturity=none, maintained=none) -%}
{%- set implicit = label_policy == 'implicit_negative' -%}
{%- set offset = maturity if implicit else "interval '0 seconds'" -%}
{%- set columns = [] -%}
{%- for s in slices %}{% if s.column not in columns %}{% do columns.append(s.column) %}{% endif %}{% endfor -%}
{%- set binary = task == 'binary_classification' -%}
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
{{ materializer.default__monitor_metrics(scored, task, label_policy, windows, slices, cost_fp, cost_fn, maturity) }}
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

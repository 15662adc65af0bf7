{#- Live model quality per trailing window, overall and by each slice (DESIGN §5, MONITORING.md).

    One row per (window_name, slice, slice_value): slice `all` (slice_value `all`), `version`,
    and one per segment column; the counters and metrics of monitor_rollup.

    Arguments:
      scored       the monitor's scored relation (see monitor_scored)
      task, label_policy, cost_fp, cost_fn   as for monitor_rollup
      windows      list of {name, interval}
      slices       list of {name, column}: `version` and the segment columns
    Cohort of window W at t: predictions with t - W <= cohort_at <= t (cohort_at is predicted_at,
    or predicted_at + maturity under implicit_negative: only mature predictions count).
    Pending under implicit_negative: every valid prediction with predicted_at <= t < cohort_at,
    whatever the window. Values of a slice column are text; a null value is '(null)'.
-#}
{% macro monitor_metrics(scored, task, label_policy, windows, slices, cost_fp=none, cost_fn=none) -%}
    {{ return(adapter.dispatch('monitor_metrics', 'materializer')(scored, task, label_policy, windows, slices, cost_fp, cost_fn)) }}
{%- endmacro %}

{#- One text for the three engines: the clock appears only in top-level ANDed WHERE conditions
    (temporal_filter, and `cohort_at > clock` for pending), never in CASE or FILTER. -#}
{% macro default__monitor_metrics(scored, task, label_policy, windows, slices, cost_fp=none, cost_fn=none) -%}
{%- set implicit = label_policy == 'implicit_negative' -%}
with windowed as (
{%- for w in windows %}
    select
        '{{ w.name }}' as window_name,
        'cohort' as kind,
        scored.*
    from {{ scored }} as scored
    where {{ materializer.temporal_filter('cohort_at', w.interval) }}
{%- if not loop.last %}

    union all
{% endif %}
{%- endfor %}
{%- if implicit %}

    union all

    -- immature predictions: pending in every window
    select
        windows.window_name,
        'pending' as kind,
        scored.*
    from {{ scored }} as scored
    cross join (values {% for w in windows %}('{{ w.name }}'){{ ", " if not loop.last }}{% endfor %}) as windows (window_name)
    where scored.valid
        and {{ materializer.temporal_filter('scored.predicted_at') }}
        and scored.cohort_at > {{ materializer.clock() }}
{%- endif %}
),

flagged as (
    select
        window_name,
{%- for s in slices %}
        {{ s.column }},
{%- endfor %}
{%- if implicit %}
        kind = 'cohort' and valid as in_metrics,
        kind = 'cohort' and valid and labelled as labelled,
        kind = 'pending' as pending,
{%- else %}
        kind = 'cohort' and valid and labelled as in_metrics,
        kind = 'cohort' and valid and labelled as labelled,
        kind = 'cohort' and valid and not labelled as pending,
{%- endif %}
        kind = 'cohort' and not valid as invalid,
        label,
        predicted,
        score
    from windowed
),

sliced as (
    select
        window_name,
        'all' as slice,
        'all' as slice_value,
        in_metrics, labelled, pending, invalid, label, predicted, score
    from flagged
{%- for s in slices %}

    union all

    select
        window_name,
        '{{ s.name }}' as slice,
        coalesce(cast({{ s.column }} as text), '(null)') as slice_value,
        in_metrics, labelled, pending, invalid, label, predicted, score
    from flagged
{%- endfor %}
),

{{ materializer.monitor_rollup(['window_name', 'slice', 'slice_value'], task, label_policy, cost_fp, cost_fn) }}

select * from final
{%- endmacro %}

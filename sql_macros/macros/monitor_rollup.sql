{#- The counters of one monitor cell, and the metric CTEs shared by monitor_metrics and
    monitor_timeseries (MONITORING.md: every metric is a function of sums, so cells merge by adding).

    `monitor_cell_counters(task)` renders the select list that aggregates flagged prediction rows
    (columns in_metrics, labelled, pending, invalid, label, predicted, score) into the counters of
    a cell. `monitor_rollup` expects a CTE `sliced` with the `group_by` columns, `bin` (the
    score's 100-bin histogram bin, binary only) and those counters, and renders the CTEs
    `counters`, (binary) `histogram`, `pairs_above`, `pairs_tied`, `calibration`, `ece` and
    `final`: the group keys, the counters and the metrics of DESIGN §5. A metric whose
    denominator is 0 is null. Only sums and a self-join on score bins (no window functions), so
    every engine maintains it incrementally; PostgreSQL, which reads on demand, counts the AUC's
    pairs with a running sum instead (monitor_pairs_above).

    Arguments: `group_by` (list of key columns), `task`, `label_policy`, `cost_fp`, `cost_fn`
    (numbers, or none for no cost metric).
-#}
{#- The counter columns of a cell, in order (see monitor_cell_counters). -#}
{% macro monitor_counter_columns(task) -%}
{%- if task == 'binary_classification' -%}
    {{ return(['n', 'n_labelled', 'pending', 'n_invalid', 'tp', 'fp', 'tn', 'fn', 'sum_log_loss', 'sum_brier', 'sum_score']) }}
{%- else -%}
    {{ return(['n', 'n_labelled', 'pending', 'n_invalid', 'sum_error', 'sum_abs_error', 'sum_sq_error', 'sum_ape', 'n_nonzero', 'sum_y', 'sum_y2']) }}
{%- endif -%}
{%- endmacro %}

{#- The `cells` query: flagged prediction rows summed per (key, slice columns, score bin). -#}
{% macro monitor_cells(flagged, key, columns, task) -%}
{%- set binary = task == 'binary_classification' %}
    select
        {{ key }},
{%- for c in columns %}
        {{ c }},
{%- endfor %}
{%- if binary %}
        least(floor(score * 100), 99) as bin,
{%- endif %}
{{- materializer.monitor_cell_counters(task) }}
    from {{ flagged }}
    group by {{ key }}{% for c in columns %}, {{ c }}{% endfor %}{% if binary %}, least(floor(score * 100), 99){% endif %}
{%- endmacro %}

{#- The flags of a prediction row in one span (`kind` cohort or pending) that the cell counters
    read: in_metrics, labelled, pending, invalid (DESIGN §5). Under explicit every cohort row is
    in the metrics once labelled, else pending; under implicit_negative a cohort row (mature) is
    in the metrics and a pending-span row is pending when its score is usable (its label, read
    at the maturity deadline, is not known yet). `kind` and `row` are SQL expressions. -#}
{% macro monitor_flags(kind, row, label_policy, task) -%}
{%- if label_policy == 'implicit_negative' -%}
{{ kind }} = 'cohort' and {{ row }}.valid as in_metrics,
{{ kind }} = 'cohort' and {{ row }}.valid and {{ row }}.labelled as labelled,
{{ kind }} = 'pending' and {{ materializer.monitor_score_ok(row ~ '.score', task) }} as pending,
{%- else -%}
{{ row }}.valid and {{ row }}.labelled as in_metrics,
{{ row }}.valid and {{ row }}.labelled as labelled,
{{ row }}.valid and not {{ row }}.labelled as pending,
{%- endif %}
{{ kind }} = 'cohort' and not {{ row }}.valid as invalid,
{%- endmacro %}

{#- The same flags of a row known at render time to be in a span of kind `kind` ('cohort' or
    'pending', not an SQL expression): what monitor_flags gives for that kind, written out.
    `row` is the relation's alias, or none for bare column names. -#}
{% macro monitor_span_flags(kind, row, label_policy, task) -%}
{%- set r = (row ~ '.') if row else '' -%}
{%- if kind == 'pending' -%}
false as in_metrics,
false as labelled,
{{ materializer.monitor_score_ok(r ~ 'score', task) }} as pending,
false as invalid,
{%- elif label_policy == 'implicit_negative' -%}
{{ r }}valid as in_metrics,
{{ r }}valid and {{ r }}labelled as labelled,
false as pending,
not {{ r }}valid as invalid,
{%- else -%}
{{ r }}valid and {{ r }}labelled as in_metrics,
{{ r }}valid and {{ r }}labelled as labelled,
{{ r }}valid and not {{ r }}labelled as pending,
not {{ r }}valid as invalid,
{%- endif %}
{%- endmacro %}

{% macro monitor_cell_counters(task) %}
        count(*) filter (where in_metrics) as n,
        count(*) filter (where in_metrics and labelled) as n_labelled,
        count(*) filter (where pending) as pending,
        count(*) filter (where invalid) as n_invalid,
{%- if task == 'binary_classification' %}
        count(*) filter (where in_metrics and label = 1 and predicted = 1) as tp,
        count(*) filter (where in_metrics and label = 0 and predicted = 1) as fp,
        count(*) filter (where in_metrics and label = 0 and predicted = 0) as tn,
        count(*) filter (where in_metrics and label = 1 and predicted = 0) as fn,
        sum(-(label * ln(least(greatest(score, 1e-15), 1 - 1e-15))
            + (1 - label) * ln(1 - least(greatest(score, 1e-15), 1 - 1e-15)))) filter (where in_metrics) as sum_log_loss,
        sum((score - label) * (score - label)) filter (where in_metrics) as sum_brier,
        sum(score) filter (where in_metrics) as sum_score
{%- else %}
        sum(label - score) filter (where in_metrics) as sum_error,
        sum(abs(label - score)) filter (where in_metrics) as sum_abs_error,
        sum((label - score) * (label - score)) filter (where in_metrics) as sum_sq_error,
        sum(abs(label - score) / abs(label)) filter (where in_metrics and label <> 0) as sum_ape,
        count(*) filter (where in_metrics and label <> 0) as n_nonzero,
        sum(label) filter (where in_metrics) as sum_y,
        sum(label * label) filter (where in_metrics) as sum_y2
{%- endif %}
{%- endmacro %}

{% macro monitor_rollup(group_by, task, label_policy, cost_fp=none, cost_fn=none) -%}
    {{ return(adapter.dispatch('monitor_rollup', 'materializer')(group_by, task, label_policy, cost_fp, cost_fn)) }}
{%- endmacro %}

{% macro default__monitor_rollup(group_by, task, label_policy, cost_fp=none, cost_fn=none) -%}
{%- set keys = group_by | join(', ') -%}
{%- set binary = task == 'binary_classification' -%}
counters as (
    select
{%- for k in group_by %}
        {{ k }},
{%- endfor %}
        cast(sum(n) as bigint) as n,
        cast(sum(n_labelled) as bigint) as n_labelled,
        cast(sum(pending) as bigint) as pending,
        cast(sum(n_invalid) as bigint) as n_invalid,
{%- if binary %}
        cast(sum(tp) as bigint) as tp,
        cast(sum(fp) as bigint) as fp,
        cast(sum(tn) as bigint) as tn,
        cast(sum(fn) as bigint) as fn,
        sum(sum_log_loss) as sum_log_loss,
        sum(sum_brier) as sum_brier
{%- else %}
        sum(sum_error) as sum_error,
        sum(sum_abs_error) as sum_abs_error,
        sum(sum_sq_error) as sum_sq_error,
        sum(sum_ape) as sum_ape,
        cast(sum(n_nonzero) as bigint) as n_nonzero,
        sum(sum_y) as sum_y,
        sum(sum_y2) as sum_y2
{%- endif %}
    from sliced
    group by {{ keys }}
    -- a group is listed when anything counts in it
    having sum(n) > 0 or sum(pending) > 0 or sum(n_invalid) > 0
),
{%- if binary %}

histogram as (
    select
{%- for k in group_by %}
        {{ k }},
{%- endfor %}
        bin,
        sum(tp + fn) as positives,
        sum(fp + tn) as negatives,
        sum(sum_score) as sum_score
    from sliced
    where n > 0
    group by {{ keys }}, bin
),

pairs_above as (
    -- negatives of a bin times positives of every higher bin (Mann-Whitney, binned)
    {{ materializer.monitor_pairs_above(group_by) }}
),

pairs_tied as (
    -- pairs within a bin count one half
    select
{%- for k in group_by %}
        {{ k }},
{%- endfor %}
        sum(negatives * positives) as pairs
    from histogram
    group by {{ keys }}
),

calibration as (
    -- 10 equal-width bins: bin b of 10 holds the 100-bins 10b .. 10b + 9
    select
{%- for k in group_by %}
        {{ k }},
{%- endfor %}
        abs(sum(sum_score) - sum(positives)) as gap
    from histogram
    group by {{ keys }}, floor(bin / 10)
),

ece as (
    select
{%- for k in group_by %}
        {{ k }},
{%- endfor %}
        sum(gap) as gap
    from calibration
    group by {{ keys }}
),
{%- endif %}

final as (
    select
{%- for k in group_by %}
        counters.{{ k }},
{%- endfor %}
        counters.n,
        counters.n_labelled,
{%- if label_policy == 'implicit_negative' %}
        cast(counters.n_labelled as double precision) / nullif(counters.n, 0) as coverage,
{%- else %}
        cast(counters.n_labelled as double precision) / nullif(counters.n_labelled + counters.pending, 0) as coverage,
{%- endif %}
        counters.pending,
        counters.n_invalid,
{%- if binary %}
        counters.tp,
        counters.fp,
        counters.tn,
        counters.fn,
        cast(counters.tp + counters.tn as double precision) / nullif(counters.n, 0) as accuracy,
        cast(counters.tp as double precision) / nullif(counters.tp + counters.fp, 0) as precision,
        cast(counters.tp as double precision) / nullif(counters.tp + counters.fn, 0) as recall,
        cast(2 * counters.tp as double precision) / nullif(2 * counters.tp + counters.fp + counters.fn, 0) as f1,
        cast(counters.tn as double precision) / nullif(counters.tn + counters.fp, 0) as specificity,
        cast(counters.tp + counters.fn as double precision) / nullif(counters.n, 0) as positive_rate,
        cast(counters.tp + counters.fp as double precision) / nullif(counters.n, 0) as predicted_positive_rate,
        counters.sum_log_loss / nullif(counters.n, 0) as log_loss,
        counters.sum_brier / nullif(counters.n, 0) as brier,
        (coalesce(pairs_above.pairs, 0) + 0.5 * coalesce(pairs_tied.pairs, 0))
            / nullif(cast(counters.tp + counters.fn as double precision) * (counters.fp + counters.tn), 0) as roc_auc,
        ece.gap / nullif(counters.n, 0) as ece,
{%- if cost_fp is not none %}
        cast(counters.fp * {{ cost_fp }} + counters.fn * {{ cost_fn }} as double precision) as cost
{%- else %}
        cast(null as double precision) as cost
{%- endif %}
    from counters
    left join pairs_above using ({{ keys }})
    left join pairs_tied using ({{ keys }})
    left join ece using ({{ keys }})
{%- else %}
        counters.sum_abs_error / nullif(counters.n, 0) as mae,
        sqrt(counters.sum_sq_error / nullif(counters.n, 0)) as rmse,
        counters.sum_error / nullif(counters.n, 0) as mean_error,
        counters.sum_ape / nullif(counters.n_nonzero, 0) as mape,
        1 - counters.sum_sq_error
            / nullif(counters.sum_y2 - counters.sum_y * counters.sum_y / nullif(counters.n, 0), 0) as r2,
        counters.sum_abs_error as _sum_abs_error,
        counters.sum_sq_error as _sum_sq_error
    from counters
{%- endif %}
)
{%- endmacro %}

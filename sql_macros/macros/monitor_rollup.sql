{#- The metric CTEs shared by monitor_metrics and monitor_timeseries (MONITORING.md).

    Expects a CTE `sliced` with the `group_by` columns and, per prediction row:
    in_metrics (counted in n), labelled, pending, invalid (booleans), label, predicted, score.
    Renders the CTEs `counters`, (binary) `histogram`, `pairs_above`, `pairs_tied`,
    `calibration`, `ece` and `final`, whose columns are the group keys, the counters and the
    metrics of DESIGN §5. A metric whose denominator is 0 is null. Only sums and a self-join
    on score bins (no window functions), so every engine maintains it incrementally.

    Arguments: `group_by` (list of key columns), `task`, `label_policy`, `cost_fp`, `cost_fn`
    (numbers, or none for no cost metric).
-#}
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
        count(*) filter (where in_metrics) as n,
        count(*) filter (where in_metrics and labelled) as n_labelled,
        count(*) filter (where pending) as pending,
        count(*) filter (where invalid) as n_invalid,
{%- if binary %}
        count(*) filter (where in_metrics and label = 1 and predicted = 1) as tp,
        count(*) filter (where in_metrics and label = 0 and predicted = 1) as fp,
        count(*) filter (where in_metrics and label = 0 and predicted = 0) as tn,
        count(*) filter (where in_metrics and label = 1 and predicted = 0) as fn,
        sum(-(label * ln(least(greatest(score, 1e-15), 1 - 1e-15))
            + (1 - label) * ln(1 - least(greatest(score, 1e-15), 1 - 1e-15)))) filter (where in_metrics) as sum_log_loss,
        sum((score - label) * (score - label)) filter (where in_metrics) as sum_brier
{%- else %}
        sum(label - score) filter (where in_metrics) as sum_error,
        sum(abs(label - score)) filter (where in_metrics) as sum_abs_error,
        sum((label - score) * (label - score)) filter (where in_metrics) as sum_sq_error,
        sum(abs(label - score) / abs(label)) filter (where in_metrics and label <> 0) as sum_ape,
        count(*) filter (where in_metrics and label <> 0) as n_nonzero,
        sum(label) filter (where in_metrics) as sum_y,
        sum(label * label) filter (where in_metrics) as sum_y2
{%- endif %}
    from sliced
    group by {{ keys }}
),
{%- if binary %}

histogram as (
    select
{%- for k in group_by %}
        {{ k }},
{%- endfor %}
        least(floor(score * 100), 99) as bin,
        sum(label) as positives,
        sum(1 - label) as negatives
    from sliced
    where in_metrics
    group by {{ keys }}, least(floor(score * 100), 99)
),

pairs_above as (
    -- negatives of a bin times positives of every higher bin (Mann-Whitney, binned)
    select
{%- for k in group_by %}
        low.{{ k }},
{%- endfor %}
        sum(low.negatives * high.positives) as pairs
    from histogram as low
    inner join histogram as high
        on {% for k in group_by %}high.{{ k }} = low.{{ k }}{{ " and " if not loop.last }}{% endfor %}
        and high.bin > low.bin
    group by {% for k in group_by %}low.{{ k }}{{ ", " if not loop.last }}{% endfor %}
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
    select
{%- for k in group_by %}
        {{ k }},
{%- endfor %}
        abs(sum(score) - sum(label)) as gap
    from sliced
    where in_metrics
    group by {{ keys }}, least(floor(score * 10), 9)
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

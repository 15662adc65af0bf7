{#- Model versions compared pairwise in every window (champion/challenger, canary).

    One row per (window_name, metric, version_a, version_b) with version_a < version_b:
    binary monitors compare `accuracy` (two-proportion z) and `roc_auc` (Hanley-McNeil z);
    regression monitors compare `mae` (Welch t on absolute errors). `significant` is
    |statistic| > 1.96 (5%, two-sided); the statistic and `significant` are null when the
    statistic is undefined (no variance, a metric without a value, or NaN or infinity).
    Formulas: MONITORING.md. Reads the monitor's metrics relation.

    Arguments: `metrics` (the metrics relation), `task`.
-#}
{% macro monitor_versions(metrics, task) -%}
    {{ return(adapter.dispatch('monitor_versions', 'materializer')(metrics, task)) }}
{%- endmacro %}

{% macro default__monitor_versions(metrics, task) -%}
with versions as (
    select *
    from {{ metrics }}
    where slice = 'version'
        and n > 0
),

pairs as (
    select
        a.window_name,
        a.slice_value as version_a,
        b.slice_value as version_b,
        a.n as n_a,
        b.n as n_b,
{%- if task == 'binary_classification' %}
        a.tp + a.tn as correct_a,
        b.tp + b.tn as correct_b,
        a.accuracy as accuracy_a,
        b.accuracy as accuracy_b,
        a.roc_auc as auc_a,
        b.roc_auc as auc_b,
        -- Hanley-McNeil squared standard errors of each AUC
        (a.roc_auc * (1 - a.roc_auc)
            + (a.tp + a.fn - 1) * (a.roc_auc / (2 - a.roc_auc) - a.roc_auc * a.roc_auc)
            + (a.fp + a.tn - 1) * (2 * a.roc_auc * a.roc_auc / (1 + a.roc_auc) - a.roc_auc * a.roc_auc))
            / nullif(cast(a.tp + a.fn as double precision) * (a.fp + a.tn), 0) as auc_se2_a,
        (b.roc_auc * (1 - b.roc_auc)
            + (b.tp + b.fn - 1) * (b.roc_auc / (2 - b.roc_auc) - b.roc_auc * b.roc_auc)
            + (b.fp + b.tn - 1) * (2 * b.roc_auc * b.roc_auc / (1 + b.roc_auc) - b.roc_auc * b.roc_auc))
            / nullif(cast(b.tp + b.fn as double precision) * (b.fp + b.tn), 0) as auc_se2_b
{%- else %}
        a.mae as mae_a,
        b.mae as mae_b,
        -- sample variances of the absolute errors, from sums: when errors are all equal the
        -- difference is rounding noise (-2e-18 for three errors of 0.1, whose square root would
        -- fail the view), so below 1e-12 of the sum of squares it is 0 (no variance)
        case when a.n > 1 then
            case when a._sum_sq_error - a._sum_abs_error * a._sum_abs_error / a.n > 1e-12 * a._sum_sq_error
                then (a._sum_sq_error - a._sum_abs_error * a._sum_abs_error / a.n) / (a.n - 1)
                else 0
            end
        end as var_a,
        case when b.n > 1 then
            case when b._sum_sq_error - b._sum_abs_error * b._sum_abs_error / b.n > 1e-12 * b._sum_sq_error
                then (b._sum_sq_error - b._sum_abs_error * b._sum_abs_error / b.n) / (b.n - 1)
                else 0
            end
        end as var_b
{%- endif %}
    from versions as a
    inner join versions as b
        on b.window_name = a.window_name
        and a.slice_value < b.slice_value
),

{%- if task == 'binary_classification' %}

accuracy as (
    select
        window_name,
        'accuracy' as metric,
        version_a,
        version_b,
        n_a,
        n_b,
        accuracy_a as value_a,
        accuracy_b as value_b,
        (accuracy_a - accuracy_b) / nullif(sqrt(
            (cast(correct_a + correct_b as double precision) / (n_a + n_b))
            * (1 - cast(correct_a + correct_b as double precision) / (n_a + n_b))
            * (1.0 / n_a + 1.0 / n_b)
        ), 0) as statistic
    from pairs
),

auc as (
    select
        window_name,
        'roc_auc' as metric,
        version_a,
        version_b,
        n_a,
        n_b,
        auc_a as value_a,
        auc_b as value_b,
        (auc_a - auc_b) / nullif(sqrt(auc_se2_a + auc_se2_b), 0) as statistic
    from pairs
),

compared as (
    select * from accuracy
    union all
    select * from auc
),
{%- else %}

compared as (
    select
        window_name,
        'mae' as metric,
        version_a,
        version_b,
        n_a,
        n_b,
        mae_a as value_a,
        mae_b as value_b,
        (mae_a - mae_b) / nullif(sqrt(var_a / n_a + var_b / n_b), 0) as statistic
    from pairs
),
{%- endif %}

final as (
    select
        window_name,
        metric,
        version_a,
        version_b,
        n_a,
        n_b,
        value_a,
        value_b,
        value_a - value_b as difference,
        case when {{ materializer.monitor_finite('statistic') }} then statistic end as statistic,
        -- null, never true, when the statistic is undefined (abs(NaN) > 1.96 would be true)
        case when {{ materializer.monitor_finite('statistic') }} then abs(statistic) > 1.96 end as significant
    from compared
)

select * from final
{%- endmacro %}

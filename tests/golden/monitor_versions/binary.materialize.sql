with versions as (
    select *
    from fraud_model__metrics
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
    from versions as a
    inner join versions as b
        on b.window_name = a.window_name
        and a.slice_value < b.slice_value
),

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
        case when statistic > cast('-Infinity' as double precision) and statistic < cast('Infinity' as double precision) then statistic end as statistic,
        -- null, never true, when the statistic is undefined (abs(NaN) > 1.96 would be true)
        case when statistic > cast('-Infinity' as double precision) and statistic < cast('Infinity' as double precision) then abs(statistic) > 1.96 end as significant
    from compared
)

select * from final

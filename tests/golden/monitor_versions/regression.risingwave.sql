with versions as (
    select *
    from eta_model__metrics
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
    from versions as a
    inner join versions as b
        on b.window_name = a.window_name
        and a.slice_value < b.slice_value
),

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

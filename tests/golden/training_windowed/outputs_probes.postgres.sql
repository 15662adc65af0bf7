with final as (
    select
        p._row,
        probed.tx_count_10m,
        probed.merchants_10m,
        probed.amount_max_1d,
        probed.failed_count_1d
    from points as p
    cross join lateral (
        select
            count(*) filter (where e.ts >= p._ts - interval '10 minutes') as tx_count_10m,
            count(distinct merchant) filter (where e.ts >= p._ts - interval '10 minutes') as merchants_10m,
            max(amount) as amount_max_1d,
            count(*) filter (where (status = 'failed')) as failed_count_1d
        from transactions as e
        where e.cc_num = p.cc_num and e.ts <= p._ts
            and e.ts >= p._ts - interval '24 hours'
    ) as probed
)

select * from final

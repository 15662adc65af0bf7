with final as (
    select
        p._row,
        (
            select count(*)
            from transactions as e
            where e.cc_num = p.cc_num and e.ts <= p._ts
                and e.ts + interval '10 minutes' >= p._ts
        ) as tx_count_10m,
        (
            select count(distinct merchant)
            from transactions as e
            where e.cc_num = p.cc_num and e.ts <= p._ts
                and e.ts + interval '10 minutes' >= p._ts
        ) as merchants_10m,
        (
            select max(amount)
            from transactions as e
            where e.cc_num = p.cc_num and e.ts <= p._ts
                and e.ts + interval '24 hours' >= p._ts
        ) as amount_max_1d,
        (
            select count(*) filter (where (status = 'failed'))
            from transactions as e
            where e.cc_num = p.cc_num and e.ts <= p._ts
                and e.ts + interval '24 hours' >= p._ts
        ) as failed_count_1d
    from points as p
)

select * from final

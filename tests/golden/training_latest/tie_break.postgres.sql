with final as (
    select
        p._row,
        newest._event_ts,
        newest.last_amount
    from points as p
    cross join lateral (
        select
            max(tied._ts) as _event_ts,
            max(tied.last_amount) as last_amount
        from (
            select
                e.ts as _ts,
                e.amount as last_amount
            from transactions as e
            where e.cc_num = p.cc_num and e.ts = (
                select max(n.ts)
                from transactions as n
                where n.cc_num = p.cc_num and n.ts <= p._ts
            )
            order by e.tx_id desc nulls last
            fetch first 1 row with ties
        ) as tied
    ) as newest
)

select * from final

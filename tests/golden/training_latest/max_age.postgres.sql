with newest as (
    select
        p._row,
        p._ts,
        p.cc_num,
        (
            select max(e.ts)
            from transactions as e
            where e.cc_num = p.cc_num and e.ts <= p._ts
        ) as _event_ts
    from points as p
),

final as (
    select
        p._row,
        p._event_ts,
        (
            select max(e.amount)
            from transactions as e
            where e.cc_num = p.cc_num and e.ts = p._event_ts
                and p._event_ts >= p._ts - interval '168 hours'
        ) as last_amount
    from newest as p
)

select * from final

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

tied as (
    select
        p.*,
        (
            select max(e.tx_id)
            from transactions as e
            where e.cc_num = p.cc_num and e.ts = p._event_ts
        ) as _tie
    from newest as p
),

final as (
    select
        p._row,
        p._event_ts,
        (
            select max(e.amount)
            from transactions as e
            where e.cc_num = p.cc_num and e.ts = p._event_ts
                and (p._tie is null or e.tx_id = p._tie)
        ) as last_amount
    from tied as p
)

select * from final

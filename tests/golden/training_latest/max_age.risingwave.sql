with newest as (
    select
        p._row,
        p._ts,
        p.cc_num,
        e.ts as _event_ts
    from points as p
    asof left join transactions as e
        on e.cc_num = p.cc_num and e.ts <= p._ts
),

final as (
    select
        p._row,
        p._event_ts,
        max(e.amount) filter (where p._event_ts >= p._ts - interval '168 hours') as last_amount
    from newest as p
    left join transactions as e
        on e.cc_num = p.cc_num and e.ts = p._event_ts
    group by p._row, p._ts, p._event_ts
)

select * from final

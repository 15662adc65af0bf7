with events as (
    select
        cc_num,
        ts,
        amount,
        merchant
    from transactions
    where ts <= now()
),

latest_ts as (
    select
        cc_num,
        max(ts) as ts
    from events
    group by cc_num
),

latest as (
    select
        cc_num,
        ts as _event_ts,
        max(events.amount) as last_amount,
        max(events.merchant) as last_merchant
    from events
    inner join latest_ts using (cc_num, ts)
    group by cc_num, ts
),

fresh as (
    select
        cc_num,
        _event_ts as _fresh_ts
    from latest
    where _event_ts <= now()
        and _event_ts + interval '168 hours' >= now()
),

final as (
    select
        latest.cc_num,
        latest._event_ts,
        fresh._fresh_ts is not null as _within_max_age,
        case when fresh._fresh_ts is not null then latest.last_amount end as last_amount,
        case when fresh._fresh_ts is not null then latest.last_merchant end as last_merchant
    from latest
    left join fresh using (cc_num)
)

select * from final

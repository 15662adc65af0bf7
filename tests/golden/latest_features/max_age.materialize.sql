with events as (
    select
        cc_num,
        ts,
        amount,
        merchant
    from transactions
    where mz_now() >= ts
        and ts + interval '168 hours' >= mz_now()
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
        max(ts) as _event_ts,
        max(events.amount) as last_amount,
        max(events.merchant) as last_merchant
    from events
    inner join latest_ts using (cc_num, ts)
    group by cc_num
),

final as (
    select
        cc_num,
        _event_ts,
        -- every row left is within max_age (older events have expired)
        true as _within_max_age,
        last_amount,
        last_merchant
    from latest
)

select * from final

with events as (
    select
        cc_num,
        ts,
        amount,
        tx_id
    from transactions
    where ts <= now()
        and ts + interval '720 hours' >= now()
),

latest_ts as (
    select
        cc_num,
        max(ts) as ts
    from events
    group by cc_num
),

latest_tie as (
    select
        cc_num,
        ts,
        max(tx_id) as tx_id
    from events
    inner join latest_ts using (cc_num, ts)
    group by cc_num, ts
),

latest as (
    select
        cc_num,
        max(ts) as _event_ts,
        max(events.amount) as last_amount
    from events
    inner join latest_tie using (cc_num, ts)
    -- rows whose tie-break is null win only when every tied row's is null (as `nulls last`)
    where events.tx_id is not distinct from latest_tie.tx_id
    group by cc_num
),

final as (
    select
        cc_num,
        _event_ts,
        -- every row left is within max_age (older events have expired)
        true as _within_max_age,
        last_amount
    from latest
)

select * from final

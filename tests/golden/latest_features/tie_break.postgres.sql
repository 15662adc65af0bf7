with events as (
    select
        cc_num,
        ts,
        amount,
        tx_id,
        rank() over (
            partition by cc_num
            order by ts desc, tx_id desc nulls last
        ) as _rank
    from transactions
    where ts <= (select materializer.clock())
),

latest as (
    select
        cc_num,
        max(ts) as _event_ts,
        max(amount) as last_amount
    from events
    where _rank = 1
    group by cc_num
),

final as (
    select
        cc_num,
        _event_ts,
        _event_ts >= (select materializer.clock()) - interval '720 hours' as _within_max_age,
        case when _event_ts >= (select materializer.clock()) - interval '720 hours' then last_amount end as last_amount
    from latest
)

select * from final

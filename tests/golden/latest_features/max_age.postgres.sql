with events as (
    select
        cc_num,
        ts,
        amount,
        merchant,
        rank() over (
            partition by cc_num
            order by ts desc
        ) as _rank
    from transactions
    where ts <= (select materializer.clock())
),

latest as (
    select
        cc_num,
        max(ts) as _event_ts,
        max(amount) as last_amount,
        max(merchant) as last_merchant
    from events
    where _rank = 1
    group by cc_num
),

final as (
    select
        cc_num,
        _event_ts,
        _event_ts >= (select materializer.clock()) - interval '168 hours' as _within_max_age,
        case when _event_ts >= (select materializer.clock()) - interval '168 hours' then last_amount end as last_amount,
        case when _event_ts >= (select materializer.clock()) - interval '168 hours' then last_merchant end as last_merchant
    from latest
)

select * from final

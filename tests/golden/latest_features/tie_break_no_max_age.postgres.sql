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
        last_amount
    from latest
)

select * from final

with events as (
    select *
    from raw.events
    where event_time <= (select materializer.clock())
        and event_time >= (select materializer.clock()) - interval '1 hour'
),

final as (
    select
        user_id,
        device,
        max(event_time) as _event_ts,
        count(*) as events_1h,
        stddev_samp(spend) as spend_sd_1h
    from events
    group by user_id, device
)

select * from final

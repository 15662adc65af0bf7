with events as (
    select *
    from raw.events
),

window_1h as (
    select
        user_id,
        device,
        max(event_time) as _event_ts,
        count(*) as events_1h,
        stddev_samp(spend) as spend_sd_1h
    from events
    where mz_now() >= event_time
        and event_time + interval '1 hour' >= mz_now()
    group by user_id, device
),

final as (
    select
        user_id,
        device,
        window_1h._event_ts,
        window_1h.events_1h,
        window_1h.spend_sd_1h
    from window_1h
)

select * from final

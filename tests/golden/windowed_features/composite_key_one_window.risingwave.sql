with events as (
    select *
    from raw.events
),

windowed as (
    -- each event once per window that holds it: t - W <= ts <= t
    select
        '1h' as _window,
        events.*
    from events
    where event_time <= now()
        and event_time + interval '1 hour' >= now()
),

aggregated as (
    select
        user_id,
        device,
        _window,
        max(event_time) as _event_ts,
        count(*) as _events,
        stddev_samp(spend) as _spend_sd
    from windowed
    group by user_id, device, _window
),

final as (
    select
        user_id,
        device,
        max(case when _window = '1h' then _event_ts end) as _event_ts,
        max(case when _window = '1h' then _events end) as events_1h,
        max(case when _window = '1h' then _spend_sd end) as spend_sd_1h
    from aggregated
    group by user_id, device
)

select * from final

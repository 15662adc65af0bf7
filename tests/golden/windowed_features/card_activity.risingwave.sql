with events as (
    select
        cc_num,
        ts,
        amount,
        merchant,
        status
    from transactions
),

windowed as (
    -- each event once per window that holds it: t - W <= ts <= t
    select
        '1d' as _window,
        events.*
    from events
    where ts <= now()
        and ts + interval '24 hours' >= now()

    union all

    select
        '1h' as _window,
        events.*
    from events
    where ts <= now()
        and ts + interval '1 hour' >= now()

    union all

    select
        '10m' as _window,
        events.*
    from events
    where ts <= now()
        and ts + interval '10 minutes' >= now()
),

aggregated as (
    select
        cc_num,
        _window,
        max(ts) as _event_ts,
        count(*) as _tx_count,
        sum(amount) as _amount_sum,
        max(amount) as _amount_max,
        count(distinct merchant) as _merchants,
        count(*) filter (where (status = 'failed')) as _failed_count
    from windowed
    group by cc_num, _window
),

final as (
    select
        cc_num,
        max(case when _window = '1d' then _event_ts end) as _event_ts,
        coalesce(max(case when _window = '10m' then _tx_count end), 0) as tx_count_10m,
        max(case when _window = '10m' then _amount_sum end) as amount_sum_10m,
        max(case when _window = '10m' then _amount_max end) as amount_max_10m,
        coalesce(max(case when _window = '10m' then _merchants end), 0) as merchants_10m,
        coalesce(max(case when _window = '10m' then _failed_count end), 0) as failed_count_10m,
        coalesce(max(case when _window = '1h' then _tx_count end), 0) as tx_count_1h,
        max(case when _window = '1h' then _amount_sum end) as amount_sum_1h,
        max(case when _window = '1h' then _amount_max end) as amount_max_1h,
        coalesce(max(case when _window = '1h' then _merchants end), 0) as merchants_1h,
        coalesce(max(case when _window = '1h' then _failed_count end), 0) as failed_count_1h,
        max(case when _window = '1d' then _tx_count end) as tx_count_1d,
        max(case when _window = '1d' then _amount_sum end) as amount_sum_1d,
        max(case when _window = '1d' then _amount_max end) as amount_max_1d,
        max(case when _window = '1d' then _merchants end) as merchants_1d,
        max(case when _window = '1d' then _failed_count end) as failed_count_1d
    from aggregated
    group by cc_num
)

select * from final

with events as (
    select
        cc_num,
        ts,
        amount,
        merchant,
        status
    from transactions
),

window_1d as (
    select
        cc_num,
        max(ts) as _event_ts,
        count(*) as tx_count_1d,
        sum(amount) as amount_sum_1d,
        max(amount) as amount_max_1d,
        count(distinct merchant) as merchants_1d,
        count(*) filter (where (status = 'failed')) as failed_count_1d
    from events
    where mz_now() >= ts
        and ts + interval '24 hours' >= mz_now()
    group by cc_num
),

window_1h as (
    select
        cc_num,
        count(*) as tx_count_1h,
        sum(amount) as amount_sum_1h,
        max(amount) as amount_max_1h,
        count(distinct merchant) as merchants_1h,
        count(*) filter (where (status = 'failed')) as failed_count_1h
    from events
    where mz_now() >= ts
        and ts + interval '1 hour' >= mz_now()
    group by cc_num
),

window_10m as (
    select
        cc_num,
        count(*) as tx_count_10m,
        sum(amount) as amount_sum_10m,
        max(amount) as amount_max_10m,
        count(distinct merchant) as merchants_10m,
        count(*) filter (where (status = 'failed')) as failed_count_10m
    from events
    where mz_now() >= ts
        and ts + interval '10 minutes' >= mz_now()
    group by cc_num
),

final as (
    select
        cc_num,
        window_1d._event_ts,
        coalesce(window_10m.tx_count_10m, 0) as tx_count_10m,
        window_10m.amount_sum_10m,
        window_10m.amount_max_10m,
        coalesce(window_10m.merchants_10m, 0) as merchants_10m,
        coalesce(window_10m.failed_count_10m, 0) as failed_count_10m,
        coalesce(window_1h.tx_count_1h, 0) as tx_count_1h,
        window_1h.amount_sum_1h,
        window_1h.amount_max_1h,
        coalesce(window_1h.merchants_1h, 0) as merchants_1h,
        coalesce(window_1h.failed_count_1h, 0) as failed_count_1h,
        window_1d.tx_count_1d,
        window_1d.amount_sum_1d,
        window_1d.amount_max_1d,
        window_1d.merchants_1d,
        window_1d.failed_count_1d
    from window_1d
    left join window_1h using (cc_num)
    left join window_10m using (cc_num)
)

select * from final

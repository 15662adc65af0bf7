with events as (
    select
        cc_num,
        ts,
        amount,
        merchant,
        status
    from transactions
    where ts <= (select materializer.clock())
        and ts >= (select materializer.clock()) - interval '24 hours'
),

final as (
    select
        cc_num,
        max(ts) as _event_ts,
        count(*) filter (where ts >= (select materializer.clock()) - interval '10 minutes') as tx_count_10m,
        sum(amount) filter (where ts >= (select materializer.clock()) - interval '10 minutes') as amount_sum_10m,
        max(amount) filter (where ts >= (select materializer.clock()) - interval '10 minutes') as amount_max_10m,
        count(distinct merchant) filter (where ts >= (select materializer.clock()) - interval '10 minutes') as merchants_10m,
        count(*) filter (where ts >= (select materializer.clock()) - interval '10 minutes' and (status = 'failed')) as failed_count_10m,
        count(*) filter (where ts >= (select materializer.clock()) - interval '1 hour') as tx_count_1h,
        sum(amount) filter (where ts >= (select materializer.clock()) - interval '1 hour') as amount_sum_1h,
        max(amount) filter (where ts >= (select materializer.clock()) - interval '1 hour') as amount_max_1h,
        count(distinct merchant) filter (where ts >= (select materializer.clock()) - interval '1 hour') as merchants_1h,
        count(*) filter (where ts >= (select materializer.clock()) - interval '1 hour' and (status = 'failed')) as failed_count_1h,
        count(*) as tx_count_1d,
        sum(amount) as amount_sum_1d,
        max(amount) as amount_max_1d,
        count(distinct merchant) as merchants_1d,
        count(*) filter (where (status = 'failed')) as failed_count_1d
    from events
    group by cc_num
)

select * from final

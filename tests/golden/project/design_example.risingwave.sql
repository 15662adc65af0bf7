-- materializer: project fraud, engine risingwave

create table if not exists transactions (
    tx_id varchar,
    cc_num varchar,
    merchant varchar,
    amount numeric,
    status varchar,
    ts timestamptz
) append only;

create materialized view card_activity as
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
        max(amount) as amount_max_1d,
        avg(amount) as amount_avg_1d,
        count(distinct merchant) as merchants_1d,
        count(*) filter (where (status = 'failed')) as failed_count_1d
    from events
    where ts <= now()
        and ts + interval '24 hours' >= now()
    group by cc_num
),

window_1h as (
    select
        cc_num,
        count(*) as tx_count_1h,
        max(amount) as amount_max_1h,
        avg(amount) as amount_avg_1h,
        count(distinct merchant) as merchants_1h,
        count(*) filter (where (status = 'failed')) as failed_count_1h
    from events
    where ts <= now()
        and ts + interval '1 hour' >= now()
    group by cc_num
),

window_10m as (
    select
        cc_num,
        count(*) as tx_count_10m,
        max(amount) as amount_max_10m,
        avg(amount) as amount_avg_10m,
        count(distinct merchant) as merchants_10m,
        count(*) filter (where (status = 'failed')) as failed_count_10m
    from events
    where ts <= now()
        and ts + interval '10 minutes' >= now()
    group by cc_num
),

final as (
    select
        cc_num,
        window_1d._event_ts,
        coalesce(window_10m.tx_count_10m, 0) as tx_count_10m,
        window_10m.amount_max_10m,
        window_10m.amount_avg_10m,
        coalesce(window_10m.merchants_10m, 0) as merchants_10m,
        coalesce(window_10m.failed_count_10m, 0) as failed_count_10m,
        coalesce(window_1h.tx_count_1h, 0) as tx_count_1h,
        window_1h.amount_max_1h,
        window_1h.amount_avg_1h,
        coalesce(window_1h.merchants_1h, 0) as merchants_1h,
        coalesce(window_1h.failed_count_1h, 0) as failed_count_1h,
        window_1d.tx_count_1d,
        window_1d.amount_max_1d,
        window_1d.amount_avg_1d,
        window_1d.merchants_1d,
        window_1d.failed_count_1d
    from window_1d
    left join window_1h using (cc_num)
    left join window_10m using (cc_num)
)

select * from final;

create materialized view card_last_tx as
with events as (
    select
        cc_num,
        ts,
        amount,
        merchant
    from transactions
    where ts <= now()
),

latest_ts as (
    select
        cc_num,
        max(ts) as ts
    from events
    group by cc_num
),

latest as (
    select
        cc_num,
        ts as _event_ts,
        max(amount) as last_amount,
        max(merchant) as last_merchant
    from events
    inner join latest_ts using (cc_num, ts)
    group by cc_num, ts
),

fresh as (
    select
        cc_num,
        _event_ts as _fresh_ts
    from latest
    where _event_ts <= now()
        and _event_ts + interval '168 hours' >= now()
),

final as (
    select
        latest.cc_num,
        latest._event_ts,
        fresh._fresh_ts is not null as _within_max_age,
        case when fresh._fresh_ts is not null then latest.last_amount end as last_amount,
        case when fresh._fresh_ts is not null then latest.last_merchant end as last_merchant
    from latest
    left join fresh using (cc_num)
)

select * from final;

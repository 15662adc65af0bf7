-- materializer: project fraud, engine postgres

create schema if not exists materializer;

create or replace function materializer.clock() returns timestamptz
language sql stable parallel safe as $$
    select coalesce(nullif(current_setting('materializer.as_of', true), '')::timestamptz, now())
$$;

create table if not exists transactions (
    tx_id text,
    cc_num text,
    merchant text,
    amount numeric,
    status text,
    ts timestamptz
);

create index if not exists transactions__cc_num_ts__idx on transactions (cc_num, ts);

create view card_activity as
with events as (
    select
        cc_num,
        ts,
        amount,
        merchant,
        status
    from transactions
    where ts <= materializer.clock()
        and ts >= materializer.clock() - interval '24 hours'
),

final as (
    select
        cc_num,
        max(ts) as _event_ts,
        count(*) filter (where ts >= materializer.clock() - interval '10 minutes') as tx_count_10m,
        max(amount) filter (where ts >= materializer.clock() - interval '10 minutes') as amount_max_10m,
        avg(amount) filter (where ts >= materializer.clock() - interval '10 minutes') as amount_avg_10m,
        count(distinct merchant) filter (where ts >= materializer.clock() - interval '10 minutes') as merchants_10m,
        count(*) filter (where ts >= materializer.clock() - interval '10 minutes' and (status = 'failed')) as failed_count_10m,
        count(*) filter (where ts >= materializer.clock() - interval '1 hour') as tx_count_1h,
        max(amount) filter (where ts >= materializer.clock() - interval '1 hour') as amount_max_1h,
        avg(amount) filter (where ts >= materializer.clock() - interval '1 hour') as amount_avg_1h,
        count(distinct merchant) filter (where ts >= materializer.clock() - interval '1 hour') as merchants_1h,
        count(*) filter (where ts >= materializer.clock() - interval '1 hour' and (status = 'failed')) as failed_count_1h,
        count(*) as tx_count_1d,
        max(amount) as amount_max_1d,
        avg(amount) as amount_avg_1d,
        count(distinct merchant) as merchants_1d,
        count(*) filter (where (status = 'failed')) as failed_count_1d
    from events
    group by cc_num
)

select * from final;

create view card_last_tx as
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
    where ts <= materializer.clock()
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
        _event_ts >= materializer.clock() - interval '168 hours' as _within_max_age,
        case when _event_ts >= materializer.clock() - interval '168 hours' then last_amount end as last_amount,
        case when _event_ts >= materializer.clock() - interval '168 hours' then last_merchant end as last_merchant
    from latest
)

select * from final;

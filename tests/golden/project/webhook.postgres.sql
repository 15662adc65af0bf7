-- materializer: project shop, engine postgres

create schema if not exists materializer;

create or replace function materializer.clock() returns timestamptz
language sql stable parallel safe as $$
    select coalesce(nullif(current_setting('materializer.as_of', true), '')::timestamptz, now())
$$;

create table if not exists clicks (
    click_id text,
    user_id text,
    price numeric(10,2),
    ts timestamptz
);

create index if not exists clicks__user_id_ts__idx on clicks (user_id, ts);

create index if not exists clicks__ts__idx on clicks (ts);

alter table clicks
    drop constraint if exists clicks__price__finite,
    add constraint clicks__price__finite check (price > '-Infinity' and price < 'Infinity') not valid;

alter table clicks
    drop constraint if exists clicks__ts__event_time,
    add constraint clicks__ts__event_time check (ts is not null) not valid;

alter table clicks
    drop constraint if exists clicks__ts__time_range,
    add constraint clicks__ts__time_range check (ts >= '0001-01-01 00:00:00+00' and ts < '10000-01-01 00:00:00+00') not valid;

create view user_clicks as
with events as (
    select
        user_id,
        ts,
        price
    from clicks
    where ts <= (select materializer.clock())
        and ts >= (select materializer.clock()) - interval '1 hour'
),

final as (
    select
        user_id,
        max(ts) as _event_ts,
        count(*) as clicks_1h,
        sum(price) as spend_1h
    from events
    group by user_id
)

select * from final;

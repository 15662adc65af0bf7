-- materializer: project shop, engine materialize

create source if not exists clicks__raw
    in cluster quickstart
    from webhook body format json;

create view clicks as
select
    body ->> 'click_id' as click_id,
    body ->> 'user_id' as user_id,
    cast(body ->> 'price' as numeric(10,2)) as price,
    cast(body ->> 'ts' as timestamptz) as ts
from clicks__raw;

create materialized view user_clicks in cluster quickstart as
with events as (
    select
        user_id,
        ts,
        price
    from clicks
),

windowed as (
    -- each event once per window that holds it: t - W <= ts <= t
    select
        '1h' as _window,
        events.*
    from events
    where mz_now() >= ts
        and ts + interval '1 hour' >= mz_now()
),

aggregated as (
    select
        user_id,
        _window,
        max(ts) as _event_ts,
        count(*) as _clicks,
        sum(price) as _spend
    from windowed
    group by user_id, _window
),

final as (
    select
        user_id,
        max(case when _window = '1h' then _event_ts end) as _event_ts,
        max(case when _window = '1h' then _clicks end) as clicks_1h,
        max(case when _window = '1h' then _spend end) as spend_1h
    from aggregated
    group by user_id
)

select * from final;

create index if not exists user_clicks__lookup_idx in cluster quickstart on user_clicks (user_id);

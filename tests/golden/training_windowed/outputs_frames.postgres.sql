with bounds as (
    select
        cc_num,
        min(_ts) - interval '24 hours' as _since,
        max(_ts) as _until
    from points
    group by cc_num
),

key_events as (
    select
        e.cc_num,
        e.ts as _ts,
        cast(null as bigint) as _row,
        1 as _event,
        e.ts,
        e.amount,
        e.merchant,
        e.status
    from transactions as e
    inner join bounds
        on bounds.cc_num = e.cc_num
    where e.ts >= bounds._since
        and e.ts <= bounds._until
),

stacked as (
    select * from key_events
    union all
    select
        cc_num,
        _ts,
        _row,
        null,
        null,
        null,
        null,
        null
    from points
),

framed as (
    select
        _row,
        count(_event) over window_10m as tx_count_10m,
        max(amount) over window_1d as amount_max_1d,
        count(case when (status = 'failed') then _event end) over window_1d as failed_count_1d
    from stacked
    window
        window_10m as (
            partition by cc_num collate "C"
            order by _ts
            range between interval '10 minutes' preceding and current row
        ),
        window_1d as (
            partition by cc_num collate "C"
            order by _ts
            range between interval '24 hours' preceding and current row
        )
),

final as (
    select
        framed._row,
        framed.tx_count_10m,
        (
            select count(distinct merchant)
            from transactions as e
            where e.cc_num = p.cc_num and e.ts <= p._ts
                and e.ts >= p._ts - interval '10 minutes'
        ) as merchants_10m,
        framed.amount_max_1d,
        framed.failed_count_1d
    from framed
    inner join points as p on p._row = framed._row
    where framed._row is not null
)

select * from final

with deduped as (
    select distinct on (p.tx_id)
        p.tx_id as prediction_id,
        p.predicted_at as predicted_at,
        cast(p.score as double precision) as score
    from predictions as p
    where p.tx_id is not null
        and p.predicted_at <= now()
        and p.predicted_at + interval '24 hours' >= now()
    order by p.tx_id, p.predicted_at, p.score desc nulls last
),

labels as (
    select distinct on (o.tx_id)
        o.tx_id as prediction_id,
        cast(o.is_fraud as integer) as label
    from chargebacks as o
    where o.is_fraud is not null
        and o.reported_at <= now()
        and o.reported_at + interval '24 hours' >= now()
    order by o.tx_id, o.reported_at desc, o.is_fraud desc
),

final as (
    select
        deduped.prediction_id,
        deduped.predicted_at,
        deduped.predicted_at as cohort_at,
        deduped.score,
        deduped.score is not null and deduped.score >= 0 and deduped.score <= 1
            and (labels.label is null or labels.label in (0, 1)) as valid,
        labels.label is not null as labelled,
        labels.label,
        case when deduped.score >= 0.7 then 1 else 0 end as predicted
    from deduped
    left join labels on labels.prediction_id = deduped.prediction_id
)

select * from final

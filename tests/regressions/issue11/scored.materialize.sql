with deduped as (
    select distinct on (p.tx_id)
        p.tx_id as prediction_id,
        p.predicted_at as predicted_at,
        cast(p.score as double precision) as score,
        p.model_version,
        p.channel,
        p.amount
    from predictions as p
    where p.tx_id is not null
        and mz_now() >= p.predicted_at
    order by p.tx_id, p.predicted_at, p.score desc nulls last, p.model_version, p.channel, p.amount
),

labels as (
    -- the label is the latest outcome reported by the deadline of the id's earliest prediction
    select distinct on (o.tx_id)
        o.tx_id as prediction_id,
        cast(o.is_fraud as integer) as label
    from chargebacks as o
    inner join (
        select
            tx_id as prediction_id,
            min(predicted_at) as first_predicted_at
        from predictions
        group by tx_id
    ) as p on p.prediction_id = o.tx_id
    where o.is_fraud is not null
        and o.reported_at <= p.first_predicted_at + interval '168 hours'
    order by o.tx_id, o.reported_at desc, o.is_fraud desc
),

final as (
    select
        deduped.prediction_id,
        deduped.predicted_at,
        deduped.predicted_at + interval '168 hours' as cohort_at,
        deduped.score,
        deduped.score is not null and deduped.score >= 0 and deduped.score <= 1
            and (labels.label is null or labels.label in (0, 1)) as valid,
        labels.label is not null as labelled,
        coalesce(labels.label, 0) as label,
        case when deduped.score >= 0.5 then 1 else 0 end as predicted,
        deduped.model_version,
        deduped.channel,
        deduped.amount
    from deduped
    left join labels on labels.prediction_id = deduped.prediction_id
)

select * from final

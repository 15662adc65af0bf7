with predictions as (
    select distinct on (tx_id)
        tx_id as prediction_id,
        predicted_at as predicted_at,
        cast(score as double precision) as score,
        model_version,
        channel,
        amount
    from predictions
    where predicted_at <= (select materializer.clock())
    order by tx_id, predicted_at, score desc nulls last
),

outcomes as (
    select distinct on (o.tx_id)
        o.tx_id as prediction_id,
        cast(o.is_fraud as integer) as label
    from chargebacks as o
    inner join predictions as p on p.prediction_id = o.tx_id
    where o.is_fraud is not null
        and o.reported_at <= p.predicted_at + interval '168 hours'
    order by o.tx_id, o.reported_at desc, o.is_fraud desc
),

final as (
    select
        predictions.prediction_id,
        predictions.predicted_at,
        predictions.predicted_at + interval '168 hours' as cohort_at,
        predictions.score,
        predictions.score is not null and predictions.score >= 0 and predictions.score <= 1 as valid,
        outcomes.prediction_id is not null as labelled,
        coalesce(outcomes.label, 0) as label,
        case when predictions.score >= 0.5 then 1 else 0 end as predicted,
        predictions.model_version,
        predictions.channel,
        predictions.amount
    from predictions
    left join outcomes on outcomes.prediction_id = predictions.prediction_id
)

select * from final

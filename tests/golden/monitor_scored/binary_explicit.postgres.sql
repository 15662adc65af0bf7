with predictions as (
    select distinct on (tx_id)
        tx_id as prediction_id,
        predicted_at as predicted_at,
        cast(score as double precision) as score
    from predictions
    where predicted_at <= (select materializer.clock())
    order by tx_id, predicted_at, score desc nulls last
),

outcomes as (
    select distinct on (tx_id)
        tx_id as prediction_id,
        cast(is_fraud as integer) as label
    from chargebacks
    where is_fraud is not null
        and reported_at <= (select materializer.clock())
    order by tx_id, reported_at desc, is_fraud desc
),

final as (
    select
        predictions.prediction_id,
        predictions.predicted_at,
        predictions.predicted_at as cohort_at,
        predictions.score,
        predictions.score is not null and predictions.score >= 0 and predictions.score <= 1 as valid,
        outcomes.prediction_id is not null as labelled,
        outcomes.label,
        case when predictions.score >= 0.7 then 1 else 0 end as predicted
    from predictions
    left join outcomes on outcomes.prediction_id = predictions.prediction_id
)

select * from final

with predictions as (
    select distinct on (tx_id)
        tx_id as prediction_id,
        predicted_at as predicted_at,
        cast(predicted_eta as double precision) as score,
        model_version
    from predictions
    where predicted_at <= (select materializer.clock())
    order by tx_id, predicted_at, predicted_eta desc nulls last
),

outcomes as (
    select distinct on (tx_id)
        tx_id as prediction_id,
        cast(actual_eta as double precision) as label
    from chargebacks
    where actual_eta is not null
        and reported_at <= (select materializer.clock())
    order by tx_id, reported_at desc, actual_eta desc
),

final as (
    select
        predictions.prediction_id,
        predictions.predicted_at,
        predictions.predicted_at as cohort_at,
        predictions.score,
        predictions.score is not null as valid,
        outcomes.prediction_id is not null as labelled,
        outcomes.label,
        predictions.score as predicted,
        predictions.model_version
    from predictions
    left join outcomes on outcomes.prediction_id = predictions.prediction_id
)

select * from final

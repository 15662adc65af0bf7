with deduped as (
    select distinct on (tx_id)
        tx_id as prediction_id,
        predicted_at as predicted_at,
        cast(predicted_eta as double precision) as score,
        model_version
    from predictions
    where tx_id is not null
        and mz_now() >= predicted_at
    order by tx_id, predicted_at, predicted_eta desc nulls last, model_version
),

labels as (
    select distinct on (tx_id)
        tx_id as prediction_id,
        cast(actual_eta as double precision) as label
    from chargebacks
    where actual_eta is not null
        and mz_now() >= reported_at
    order by tx_id, reported_at desc, actual_eta desc
),

final as (
    select
        deduped.prediction_id,
        deduped.predicted_at,
        deduped.predicted_at as cohort_at,
        deduped.score,
        deduped.score is not null and deduped.score > cast('-Infinity' as double precision) and deduped.score < cast('Infinity' as double precision)
            and (labels.label is null or labels.label > cast('-Infinity' as double precision) and labels.label < cast('Infinity' as double precision)) as valid,
        labels.label is not null as labelled,
        labels.label,
        deduped.score as predicted,
        deduped.model_version
    from deduped
    left join labels on labels.prediction_id = deduped.prediction_id
)

select * from final

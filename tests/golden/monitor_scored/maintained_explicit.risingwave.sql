with deduped as (
    select distinct on (tx_id)
        tx_id as prediction_id,
        predicted_at as predicted_at,
        cast(score as double precision) as score,
        model_version,
        channel,
        amount
    from predictions
    where tx_id is not null
        and predicted_at <= now()
    order by tx_id, predicted_at, score desc nulls last, model_version, channel, amount
),

labels as (
    select distinct on (tx_id)
        tx_id as prediction_id,
        cast(is_fraud as integer) as label
    from chargebacks
    where is_fraud is not null
        and reported_at <= now()
    order by tx_id, reported_at desc, is_fraud desc
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
        case when deduped.score >= 0.5 then 1 else 0 end as predicted,
        deduped.model_version,
        deduped.channel,
        deduped.amount
    from deduped
    left join labels on labels.prediction_id = deduped.prediction_id
)

select * from final

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
        and p.predicted_at + interval '192 hours' >= mz_now()
    order by p.tx_id, p.predicted_at, p.score desc nulls last, p.model_version, p.channel, p.amount
),

reported as (
    -- the outcomes with a label of the last interval '192 hours', and those dated after t
    -- (the label is the latest outcome dated by the prediction's deadline, whatever t)
    select
        o.tx_id,
        o.reported_at,
        o.is_fraud
    from chargebacks as o
    where o.is_fraud is not null
        and o.reported_at + interval '192 hours' >= mz_now()
),

labels as (
    -- the label is the latest outcome reported by the deadline of the id's earliest prediction
    select distinct on (reported.tx_id)
        reported.tx_id as prediction_id,
        cast(reported.is_fraud as integer) as label
    from reported
    inner join deduped on deduped.prediction_id = reported.tx_id
    where reported.reported_at <= deduped.predicted_at + interval '168 hours'
    order by reported.tx_id, reported.reported_at desc, reported.is_fraud desc
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

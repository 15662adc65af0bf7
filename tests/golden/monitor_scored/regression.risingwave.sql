with deduped as (
    select distinct on (p.tx_id)
        p.tx_id as prediction_id,
        p.predicted_at as predicted_at,
        cast(p.predicted_eta as double precision) as score,
        p.model_version
    from predictions as p
    where p.tx_id is not null
        and p.predicted_at <= now()
        and p.predicted_at + interval '168 hours' >= now()
    order by p.tx_id, p.predicted_at, p.predicted_eta desc nulls last, p.model_version
),

labels as (
    select distinct on (o.tx_id)
        o.tx_id as prediction_id,
        cast(o.actual_eta as double precision) as label
    from chargebacks as o
    where o.actual_eta is not null
        and o.reported_at <= now()
        and o.reported_at + interval '168 hours' >= now()
    order by o.tx_id, o.reported_at desc, o.actual_eta desc
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

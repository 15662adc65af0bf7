select
    s.prediction_id,
    s.predicted_at,
    s.cohort_at,
    s.score,
    case
        when s.labelled_at > (select materializer.clock())
            then s.score is not null and s.score >= 0 and s.score <= 1 and (at_t.label is null or at_t.label in (0, 1))
        else s.valid
    end as valid,
    case when s.labelled_at > (select materializer.clock()) then at_t.label is not null else s.labelled end as labelled,
    case when s.labelled_at > (select materializer.clock()) then at_t.label else s.label end as label,
    s.predicted,
    s.model_version,
    s.channel,
    s.amount
from materializer.fraud_model__state as s
left join lateral (
    -- only for an id whose latest outcome is dated after t: its label at t
    select cast(o.is_fraud as integer) as label
    from chargebacks as o
    where s.labelled_at > (select materializer.clock())
        and o.tx_id = s.prediction_id
        and o.is_fraud is not null
        and o.reported_at <= (select materializer.clock())
    order by o.reported_at desc, o.is_fraud desc
    limit 1
) as at_t on true
where s.predicted_at <= (select materializer.clock())

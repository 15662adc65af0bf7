drop table if exists materializer.fraud_model__cells, materializer.fraud_model__state, materializer.fraud_model__drift_cells cascade;

create table materializer.fraud_model__state (
    prediction_id text primary key,
    predicted_at timestamptz not null,
    cohort_at timestamptz not null,
    score double precision,
    valid boolean not null,
    labelled boolean not null,
    label integer,
    predicted integer,
    labelled_at timestamptz,
    model_version text,
    channel text,
    amount numeric
);

create index on materializer.fraud_model__state (cohort_at);

create index on materializer.fraud_model__state (predicted_at);

create table materializer.fraud_model__cells (
    kind text not null,
    bucket_start timestamptz not null,
    model_version text not null,
    channel text not null,
    bin integer not null,
    n bigint not null,
    n_labelled bigint not null,
    pending bigint not null,
    n_invalid bigint not null,
    tp bigint not null,
    fp bigint not null,
    tn bigint not null,
    fn bigint not null,
    sum_log_loss double precision not null,
    sum_brier double precision not null,
    sum_score double precision not null,
    max_labelled_at timestamptz,
    primary key (kind, bucket_start, model_version, channel, bin)
);

create index on materializer.fraud_model__cells (kind) where n = 0 and pending = 0 and n_invalid = 0;

create table materializer.fraud_model__drift_cells (
    bucket_start timestamptz not null,
    column_name text not null,
    bin integer not null,
    n bigint not null,
    primary key (bucket_start, column_name, bin)
);

create or replace function materializer.fraud_model__refresh(_materializer_ids text[]) returns void
language plpgsql as $$
begin
    perform pg_advisory_xact_lock(hashtext('materializer.monitor.fraud_model'));
    -- take the touched ids' rows out of the cells
    with changed as (
        delete from materializer.fraud_model__state as s
        where s.prediction_id = any(_materializer_ids)
        returning s.*
    ),

    flagged as (
        select
            kinds.kind,
            date_bin(interval '1 hour', case when kinds.kind = 'cohort' then changed.cohort_at else changed.predicted_at end, timestamptz '1970-01-01 00:00:00+00') as bucket_start,
            coalesce(cast(changed.model_version as text), '(null)') as model_version,
            coalesce(cast(changed.channel as text), '(null)') as channel,
            case when kinds.kind = 'cohort' and changed.score is not null and changed.score >= 0 and changed.score <= 1 then least(floor(changed.score * 100), 99) else -1 end as bin,
            kinds.kind = 'cohort' and changed.valid as in_metrics,
            kinds.kind = 'cohort' and changed.valid and changed.labelled as labelled,
            kinds.kind = 'pending' and changed.score is not null and changed.score >= 0 and changed.score <= 1 as pending,
            kinds.kind = 'cohort' and not changed.valid as invalid,
            changed.label,
            changed.predicted,
            changed.score
        from changed
        cross join (values ('cohort'), ('pending')) as kinds (kind)
        where kinds.kind = 'cohort' or (changed.score is not null and changed.score >= 0 and changed.score <= 1)
    ),

    delta as (
        select
            kind,
            bucket_start,
            model_version,
            channel,
            bin,
            count(*) filter (where in_metrics) as n,
            count(*) filter (where in_metrics and labelled) as n_labelled,
            count(*) filter (where pending) as pending,
            count(*) filter (where invalid) as n_invalid,
            count(*) filter (where in_metrics and label = 1 and predicted = 1) as tp,
            count(*) filter (where in_metrics and label = 0 and predicted = 1) as fp,
            count(*) filter (where in_metrics and label = 0 and predicted = 0) as tn,
            count(*) filter (where in_metrics and label = 1 and predicted = 0) as fn,
            sum(-(label * ln(least(greatest(score, 1e-15), 1 - 1e-15))
                + (1 - label) * ln(1 - least(greatest(score, 1e-15), 1 - 1e-15)))) filter (where in_metrics) as sum_log_loss,
            sum((score - label) * (score - label)) filter (where in_metrics) as sum_brier,
            sum(score) filter (where in_metrics) as sum_score,
            cast(null as timestamptz) as max_labelled_at
        from flagged
        group by kind, bucket_start, model_version, channel, bin
    ),
drift_delta as (
        select
            date_bin(interval '1 hour', changed.predicted_at, timestamptz '1970-01-01 00:00:00+00') as bucket_start,
            bins.column_name,
            bins.bin,
            count(*) as n
        from changed
        cross join lateral (
            values
                ('score', cast(changed.score as double precision)),
                ('amount', cast(changed.amount as double precision))
        ) as observed (column_name, value)
        inner join (
            -- the newest version of the reference bins
            select
                stored.column_name,
                stored.bin,
                stored.lower_bound,
                stored.upper_bound,
                stored.share
            from (
                select
                    coalesce(version, 1) as version,
                    column_name,
                    bin,
                    lower_bound,
                    upper_bound,
                    share
                from fraud_model__reference
            ) as stored
            inner join (
                select max(coalesce(version, 1)) as version
                from fraud_model__reference
            ) as newest
                on newest.version = stored.version
        ) as bins
            on bins.column_name = observed.column_name
            and observed.value > cast('-Infinity' as double precision) and observed.value < cast('Infinity' as double precision)
            and observed.value >= bins.lower_bound
            and observed.value < bins.upper_bound
        group by 1, 2, 3
    ),

    drift_upsert as (
        insert into materializer.fraud_model__drift_cells as c (bucket_start, column_name, bin, n)
        select bucket_start, column_name, bin, -n
        from drift_delta
        on conflict (bucket_start, column_name, bin) do update set
            n = c.n + excluded.n
    )

    insert into materializer.fraud_model__cells as c (kind, bucket_start, model_version, channel, bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score, max_labelled_at)
    select
        kind, bucket_start, model_version, channel, bin,
        -coalesce(n, 0),
        -coalesce(n_labelled, 0),
        -coalesce(pending, 0),
        -coalesce(n_invalid, 0),
        -coalesce(tp, 0),
        -coalesce(fp, 0),
        -coalesce(tn, 0),
        -coalesce(fn, 0),
        -coalesce(sum_log_loss, 0),
        -coalesce(sum_brier, 0),
        -coalesce(sum_score, 0),
        max_labelled_at
    from delta
    on conflict (kind, bucket_start, model_version, channel, bin) do update set
        n = c.n + excluded.n,
        n_labelled = c.n_labelled + excluded.n_labelled,
        pending = c.pending + excluded.pending,
        n_invalid = c.n_invalid + excluded.n_invalid,
        tp = c.tp + excluded.tp,
        fp = c.fp + excluded.fp,
        tn = c.tn + excluded.tn,
        fn = c.fn + excluded.fn,
        sum_log_loss = c.sum_log_loss + excluded.sum_log_loss,
        sum_brier = c.sum_brier + excluded.sum_brier,
        sum_score = c.sum_score + excluded.sum_score,
        max_labelled_at = greatest(c.max_labelled_at, excluded.max_labelled_at);
    -- recompute them from the sources and add them back
    with changed as (
        insert into materializer.fraud_model__state
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
                and p.predicted_at is not null
                and p.tx_id = any(_materializer_ids)
            order by p.tx_id, p.predicted_at, p.score desc nulls last, p.model_version, p.channel, p.amount
        )

        select
            deduped.prediction_id,
            deduped.predicted_at,
            deduped.predicted_at + interval '168 hours' as cohort_at,
            deduped.score,
            deduped.score is not null and deduped.score >= 0 and deduped.score <= 1
                and (outcome.label is null or outcome.label in (0, 1)) as valid,
            outcome.label is not null as labelled,
            coalesce(outcome.label, 0) as label,
            case when deduped.score >= 0.5 then 1 else 0 end as predicted,
            outcome.labelled_at,
            deduped.model_version,
            deduped.channel,
            deduped.amount
        from deduped
        left join lateral (
            select
                cast(o.is_fraud as integer) as label,
                o.reported_at as labelled_at
            from chargebacks as o
            where o.tx_id = deduped.prediction_id
                and o.is_fraud is not null
                and o.reported_at <= deduped.predicted_at + interval '168 hours'
            order by o.reported_at desc, o.is_fraud desc
            limit 1
        ) as outcome on true
        returning *
    ),

    flagged as (
        select
            kinds.kind,
            date_bin(interval '1 hour', case when kinds.kind = 'cohort' then changed.cohort_at else changed.predicted_at end, timestamptz '1970-01-01 00:00:00+00') as bucket_start,
            coalesce(cast(changed.model_version as text), '(null)') as model_version,
            coalesce(cast(changed.channel as text), '(null)') as channel,
            case when kinds.kind = 'cohort' and changed.score is not null and changed.score >= 0 and changed.score <= 1 then least(floor(changed.score * 100), 99) else -1 end as bin,
            kinds.kind = 'cohort' and changed.valid as in_metrics,
            kinds.kind = 'cohort' and changed.valid and changed.labelled as labelled,
            kinds.kind = 'pending' and changed.score is not null and changed.score >= 0 and changed.score <= 1 as pending,
            kinds.kind = 'cohort' and not changed.valid as invalid,
            changed.label,
            changed.predicted,
            changed.score
        from changed
        cross join (values ('cohort'), ('pending')) as kinds (kind)
        where kinds.kind = 'cohort' or (changed.score is not null and changed.score >= 0 and changed.score <= 1)
    ),

    delta as (
        select
            kind,
            bucket_start,
            model_version,
            channel,
            bin,
            count(*) filter (where in_metrics) as n,
            count(*) filter (where in_metrics and labelled) as n_labelled,
            count(*) filter (where pending) as pending,
            count(*) filter (where invalid) as n_invalid,
            count(*) filter (where in_metrics and label = 1 and predicted = 1) as tp,
            count(*) filter (where in_metrics and label = 0 and predicted = 1) as fp,
            count(*) filter (where in_metrics and label = 0 and predicted = 0) as tn,
            count(*) filter (where in_metrics and label = 1 and predicted = 0) as fn,
            sum(-(label * ln(least(greatest(score, 1e-15), 1 - 1e-15))
                + (1 - label) * ln(1 - least(greatest(score, 1e-15), 1 - 1e-15)))) filter (where in_metrics) as sum_log_loss,
            sum((score - label) * (score - label)) filter (where in_metrics) as sum_brier,
            sum(score) filter (where in_metrics) as sum_score,
            cast(null as timestamptz) as max_labelled_at
        from flagged
        group by kind, bucket_start, model_version, channel, bin
    ),
drift_delta as (
        select
            date_bin(interval '1 hour', changed.predicted_at, timestamptz '1970-01-01 00:00:00+00') as bucket_start,
            bins.column_name,
            bins.bin,
            count(*) as n
        from changed
        cross join lateral (
            values
                ('score', cast(changed.score as double precision)),
                ('amount', cast(changed.amount as double precision))
        ) as observed (column_name, value)
        inner join (
            -- the newest version of the reference bins
            select
                stored.column_name,
                stored.bin,
                stored.lower_bound,
                stored.upper_bound,
                stored.share
            from (
                select
                    coalesce(version, 1) as version,
                    column_name,
                    bin,
                    lower_bound,
                    upper_bound,
                    share
                from fraud_model__reference
            ) as stored
            inner join (
                select max(coalesce(version, 1)) as version
                from fraud_model__reference
            ) as newest
                on newest.version = stored.version
        ) as bins
            on bins.column_name = observed.column_name
            and observed.value > cast('-Infinity' as double precision) and observed.value < cast('Infinity' as double precision)
            and observed.value >= bins.lower_bound
            and observed.value < bins.upper_bound
        group by 1, 2, 3
    ),

    drift_upsert as (
        insert into materializer.fraud_model__drift_cells as c (bucket_start, column_name, bin, n)
        select bucket_start, column_name, bin, n
        from drift_delta
        on conflict (bucket_start, column_name, bin) do update set
            n = c.n + excluded.n
    )

    insert into materializer.fraud_model__cells as c (kind, bucket_start, model_version, channel, bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score, max_labelled_at)
    select
        kind, bucket_start, model_version, channel, bin,
        coalesce(n, 0),
        coalesce(n_labelled, 0),
        coalesce(pending, 0),
        coalesce(n_invalid, 0),
        coalesce(tp, 0),
        coalesce(fp, 0),
        coalesce(tn, 0),
        coalesce(fn, 0),
        coalesce(sum_log_loss, 0),
        coalesce(sum_brier, 0),
        coalesce(sum_score, 0),
        max_labelled_at
    from delta
    on conflict (kind, bucket_start, model_version, channel, bin) do update set
        n = c.n + excluded.n,
        n_labelled = c.n_labelled + excluded.n_labelled,
        pending = c.pending + excluded.pending,
        n_invalid = c.n_invalid + excluded.n_invalid,
        tp = c.tp + excluded.tp,
        fp = c.fp + excluded.fp,
        tn = c.tn + excluded.tn,
        fn = c.fn + excluded.fn,
        sum_log_loss = c.sum_log_loss + excluded.sum_log_loss,
        sum_brier = c.sum_brier + excluded.sum_brier,
        sum_score = c.sum_score + excluded.sum_score,
        max_labelled_at = greatest(c.max_labelled_at, excluded.max_labelled_at);
    delete from materializer.fraud_model__cells where n = 0 and pending = 0 and n_invalid = 0;
    delete from materializer.fraud_model__drift_cells where n = 0;
end
$$;

create or replace function materializer.fraud_model__rebuild() returns void
language plpgsql as $$
begin
    perform pg_advisory_xact_lock(hashtext('materializer.monitor.fraud_model'));
    truncate materializer.fraud_model__state, materializer.fraud_model__cells;
    with changed as (
        insert into materializer.fraud_model__state
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
                and p.predicted_at is not null
            order by p.tx_id, p.predicted_at, p.score desc nulls last, p.model_version, p.channel, p.amount
        )

        select
            deduped.prediction_id,
            deduped.predicted_at,
            deduped.predicted_at + interval '168 hours' as cohort_at,
            deduped.score,
            deduped.score is not null and deduped.score >= 0 and deduped.score <= 1
                and (outcome.label is null or outcome.label in (0, 1)) as valid,
            outcome.label is not null as labelled,
            coalesce(outcome.label, 0) as label,
            case when deduped.score >= 0.5 then 1 else 0 end as predicted,
            outcome.labelled_at,
            deduped.model_version,
            deduped.channel,
            deduped.amount
        from deduped
        left join lateral (
            select
                cast(o.is_fraud as integer) as label,
                o.reported_at as labelled_at
            from chargebacks as o
            where o.tx_id = deduped.prediction_id
                and o.is_fraud is not null
                and o.reported_at <= deduped.predicted_at + interval '168 hours'
            order by o.reported_at desc, o.is_fraud desc
            limit 1
        ) as outcome on true
        returning *
    ),

    flagged as (
        select
            kinds.kind,
            date_bin(interval '1 hour', case when kinds.kind = 'cohort' then changed.cohort_at else changed.predicted_at end, timestamptz '1970-01-01 00:00:00+00') as bucket_start,
            coalesce(cast(changed.model_version as text), '(null)') as model_version,
            coalesce(cast(changed.channel as text), '(null)') as channel,
            case when kinds.kind = 'cohort' and changed.score is not null and changed.score >= 0 and changed.score <= 1 then least(floor(changed.score * 100), 99) else -1 end as bin,
            kinds.kind = 'cohort' and changed.valid as in_metrics,
            kinds.kind = 'cohort' and changed.valid and changed.labelled as labelled,
            kinds.kind = 'pending' and changed.score is not null and changed.score >= 0 and changed.score <= 1 as pending,
            kinds.kind = 'cohort' and not changed.valid as invalid,
            changed.label,
            changed.predicted,
            changed.score
        from changed
        cross join (values ('cohort'), ('pending')) as kinds (kind)
        where kinds.kind = 'cohort' or (changed.score is not null and changed.score >= 0 and changed.score <= 1)
    ),

    delta as (
        select
            kind,
            bucket_start,
            model_version,
            channel,
            bin,
            count(*) filter (where in_metrics) as n,
            count(*) filter (where in_metrics and labelled) as n_labelled,
            count(*) filter (where pending) as pending,
            count(*) filter (where invalid) as n_invalid,
            count(*) filter (where in_metrics and label = 1 and predicted = 1) as tp,
            count(*) filter (where in_metrics and label = 0 and predicted = 1) as fp,
            count(*) filter (where in_metrics and label = 0 and predicted = 0) as tn,
            count(*) filter (where in_metrics and label = 1 and predicted = 0) as fn,
            sum(-(label * ln(least(greatest(score, 1e-15), 1 - 1e-15))
                + (1 - label) * ln(1 - least(greatest(score, 1e-15), 1 - 1e-15)))) filter (where in_metrics) as sum_log_loss,
            sum((score - label) * (score - label)) filter (where in_metrics) as sum_brier,
            sum(score) filter (where in_metrics) as sum_score,
            cast(null as timestamptz) as max_labelled_at
        from flagged
        group by kind, bucket_start, model_version, channel, bin
    )

    insert into materializer.fraud_model__cells as c (kind, bucket_start, model_version, channel, bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score, max_labelled_at)
    select
        kind, bucket_start, model_version, channel, bin,
        coalesce(n, 0),
        coalesce(n_labelled, 0),
        coalesce(pending, 0),
        coalesce(n_invalid, 0),
        coalesce(tp, 0),
        coalesce(fp, 0),
        coalesce(tn, 0),
        coalesce(fn, 0),
        coalesce(sum_log_loss, 0),
        coalesce(sum_brier, 0),
        coalesce(sum_score, 0),
        max_labelled_at
    from delta
    on conflict (kind, bucket_start, model_version, channel, bin) do update set
        n = c.n + excluded.n,
        n_labelled = c.n_labelled + excluded.n_labelled,
        pending = c.pending + excluded.pending,
        n_invalid = c.n_invalid + excluded.n_invalid,
        tp = c.tp + excluded.tp,
        fp = c.fp + excluded.fp,
        tn = c.tn + excluded.tn,
        fn = c.fn + excluded.fn,
        sum_log_loss = c.sum_log_loss + excluded.sum_log_loss,
        sum_brier = c.sum_brier + excluded.sum_brier,
        sum_score = c.sum_score + excluded.sum_score,
        max_labelled_at = greatest(c.max_labelled_at, excluded.max_labelled_at);
    perform materializer.fraud_model__recount_drift();
end
$$;

create or replace function materializer.fraud_model__recount_drift() returns void
language plpgsql as $$
begin
    perform pg_advisory_xact_lock(hashtext('materializer.monitor.fraud_model'));
    truncate materializer.fraud_model__drift_cells;
    with changed as (
        select * from materializer.fraud_model__state
    ),
drift_delta as (
        select
            date_bin(interval '1 hour', changed.predicted_at, timestamptz '1970-01-01 00:00:00+00') as bucket_start,
            bins.column_name,
            bins.bin,
            count(*) as n
        from changed
        cross join lateral (
            values
                ('score', cast(changed.score as double precision)),
                ('amount', cast(changed.amount as double precision))
        ) as observed (column_name, value)
        inner join (
            -- the newest version of the reference bins
            select
                stored.column_name,
                stored.bin,
                stored.lower_bound,
                stored.upper_bound,
                stored.share
            from (
                select
                    coalesce(version, 1) as version,
                    column_name,
                    bin,
                    lower_bound,
                    upper_bound,
                    share
                from fraud_model__reference
            ) as stored
            inner join (
                select max(coalesce(version, 1)) as version
                from fraud_model__reference
            ) as newest
                on newest.version = stored.version
        ) as bins
            on bins.column_name = observed.column_name
            and observed.value > cast('-Infinity' as double precision) and observed.value < cast('Infinity' as double precision)
            and observed.value >= bins.lower_bound
            and observed.value < bins.upper_bound
        group by 1, 2, 3
    )
    insert into materializer.fraud_model__drift_cells (bucket_start, column_name, bin, n)
    select bucket_start, column_name, bin, n
    from drift_delta;
end
$$;

create or replace function materializer.fraud_model__on_reference() returns trigger
language plpgsql as $$
begin
    perform materializer.fraud_model__recount_drift();
    perform pg_notify('materializer_changes', 'fraud_model');
    return null;
end
$$;

create or replace trigger fraud_model__reference_insert
after insert on fraud_model__reference
for each statement execute function materializer.fraud_model__on_reference();

create or replace trigger fraud_model__reference_update
after update on fraud_model__reference
for each statement execute function materializer.fraud_model__on_reference();

create or replace trigger fraud_model__reference_delete
after delete on fraud_model__reference
for each statement execute function materializer.fraud_model__on_reference();

create or replace trigger fraud_model__reference_truncate
after truncate on fraud_model__reference
for each statement execute function materializer.fraud_model__on_reference();

create or replace function materializer.fraud_model__on_predictions() returns trigger
language plpgsql as $$
declare
    _materializer_ids text[];
begin
    -- `materializer serve` listens: the stream reads the monitor again once this transaction commits
    perform pg_notify('materializer_changes', 'fraud_model');
    if tg_op = 'TRUNCATE' then
        perform materializer.fraud_model__rebuild();
        return null;
    elsif tg_op = 'INSERT' then
        select array_agg(distinct tx_id) into _materializer_ids from new_rows where tx_id is not null;
    elsif tg_op = 'UPDATE' then
        select array_agg(distinct tx_id) into _materializer_ids
        from (select tx_id from old_rows union all select tx_id from new_rows) as touched
        where tx_id is not null;
    else
        select array_agg(distinct tx_id) into _materializer_ids from old_rows where tx_id is not null;
    end if;
    if _materializer_ids is not null then
        perform materializer.fraud_model__refresh(_materializer_ids);
    end if;
    return null;
end
$$;

create or replace trigger fraud_model__predictions_insert
after insert on predictions
referencing new table as new_rows
for each statement execute function materializer.fraud_model__on_predictions();

create or replace trigger fraud_model__predictions_update
after update on predictions
referencing old table as old_rows new table as new_rows
for each statement execute function materializer.fraud_model__on_predictions();

create or replace trigger fraud_model__predictions_delete
after delete on predictions
referencing old table as old_rows
for each statement execute function materializer.fraud_model__on_predictions();

create or replace trigger fraud_model__predictions_truncate
after truncate on predictions
for each statement execute function materializer.fraud_model__on_predictions();

create or replace function materializer.fraud_model__on_outcomes() returns trigger
language plpgsql as $$
declare
    _materializer_ids text[];
begin
    -- `materializer serve` listens: the stream reads the monitor again once this transaction commits
    perform pg_notify('materializer_changes', 'fraud_model');
    if tg_op = 'TRUNCATE' then
        perform materializer.fraud_model__rebuild();
        return null;
    elsif tg_op = 'INSERT' then
        select array_agg(distinct tx_id) into _materializer_ids from new_rows where tx_id is not null;
    elsif tg_op = 'UPDATE' then
        select array_agg(distinct tx_id) into _materializer_ids
        from (select tx_id from old_rows union all select tx_id from new_rows) as touched
        where tx_id is not null;
    else
        select array_agg(distinct tx_id) into _materializer_ids from old_rows where tx_id is not null;
    end if;
    if _materializer_ids is not null then
        perform materializer.fraud_model__refresh(_materializer_ids);
    end if;
    return null;
end
$$;

create or replace trigger fraud_model__outcomes_insert
after insert on chargebacks
referencing new table as new_rows
for each statement execute function materializer.fraud_model__on_outcomes();

create or replace trigger fraud_model__outcomes_update
after update on chargebacks
referencing old table as old_rows new table as new_rows
for each statement execute function materializer.fraud_model__on_outcomes();

create or replace trigger fraud_model__outcomes_delete
after delete on chargebacks
referencing old table as old_rows
for each statement execute function materializer.fraud_model__on_outcomes();

create or replace trigger fraud_model__outcomes_truncate
after truncate on chargebacks
for each statement execute function materializer.fraud_model__on_outcomes();

select materializer.fraud_model__rebuild()

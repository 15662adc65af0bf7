-- materializer: project fraud, engine postgres

create schema if not exists materializer;

create or replace function materializer.clock() returns timestamptz
language sql stable parallel safe as $$
    select coalesce(nullif(current_setting('materializer.as_of', true), '')::timestamptz, now())
$$;

create table if not exists predictions (
    tx_id text,
    predicted_at timestamptz,
    score double precision,
    model_version text,
    channel text
);

create index if not exists predictions__tx_id_predicted_at__idx on predictions (tx_id, predicted_at);

alter table predictions
    drop constraint if exists predictions__predicted_at__event_time,
    add constraint predictions__predicted_at__event_time check (predicted_at is not null) not valid;

alter table predictions
    drop constraint if exists predictions__predicted_at__time_range,
    add constraint predictions__predicted_at__time_range check (predicted_at >= '0001-01-01 00:00:00+00' and predicted_at < '10000-01-01 00:00:00+00') not valid;

alter table predictions
    drop constraint if exists predictions__score__finite,
    add constraint predictions__score__finite check (score > '-Infinity' and score < 'Infinity') not valid;

create table if not exists chargebacks (
    tx_id text,
    reported_at timestamptz,
    is_fraud integer
);

create index if not exists chargebacks__tx_id_reported_at__idx on chargebacks (tx_id, reported_at);

alter table chargebacks
    drop constraint if exists chargebacks__reported_at__event_time,
    add constraint chargebacks__reported_at__event_time check (reported_at is not null) not valid;

alter table chargebacks
    drop constraint if exists chargebacks__reported_at__time_range,
    add constraint chargebacks__reported_at__time_range check (reported_at >= '0001-01-01 00:00:00+00' and reported_at < '10000-01-01 00:00:00+00') not valid;

alter table chargebacks
    drop constraint if exists chargebacks__is_fraud__binary,
    add constraint chargebacks__is_fraud__binary check (is_fraud in (0, 1)) not valid;

create table if not exists fraud_model__reference (
    column_name text,
    bin integer,
    lower_bound double precision,
    upper_bound double precision,
    share double precision,
    version integer
);

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
    channel text
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
                ('score', cast(changed.score as double precision))
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
                p.channel
            from predictions as p
            where p.tx_id is not null
                and p.predicted_at is not null
                and p.tx_id = any(_materializer_ids)
            order by p.tx_id, p.predicted_at, p.score desc nulls last, p.model_version, p.channel
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
            deduped.channel
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
                ('score', cast(changed.score as double precision))
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
                p.channel
            from predictions as p
            where p.tx_id is not null
                and p.predicted_at is not null
            order by p.tx_id, p.predicted_at, p.score desc nulls last, p.model_version, p.channel
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
            deduped.channel
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
                ('score', cast(changed.score as double precision))
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

select materializer.fraud_model__rebuild();

create view fraud_model__scored as
select
    s.prediction_id,
    s.predicted_at,
    s.cohort_at,
    s.score,
    s.valid,
    s.labelled,
    s.label,
    s.predicted,
    s.model_version,
    s.channel
from materializer.fraud_model__state as s
where s.predicted_at <= (select materializer.clock());

create view fraud_model__metrics as
with spans as (
    -- each span reads rows from `opens` to t: [opens, head_until) and [whole_until, t] from the
    -- state rows, the whole buckets [whole_from, whole_until) from the cells
    select
        window_name,
        kind,
        opens,
        whole_from,
        least(whole_from, whole_until) as head_until,
        whole_until
    from (
        select
            window_name,
            kind,
            (select materializer.clock()) - length as opens,
            date_bin(interval '1 hour', (select materializer.clock()) - length + interval '1 hour' - interval '1 microsecond', timestamptz '1970-01-01 00:00:00+00') as whole_from,
            date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00') as whole_until
        from (
            values
                ('1h', 'cohort', interval '1 hour'),
                ('1d', 'cohort', interval '24 hours'),
                ('1h', 'pending', interval '168 hours' - interval '1 microsecond'),
                ('1d', 'pending', interval '168 hours' - interval '1 microsecond')
        ) as spans (window_name, kind, length)
    ) as bounds
),

stored as (
    select
        spans.window_name,
        cells.model_version,
        cells.channel,
        cells.bin,
        cells.n,
        cells.n_labelled,
        cells.pending,
        cells.n_invalid,
        cells.tp,
        cells.fp,
        cells.tn,
        cells.fn,
        case when cells.n > 0 then cells.sum_log_loss end as sum_log_loss,
        case when cells.n > 0 then cells.sum_brier end as sum_brier,
        case when cells.n > 0 then cells.sum_score end as sum_score
    from spans
    cross join lateral (
        select *
        from materializer.fraud_model__cells as cells
        where cells.kind = spans.kind
            and cells.bucket_start >= spans.whole_from
            and cells.bucket_start < spans.whole_until
    ) as cells
),

tail as materialized (
    -- the rows of the bucket holding t, read once for every span
    select
        s.prediction_id,
        s.predicted_at,
        s.cohort_at,
        s.score,
        s.valid,
        s.labelled,
        s.label,
        s.predicted,
        s.model_version,
        s.channel
    from materializer.fraud_model__state as s
    where s.cohort_at >= date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00') and s.cohort_at <= (select materializer.clock())
),

pending_tail as materialized (
    select
        s.prediction_id,
        s.predicted_at,
        s.cohort_at,
        s.score,
        s.valid,
        s.labelled,
        s.label,
        s.predicted,
        s.model_version,
        s.channel
    from materializer.fraud_model__state as s
    where s.predicted_at >= date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00') and s.predicted_at <= (select materializer.clock())
),

live as (
    -- the first partial bucket of each span, read through the index of the state rows
    select spans.window_name, spans.kind, rows.*
    from spans
    cross join lateral (
        select
            s.prediction_id,
            s.predicted_at,
            s.cohort_at,
            s.score,
            s.valid,
            s.labelled,
            s.label,
            s.predicted,
            s.model_version,
            s.channel
        from materializer.fraud_model__state as s
        where s.cohort_at >= spans.opens and s.cohort_at < spans.head_until
    ) as rows
    where spans.kind = 'cohort'

    union all

    select spans.window_name, spans.kind, rows.*
    from tail as rows
    inner join spans on spans.kind = 'cohort' and rows.cohort_at >= spans.opens

    union all

    -- pending: prediction times, the same way
    select spans.window_name, spans.kind, rows.*
    from spans
    cross join lateral (
        select
            s.prediction_id,
            s.predicted_at,
            s.cohort_at,
            s.score,
            s.valid,
            s.labelled,
            s.label,
            s.predicted,
            s.model_version,
            s.channel
        from materializer.fraud_model__state as s
        where s.predicted_at >= spans.opens and s.predicted_at < spans.head_until
    ) as rows
    where spans.kind = 'pending'

    union all

    select spans.window_name, spans.kind, rows.*
    from pending_tail as rows
    inner join spans on spans.kind = 'pending' and rows.predicted_at >= spans.opens
),

flagged as (
    select
        live.window_name,
        coalesce(cast(live.model_version as text), '(null)') as model_version,
        coalesce(cast(live.channel as text), '(null)') as channel,
        live.kind = 'cohort' and live.valid as in_metrics,
        live.kind = 'cohort' and live.valid and live.labelled as labelled,
        live.kind = 'pending' and live.score is not null and live.score >= 0 and live.score <= 1 as pending,
        live.kind = 'cohort' and not live.valid as invalid,
        live.label,
        live.predicted,
        live.score
    from live
),

live_cells as (
    select
        window_name,
        model_version,
        channel,
        least(floor(score * 100), 99) as bin,
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
        sum(score) filter (where in_metrics) as sum_score
    from flagged
    group by window_name, model_version, channel, least(floor(score * 100), 99)
),

cells as (
    select * from stored
    union all
    select * from live_cells
),

sliced as (
    select
        window_name,
        'all' as slice,
        'all' as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells

    union all

    select
        window_name,
        'version' as slice,
        coalesce(cast(model_version as text), '(null)') as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells

    union all

    select
        window_name,
        'channel' as slice,
        coalesce(cast(channel as text), '(null)') as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells
),

counters as (
    select
        window_name,
        slice,
        slice_value,
        cast(sum(n) as bigint) as n,
        cast(sum(n_labelled) as bigint) as n_labelled,
        cast(sum(pending) as bigint) as pending,
        cast(sum(n_invalid) as bigint) as n_invalid,
        cast(sum(tp) as bigint) as tp,
        cast(sum(fp) as bigint) as fp,
        cast(sum(tn) as bigint) as tn,
        cast(sum(fn) as bigint) as fn,
        sum(sum_log_loss) as sum_log_loss,
        sum(sum_brier) as sum_brier
    from sliced
    group by window_name, slice, slice_value
    -- a group is listed when anything counts in it
    having sum(n) > 0 or sum(pending) > 0 or sum(n_invalid) > 0
),

histogram as (
    select
        window_name,
        slice,
        slice_value,
        bin,
        sum(tp + fn) as positives,
        sum(fp + tn) as negatives,
        sum(sum_score) as sum_score
    from sliced
    where n > 0
    group by window_name, slice, slice_value, bin
),

pairs_above as (
    -- negatives of a bin times positives of every higher bin (Mann-Whitney, binned)
    select
        window_name,
        slice,
        slice_value,
        sum(negatives * positives_above) as pairs
    from (
        select
            window_name,
            slice,
            slice_value,
            negatives,
            coalesce(sum(positives) over (
                partition by window_name, slice, slice_value
                order by bin
                rows between 1 following and unbounded following
            ), 0) as positives_above
        from histogram
    ) as running
    group by window_name, slice, slice_value
),

pairs_tied as (
    -- pairs within a bin count one half
    select
        window_name,
        slice,
        slice_value,
        sum(negatives * positives) as pairs
    from histogram
    group by window_name, slice, slice_value
),

calibration as (
    -- 10 equal-width bins: bin b of 10 holds the 100-bins 10b .. 10b + 9
    select
        window_name,
        slice,
        slice_value,
        abs(sum(sum_score) - sum(positives)) as gap
    from histogram
    group by window_name, slice, slice_value, floor(bin / 10)
),

ece as (
    select
        window_name,
        slice,
        slice_value,
        sum(gap) as gap
    from calibration
    group by window_name, slice, slice_value
),

final as (
    select
        counters.window_name,
        counters.slice,
        counters.slice_value,
        counters.n,
        counters.n_labelled,
        cast(counters.n_labelled as double precision) / nullif(counters.n, 0) as coverage,
        counters.pending,
        counters.n_invalid,
        counters.tp,
        counters.fp,
        counters.tn,
        counters.fn,
        cast(counters.tp + counters.tn as double precision) / nullif(counters.n, 0) as accuracy,
        cast(counters.tp as double precision) / nullif(counters.tp + counters.fp, 0) as precision,
        cast(counters.tp as double precision) / nullif(counters.tp + counters.fn, 0) as recall,
        cast(2 * counters.tp as double precision) / nullif(2 * counters.tp + counters.fp + counters.fn, 0) as f1,
        cast(counters.tn as double precision) / nullif(counters.tn + counters.fp, 0) as specificity,
        cast(counters.tp + counters.fn as double precision) / nullif(counters.n, 0) as positive_rate,
        cast(counters.tp + counters.fp as double precision) / nullif(counters.n, 0) as predicted_positive_rate,
        counters.sum_log_loss / nullif(counters.n, 0) as log_loss,
        counters.sum_brier / nullif(counters.n, 0) as brier,
        (coalesce(pairs_above.pairs, 0) + 0.5 * coalesce(pairs_tied.pairs, 0))
            / nullif(cast(counters.tp + counters.fn as double precision) * (counters.fp + counters.tn), 0) as roc_auc,
        ece.gap / nullif(counters.n, 0) as ece,
        cast(counters.fp * 5 + counters.fn * 120 as double precision) as cost
    from counters
    left join pairs_above using (window_name, slice, slice_value)
    left join pairs_tied using (window_name, slice, slice_value)
    left join ece using (window_name, slice, slice_value)
)

select * from final;

create view fraud_model__timeseries as
with spans as (
    -- one span over the cohort times from the bucket holding `materializer.since` (a session
    -- setting; unset: all of them): every bucket before the one holding t is whole
    select
        'cohort' as kind,
        since as opens,
        since as whole_from,
        since as head_until,
        date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00') as whole_until
    from (
        select date_bin(interval '1 hour', coalesce(nullif(current_setting('materializer.since', true), '')::timestamptz, '-infinity'), timestamptz '1970-01-01 00:00:00+00') as since
    ) as setting
),

stored as (
    select
        cells.bucket_start,
        cells.model_version,
        cells.channel,
        cells.bin,
        cells.n,
        cells.n_labelled,
        cells.pending,
        cells.n_invalid,
        cells.tp,
        cells.fp,
        cells.tn,
        cells.fn,
        case when cells.n > 0 then cells.sum_log_loss end as sum_log_loss,
        case when cells.n > 0 then cells.sum_brier end as sum_brier,
        case when cells.n > 0 then cells.sum_score end as sum_score
    from spans
    cross join lateral (
        select *
        from materializer.fraud_model__cells as cells
        where cells.kind = spans.kind
            and cells.bucket_start >= spans.whole_from
            and cells.bucket_start < spans.whole_until
    ) as cells
),

tail as materialized (
    -- the rows of the bucket holding t, read once for every span
    select
        s.prediction_id,
        s.predicted_at,
        s.cohort_at,
        s.score,
        s.valid,
        s.labelled,
        s.label,
        s.predicted,
        s.model_version,
        s.channel
    from materializer.fraud_model__state as s
    where s.cohort_at >= date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00') and s.cohort_at <= (select materializer.clock())
),

pending_tail as materialized (
    select
        s.prediction_id,
        s.predicted_at,
        s.cohort_at,
        s.score,
        s.valid,
        s.labelled,
        s.label,
        s.predicted,
        s.model_version,
        s.channel
    from materializer.fraud_model__state as s
    where s.predicted_at >= date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00') and s.predicted_at <= (select materializer.clock())
),

live as (
    -- the first partial bucket of each span, read through the index of the state rows
    select spans.kind, rows.*
    from spans
    cross join lateral (
        select
            s.prediction_id,
            s.predicted_at,
            s.cohort_at,
            s.score,
            s.valid,
            s.labelled,
            s.label,
            s.predicted,
            s.model_version,
            s.channel
        from materializer.fraud_model__state as s
        where s.cohort_at >= spans.opens and s.cohort_at < spans.head_until
    ) as rows
    where spans.kind = 'cohort'

    union all

    select spans.kind, rows.*
    from tail as rows
    inner join spans on spans.kind = 'cohort' and rows.cohort_at >= spans.opens

    union all

    -- pending: prediction times, the same way
    select spans.kind, rows.*
    from spans
    cross join lateral (
        select
            s.prediction_id,
            s.predicted_at,
            s.cohort_at,
            s.score,
            s.valid,
            s.labelled,
            s.label,
            s.predicted,
            s.model_version,
            s.channel
        from materializer.fraud_model__state as s
        where s.predicted_at >= spans.opens and s.predicted_at < spans.head_until
    ) as rows
    where spans.kind = 'pending'

    union all

    select spans.kind, rows.*
    from pending_tail as rows
    inner join spans on spans.kind = 'pending' and rows.predicted_at >= spans.opens
),

flagged as (
    select
        date_bin(interval '1 hour', live.cohort_at, timestamptz '1970-01-01 00:00:00+00') as bucket_start,
        coalesce(cast(live.model_version as text), '(null)') as model_version,
        coalesce(cast(live.channel as text), '(null)') as channel,
        live.kind = 'cohort' and live.valid as in_metrics,
        live.kind = 'cohort' and live.valid and live.labelled as labelled,
        live.kind = 'pending' and live.score is not null and live.score >= 0 and live.score <= 1 as pending,
        live.kind = 'cohort' and not live.valid as invalid,
        live.label,
        live.predicted,
        live.score
    from live
),

live_cells as (
    select
        bucket_start,
        model_version,
        channel,
        least(floor(score * 100), 99) as bin,
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
        sum(score) filter (where in_metrics) as sum_score
    from flagged
    group by bucket_start, model_version, channel, least(floor(score * 100), 99)
),

cells as (
    select * from stored
    union all
    select * from live_cells
),

sliced as (
    select
        bucket_start,
        'all' as slice,
        'all' as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells

    union all

    select
        bucket_start,
        'version' as slice,
        coalesce(cast(model_version as text), '(null)') as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells

    union all

    select
        bucket_start,
        'channel' as slice,
        coalesce(cast(channel as text), '(null)') as slice_value,
        bin, n, n_labelled, pending, n_invalid, tp, fp, tn, fn, sum_log_loss, sum_brier, sum_score
    from cells
),

counters as (
    select
        bucket_start,
        slice,
        slice_value,
        cast(sum(n) as bigint) as n,
        cast(sum(n_labelled) as bigint) as n_labelled,
        cast(sum(pending) as bigint) as pending,
        cast(sum(n_invalid) as bigint) as n_invalid,
        cast(sum(tp) as bigint) as tp,
        cast(sum(fp) as bigint) as fp,
        cast(sum(tn) as bigint) as tn,
        cast(sum(fn) as bigint) as fn,
        sum(sum_log_loss) as sum_log_loss,
        sum(sum_brier) as sum_brier
    from sliced
    group by bucket_start, slice, slice_value
    -- a group is listed when anything counts in it
    having sum(n) > 0 or sum(pending) > 0 or sum(n_invalid) > 0
),

histogram as (
    select
        bucket_start,
        slice,
        slice_value,
        bin,
        sum(tp + fn) as positives,
        sum(fp + tn) as negatives,
        sum(sum_score) as sum_score
    from sliced
    where n > 0
    group by bucket_start, slice, slice_value, bin
),

pairs_above as (
    -- negatives of a bin times positives of every higher bin (Mann-Whitney, binned)
    select
        bucket_start,
        slice,
        slice_value,
        sum(negatives * positives_above) as pairs
    from (
        select
            bucket_start,
            slice,
            slice_value,
            negatives,
            coalesce(sum(positives) over (
                partition by bucket_start, slice, slice_value
                order by bin
                rows between 1 following and unbounded following
            ), 0) as positives_above
        from histogram
    ) as running
    group by bucket_start, slice, slice_value
),

pairs_tied as (
    -- pairs within a bin count one half
    select
        bucket_start,
        slice,
        slice_value,
        sum(negatives * positives) as pairs
    from histogram
    group by bucket_start, slice, slice_value
),

calibration as (
    -- 10 equal-width bins: bin b of 10 holds the 100-bins 10b .. 10b + 9
    select
        bucket_start,
        slice,
        slice_value,
        abs(sum(sum_score) - sum(positives)) as gap
    from histogram
    group by bucket_start, slice, slice_value, floor(bin / 10)
),

ece as (
    select
        bucket_start,
        slice,
        slice_value,
        sum(gap) as gap
    from calibration
    group by bucket_start, slice, slice_value
),

final as (
    select
        counters.bucket_start,
        counters.slice,
        counters.slice_value,
        counters.n,
        counters.n_labelled,
        cast(counters.n_labelled as double precision) / nullif(counters.n, 0) as coverage,
        counters.pending,
        counters.n_invalid,
        counters.tp,
        counters.fp,
        counters.tn,
        counters.fn,
        cast(counters.tp + counters.tn as double precision) / nullif(counters.n, 0) as accuracy,
        cast(counters.tp as double precision) / nullif(counters.tp + counters.fp, 0) as precision,
        cast(counters.tp as double precision) / nullif(counters.tp + counters.fn, 0) as recall,
        cast(2 * counters.tp as double precision) / nullif(2 * counters.tp + counters.fp + counters.fn, 0) as f1,
        cast(counters.tn as double precision) / nullif(counters.tn + counters.fp, 0) as specificity,
        cast(counters.tp + counters.fn as double precision) / nullif(counters.n, 0) as positive_rate,
        cast(counters.tp + counters.fp as double precision) / nullif(counters.n, 0) as predicted_positive_rate,
        counters.sum_log_loss / nullif(counters.n, 0) as log_loss,
        counters.sum_brier / nullif(counters.n, 0) as brier,
        (coalesce(pairs_above.pairs, 0) + 0.5 * coalesce(pairs_tied.pairs, 0))
            / nullif(cast(counters.tp + counters.fn as double precision) * (counters.fp + counters.tn), 0) as roc_auc,
        ece.gap / nullif(counters.n, 0) as ece,
        cast(counters.fp * 5 + counters.fn * 120 as double precision) as cost
    from counters
    left join pairs_above using (bucket_start, slice, slice_value)
    left join pairs_tied using (bucket_start, slice, slice_value)
    left join ece using (bucket_start, slice, slice_value)
)

select * from final;

create view fraud_model__versions as
with versions as (
    select *
    from fraud_model__metrics
    where slice = 'version'
        and n > 0
),

pairs as (
    select
        a.window_name,
        a.slice_value as version_a,
        b.slice_value as version_b,
        a.n as n_a,
        b.n as n_b,
        a.tp + a.tn as correct_a,
        b.tp + b.tn as correct_b,
        a.accuracy as accuracy_a,
        b.accuracy as accuracy_b,
        a.roc_auc as auc_a,
        b.roc_auc as auc_b,
        -- Hanley-McNeil squared standard errors of each AUC
        (a.roc_auc * (1 - a.roc_auc)
            + (a.tp + a.fn - 1) * (a.roc_auc / (2 - a.roc_auc) - a.roc_auc * a.roc_auc)
            + (a.fp + a.tn - 1) * (2 * a.roc_auc * a.roc_auc / (1 + a.roc_auc) - a.roc_auc * a.roc_auc))
            / nullif(cast(a.tp + a.fn as double precision) * (a.fp + a.tn), 0) as auc_se2_a,
        (b.roc_auc * (1 - b.roc_auc)
            + (b.tp + b.fn - 1) * (b.roc_auc / (2 - b.roc_auc) - b.roc_auc * b.roc_auc)
            + (b.fp + b.tn - 1) * (2 * b.roc_auc * b.roc_auc / (1 + b.roc_auc) - b.roc_auc * b.roc_auc))
            / nullif(cast(b.tp + b.fn as double precision) * (b.fp + b.tn), 0) as auc_se2_b
    from versions as a
    inner join versions as b
        on b.window_name = a.window_name
        and a.slice_value < b.slice_value
),

accuracy as (
    select
        window_name,
        'accuracy' as metric,
        version_a,
        version_b,
        n_a,
        n_b,
        accuracy_a as value_a,
        accuracy_b as value_b,
        (accuracy_a - accuracy_b) / nullif(sqrt(
            (cast(correct_a + correct_b as double precision) / (n_a + n_b))
            * (1 - cast(correct_a + correct_b as double precision) / (n_a + n_b))
            * (1.0 / n_a + 1.0 / n_b)
        ), 0) as statistic
    from pairs
),

auc as (
    select
        window_name,
        'roc_auc' as metric,
        version_a,
        version_b,
        n_a,
        n_b,
        auc_a as value_a,
        auc_b as value_b,
        (auc_a - auc_b) / nullif(sqrt(auc_se2_a + auc_se2_b), 0) as statistic
    from pairs
),

compared as (
    select * from accuracy
    union all
    select * from auc
),

final as (
    select
        window_name,
        metric,
        version_a,
        version_b,
        n_a,
        n_b,
        value_a,
        value_b,
        value_a - value_b as difference,
        case when statistic > cast('-Infinity' as double precision) and statistic < cast('Infinity' as double precision) then statistic end as statistic,
        -- null, never true, when the statistic is undefined (abs(NaN) > 1.96 would be true)
        case when statistic > cast('-Infinity' as double precision) and statistic < cast('Infinity' as double precision) then abs(statistic) > 1.96 end as significant
    from compared
)

select * from final;

create view fraud_model__drift as
with spans as (
    -- each span reads rows from `opens` to t: [opens, head_until) and [whole_until, t] from the
    -- state rows, the whole buckets [whole_from, whole_until) from the cells
    select
        window_name,
        kind,
        opens,
        whole_from,
        least(whole_from, whole_until) as head_until,
        whole_until
    from (
        select
            window_name,
            kind,
            (select materializer.clock()) - length as opens,
            date_bin(interval '1 hour', (select materializer.clock()) - length + interval '1 hour' - interval '1 microsecond', timestamptz '1970-01-01 00:00:00+00') as whole_from,
            date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00') as whole_until
        from (
            values
                ('1h', 'predicted', interval '1 hour'),
                ('1d', 'predicted', interval '24 hours')
        ) as spans (window_name, kind, length)
    ) as bounds
),

reference_bins as (
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
),

stored as (
    select
        spans.window_name,
        cells.column_name,
        cells.bin,
        cells.n
    from spans
    cross join lateral (
        select *
        from materializer.fraud_model__drift_cells as cells
        where cells.bucket_start >= spans.whole_from
            and cells.bucket_start < spans.whole_until
    ) as cells
),

tail as materialized (
    -- the rows of the bucket holding t, read once for every window
    select *
    from materializer.fraud_model__state as s
    where s.predicted_at >= date_bin(interval '1 hour', (select materializer.clock()), timestamptz '1970-01-01 00:00:00+00')
        and s.predicted_at <= (select materializer.clock())
),

live as (
    -- the first partial bucket of each window, read through the index of the state rows
    select spans.window_name, state.*
    from spans
    cross join lateral (
        select *
        from materializer.fraud_model__state as s
        where s.predicted_at >= spans.opens
            and s.predicted_at < spans.head_until
    ) as state

    union all

    select spans.window_name, tail.*
    from tail
    inner join spans on tail.predicted_at >= spans.opens
),

observed as (
    select
        live.window_name,
        bins.column_name,
        bins.bin,
        count(*) as n
    from live
    cross join lateral (
        values
            ('score', cast(live.score as double precision))
    ) as value (column_name, value)
    inner join reference_bins as bins
        on bins.column_name = value.column_name
        and value.value > cast('-Infinity' as double precision) and value.value < cast('Infinity' as double precision)
        and value.value >= bins.lower_bound
        and value.value < bins.upper_bound
    group by live.window_name, bins.column_name, bins.bin
),

grid as (
    -- every reference bin in every window, so that empty bins count as zero
    select
        '1h' as window_name,
        reference_bins.column_name,
        reference_bins.bin,
        reference_bins.lower_bound,
        reference_bins.upper_bound,
        reference_bins.share as expected
    from reference_bins

    union all

    select
        '1d' as window_name,
        reference_bins.column_name,
        reference_bins.bin,
        reference_bins.lower_bound,
        reference_bins.upper_bound,
        reference_bins.share as expected
    from reference_bins
),

counted as (
    select
        grid.window_name,
        grid.column_name,
        grid.bin,
        grid.expected,
        coalesce(sum(counts.n), 0) as observed_count
    from grid
    left join (
        select * from stored
        union all
        select * from observed
    ) as counts
        on counts.window_name = grid.window_name
        and counts.column_name = grid.column_name
        and counts.bin = grid.bin
    group by grid.window_name, grid.column_name, grid.bin, grid.expected
),

totals as (
    select
        window_name,
        column_name,
        sum(observed_count) as n
    from counted
    group by window_name, column_name
),

shares as (
    select
        counted.window_name,
        counted.column_name,
        counted.bin,
        counted.expected as p,
        cast(counted.observed_count as double precision) / nullif(totals.n, 0) as q,
        totals.n
    from counted
    inner join totals using (window_name, column_name)
),

cumulative as (
    select
        shares.window_name,
        shares.column_name,
        shares.bin,
        sum(upto.p) as cum_p,
        sum(upto.q) as cum_q
    from shares
    inner join shares as upto
        on upto.window_name = shares.window_name
        and upto.column_name = shares.column_name
        and upto.bin <= shares.bin
    group by shares.window_name, shares.column_name, shares.bin
),

distances as (
    select
        window_name,
        column_name,
        max(n) as n,
        sum((greatest(q, 1e-4) - greatest(p, 1e-4)) * ln(greatest(q, 1e-4) / greatest(p, 1e-4))) as psi,
        sqrt(greatest(0.5 * sum(case when p > 0 then p * ln(p / ((p + q) / 2)) else 0 end)
            + 0.5 * sum(case when q > 0 then q * ln(q / ((p + q) / 2)) else 0 end), 0)) / sqrt(ln(2)) as js
    from shares
    group by window_name, column_name
),

final as (
    select
        distances.window_name,
        distances.column_name,
        distances.n,
        case when distances.n > 0 then distances.psi end as psi,
        case when distances.n > 0 then distances.js end as js,
        max(abs(cumulative.cum_p - cumulative.cum_q)) as ks
    from distances
    inner join cumulative using (window_name, column_name)
    group by distances.window_name, distances.column_name, distances.n, distances.psi, distances.js
)

select * from final;

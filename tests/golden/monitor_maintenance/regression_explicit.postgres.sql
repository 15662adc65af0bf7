drop table if exists materializer.eta_model__cells, materializer.eta_model__state cascade;

create table materializer.eta_model__state (
    prediction_id text primary key,
    predicted_at timestamptz not null,
    cohort_at timestamptz not null,
    score double precision,
    valid boolean not null,
    labelled boolean not null,
    label double precision,
    predicted double precision,
    labelled_at timestamptz,
    model_version text
);

create index on materializer.eta_model__state (cohort_at);

create index on materializer.eta_model__state (predicted_at);

create table materializer.eta_model__cells (
    kind text not null,
    bucket_start timestamptz not null,
    model_version text not null,
    n bigint not null,
    n_labelled bigint not null,
    pending bigint not null,
    n_invalid bigint not null,
    sum_error double precision not null,
    sum_abs_error double precision not null,
    sum_sq_error double precision not null,
    sum_ape double precision not null,
    n_nonzero bigint not null,
    sum_y double precision not null,
    sum_y2 double precision not null,
    max_labelled_at timestamptz,
    primary key (kind, bucket_start, model_version)
);

create index on materializer.eta_model__cells (kind) where n = 0 and pending = 0 and n_invalid = 0;

create index on materializer.eta_model__cells (max_labelled_at);

create or replace function materializer.eta_model__refresh(_materializer_ids text[]) returns void
language plpgsql as $$
begin
    perform pg_advisory_xact_lock(hashtext('materializer.monitor.eta_model'));
    -- take the touched ids' rows out of the cells
    with changed as (
        delete from materializer.eta_model__state as s
        where s.prediction_id = any(_materializer_ids)
        returning s.*
    ),

    flagged as (
        select
            kinds.kind,
            date_bin(interval '1 hour', case when kinds.kind = 'cohort' then changed.cohort_at else changed.predicted_at end, timestamptz '1970-01-01 00:00:00+00') as bucket_start,
            coalesce(cast(changed.model_version as text), '(null)') as model_version,
            changed.valid and changed.labelled as in_metrics,
            changed.valid and changed.labelled as labelled,
            changed.valid and not changed.labelled as pending,
            kinds.kind = 'cohort' and not changed.valid as invalid,
            changed.label,
            changed.predicted,
            changed.score,
            changed.labelled_at
        from changed
        cross join (values ('cohort')) as kinds (kind)
    ),

    delta as (
        select
            kind,
            bucket_start,
            model_version,
            count(*) filter (where in_metrics) as n,
            count(*) filter (where in_metrics and labelled) as n_labelled,
            count(*) filter (where pending) as pending,
            count(*) filter (where invalid) as n_invalid,
            sum(label - score) filter (where in_metrics) as sum_error,
            sum(abs(label - score)) filter (where in_metrics) as sum_abs_error,
            sum((label - score) * (label - score)) filter (where in_metrics) as sum_sq_error,
            sum(abs(label - score) / abs(label)) filter (where in_metrics and label <> 0) as sum_ape,
            count(*) filter (where in_metrics and label <> 0) as n_nonzero,
            sum(label) filter (where in_metrics) as sum_y,
            sum(label * label) filter (where in_metrics) as sum_y2,
            max(labelled_at) as max_labelled_at
        from flagged
        group by kind, bucket_start, model_version
    )

    insert into materializer.eta_model__cells as c (kind, bucket_start, model_version, n, n_labelled, pending, n_invalid, sum_error, sum_abs_error, sum_sq_error, sum_ape, n_nonzero, sum_y, sum_y2, max_labelled_at)
    select
        kind, bucket_start, model_version,
        -coalesce(n, 0),
        -coalesce(n_labelled, 0),
        -coalesce(pending, 0),
        -coalesce(n_invalid, 0),
        -coalesce(sum_error, 0),
        -coalesce(sum_abs_error, 0),
        -coalesce(sum_sq_error, 0),
        -coalesce(sum_ape, 0),
        -coalesce(n_nonzero, 0),
        -coalesce(sum_y, 0),
        -coalesce(sum_y2, 0),
        max_labelled_at
    from delta
    on conflict (kind, bucket_start, model_version) do update set
        n = c.n + excluded.n,
        n_labelled = c.n_labelled + excluded.n_labelled,
        pending = c.pending + excluded.pending,
        n_invalid = c.n_invalid + excluded.n_invalid,
        sum_error = c.sum_error + excluded.sum_error,
        sum_abs_error = c.sum_abs_error + excluded.sum_abs_error,
        sum_sq_error = c.sum_sq_error + excluded.sum_sq_error,
        sum_ape = c.sum_ape + excluded.sum_ape,
        n_nonzero = c.n_nonzero + excluded.n_nonzero,
        sum_y = c.sum_y + excluded.sum_y,
        sum_y2 = c.sum_y2 + excluded.sum_y2,
        max_labelled_at = greatest(c.max_labelled_at, excluded.max_labelled_at);
    -- recompute them from the sources and add them back
    with changed as (
        insert into materializer.eta_model__state
        with deduped as (
            select distinct on (p.tx_id)
                p.tx_id as prediction_id,
                p.predicted_at as predicted_at,
                cast(p.predicted_eta as double precision) as score,
                p.model_version
            from predictions as p
            where p.tx_id is not null
                and p.predicted_at is not null
                and p.tx_id = any(_materializer_ids)
            order by p.tx_id, p.predicted_at, p.predicted_eta desc nulls last, p.model_version
        )

        select
            deduped.prediction_id,
            deduped.predicted_at,
            deduped.predicted_at as cohort_at,
            deduped.score,
            deduped.score is not null and deduped.score > cast('-Infinity' as double precision) and deduped.score < cast('Infinity' as double precision)
                and (outcome.label is null or outcome.label > cast('-Infinity' as double precision) and outcome.label < cast('Infinity' as double precision)) as valid,
            outcome.label is not null as labelled,
            outcome.label,
            deduped.score as predicted,
            outcome.labelled_at,
            deduped.model_version
        from deduped
        left join lateral (
            select
                cast(o.actual_eta as double precision) as label,
                o.reported_at as labelled_at
            from chargebacks as o
            where o.tx_id = deduped.prediction_id
                and o.actual_eta is not null
            order by o.reported_at desc, o.actual_eta desc
            limit 1
        ) as outcome on true
        returning *
    ),

    flagged as (
        select
            kinds.kind,
            date_bin(interval '1 hour', case when kinds.kind = 'cohort' then changed.cohort_at else changed.predicted_at end, timestamptz '1970-01-01 00:00:00+00') as bucket_start,
            coalesce(cast(changed.model_version as text), '(null)') as model_version,
            changed.valid and changed.labelled as in_metrics,
            changed.valid and changed.labelled as labelled,
            changed.valid and not changed.labelled as pending,
            kinds.kind = 'cohort' and not changed.valid as invalid,
            changed.label,
            changed.predicted,
            changed.score,
            changed.labelled_at
        from changed
        cross join (values ('cohort')) as kinds (kind)
    ),

    delta as (
        select
            kind,
            bucket_start,
            model_version,
            count(*) filter (where in_metrics) as n,
            count(*) filter (where in_metrics and labelled) as n_labelled,
            count(*) filter (where pending) as pending,
            count(*) filter (where invalid) as n_invalid,
            sum(label - score) filter (where in_metrics) as sum_error,
            sum(abs(label - score)) filter (where in_metrics) as sum_abs_error,
            sum((label - score) * (label - score)) filter (where in_metrics) as sum_sq_error,
            sum(abs(label - score) / abs(label)) filter (where in_metrics and label <> 0) as sum_ape,
            count(*) filter (where in_metrics and label <> 0) as n_nonzero,
            sum(label) filter (where in_metrics) as sum_y,
            sum(label * label) filter (where in_metrics) as sum_y2,
            max(labelled_at) as max_labelled_at
        from flagged
        group by kind, bucket_start, model_version
    )

    insert into materializer.eta_model__cells as c (kind, bucket_start, model_version, n, n_labelled, pending, n_invalid, sum_error, sum_abs_error, sum_sq_error, sum_ape, n_nonzero, sum_y, sum_y2, max_labelled_at)
    select
        kind, bucket_start, model_version,
        coalesce(n, 0),
        coalesce(n_labelled, 0),
        coalesce(pending, 0),
        coalesce(n_invalid, 0),
        coalesce(sum_error, 0),
        coalesce(sum_abs_error, 0),
        coalesce(sum_sq_error, 0),
        coalesce(sum_ape, 0),
        coalesce(n_nonzero, 0),
        coalesce(sum_y, 0),
        coalesce(sum_y2, 0),
        max_labelled_at
    from delta
    on conflict (kind, bucket_start, model_version) do update set
        n = c.n + excluded.n,
        n_labelled = c.n_labelled + excluded.n_labelled,
        pending = c.pending + excluded.pending,
        n_invalid = c.n_invalid + excluded.n_invalid,
        sum_error = c.sum_error + excluded.sum_error,
        sum_abs_error = c.sum_abs_error + excluded.sum_abs_error,
        sum_sq_error = c.sum_sq_error + excluded.sum_sq_error,
        sum_ape = c.sum_ape + excluded.sum_ape,
        n_nonzero = c.n_nonzero + excluded.n_nonzero,
        sum_y = c.sum_y + excluded.sum_y,
        sum_y2 = c.sum_y2 + excluded.sum_y2,
        max_labelled_at = greatest(c.max_labelled_at, excluded.max_labelled_at);
    delete from materializer.eta_model__cells where n = 0 and pending = 0 and n_invalid = 0;
end
$$;

create or replace function materializer.eta_model__rebuild() returns void
language plpgsql as $$
begin
    perform pg_advisory_xact_lock(hashtext('materializer.monitor.eta_model'));
    truncate materializer.eta_model__state, materializer.eta_model__cells;
    with changed as (
        insert into materializer.eta_model__state
        with deduped as (
            select distinct on (p.tx_id)
                p.tx_id as prediction_id,
                p.predicted_at as predicted_at,
                cast(p.predicted_eta as double precision) as score,
                p.model_version
            from predictions as p
            where p.tx_id is not null
                and p.predicted_at is not null
            order by p.tx_id, p.predicted_at, p.predicted_eta desc nulls last, p.model_version
        )

        select
            deduped.prediction_id,
            deduped.predicted_at,
            deduped.predicted_at as cohort_at,
            deduped.score,
            deduped.score is not null and deduped.score > cast('-Infinity' as double precision) and deduped.score < cast('Infinity' as double precision)
                and (outcome.label is null or outcome.label > cast('-Infinity' as double precision) and outcome.label < cast('Infinity' as double precision)) as valid,
            outcome.label is not null as labelled,
            outcome.label,
            deduped.score as predicted,
            outcome.labelled_at,
            deduped.model_version
        from deduped
        left join lateral (
            select
                cast(o.actual_eta as double precision) as label,
                o.reported_at as labelled_at
            from chargebacks as o
            where o.tx_id = deduped.prediction_id
                and o.actual_eta is not null
            order by o.reported_at desc, o.actual_eta desc
            limit 1
        ) as outcome on true
        returning *
    ),

    flagged as (
        select
            kinds.kind,
            date_bin(interval '1 hour', case when kinds.kind = 'cohort' then changed.cohort_at else changed.predicted_at end, timestamptz '1970-01-01 00:00:00+00') as bucket_start,
            coalesce(cast(changed.model_version as text), '(null)') as model_version,
            changed.valid and changed.labelled as in_metrics,
            changed.valid and changed.labelled as labelled,
            changed.valid and not changed.labelled as pending,
            kinds.kind = 'cohort' and not changed.valid as invalid,
            changed.label,
            changed.predicted,
            changed.score,
            changed.labelled_at
        from changed
        cross join (values ('cohort')) as kinds (kind)
    ),

    delta as (
        select
            kind,
            bucket_start,
            model_version,
            count(*) filter (where in_metrics) as n,
            count(*) filter (where in_metrics and labelled) as n_labelled,
            count(*) filter (where pending) as pending,
            count(*) filter (where invalid) as n_invalid,
            sum(label - score) filter (where in_metrics) as sum_error,
            sum(abs(label - score)) filter (where in_metrics) as sum_abs_error,
            sum((label - score) * (label - score)) filter (where in_metrics) as sum_sq_error,
            sum(abs(label - score) / abs(label)) filter (where in_metrics and label <> 0) as sum_ape,
            count(*) filter (where in_metrics and label <> 0) as n_nonzero,
            sum(label) filter (where in_metrics) as sum_y,
            sum(label * label) filter (where in_metrics) as sum_y2,
            max(labelled_at) as max_labelled_at
        from flagged
        group by kind, bucket_start, model_version
    )

    insert into materializer.eta_model__cells as c (kind, bucket_start, model_version, n, n_labelled, pending, n_invalid, sum_error, sum_abs_error, sum_sq_error, sum_ape, n_nonzero, sum_y, sum_y2, max_labelled_at)
    select
        kind, bucket_start, model_version,
        coalesce(n, 0),
        coalesce(n_labelled, 0),
        coalesce(pending, 0),
        coalesce(n_invalid, 0),
        coalesce(sum_error, 0),
        coalesce(sum_abs_error, 0),
        coalesce(sum_sq_error, 0),
        coalesce(sum_ape, 0),
        coalesce(n_nonzero, 0),
        coalesce(sum_y, 0),
        coalesce(sum_y2, 0),
        max_labelled_at
    from delta
    on conflict (kind, bucket_start, model_version) do update set
        n = c.n + excluded.n,
        n_labelled = c.n_labelled + excluded.n_labelled,
        pending = c.pending + excluded.pending,
        n_invalid = c.n_invalid + excluded.n_invalid,
        sum_error = c.sum_error + excluded.sum_error,
        sum_abs_error = c.sum_abs_error + excluded.sum_abs_error,
        sum_sq_error = c.sum_sq_error + excluded.sum_sq_error,
        sum_ape = c.sum_ape + excluded.sum_ape,
        n_nonzero = c.n_nonzero + excluded.n_nonzero,
        sum_y = c.sum_y + excluded.sum_y,
        sum_y2 = c.sum_y2 + excluded.sum_y2,
        max_labelled_at = greatest(c.max_labelled_at, excluded.max_labelled_at);
end
$$;

create or replace function materializer.eta_model__on_predictions() returns trigger
language plpgsql as $$
declare
    _materializer_ids text[];
begin
    -- `materializer serve` listens: the stream reads the monitor again once this transaction commits
    perform pg_notify('materializer_changes', 'eta_model');
    if tg_op = 'TRUNCATE' then
        perform materializer.eta_model__rebuild();
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
        perform materializer.eta_model__refresh(_materializer_ids);
    end if;
    return null;
end
$$;

create or replace trigger eta_model__predictions_insert
after insert on predictions
referencing new table as new_rows
for each statement execute function materializer.eta_model__on_predictions();

create or replace trigger eta_model__predictions_update
after update on predictions
referencing old table as old_rows new table as new_rows
for each statement execute function materializer.eta_model__on_predictions();

create or replace trigger eta_model__predictions_delete
after delete on predictions
referencing old table as old_rows
for each statement execute function materializer.eta_model__on_predictions();

create or replace trigger eta_model__predictions_truncate
after truncate on predictions
for each statement execute function materializer.eta_model__on_predictions();

create or replace function materializer.eta_model__on_outcomes() returns trigger
language plpgsql as $$
declare
    _materializer_ids text[];
begin
    -- `materializer serve` listens: the stream reads the monitor again once this transaction commits
    perform pg_notify('materializer_changes', 'eta_model');
    if tg_op = 'TRUNCATE' then
        perform materializer.eta_model__rebuild();
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
        perform materializer.eta_model__refresh(_materializer_ids);
    end if;
    return null;
end
$$;

create or replace trigger eta_model__outcomes_insert
after insert on chargebacks
referencing new table as new_rows
for each statement execute function materializer.eta_model__on_outcomes();

create or replace trigger eta_model__outcomes_update
after update on chargebacks
referencing old table as old_rows new table as new_rows
for each statement execute function materializer.eta_model__on_outcomes();

create or replace trigger eta_model__outcomes_delete
after delete on chargebacks
referencing old table as old_rows
for each statement execute function materializer.eta_model__on_outcomes();

create or replace trigger eta_model__outcomes_truncate
after truncate on chargebacks
for each statement execute function materializer.eta_model__on_outcomes();

select materializer.eta_model__rebuild()

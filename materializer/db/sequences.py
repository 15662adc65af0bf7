"""What each command sends to the database, in order and in which transaction: the model that
``materializer lint`` checks against the engines' transaction rules.

Read from the code of each command (connections are autocommit, db/connection.py; a
``conn.transaction()`` is one ``BEGIN ... COMMIT`` block) and kept true by
tests/test_sequences.py, which runs each command on the real PostgreSQL and compares what it sent
with the model:

- ``apply`` (db/apply.py, a first apply that creates everything): on PostgreSQL one block holding
  the bookkeeping DDL, the catalog reads of the plan, every create and its record in
  ``materializer.applied`` (a delete and an insert); on engines without transactional DDL the same
  statements one by one.
- ``apply`` after a feature view changed, on Materialize (db/swap.py): each statement building the
  ``__next`` views and indexes alone, the hydration reads alone, the renames in one block, the drops
  of the ``__old`` views alone. On RisingWave (``ALTER MATERIALIZED VIEW ... SWAP WITH``): ``set
  background_ddl = false``, the drops of leftover ``__next`` views and the builds, each alone (CREATE
  returns once backfilled: no wait); the records of the views to swap deleted; each swap alone,
  followed by its record; the drops of the old versions (named ``__next`` after the swap) alone.
- ``push SOURCE FILE`` (db/push.py): a CSV is one ``COPY ... FROM STDIN`` in a block; on engines
  without ``COPY FROM STDIN`` (RisingWave) batched INSERTs, each its own transaction, then FLUSH; a
  ``kafka:`` or ``webhook:`` source on a streaming engine sends no SQL (rows go to the topic or the
  webhook, db/streams.py).
- ``reference MONITOR`` (monitoring/metrics.py ``store_reference``): the reference column(s) read one
  by one, then the next version of the bins appended in one ``INSERT ... SELECT`` (on PostgreSQL in a
  block that locks the table; on RisingWave followed by FLUSH).
- ``serve`` (serve/changes.py, while a client streams a monitor): the monitor's change feed on a
  connection of its own. PostgreSQL: ``LISTEN``, for a monitor that has maintenance triggers.
  Materialize: the session settings, then one read-only block ``DECLARE ... CURSOR FOR SUBSCRIBE`` and
  ``FETCH`` in a loop. RisingWave: the session settings, ``CREATE SUBSCRIPTION IF NOT EXISTS``,
  ``DECLARE ... SUBSCRIPTION CURSOR`` and the FETCHes, each alone.
- ``training-set`` (features/training.py): on PostgreSQL the spine is loaded and the views are
  evaluated statement by statement into temporary tables, then one block streams the rows out with
  ``COPY (query) TO STDOUT``; the streaming engines refuse the command before any statement.
"""

from __future__ import annotations

from dataclasses import dataclass

from materializer.db.apply import COLUMNS_QUERY, RECORD_DELETE, RECORD_INSERT, STATE_DDL, STATE_TABLE, TABLE_TYPE_QUERY
from materializer.definitions import names
from materializer.definitions.spec import ProjectSpec
from materializer.engines import Engine, get_engine
from materializer.monitoring.metrics import reference_insert
from materializer.sql.compile import compile_project


@dataclass(frozen=True)
class Unit:
    """Statements sent together: in one ``BEGIN ... COMMIT`` block, or (``block`` False) each alone."""

    statements: tuple[str, ...]
    block: bool


@dataclass(frozen=True)
class CommandRun:
    """The statements one run of a command sends, in order."""

    command: str  # as typed: `reference fraud_model`
    units: tuple[Unit, ...]


#: the reads of apply's plan (db/apply.py _relation_info, _state)
PLAN_READS = (TABLE_TYPE_QUERY, COLUMNS_QUERY)
RECORD = (RECORD_DELETE, RECORD_INSERT)


def _units(statements: list[str], engine: Engine) -> tuple[Unit, ...]:
    if engine.transactional_ddl:
        return (Unit(tuple(statements), True),)
    return tuple(Unit((s,), False) for s in statements)


def apply_run(spec: ProjectSpec, engine_name: str) -> CommandRun:
    """A first ``apply``: every object created and recorded."""
    engine = get_engine(engine_name)
    statements = ["set transaction isolation level read committed",
                  "select pg_advisory_xact_lock(hashtext('materializer.apply'))"] if engine.transactional_ddl else []
    statements += [*STATE_DDL, f"select name, kind, sql from {STATE_TABLE}"]
    for obj in compile_project(spec, engine_name):
        if obj.kind in ("table", "view", "backfill_view"):
            statements += PLAN_READS
        statements.append(obj.sql)
        if obj.kind == "check" and obj.check:  # added NOT VALID, then validated (db/apply.py _check_action)
            statements.append(f"alter table {obj.check[0]} validate constraint {obj.name}")
        statements += RECORD
    return CommandRun("apply", _units(statements, engine))


def replace_run(spec: ProjectSpec, engine_name: str, view: str) -> CommandRun:
    """``apply`` after view ``view`` changed, on an engine that replaces by a swap (Materialize,
    RisingWave): the steps of db/swap.py for the view and every project view reading it, with the
    bookkeeping each step does (records deleted before, written after)."""
    from materializer.db.swap import hydration_query, replaced_views, swap_steps, upstream_views

    engine = get_engine(engine_name)
    objects = compile_project(spec, engine_name)
    changed = replaced_views(objects, {view})
    indexes = {o.name: i for o in changed for i in objects
               if i.kind == "view_index" and i.name == names.view_index(o.name)}
    units: list[Unit] = [*(Unit((s,), False) for s in STATE_DDL),
                         Unit((f"select name, kind, sql from {STATE_TABLE}",), False)]
    for step in swap_steps(changed, indexes, engine, upstream=upstream_views(objects, changed)):
        units += [Unit((RECORD[0],), False) for _ in step.forgets]
        if step.hydrate:
            units.append(Unit((hydration_query(len(step.hydrate)),), False))
        if step.block:
            units.append(Unit(tuple(step.statements), True))
        else:
            units += [Unit((s,), False) for s in step.statements]
        for _ in step.records:
            units += [Unit((r,), False) for r in RECORD]
        if step.verb == "drop":  # a drop's record goes (db/apply.py _record; the step's name has none)
            units.append(Unit((RECORD[0],), False))
    return CommandRun(f"apply ({view} changed)", tuple(units))


def push_run(spec: ProjectSpec, engine_name: str, source: str) -> CommandRun:
    """``push SOURCE data.csv`` with every column of the source in the file."""
    engine = get_engine(engine_name)
    src = spec.sources[source]
    columns = list(src.columns or {})
    if engine.materialized and src.streaming:  # produced to the topic, or POSTed to the webhook (db/streams.py)
        where = () if src.kafka else (Unit(("select current_database(), current_schema()",), False),)
        return CommandRun(f"push {source}", where)
    if engine.supports_copy:
        copy = f"copy {src.table} ({', '.join(columns)}) from stdin (format csv, header true)"
        return CommandRun(f"push {source}", (Unit((copy,), True),))
    types = src.columns or {}
    insert = (f"insert into {src.table} ({', '.join(columns)}) "
              f"values ({', '.join(engine.lookup_param(types.get(c)) for c in columns)})")
    return CommandRun(f"push {source}", (Unit((insert,), False), *(Unit((s,), False) for s in engine.after_insert())))


def reference_run(spec: ProjectSpec, engine_name: str, monitor: str) -> CommandRun:
    """``reference MONITOR``: read the reference column(s), each alone, then append the next version in
    one ``INSERT ... SELECT`` (on PostgreSQL in a block that locks the table first; on RisingWave
    followed by FLUSH)."""
    engine = get_engine(engine_name)
    m = spec.monitors[monitor]
    pairs = [m.reference_column or m.predictions.value, *m.features]
    table = m.view("reference")
    reads = [Unit((f"select {c} from {m.reference_relation} where {c} is not null",), False) for c in pairs]
    rows = [("x", 0, 0.0, 0.0, 0.0)] * (len(pairs) * 10)
    insert, _ = reference_insert(table, rows)
    if engine_name == "postgres":
        write: tuple[Unit, ...] = (Unit((f"lock table {table} in share row exclusive mode", insert), True),)
    else:
        write = (Unit((insert,), False), *(Unit((s,), False) for s in engine.after_insert()))
    return CommandRun(f"reference {monitor}", (*reads, *write))


def serve_runs(spec: ProjectSpec, engine_name: str) -> list[CommandRun]:
    """``serve`` streaming each monitor that has a change feed: the statements of the feed
    (serve/changes.py ``feed_statements``), the block from ``begin`` to the end of the feed."""
    from materializer.serve.changes import feed_statements
    from materializer.sql.compile import maintained

    engine = get_engine(engine_name)
    runs = []
    for name, m in spec.monitors.items():
        if engine_name == "postgres" and not maintained(m, engine):
            continue  # no triggers, no feed: the stream reads on a timer
        statements = feed_statements(m, engine, spec.serving_cluster)
        alone = [Unit((s,), False) for s, block in statements if not block and s != "begin"]
        block = tuple(s for s, inside in statements if inside)
        runs.append(CommandRun(f"serve (stream of {name})", (*alone, *((Unit(block, True),) if block else ()))))
    return runs


SPINE = "_materializer_spine"


def training_set_run(spec: ProjectSpec, engine_name: str) -> CommandRun:
    """``training-set --spine spine.csv``: nothing on the streaming engines, which refuse it first."""
    if engine_name != "postgres":
        return CommandRun("training-set", ())
    load = [f"drop table if exists {SPINE}",
            f"create temporary table {SPINE} (_row bigint generated always as identity, c0 text, c1 text)",
            f"copy {SPINE} (c0, c1) from stdin (format csv, header true)",
            f"select count(*) from {SPINE}",
            f"analyze {SPINE}"]
    evaluate = ["drop table if exists points", f"create temporary table points as select _row from {SPINE}",
                "analyze points"]
    out = Unit((f"copy (select * from {SPINE} order by _row) to stdout (format csv)",), True)
    return CommandRun("training-set", (*(Unit((s,), False) for s in load + evaluate), out))


def command_runs(spec: ProjectSpec, engine_name: str) -> list[CommandRun]:
    """The modeled runs of apply, push (each managed source), reference (each monitor with one),
    training-set and serve's change feeds for a project on ``engine_name``."""
    runs = [apply_run(spec, engine_name)]
    if get_engine(engine_name).replaces_by_swap:
        runs += [replace_run(spec, engine_name, name) for name in spec.feature_views]
        runs += [replace_run(spec, engine_name, m.view("scored")) for m in spec.monitors.values()]
    runs += [push_run(spec, engine_name, name) for name, s in spec.sources.items() if s.managed]
    runs += [reference_run(spec, engine_name, name) for name, m in spec.monitors.items() if m.reference_relation]
    runs.append(training_set_run(spec, engine_name))
    runs += serve_runs(spec, engine_name)
    return runs

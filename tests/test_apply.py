"""apply on a real PostgreSQL: idempotent, replaces what changed, never drops data, all or nothing."""

from __future__ import annotations

import re
import threading
import time

import psycopg
import pytest

from materializer.db import apply as apply_module
from materializer.errors import DatabaseError, MaterializerError

BASE = """
name: apply_test
sources:
  tx:
    columns: {cc_num: text, amount: numeric, ts: timestamptz}
    timestamp: ts
feature_views:
  activity:
    source: tx
    entity: [cc_num]
    windows: [1h]
    features:
      n: {agg: count}
"""


def relations(conn) -> dict[str, str]:
    rows = conn.execute(
        "select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'public' and c.relkind in ('r', 'v', 'i')"
    ).fetchall()
    return dict(rows)


def count(conn, table: str) -> int:
    return conn.execute(f"select count(*) from {table}").fetchone()[0]


def test_apply_creates_everything_then_is_idempotent(make_project, pg_conn):
    project = make_project(BASE)
    first = project.apply()
    # schema, clock, table, 2 indexes ((cc_num, ts) for lookups, (ts) for freshness),
    # 3 row checks (ts not null, ts in years 1-9999, amount finite), view
    assert [a.verb for a in first.actions] == ["create"] * 9
    assert [a.name for a in first.actions if a.kind == "check"] == [
        "tx__amount__finite", "tx__ts__event_time", "tx__ts__time_range"]
    assert relations(pg_conn) == {"tx": "r", "tx__cc_num_ts__idx": "i", "tx__ts__idx": "i", "activity": "v"}
    second = project.apply()
    assert second.empty and "Nothing to do" in second.summary()
    assert project.plan().empty


def test_changed_view_is_replaced_and_data_kept(make_project, pg_conn):
    project = make_project(BASE)
    project.apply()
    pg_conn.execute("insert into tx values ('a', 1, now()), ('a', 2, now())")
    changed = make_project(BASE.replace("windows: [1h]", "windows: [1h, 1d]"), name="changed.yml")
    plan = changed.apply()
    assert [(a.verb, a.name) for a in plan.actions] == [("replace", "activity")]
    assert count(pg_conn, "tx") == 2
    assert pg_conn.execute("select n_1d from activity").fetchone()[0] == 2


def test_replace_keeps_a_dependent_user_view_when_columns_are_compatible(make_project, pg_conn):
    project = make_project(BASE)
    project.apply()
    pg_conn.execute("create view dashboard as select cc_num, n_1h from activity")
    # a new feature appends a column: create or replace keeps the dependent view
    more = BASE + "      amount_max: {agg: max, column: amount}\n"
    make_project(more, name="more.yml").apply()
    assert "dashboard" in relations(pg_conn)
    cols = [r[0] for r in pg_conn.execute(
        "select column_name from information_schema.columns where table_name = 'activity' order by ordinal_position")]
    assert "amount_max_1h" in cols


def test_removed_source_with_rows_is_refused_and_kept(make_project, pg_conn):
    make_project(BASE).apply()
    pg_conn.execute("insert into tx values ('a', 1, now())")
    empty = make_project("name: apply_test\nsources: {}\nfeature_views: {}\n", name="empty.yml")
    with pytest.raises(MaterializerError, match="--drop-data") as err:
        empty.apply()
    assert "tx" in str(err.value) and "holds rows" in str(err.value)
    assert count(pg_conn, "tx") == 1
    assert "activity" in relations(pg_conn), "a refused apply changes nothing, views included"
    plan = empty.apply(allow_drop_data=True)
    assert {a.name for a in plan.actions if a.verb == "drop"} >= {"tx", "activity"}
    assert relations(pg_conn) == {}


def test_removed_empty_source_and_view_are_dropped(make_project, pg_conn):
    make_project(BASE).apply()
    plan = make_project("name: apply_test\n", name="nothing.yml").apply()
    assert {a.name for a in plan.actions if a.verb == "drop"} == {
        "tx", "activity", "tx__cc_num_ts__idx", "tx__ts__idx", "tx__amount__finite", "tx__ts__event_time",
        "tx__ts__time_range"}
    assert relations(pg_conn) == {}


def test_new_column_is_added_and_rows_kept(make_project, pg_conn):
    make_project(BASE).apply()
    pg_conn.execute("insert into tx values ('a', 1, now())")
    wider = make_project(BASE.replace("amount: numeric,", "amount: numeric, merchant: text,"), name="wider.yml")
    plan = wider.apply()
    assert ("alter", "tx") in [(a.verb, a.name) for a in plan.actions]
    assert count(pg_conn, "tx") == 1
    assert pg_conn.execute("select merchant from tx").fetchone()[0] is None


def test_changed_column_type_with_rows_is_refused(make_project, pg_conn):
    make_project(BASE).apply()
    pg_conn.execute("insert into tx values ('a', 1, now())")
    retyped = make_project(BASE.replace("amount: numeric", "amount: bigint"), name="retyped.yml")
    with pytest.raises(MaterializerError, match="--drop-data"):
        retyped.apply()
    assert pg_conn.execute("select data_type from information_schema.columns "
                           "where table_name = 'tx' and column_name = 'amount'").fetchone()[0] == "numeric"
    retyped.apply(allow_drop_data=True)
    assert count(pg_conn, "tx") == 0
    assert pg_conn.execute("select data_type from information_schema.columns "
                           "where table_name = 'tx' and column_name = 'amount'").fetchone()[0] == "bigint"


def test_external_relation_is_never_touched(make_project, pg_conn):
    pg_conn.execute("create schema raw")
    pg_conn.execute("create table raw.events (user_id text, at timestamptz)")
    pg_conn.execute("insert into raw.events values ('u', now())")
    external = """
name: ext
sources:
  events:
    relation: raw.events
    timestamp: at
feature_views:
  user_activity:
    source: events
    entity: [user_id]
    windows: [1h]
    features: {n: {agg: count}}
"""
    plan = make_project(external).apply()
    assert {a.kind for a in plan.actions} == {"schema", "function", "view"}
    assert pg_conn.execute("select n_1h from user_activity").fetchone()[0] == 1
    make_project("name: ext\n", name="gone.yml").apply()
    assert count(pg_conn, "raw.events") == 1


def test_dry_run_changes_nothing(make_project, pg_conn):
    project = make_project(BASE)
    plan = project.plan()
    assert len(plan.actions) == 9
    assert "create table if not exists tx" in plan.sql()
    assert relations(pg_conn) == {}
    assert pg_conn.execute("select to_regclass('materializer.applied')").fetchone()[0] is None


def test_failed_apply_changes_nothing(make_project, pg_conn):
    # validation cannot know that the text is no number (it refuses unknown columns, which this test used)
    broken = BASE + "      bad: {agg: count, filter: \"amount = 'not a number'\"}\n"
    with pytest.raises(DatabaseError, match="changed nothing") as err:
        make_project(broken).apply()
    assert "not a number" in str(err.value)
    assert "create view activity" in str(err.value), "the error names the object that failed"
    assert "LINE 1" not in str(err.value) and "^" not in str(err.value)
    assert relations(pg_conn) == {}


def test_existing_table_in_place_of_a_view_is_an_error(make_project, pg_conn):
    pg_conn.execute("create table activity (x int)")
    with pytest.raises(MaterializerError, match="exists in the database as a table"):
        make_project(BASE).apply()


# ---------------------------------------------------------------- concurrent writers

REMOVED = "name: apply_test\nsources: {}\nfeature_views: {}\n"
RETYPED = BASE.replace("amount: numeric", "amount: bigint")


def wait_for_lock_wait(conn, table: str, timeout: float = 20.0) -> None:
    """Return once some session waits for a lock on ``table`` (apply queued behind the writer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = conn.execute("select count(*) from pg_locks where relation = to_regclass(%s) and not granted",
                               [table]).fetchone()[0]
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError(f"nobody waited for a lock on {table} within {timeout}s")


def in_thread(fn) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = fn()
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("change", [RETYPED, REMOVED], ids=["column-type-changed", "source-removed"])
@pytest.mark.parametrize("dry_run", [False, True], ids=["apply", "dry-run"])
def test_rows_of_a_writer_that_commits_during_apply_are_kept(make_project, pg_conn, pg_dsn, change, dry_run):
    make_project(BASE).apply()
    changed = make_project(change, name="changed.yml")
    with psycopg.connect(pg_dsn) as writer:  # a transaction left open, like a push still loading
        writer.execute("insert into tx select 'c' || i, i, now() from generate_series(1, 1000) as i")
        thread, outcome = in_thread(changed.plan if dry_run else changed.apply)
        try:
            wait_for_lock_wait(pg_conn, "tx")
        finally:
            writer.commit()
        thread.join(30)
    assert not thread.is_alive()
    assert count(pg_conn, "tx") == 1000
    assert isinstance(outcome.get("error"), MaterializerError), outcome
    assert "holds rows" in str(outcome["error"]) and "--drop-data" in str(outcome["error"])
    assert "activity" in relations(pg_conn)


def test_apply_gives_up_on_a_table_locked_too_long_and_changes_nothing(make_project, pg_conn, pg_dsn,
                                                                        monkeypatch):
    monkeypatch.setattr(apply_module, "LOCK_TIMEOUT", "300ms")
    make_project(BASE).apply()
    changed = make_project(REMOVED, name="changed.yml")
    with psycopg.connect(pg_dsn) as writer:
        writer.execute("insert into tx values ('a', 1, now())")
        pid = writer.info.backend_pid
        thread, outcome = in_thread(changed.apply)
        thread.join(10)
        alive = thread.is_alive()
        writer.rollback()
        thread.join(30)
    assert not alive, "apply waited for the writer instead of giving up"
    error = outcome.get("error")
    assert isinstance(error, DatabaseError), outcome
    message = str(error)
    assert "\n" not in message
    assert "tx" in message and str(pid) in message and "changed nothing" in message and "rerun" in message
    assert "activity" in relations(pg_conn) and "tx" in relations(pg_conn)


# ---------------------------------------------------------------- what apply says

def plan_line(plan, name: str) -> str:
    lines = [line for line in plan.summary().splitlines() if line.split(" (")[0].endswith(f" {name}")]
    assert len(lines) == 1, plan.summary()
    return lines[0]


def test_removed_column_stays_in_the_table_and_apply_says_so(make_project, pg_conn):
    make_project(BASE).apply()
    pg_conn.execute("insert into tx values ('a', 1, now())")
    narrower = make_project(BASE.replace("amount: numeric, ", ""), name="narrower.yml")
    planned = plan_line(narrower.plan(), "tx")
    plan = narrower.apply()
    line = plan_line(plan, "tx")
    assert line == planned
    assert line.startswith("~ alter table tx (")
    assert "recorded" not in line
    assert "amount stays in the table" in line and "never drops data" in line
    assert "alter table tx drop column amount" in line
    assert "amount" in [r[0] for r in pg_conn.execute(
        "select column_name from information_schema.columns where table_name = 'tx'")]
    assert count(pg_conn, "tx") == 1
    assert narrower.plan().empty


def test_replaced_feature_view_names_the_features_added_and_removed(make_project, pg_conn):
    make_project(BASE).apply()
    swapped = BASE.replace("n: {agg: count}", "amount_max: {agg: max, column: amount}")
    swapped = swapped.replace("windows: [1h]", "windows: [1h, 1d]")
    changed = make_project(swapped, name="swapped.yml")
    assert plan_line(changed.plan(), "activity") == (
        "~ replace view activity (features added: amount_max_1h, amount_max_1d; removed: n_1h)")
    assert plan_line(changed.apply(), "activity") == (
        "~ replace view activity (features added: amount_max_1h, amount_max_1d; removed: n_1h)")
    only_removed = make_project(swapped.replace("windows: [1h, 1d]", "windows: [1d]"), name="fewer.yml")
    assert plan_line(only_removed.apply(), "activity") == "~ replace view activity (features removed: amount_max_1h)"
    filtered = make_project(swapped.replace("windows: [1h, 1d]", "windows: [1d]").replace(
        "column: amount}", "column: amount, filter: \"amount > 0\"}"), name="filtered.yml")
    assert plan_line(filtered.apply(), "activity") == "~ replace view activity (definition changed)"


def test_a_user_view_that_blocks_a_replacement_is_named_in_the_dry_run_and_apply(make_project, pg_conn):
    make_project(BASE).apply()
    pg_conn.execute("create view dashboard as select cc_num, n_1h from activity")
    renamed = make_project(BASE.replace("n: {agg: count}", "tx_count: {agg: count}"), name="renamed.yml")
    with pytest.raises(MaterializerError) as dry:
        renamed.plan()
    with pytest.raises(MaterializerError) as real:
        renamed.apply()
    for err in (dry, real):
        message = str(err.value)
        assert "\n" not in message
        assert "activity" in message and "dashboard" in message
        assert "drop view dashboard" in message
    assert pg_conn.execute("select count(*) from dashboard").fetchone()[0] == 0
    assert "n_1h" in [r[0] for r in pg_conn.execute(
        "select column_name from information_schema.columns where table_name = 'activity'")]


def test_a_user_view_on_a_view_removed_from_the_project_is_named(make_project, pg_conn):
    make_project(BASE).apply()
    pg_conn.execute("create view dashboard as select cc_num, n_1h from activity")
    without_view = make_project(BASE.split("feature_views:")[0], name="no_views.yml")
    for attempt in (without_view.plan, without_view.apply):
        with pytest.raises(MaterializerError, match="dashboard") as err:
            attempt()
        assert "activity" in str(err.value) and "no longer in the project" in str(err.value)
    assert {"activity", "dashboard"} <= set(relations(pg_conn))


def test_a_view_edited_in_the_database_is_replaced_and_apply_says_so(make_project, pg_conn):
    project = make_project(BASE)
    project.apply()
    pg_conn.execute("insert into tx values ('a', 1, now())")
    pg_conn.execute("create or replace view activity as "
                    "select cc_num, max(ts) as _event_ts, 42::bigint as n_1h from tx group by cc_num")
    said = "~ replace view activity (edited in the database since the last apply)"
    assert plan_line(project.plan(), "activity") == said
    plan = project.apply()
    assert plan_line(plan, "activity") == said
    assert re.search(r"\nApplied 1 change; \d+ objects unchanged\.$", plan.summary())  # "change", not "changes"
    assert pg_conn.execute("select n_1h from activity").fetchone()[0] == 1
    assert project.plan().empty


def test_dropping_a_source_with_drop_data_names_the_user_views_it_takes_along(make_project, pg_conn):
    make_project(BASE).apply()
    pg_conn.execute("insert into tx values ('a', 1, now())")
    pg_conn.execute("create view dashboard as select cc_num, n_1h from activity")
    retyped = make_project(RETYPED, name="retyped.yml")
    line = plan_line(retyped.plan(allow_drop_data=True), "tx")
    assert line.startswith("~ replace table tx (columns changed: amount is numeric in the database but bigint")
    assert line.endswith("; also drops view dashboard, not part of the project, that reads it)")
    pg_conn.execute("drop view dashboard")
    pg_conn.execute("create view raw_tx as select cc_num from tx")
    pg_conn.execute("create view raw_tx_count as select count(*) from raw_tx")
    removed = make_project(REMOVED, name="removed.yml")
    assert plan_line(removed.apply(allow_drop_data=True), "tx") == (
        "- drop table tx (no longer in the project; also drops views raw_tx, raw_tx_count, not part of the project, "
        "that read it)")
    assert relations(pg_conn) == {}


def test_a_missing_external_relation_is_named_before_anything_is_created(make_project, pg_conn):
    external = """
name: ext
sources:
  events:
    relation: raw.events
    timestamp: at
feature_views:
  user_activity:
    source: events
    entity: [user_id]
    windows: [1h]
    features: {n: {agg: count}}
"""
    project = make_project(external)
    for attempt in (project.plan, project.apply):
        with pytest.raises(MaterializerError) as err:
            attempt()
        message = str(err.value)
        assert "\n" not in message
        assert "sources.events" in message and "raw.events" in message and "does not exist" in message
    assert pg_conn.execute("select to_regclass('materializer.applied')").fetchone()[0] is None
    assert relations(pg_conn) == {}


def test_row_checks_are_added_to_a_table_that_holds_rows_and_keep_them(make_project, pg_conn):
    """A table made before the row checks existed, holding rows they refuse: apply adds the checks
    NOT VALID (every row is kept, new rows are checked) and says how many rows break each; a check
    that no row breaks is validated."""
    pg_conn.execute("create table tx (cc_num text, amount numeric, ts timestamptz)")
    pg_conn.execute("insert into tx values ('a', 1, '2026-01-01'), ('b', 'NaN', '2026-01-01'), "
                    "('c', '-Infinity', 'infinity'), ('d', 2, null)")
    project = make_project(BASE)
    plan = project.apply()
    summary = plan.summary()
    assert "+ create check tx__amount__finite (2 stored rows break it: kept" in summary, summary
    assert "+ create check tx__ts__event_time (1 stored row breaks it: kept" in summary, summary
    assert "+ create check tx__ts__time_range (1 stored row breaks it: kept" in summary, summary
    assert count(pg_conn, "tx") == 4
    checks = dict(pg_conn.execute("select conname, convalidated from pg_constraint "
                                  "where conrelid = 'tx'::regclass and contype = 'c'").fetchall())
    assert checks == {"tx__amount__finite": False, "tx__ts__event_time": False, "tx__ts__time_range": False}
    for bad in ("insert into tx values ('e', 'NaN', now())", "insert into tx values ('e', 1, null)",
                "insert into tx values ('e', 1, '-infinity')", "insert into tx values ('e', 1, '0044-03-15 BC')"):
        with pytest.raises(Exception, match="violates check constraint"):
            pg_conn.execute(bad)
    pg_conn.execute("insert into tx values ('e', 3, '2026-01-02')")
    assert project.apply().empty

    # the rows fixed by hand: a changed check is put back, and validated
    pg_conn.execute("delete from tx where amount = 'NaN' or amount = '-Infinity' or ts is null")
    pg_conn.execute("delete from materializer.applied where name = 'tx__amount__finite'")
    plan = make_project(BASE, name="again.yml").apply()
    assert [(a.verb, a.name, a.reason) for a in plan.actions] == [("replace", "tx__amount__finite", "")]
    assert pg_conn.execute("select convalidated from pg_constraint where conname = 'tx__amount__finite'"
                           ).fetchone()[0] is True
    assert count(pg_conn, "tx") == 2


def test_a_new_number_column_gets_its_check_and_keeps_the_rows(make_project, pg_conn):
    make_project(BASE).apply()
    pg_conn.execute("insert into tx values ('a', 1, now()), ('b', 2, now())")
    wider = make_project(BASE.replace("amount: numeric,", "amount: numeric, fee: double precision,"), name="wider.yml")
    plan = wider.apply()
    assert [(a.verb, a.name, a.reason) for a in plan.actions if a.kind in ("table", "check")] == [
        ("alter", "tx", "new columns: fee"), ("create", "tx__fee__finite", "")]
    assert count(pg_conn, "tx") == 2
    with pytest.raises(Exception, match="tx__fee__finite"):
        pg_conn.execute("insert into tx values ('c', 1, now(), 'Infinity')")
    assert wider.apply().empty


# ---------------------------------------------------------------- column types through each engine's catalog


def every_type_project(types: dict[str, str]) -> str:
    columns = ", ".join(f'{c}: "{t}"' for c, t in types.items())
    return f"name: every_type\nsources:\n  every:\n    columns: {{{columns}}}\n    timestamp: c_ts\n"


@pytest.mark.parametrize("engine_name", ["risingwave", "materialize"])
def test_every_type_reads_back_unchanged_from_each_streaming_engines_catalog(engine_name):
    """Issue 11, item 3: RisingWave's information_schema has no numeric precision and stores uuid as
    varchar, Materialize's has no precision either; a second apply saw `numeric(12,2)` and `uuid` columns
    as changed. The rows are each engine's answer (tests/engine_catalogs.py, cited to its source)."""
    from materializer.engines import get_engine
    from tests.engine_catalogs import CATALOG_ROWS, EVERY_TYPE

    engine = get_engine(engine_name)
    existing = apply_module.catalog_columns(engine, CATALOG_ROWS[engine_name])
    assert list(existing) == list(EVERY_TYPE)
    assert apply_module.changed_columns(engine, EVERY_TYPE, existing) == []


@pytest.mark.parametrize("engine_name", ["risingwave", "materialize"])
@pytest.mark.parametrize("column, declared", [("c_text", "bigint"), ("c_bigint", "text"), ("c_ts", "date"),
                                              ("c_money", "double precision"), ("c_uuid", "jsonb")])
def test_a_real_type_change_is_seen_through_each_streaming_engines_catalog(engine_name, column, declared):
    from materializer.engines import get_engine
    from tests.engine_catalogs import CATALOG_ROWS, EVERY_TYPE

    engine = get_engine(engine_name)
    existing = apply_module.catalog_columns(engine, CATALOG_ROWS[engine_name])
    assert apply_module.changed_columns(engine, {**EVERY_TYPE, column: declared}, existing) == [column]


def test_risingwave_stores_uuid_and_text_alike_so_neither_change_is_a_change():
    """Both are varchar on RisingWave: declaring one for the other changes nothing in the table."""
    from materializer.engines import get_engine
    from tests.engine_catalogs import CATALOG_ROWS, EVERY_TYPE

    engine = get_engine("risingwave")
    existing = apply_module.catalog_columns(engine, CATALOG_ROWS["risingwave"])
    swapped = {**EVERY_TYPE, "c_text": "uuid", "c_uuid": "text", "c_money": "numeric(20,4)"}
    assert apply_module.changed_columns(engine, swapped, existing) == []
    assert engine.ddl_type("uuid") == "varchar" and engine.ddl_type("numeric(12,2)") == "numeric"


def test_every_type_reads_back_unchanged_from_postgresql_and_a_change_is_refused(make_project, pg_conn):
    """The same comparison on the real PostgreSQL catalog: a second apply of every type changes
    nothing; a real change (text -> bigint) of a table that holds rows is refused and named."""
    from materializer.engines import get_engine
    from tests.engine_catalogs import EVERY_TYPE

    project = make_project(every_type_project(EVERY_TYPE))
    project.apply()
    rows = pg_conn.execute(apply_module.COLUMNS_QUERY, [None, "every"]).fetchall()
    engine = get_engine("postgres")
    existing = apply_module.catalog_columns(engine, rows)
    assert existing["c_money"] == "numeric(12,2)" and existing["c_uuid"] == "uuid"
    assert apply_module.changed_columns(engine, EVERY_TYPE, existing) == []
    assert project.plan().empty and project.apply().empty
    pg_conn.execute("insert into every (c_text, c_ts) values ('a', now())")
    retyped = make_project(every_type_project({**EVERY_TYPE, "c_text": "bigint", "c_money": "numeric(12,4)"}),
                           name="retyped.yml")
    with pytest.raises(MaterializerError) as info:
        retyped.apply()
    message = str(info.value)
    assert "c_text is text in the database but bigint in the project" in message, message
    assert "c_money is numeric(12,2) in the database but numeric(12,4) in the project" in message, message
    assert count(pg_conn, "every") == 1

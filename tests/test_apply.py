"""apply on a real PostgreSQL: idempotent, replaces what changed, never drops data, all or nothing."""

from __future__ import annotations

import pytest

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
    # schema, clock, table, index, 3 row checks (ts not null, ts in years 1-9999, amount finite), view
    assert [a.verb for a in first.actions] == ["create"] * 8
    assert [a.name for a in first.actions if a.kind == "check"] == [
        "tx__amount__finite", "tx__ts__event_time", "tx__ts__time_range"]
    assert relations(pg_conn) == {"tx": "r", "tx__cc_num_ts__idx": "i", "activity": "v"}
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
        "tx", "activity", "tx__cc_num_ts__idx", "tx__amount__finite", "tx__ts__event_time", "tx__ts__time_range"}
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
    assert len(plan.actions) == 8
    assert "create table if not exists tx" in plan.sql()
    assert relations(pg_conn) == {}
    assert pg_conn.execute("select to_regclass('materializer.applied')").fetchone()[0] is None


def test_failed_apply_changes_nothing(make_project, pg_conn):
    broken = BASE + "      bad: {agg: count, filter: \"no_such_column = 1\"}\n"
    with pytest.raises(DatabaseError, match="changed nothing") as err:
        make_project(broken).apply()
    assert "no_such_column" in str(err.value)
    assert relations(pg_conn) == {}


def test_existing_table_in_place_of_a_view_is_an_error(make_project, pg_conn):
    pg_conn.execute("create table activity (x int)")
    with pytest.raises(MaterializerError, match="exists in the database as a table"):
        make_project(BASE).apply()


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

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
    assert [a.verb for a in first.actions] == ["create"] * 5
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
    assert {a.name for a in plan.actions if a.verb == "drop"} == {"tx", "activity", "tx__cc_num_ts__idx"}
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
    assert len(plan.actions) == 5
    assert "create table if not exists tx" in plan.sql()
    assert relations(pg_conn) == {}
    assert pg_conn.execute("select to_regclass('materializer.applied')").fetchone()[0] is None


def test_failed_apply_changes_nothing(make_project, pg_conn):
    # validation cannot know that the text is no number (it refuses unknown columns, which this test used)
    broken = BASE + "      bad: {agg: count, filter: \"amount = 'not a number'\"}\n"
    with pytest.raises(DatabaseError, match="changed nothing") as err:
        make_project(broken).apply()
    assert "not a number" in str(err.value)
    assert relations(pg_conn) == {}


def test_existing_table_in_place_of_a_view_is_an_error(make_project, pg_conn):
    pg_conn.execute("create table activity (x int)")
    with pytest.raises(MaterializerError, match="exists in the database as a table"):
        make_project(BASE).apply()

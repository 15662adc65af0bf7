"""Replacing a changed view on RisingWave without downtime: build ``<view>__next`` (CREATE returns once
backfilled), ``alter materialized view <view> swap with <view>__next`` per view, drop the old ones
(db/swap.py).

No RisingWave runs here. What runs: the modeled statement sequence of ``apply`` after a view changed,
checked against a list written out by hand and by ``materializer lint`` (sqlglot's risingwave dialect
does not parse ``SWAP WITH``: syntax.py checks its documented form); and the same steps through
``apply`` on the real PostgreSQL, whose test engine emulates RisingWave's SWAP (which PostgreSQL lacks)
with three renames in one transaction, while lookups run without pause.
"""

from __future__ import annotations

import re
import threading
import time

import psycopg
import pytest
import yaml

from materializer.db import swap
from materializer.db.apply import STATE_DDL, STATE_TABLE
from materializer.db.sequences import CommandRun, Unit, replace_run
from materializer.definitions.validate import parse_project
from materializer.engines import get_engine
from materializer.engines.postgres import Postgres
from materializer.sql.compile import compile_project
from materializer.sql.lint import lint, lint_project
from materializer.sql.syntax import parse
from tests import test_sequences
from tests.test_deploy import BASE, CHANGED
from tests.test_golden import DESIGN_EXAMPLE, MANAGED_MONITOR

recorder = test_sequences.recorder  # the fixture recording what apply sends

DELETE = f"delete from {STATE_TABLE} where name = %s"
INSERT = f"insert into {STATE_TABLE} (name, kind, sql) values (%s, %s, %s)"


def statements_of(run: CommandRun) -> list[str]:
    assert all(not u.block for u in run.units), "RisingWave runs no transaction block"
    return [s for u in run.units for s in u.statements]


# ---------------------------------------------------------------- the modeled run


def test_a_changed_view_is_built_swapped_and_the_old_one_dropped():
    spec = parse_project(yaml.safe_load(DESIGN_EXAMPLE) | {"engine": "risingwave"})
    run = replace_run(spec, "risingwave", "card_activity")
    compiled = next(o.sql for o in compile_project(spec, "risingwave") if o.name == "card_activity")
    assert compiled.startswith("create materialized view card_activity as\n")
    new = "create materialized view card_activity__next as\n" + compiled.split("\n", 1)[1]
    texts = statements_of(run)
    assert texts[:len(STATE_DDL) + 1] == [*STATE_DDL, f"select name, kind, sql from {STATE_TABLE}"]
    assert texts[len(STATE_DDL) + 1:] == [
        "set background_ddl = false",  # foreground: CREATE returns once the view is backfilled
        "drop materialized view if exists card_activity__next",  # a leftover of an interrupted run
        new,
        DELETE,  # no wait: the build returned; the record goes, then comes back with the swap
        "alter materialized view card_activity swap with card_activity__next",
        DELETE, INSERT,
        "drop materialized view if exists card_activity__next",  # the old version, under the swapped name
        DELETE,  # the drop step's bookkeeping
    ]
    assert not any("cascade" in s or "mz_" in s or s.startswith("begin") for s in texts)
    assert lint([], "risingwave", [run]) == []


def test_views_reading_a_changed_view_are_rebuilt_on_the_new_one_and_swapped_in_creation_order():
    spec = parse_project(yaml.safe_load(MANAGED_MONITOR) | {"engine": "risingwave"})
    objects = compile_project(spec, "risingwave")
    order = ["fraud_model__scored", "fraud_model__metrics", "fraud_model__timeseries", "fraud_model__versions",
             "fraud_model__drift"]
    assert [o.name for o in swap.replaced_views(objects, {"fraud_model__scored"})] == order
    texts = statements_of(replace_run(spec, "risingwave", "fraud_model__scored"))
    creates = [s for s in texts if s.startswith("create materialized view ")]
    assert [s.split()[3] for s in creates] == [f"{n}__next" for n in order]
    for sql in creates:  # every new view reads new views only
        for name in order:
            assert not re.search(rf"(?<![\w.]){name}(?![\w])", sql), (sql[:60], name)
    assert "from fraud_model__metrics__next" in creates[3]
    swaps = [s for s in texts if " swap with " in s]
    assert swaps == [f"alter materialized view {n} swap with {n}__next" for n in order]
    drops = [f"drop materialized view if exists {n}__next" for n in reversed(order)]  # readers first
    assert texts[texts.index(swaps[-1]) + 3:] == [*drops, DELETE]
    assert texts[texts.index("set background_ddl = false") + 1:][:5] == drops  # leftovers, before any create
    assert texts.index(creates[-1]) < texts.index(swaps[0])
    assert lint_project(spec, "risingwave") == []


def test_a_view_read_by_others_but_not_rebuilt_has_its_leftover_dropped_last():
    spec = parse_project(yaml.safe_load(MANAGED_MONITOR) | {"engine": "risingwave"})
    objects = compile_project(spec, "risingwave")
    changed = swap.replaced_views(objects, {"fraud_model__versions"})
    assert [o.name for o in changed] == ["fraud_model__versions"]
    assert swap.upstream_views(objects, changed) == ["fraud_model__scored", "fraud_model__metrics"]
    steps = swap.swap_steps(changed, {}, get_engine("risingwave"),
                            upstream=swap.upstream_views(objects, changed))
    assert [s.verb for s in steps] == ["build", "swap", "drop"]
    assert steps[1].forgets == ("fraud_model__versions",) and steps[1].records == tuple(changed)
    assert steps[-1].statements == ["drop materialized view if exists fraud_model__versions__next",
                                    "drop materialized view if exists fraud_model__metrics__next",
                                    "drop materialized view if exists fraud_model__scored__next"]


@pytest.mark.parametrize("sql", [
    "alter materialized view card_activity swap with card_activity__next",
    "ALTER MATERIALIZED VIEW public.sales_summary\nSWAP WITH sales_archive;",
    'alter view "v 1" swap with v2',
    "alter table t1 swap with t2",
    "alter sink s swap with s2",
])
def test_the_documented_swap_form_passes(sql):
    assert parse(sql, "risingwave").errors == []


@pytest.mark.parametrize("sql", [
    "alter materialized view a swap with",
    "alter materialized view a swap with b, c",
    "alter index i swap with j",  # not among the documented object types
    "alter materialized view a swap with b cascade",
])
def test_anything_else_with_swap_with_is_an_error(sql):
    errors = parse(sql, "risingwave").errors
    assert len(errors) == 1 and "sql/commands/sql-alter-swap.mdx" in errors[0], errors


def test_a_swap_without_with_is_an_error_too():
    assert len(parse("alter materialized view a swap b", "risingwave").errors) == 1


# ---------------------------------------------------------------- the swap, run on PostgreSQL


class ExchangingPostgres(Postgres):
    """PostgreSQL replacing changed views as on RisingWave: DDL statement by statement, no wait, and a
    swap of two views' names. PostgreSQL has no SWAP: it is emulated with three renames in one
    transaction, which like RisingWave's swap exchange the names at once and leave each view read by
    what read it (a view reads another by its identity on both)."""

    transactional_ddl = False
    replaces_by_swap = True

    def swap_names(self, name: str, other: str) -> tuple[list[str], bool] | None:
        return [f"alter view {name} rename to {name}__swap", f"alter view {other} rename to {name}",
                f"alter view {name}__swap rename to {other}"], True


class FailingSecondSwap(ExchangingPostgres):
    """Stops apply at the swap of ``fraud_model__timeseries`` with a real database error."""

    def swap_names(self, name: str, other: str) -> tuple[list[str], bool] | None:
        if name == "fraud_model__timeseries":
            return [f"alter view {name}__absent rename to {name}__gone"], True
        return super().swap_names(name, other)


def test_a_changed_view_is_swapped_in_while_lookups_keep_answering(make_project, pg_conn, pg_dsn):
    from materializer.features.online import lookup_sql

    project = make_project(BASE)
    project.apply()
    pg_conn.execute("insert into tx values ('a', 5, now() - interval '1 minute'), ('a', 7, now())")
    pg_conn.execute("create table ddl_log (xid bigint, tag text, object text)")
    pg_conn.execute("create function log_ddl() returns event_trigger language plpgsql as $$ begin "
                    "insert into ddl_log select txid_current(), command_tag, object_identity "
                    "from pg_event_trigger_ddl_commands(); end $$")
    pg_conn.execute("create event trigger log_ddl on ddl_command_end execute function log_ddl()")
    served = lookup_sql(project.view("activity"), "postgres", None)
    seen: list[tuple] = []
    failures: list[str] = []
    stop = threading.Event()

    def lookups() -> None:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    rows = conn.execute(served, ["a"], prepare=True).fetchall()
                    if [r[-1] for r in rows] != [2]:
                        failures.append(f"{rows}")
                    cur = conn.execute("select * from activity where cc_num = %s::text", ["a"], prepare=False)
                    if len(cur.fetchall()) != 1:
                        failures.append("no row")
                    seen.append(tuple(d.name for d in cur.description))
                except psycopg.Error as exc:
                    failures.append(str(exc))

    reader = threading.Thread(target=lookups)
    reader.start()
    try:
        time.sleep(0.2)
        changed = make_project(CHANGED, name="changed.yml")
        changed.db.engine = ExchangingPostgres()
        plan = changed.plan()
        assert [(a.verb, a.name) for a in plan.actions] == [
            ("build", "activity"), ("swap", "activity"), ("drop", "activity__next")]
        assert "-- wait" not in plan.sql()
        changed.apply()
        time.sleep(0.2)
    finally:
        stop.set()
        reader.join()
    assert failures == []
    old = [n for n in seen if "amount_max_1d" not in n]
    new = [n for n in seen if "amount_max_1d" in n]
    assert old and new, "lookups ran before and after the swap"
    assert all("amount_max_1d" in n for n in seen[seen.index(new[0]):]), "once swapped, only the new view answers"
    assert pg_conn.execute("select n_1d, amount_max_1d from activity where cc_num = 'a'").fetchone() == (2, 7)
    assert pg_conn.execute("select relname from pg_class where relname like 'activity\\_\\_%'").fetchall() == []
    assert changed.plan().empty
    pg_conn.execute("drop event trigger log_ddl")
    log = pg_conn.execute("select xid, tag, object from ddl_log order by xid").fetchall()
    built = [x for x, tag, obj in log if tag == "CREATE VIEW" and obj == "public.activity__next"]
    renames = [x for x, tag, _ in log if tag == "ALTER VIEW"]
    assert len(built) == 1 and len(renames) == 3 and len(set(renames)) == 1 and renames[0] > built[0]


MONITOR = MANAGED_MONITOR.replace("    reference: {relation: training_scores, column: score}\n", "")
COSTLIER = MONITOR.replace("fp: 5", "fp: 6")


def _next_views(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "select relname from pg_class where relname like '%\\_\\_next' or relname like '%\\_\\_swap' order by 1")]


def test_a_run_stopped_between_two_swaps_is_finished_by_the_next_apply(make_project, pg_conn):
    make_project(MONITOR).apply()
    stopped = make_project(COSTLIER, name="costlier.yml")
    stopped.db.engine = FailingSecondSwap()
    assert [(a.verb, a.name) for a in stopped.plan().actions if a.verb == "swap"] == [
        ("swap", "fraud_model__metrics"), ("swap", "fraud_model__timeseries"), ("swap", "fraud_model__versions")]
    with pytest.raises(Exception, match="swap view fraud_model__timeseries"):
        stopped.apply()
    # the metrics view is the new one; the versions view still reads the old one, now named __next
    recorded = {r[0] for r in pg_conn.execute(f"select name from {STATE_TABLE}")}
    assert "fraud_model__metrics" in recorded
    assert not {"fraud_model__timeseries", "fraud_model__versions"} & recorded
    assert _next_views(pg_conn) == ["fraud_model__metrics__next", "fraud_model__timeseries__next",
                                    "fraud_model__versions__next"]
    reads = pg_conn.execute(
        "select distinct r.relname from pg_rewrite w join pg_depend d on d.objid = w.oid "
        "join pg_class r on r.oid = d.refobjid where w.ev_class = 'fraud_model__versions'::regclass "
        "and r.relname like 'fraud_model__metrics%'").fetchall()
    assert reads == [("fraud_model__metrics__next",)]

    resumed = make_project(COSTLIER, name="resumed.yml")
    resumed.db.engine = ExchangingPostgres()
    assert [(a.verb, a.name) for a in resumed.plan().actions] == [
        ("build", "fraud_model__timeseries"), ("build", "fraud_model__versions"),
        ("swap", "fraud_model__timeseries"), ("swap", "fraud_model__versions"),
        ("drop", "fraud_model__versions__next, fraud_model__timeseries__next")]
    resumed.apply()
    assert _next_views(pg_conn) == []  # the old metrics view too, which nothing reads any more
    # every view in the database is the project's (apply on PostgreSQL compares each view's definition)
    assert make_project(COSTLIER, name="check.yml").plan().empty
    assert make_project(COSTLIER, name="again.yml").plan().empty


def test_the_modeled_run_is_what_apply_sends(make_project, recorder):
    """From the first leftover drop on, apply with the swapping engine sends the modeled RisingWave run
    (the statements as the test engine spells them: ``view`` for ``materialized view``, the swap as the
    emulating block, no ``set background_ddl``; a created view compared by its first line)."""
    make_project(BASE).apply()
    changed = make_project(CHANGED, name="changed.yml")
    changed.db.engine = ExchangingPostgres()
    with recorder.recording() as rec:
        changed.apply()
    spec = parse_project(yaml.safe_load(CHANGED) | {"engine": "risingwave"})
    model = list(replace_run(spec, "risingwave", "activity").units)
    model = model[[u.statements for u in model].index(("set background_ddl = false",)) + 1:]
    expected = []
    for unit in model:
        (sql,) = unit.statements
        if " swap with " in sql:
            name, other = sql.split()[3], sql.split()[-1]
            expected.append(Unit(tuple(ExchangingPostgres().swap_names(name, other)[0]), True))
        else:
            expected.append(Unit((sql.replace("materialized view", "view").split("\n")[0],), False))
    sent = [Unit(tuple(s.split("\n")[0] for s in u.statements), u.block) for u in rec.units]
    first = sent.index(Unit(("drop view if exists activity__next",), False))
    assert sent[first:] == expected


class LostAfterFirstSwap(ExchangingPostgres):
    """The connection lost right after the swap of ``fraud_model__metrics``, before its record: the swap
    commits (statements alone), then a real error stops apply before the record is written."""

    def swap_names(self, name: str, other: str) -> tuple[list[str], bool] | None:
        statements, _ = super().swap_names(name, other)
        if name == "fraud_model__metrics":
            return [*statements, "select * from no_such_relation"], False
        return statements, True


def test_a_swap_left_unrecorded_stops_the_next_apply_until_swapped_back_by_hand(make_project, pg_conn):
    make_project(MONITOR).apply()
    lost = make_project(COSTLIER, name="lost.yml")
    lost.db.engine = LostAfterFirstSwap()
    with pytest.raises(Exception, match="swap view fraud_model__metrics"):
        lost.apply()
    again = make_project(COSTLIER, name="again.yml")
    again.db.engine = ExchangingPostgres()
    # PostgreSQL says "other objects depend on it"; RisingWave names them ("materialized view
    # public.fraud_model__versions depends on it": src/meta/src/controller/utils.rs,
    # check_object_refer_for_drop)
    with pytest.raises(Exception, match="drop view fraud_model__metrics__next because other objects depend on it"):
        again.apply()
    assert pg_conn.execute("select count(*) from pg_class where relname = 'fraud_model__versions'").fetchone() == (1,)
    # what the README says to do: swap the two versions back, then apply
    for sql in ExchangingPostgres().swap_names("fraud_model__metrics", "fraud_model__metrics__next")[0]:
        pg_conn.execute(sql)
    again.apply()
    assert _next_views(pg_conn) == []
    assert make_project(COSTLIER, name="check.yml").plan().empty


def test_an_engine_that_swaps_views_refuses_to_leave_their_indexes_behind():
    from materializer.errors import MaterializerError

    spec = parse_project(yaml.safe_load(DESIGN_EXAMPLE) | {"engine": "materialize"})
    objects = compile_project(spec, "materialize")
    changed = swap.replaced_views(objects, {"card_activity"})
    index = next(o for o in objects if o.name == "card_activity__lookup_idx")
    with pytest.raises(MaterializerError, match=r"swaps views, not the lookup indexes on them \(card_activity__lookup_idx\)"):
        swap.swap_steps(changed, {"card_activity": index}, get_engine("risingwave"))

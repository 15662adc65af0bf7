"""The Materialize deployment model: `deployment:` clusters, the views in the compute cluster and their
lookup indexes in the serving one, and changed views replaced without downtime (db/swap.py).

No Materialize runs here. What runs: the validation; the rendered statements, parsed with sqlfluff's
materialize dialect and checked by the lint rules; and the replacement itself (build under new names,
wait, rename in one transaction, drop) through ``apply`` on the real PostgreSQL, with an engine that is
PostgreSQL with Materialize's replacement switched on, while lookups run without pause.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
import yaml

from materializer.db import swap
from materializer.db.sequences import CommandRun, Unit, replace_run
from materializer.definitions.validate import parse_project
from materializer.engines import get_engine
from materializer.engines.postgres import Postgres
from materializer.errors import ProjectError
from materializer.sql.compile import compile_project, compile_sql
from materializer.sql.lint import lint, lint_project
from tests.test_golden import DESIGN_EXAMPLE, MANAGED_MONITOR

DEPLOYED = yaml.safe_load(DESIGN_EXAMPLE) | {
    "engine": "materialize",
    "deployment": {"compute_cluster": {"name": "compute", "size": "M.1-small"},
                   "serving_cluster": {"name": "serving", "size": "25cc"}},
}


def spec_of(raw: dict):
    return parse_project(raw)


# ---------------------------------------------------------------- validation


def errors(raw: dict) -> str:
    with pytest.raises(ProjectError) as info:
        parse_project(raw)
    return str(info.value)


def test_defaults_are_quickstart_without_size():
    spec = parse_project(yaml.safe_load(DESIGN_EXAMPLE))
    d = spec.deployment
    assert (d.compute.name, d.compute.size, d.serving.name, d.serving.size) == ("quickstart", None, "quickstart", None)
    assert spec.cluster == spec.serving_cluster == "quickstart"
    assert [o for o in compile_project(spec, "materialize") if o.kind == "cluster"] == []  # never created


def test_deployment_is_read_with_its_sizes():
    spec = spec_of(DEPLOYED)
    assert (spec.deployment.compute.name, spec.deployment.compute.size) == ("compute", "M.1-small")
    assert (spec.deployment.serving.name, spec.deployment.serving.size) == ("serving", "25cc")
    assert spec.cluster == "compute" and spec.serving_cluster == "serving"


def test_legacy_cluster_key_means_both_clusters():
    spec = parse_project(yaml.safe_load(DESIGN_EXAMPLE) | {"cluster": "prod"})
    assert spec.deployment.compute.name == spec.deployment.serving.name == "prod"
    assert spec.deployment.compute.size is None


@pytest.mark.parametrize("deployment, where, what", [
    ({"compute_cluster": {"name": "compute", "size": "26cc"}}, "deployment.compute_cluster.size",
     "'26cc' is not a Materialize cluster size (did you mean '25cc'?)"),
    ({"compute_cluster": {"name": "compute", "size": "medium"}}, "deployment.compute_cluster.size",
     "not a Materialize cluster size"),
    ({"serving_cluster": {"name": "Serving"}}, "deployment.serving_cluster.name", "not a valid cluster name"),
    ({"serving_cluster": {"name": "serving", "replicas": 2}}, "deployment.serving_cluster.replicas",
     "unknown key 'replicas'"),
    ({"servng_cluster": {"name": "serving"}}, "deployment.servng_cluster",
     "unknown key 'servng_cluster' (did you mean 'serving_cluster'?)"),
    ({"compute_cluster": {"size": "25cc"}}, "deployment.compute_cluster.size", "quickstart is the cluster"),
    ({"compute_cluster": {"name": "c", "size": "25cc"}, "serving_cluster": {"name": "c", "size": "50cc"}},
     "deployment.serving_cluster.size", "cluster c is given two sizes"),
    ("compute", "deployment", "expected a mapping"),
])
def test_bad_deployment_is_one_clear_error_per_problem(deployment, where, what):
    message = errors(yaml.safe_load(DESIGN_EXAMPLE) | {"deployment": deployment})
    line = next(line for line in message.splitlines() if f": {where}:" in line)
    assert what in line, line


def test_cluster_and_deployment_together_are_refused():
    message = errors(yaml.safe_load(DESIGN_EXAMPLE) | {"cluster": "x", "deployment": {}})
    assert "remove the top-level `cluster:`" in message


def test_every_documented_size_is_accepted():
    from materializer.definitions.deployment import SIZES

    assert "25cc" in SIZES and "M.1-large" in SIZES and "128C" in SIZES
    for size in SIZES:
        raw = yaml.safe_load(DESIGN_EXAMPLE) | {"deployment": {"serving_cluster": {"name": "s", "size": size}}}
        assert parse_project(raw).deployment.serving.size == size


# ---------------------------------------------------------------- rendering


def test_views_run_in_the_compute_cluster_and_indexes_live_in_the_serving_one():
    spec = spec_of(DEPLOYED)
    objects = compile_project(spec, "materialize")
    clusters = [o.sql for o in objects if o.kind == "cluster"]
    assert clusters == ["create cluster compute (size = 'M.1-small')", "create cluster serving (size = '25cc')"]
    views = [o for o in objects if o.kind == "view"]
    assert views and all(re.match(rf"create materialized view {o.name} in cluster compute as\n", o.sql) for o in views)
    indexes = [o for o in objects if o.kind == "view_index"]
    assert [o.name for o in indexes] == [f"{v}__lookup_idx" for v in spec.feature_views]
    for o, (name, view) in zip(indexes, spec.feature_views.items()):
        assert o.sql == (f"create index if not exists {name}__lookup_idx in cluster serving on {name} "
                         f"({', '.join(view.entity)})")
    assert lint_project(spec, "materialize") == []


@pytest.mark.parametrize("engine", ["postgres", "risingwave"])
def test_deployment_is_ignored_elsewhere_and_compile_says_so(engine):
    spec = spec_of(DEPLOYED | {"engine": engine})
    assert [o for o in compile_project(spec, engine) if o.kind == "cluster"] == []
    text = compile_sql(spec, engine)
    assert text.splitlines()[1] == f"-- deployment: ignored on {engine}, which has no clusters (Materialize only)"
    assert "cluster" not in text.split("\n", 2)[2]
    assert "deployment:" not in compile_sql(parse_project(yaml.safe_load(DESIGN_EXAMPLE)), engine)


def test_sessions_reading_features_use_the_serving_cluster():
    assert get_engine("materialize").session_setup("serving") == ["set timezone to 'UTC'", "set cluster = serving"]


# ---------------------------------------------------------------- the swap, as statements


def test_a_changed_feature_view_is_built_awaited_swapped_then_dropped_in_that_order():
    spec = spec_of(DEPLOYED)
    run = replace_run(spec, "materialize", "card_activity")
    statements = [(u.block, s) for u in run.units for s in u.statements]
    texts = [s for _, s in statements]
    build = texts.index("drop materialized view if exists card_activity__next cascade")
    create = next(i for i, s in enumerate(texts) if s.startswith("create materialized view card_activity__next"))
    index = texts.index("create index if not exists card_activity__lookup_idx__next in cluster serving on "
                        "card_activity__next (cc_num)")
    wait = next(i for i, s in enumerate(texts) if "mz_internal.mz_hydration_statuses" in s)
    renames = [(b, s) for b, s in statements if s.startswith("alter ")]
    old = "drop materialized view if exists card_activity__old"
    assert texts.count(old) == 2  # a leftover of an interrupted run before the build; the replaced view last
    drop = len(texts) - 1 - texts[::-1].index(old)
    assert texts[-1] == "delete from materializer.applied where name = %s"  # apply's bookkeeping of the drop
    assert build < texts.index(old) < create < index < wait < texts.index(renames[0][1]) < drop
    assert "in cluster compute as\n" in texts[create]
    assert [s for _, s in renames] == [
        "alter materialized view card_activity rename to card_activity__old",
        "alter materialized view card_activity__next rename to card_activity",
        "alter index card_activity__lookup_idx rename to card_activity__lookup_idx__old",
        "alter index card_activity__lookup_idx__next rename to card_activity__lookup_idx",
    ]
    assert texts[-3:-1] == ["drop index if exists card_activity__lookup_idx__old",
                            "drop materialized view if exists card_activity__old"]
    assert all(block for block, _ in renames)  # one transaction block
    assert len({u for u in run.units if u.block}) == 1
    # the new view's query is the project's, only its name differs
    compiled = next(o.sql for o in compile_project(spec, "materialize") if o.name == "card_activity")
    assert texts[create] == compiled.replace("card_activity in cluster", "card_activity__next in cluster", 1)
    assert lint([], "materialize", [run]) == []


def test_views_reading_a_changed_view_are_rebuilt_on_the_new_one():
    spec = parse_project(yaml.safe_load(MANAGED_MONITOR) | {"engine": "materialize"})
    objects = compile_project(spec, "materialize")
    changed = swap.replaced_views(objects, {"fraud_model__scored"})
    assert [o.name for o in changed] == ["fraud_model__scored", "fraud_model__metrics", "fraud_model__timeseries",
                                         "fraud_model__versions", "fraud_model__drift"]
    steps = swap.swap_steps(changed, {}, get_engine("materialize"))
    assert [s.verb for s in steps] == ["build"] * 5 + ["await", "swap", "drop"]
    created = {s.name: s.statements[-1] for s in steps if s.verb == "build"}
    # each reader is built on the new views: no new view reads an old one
    for name, sql in created.items():
        for other in created:
            assert not re.search(rf"(?<![\w.]){other}(?![\w])", sql), (name, other)
    assert "from fraud_model__scored__next" in created["fraud_model__metrics"]
    assert "from fraud_model__metrics__next" in created["fraud_model__versions"]
    assert "fraud_model__reference" in created["fraud_model__drift"]  # the table is not rebuilt
    assert steps[5].hydrate == tuple(f"{n}__next" for n in created)
    # the old ones are dropped readers first
    assert steps[-1].statements == [f"drop materialized view if exists {n}__old" for n in reversed(created)]
    assert [o.name for o in steps[6].records] == list(created)
    assert lint_project(spec, "materialize") == []


def test_the_wait_query_parses_as_materialize_sql():
    sql = swap.hydration_query(2).replace("%s", "'x'")
    from materializer.sql.lint import Statement

    assert lint([Statement("await", sql)], "materialize") == []


def test_ddl_statements_other_than_renames_are_refused_in_a_materialize_block():
    run = CommandRun("apply", (Unit(("alter materialized view v rename to v__old",
                                     "create materialized view v in cluster c as\nselect 1"), True),))
    assert [f.rule for f in lint([], "materialize", [run])] == ["ddl-transaction"]


# ---------------------------------------------------------------- the swap, run on PostgreSQL

BASE = """
name: swap_test
sources:
  tx:
    columns: {cc_num: text, amount: numeric, ts: timestamptz}
    timestamp: ts
feature_views:
  activity:
    source: tx
    entity: [cc_num]
    windows: [1d]
    features:
      n: {agg: count}
"""
CHANGED = BASE + "      amount_max: {agg: max, column: amount}\n"


class SwappingPostgres(Postgres):
    """PostgreSQL, with DDL statement by statement and changed views replaced by a swap, as on
    Materialize; the wait reads pg_class (a view on PostgreSQL is ready once it exists) and sleeps, to
    leave lookups time to run while the new view is built and not yet swapped in."""

    transactional_ddl = False
    replaces_by_swap = True

    def hydration_query(self, count: int) -> str | None:
        return ("select c.relname, true from pg_class as c cross join pg_sleep(0.3) "
                f"where c.relname in ({', '.join(['%s'] * count)})")


def test_a_changed_view_is_swapped_in_while_lookups_keep_answering(make_project, pg_conn, pg_dsn):
    import psycopg

    project = make_project(BASE)
    project.apply()
    pg_conn.execute("insert into tx values ('a', 5, now() - interval '1 minute'), ('a', 7, now())")
    # every DDL statement from here on, with the transaction it ran in
    pg_conn.execute("create table ddl_log (xid bigint, tag text, object text)")
    pg_conn.execute("create function log_ddl() returns event_trigger language plpgsql as $$ begin "
                    "insert into ddl_log select txid_current(), command_tag, object_identity "
                    "from pg_event_trigger_ddl_commands(); end $$")
    pg_conn.execute("create event trigger log_ddl on ddl_command_end execute function log_ddl()")
    seen: list[tuple] = []
    failures: list[str] = []
    stop = threading.Event()

    from materializer.features.online import lookup_sql

    served = lookup_sql(project.view("activity"), "postgres", None)  # the lookup of a running server

    def lookups() -> None:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    # prepared, as the server's: the lookup names its columns, so it outlives new features
                    rows = conn.execute(served, ["a"], prepare=True).fetchall()
                    if [r[-1] for r in rows] != [2]:
                        failures.append(f"{rows}")
                    # which view answers: the old one, or the new one with its new feature
                    cur = conn.execute("select * from activity where cc_num = %s::text", ["a"], prepare=False)
                    names = tuple(d.name for d in cur.description)
                    if len(cur.fetchall()) != 1:
                        failures.append("no row")
                    seen.append(names)
                except psycopg.Error as exc:
                    failures.append(str(exc))

    reader = threading.Thread(target=lookups)
    reader.start()
    try:
        time.sleep(0.1)
        changed = make_project(CHANGED, name="changed.yml")
        changed.db.engine = SwappingPostgres()
        plan = changed.plan()
        assert [(a.verb, a.name) for a in plan.actions] == [
            ("build", "activity"), ("await", "activity__next"), ("swap", "activity"), ("drop", "activity__old")]
        assert "built as activity__next" in plan.summary()
        sql = plan.sql()
        assert "-- wait until hydrated, polling: activity__next\nselect o.name" in sql
        assert ("begin;\n\nalter view activity rename to activity__old;\n\n"
                "alter view activity__next rename to activity;\n\ncommit;") in sql
        done = changed.apply()
        assert [a.verb for a in done.actions] == ["build", "await", "swap", "drop"]
        time.sleep(0.1)
    finally:
        stop.set()
        reader.join()
    assert failures == []
    before = [n for n in seen if "amount_max_1d" not in n]
    after = [n for n in seen if "amount_max_1d" in n]
    assert before and after, "lookups ran before and after the swap"
    assert all("amount_max_1d" in n for n in seen[seen.index(after[0]):]), "once swapped, only the new view answers"
    row = pg_conn.execute("select n_1d, amount_max_1d from activity where cc_num = 'a'").fetchone()
    assert row == (2, 7)
    left = pg_conn.execute("select relname from pg_class where relname like 'activity\\_\\_%'").fetchall()
    assert left == []  # no __next, no __old
    assert changed.plan().empty  # recorded: a second apply has nothing to do
    pg_conn.execute("drop event trigger log_ddl")
    log = pg_conn.execute("select xid, tag, object from ddl_log order by xid").fetchall()
    built = [x for x, tag, obj in log if tag == "CREATE VIEW" and obj == "public.activity__next"]
    renames = [(x, obj) for x, tag, obj in log if tag == "ALTER VIEW"]
    assert len(built) == 1 and len(renames) == 2
    assert renames[0][0] == renames[1][0] > built[0], "both renames in one transaction, after the build"


# ---------------------------------------------------------------- lookups: one cast per key column

KEY_TYPES = {"k_text": "text", "k_int": "integer", "k_big": "bigint", "k_uuid": "uuid", "k_date": "date",
             "k_num": "numeric(12,2)", "k_ts": "timestamptz"}
KEYED = {
    "name": "keyed",
    "engine": "materialize",
    "sources": {"events": {"columns": {**KEY_TYPES, "ts": "timestamptz"}, "timestamp": "ts"}},
    "feature_views": {
        **{f"by_{k.removeprefix('k_')}": {"source": "events", "entity": [k], "windows": ["1d"],
                                          "features": {"n": {"agg": "count"}}} for k in KEY_TYPES},
        "by_pair": {"source": "events", "entity": ["k_text", "k_big"], "windows": ["1d"],
                    "features": {"n": {"agg": "count"}}},
    },
}


def casts(sql: str) -> dict[str, str]:
    """{key column: the type its parameter is cast to} of a lookup's text."""
    return dict(re.findall(r"v\.(\w+) = %s::(double precision|[a-z]+(?:\(\d+,\d+\))?)", sql))


@pytest.mark.parametrize("engine", ["materialize", "risingwave", "postgres"])
def test_every_key_parameter_is_cast_to_the_declared_type(engine):
    """Materialize answers from the index only when every key column is constrained by a literal of its
    own type (the fast path, doc/user/content/transform-data/optimization.md): each placeholder is cast
    to the column's type as the engine stores it (RisingWave: varchar for text and uuid)."""
    from materializer.features.online import batch_lookup_sql, lookup_sql

    spec = parse_project(KEYED | {"engine": engine})
    e = get_engine(engine)
    for view in spec.feature_views.values():
        expected = {k: e.ddl_type(KEY_TYPES[k]) for k in view.entity}
        sql = lookup_sql(view, engine, None)
        assert casts(sql) == expected, sql
        assert sql.count("%s") == len(view.entity)
        if engine != "postgres":
            batch = batch_lookup_sql(view, engine, None, 3)
            assert batch.count("%s") == 3 * len(view.entity)
            for k, t in expected.items():
                assert re.search(rf"v\.{k} in \((%s::{re.escape(t)}, ){{2}}%s::{re.escape(t)}\)", batch), batch
    if engine == "materialize":
        assert casts(lookup_sql(spec.feature_views["by_num"], engine, None)) == {"k_num": "numeric(12,2)"}
        assert casts(lookup_sql(spec.feature_views["by_uuid"], engine, None)) == {"k_uuid": "uuid"}


def test_materialize_lookup_text_finds_the_same_rows_on_postgresql_for_every_key_type(make_project, pg_conn):
    """The Materialize lookup (``select v.* from <view> as v where v.<key> = %s::<type>``), run on the
    PostgreSQL views of the same project, finds each key's row, and none for an absent key."""
    import uuid
    from datetime import date, datetime, timedelta, timezone
    from decimal import Decimal

    from materializer.features.online import check_entity, key_param, lookup_sql

    project = make_project(yaml.safe_dump(KEYED | {"engine": "postgres"}))
    project.apply()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    u1, u2 = uuid.UUID(int=1), uuid.UUID(int=2)
    first = ("a", 1, 2**40, u1, date(2026, 1, 1), Decimal("1.50"), now - timedelta(hours=2))
    second = ("b", 2, 2**41, u2, date(2026, 1, 2), Decimal("2.25"), now - timedelta(hours=3))
    rows = [first, first, second]
    for r in rows:
        pg_conn.execute(f"insert into events ({', '.join(KEY_TYPES)}, ts) values "
                        f"({', '.join(['%s'] * (len(KEY_TYPES) + 1))})", [*r, now - timedelta(minutes=1)])
    absent = ("zz", 9, 9, uuid.UUID(int=9), date(2000, 1, 1), Decimal("9.99"), now - timedelta(days=9))
    for i, column in enumerate(KEY_TYPES):
        view = project.spec.feature_views[f"by_{column.removeprefix('k_')}"]
        sql = lookup_sql(view, "materialize", None)
        for values, expected in ((first, 2), (second, 1), (absent, None)):
            # the key as a client gives it: text from a command line, parsed against the declared type
            given = values[i].isoformat() if hasattr(values[i], "isoformat") else str(values[i])
            keys = check_entity(view, {column: given})
            found = pg_conn.execute(sql, [key_param(v) for v in keys.values()]).fetchall()
            assert [r[view_columns(pg_conn, view.name).index("n_1d")] for r in found] == (
                [expected] if expected else []), (column, given, sql)
    pair = project.spec.feature_views["by_pair"]
    found = pg_conn.execute(lookup_sql(pair, "materialize", None), ["a", str(2**40)]).fetchall()
    assert len(found) == 1


def view_columns(conn, view: str) -> list[str]:
    cur = conn.execute(f"select * from {view} limit 0")
    return [d.name for d in cur.description]


# ---------------------------------------------------------------- RisingWave: the entity is the primary key


@pytest.mark.parametrize("text", [DESIGN_EXAMPLE, MANAGED_MONITOR, yaml.safe_dump(KEYED)])
def test_risingwave_feature_views_group_last_by_their_entity(text):
    """RisingWave makes the group keys of a materialized view's last aggregation its primary key (planner
    tests agg.yaml: `select v1, ... group by v1` is `StreamMaterialize { ..., pk_columns: [v1] }`): every
    feature view's last GROUP BY is its entity, and what follows it only projects, so the lookup
    `where <entity> = %s::<type>` is a point get on the primary key."""
    from sqlglot import exp, parse_one

    spec = parse_project(yaml.safe_load(text) | {"engine": "risingwave"})
    views = {o.name: o.sql for o in compile_project(spec, "risingwave") if o.kind == "view"}
    for name, view in spec.feature_views.items():
        body = views[name].split(" as\n", 1)[1]
        tree = parse_one(body, read="risingwave")
        ctes = {c.alias: c.this for c in tree.find_all(exp.CTE)}
        grouped = [alias for alias, select in ctes.items() if select.args.get("group")]
        last = grouped[-1]
        keys = [g.name for g in ctes[last].args["group"].expressions]
        assert keys == list(view.entity), (name, last, keys)
        after = list(ctes)[list(ctes).index(last) + 1:]
        for alias in after:  # plain projections of the grouped rows
            select = ctes[alias]
            assert not select.args.get("joins") and not select.args.get("group") and not select.args.get("where"), alias


# ---------------------------------------------------------------- clusters apply creates


def test_missing_clusters_with_a_size_are_created_and_without_one_refused(pg_conn):
    """``missing_clusters`` reads ``mz_catalog.mz_clusters``; here a table of that name on PostgreSQL
    holds the rows Materialize's catalog would (the emulator starts with quickstart)."""
    from materializer.db.clusters import missing_clusters
    from materializer.errors import MaterializerError

    pg_conn.execute("create schema mz_catalog")
    pg_conn.execute("create table mz_catalog.mz_clusters (name text)")
    pg_conn.execute("insert into mz_catalog.mz_clusters values ('quickstart'), ('mz_system')")
    assert missing_clusters(pg_conn, parse_project(yaml.safe_load(DESIGN_EXAMPLE)), "here") == []
    spec = spec_of(DEPLOYED)
    assert [(c.name, c.create_sql()) for c in missing_clusters(pg_conn, spec, "here")] == [
        ("compute", "create cluster compute (size = 'M.1-small')"), ("serving", "create cluster serving (size = '25cc')")]
    pg_conn.execute("insert into mz_catalog.mz_clusters values ('serving')")
    assert [c.name for c in missing_clusters(pg_conn, spec, "here")] == ["compute"]
    unsized = spec_of(DEPLOYED | {"deployment": {"serving_cluster": {"name": "fast"}}})
    with pytest.raises(MaterializerError) as info:
        missing_clusters(pg_conn, unsized, "localhost:6875/materialize")
    assert str(info.value) == (
        "deployment.serving_cluster: cluster fast does not exist on localhost:6875/materialize; give it a size "
        "(deployment.serving_cluster.size, for example 25cc; M.1 sizes on Materialize Cloud only) for apply to "
        "create it, or create it "
        "with CREATE CLUSTER")


def test_a_lookup_index_moved_to_another_serving_cluster_is_built_before_the_old_one_goes():
    from materializer.sql.lint import Statement

    before = spec_of(DEPLOYED)
    after = spec_of(DEPLOYED | {"deployment": {"compute_cluster": {"name": "compute"},
                                               "serving_cluster": {"name": "serving2", "size": "50cc"}}})
    old = next(o for o in compile_project(before, "materialize") if o.name == "card_activity__lookup_idx")
    new = next(o for o in compile_project(after, "materialize") if o.name == "card_activity__lookup_idx")
    assert "in cluster serving on" in old.sql and "in cluster serving2 on" in new.sql
    steps = swap.index_move_steps(new, get_engine("materialize"))
    assert [(s.verb, s.statements) for s in steps] == [
        ("build", ["drop index if exists card_activity__lookup_idx__next",
                   ("create index if not exists card_activity__lookup_idx__next in cluster serving2 on "
                    "card_activity (cc_num)")]),
        ("await", []),
        ("swap", ["drop index if exists card_activity__lookup_idx",
                  "alter index card_activity__lookup_idx__next rename to card_activity__lookup_idx"]),
    ]
    assert steps[1].hydrate == ("card_activity__lookup_idx__next",) and steps[2].records == (new,)
    statements = [Statement(s.name, sql) for s in steps for sql in s.statements]
    run = CommandRun("apply", tuple(Unit((sql,), False) for s in steps for sql in s.statements))
    assert lint(statements, "materialize", [run]) == []


def test_a_project_object_named_like_a_swap_step_is_refused_before_anything_runs():
    from materializer.errors import MaterializerError

    spec = spec_of(DEPLOYED)
    objects = compile_project(spec, "materialize")
    changed = swap.replaced_views(objects, {"card_activity"})
    with pytest.raises(MaterializerError) as info:
        swap.swap_steps(changed, {}, get_engine("materialize"), taken={"card_activity__next"})
    assert str(info.value) == (
        "card_activity__next is the name apply gives a version of card_activity while it replaces it on "
        "Materialize, and the project already has an object of that name; rename it")


def test_a_prepared_lookup_outlives_new_features_on_postgresql(make_project, pg_conn):
    """apply on PostgreSQL replaces the view in place (`create or replace view`, new columns at the end);
    a lookup prepared before it, as a running server's are, still answers afterwards."""
    from materializer.features.online import lookup_sql

    project = make_project(BASE)
    project.apply()
    pg_conn.execute("insert into tx values ('a', 5, now() - interval '1 minute'), ('a', 7, now())")
    import psycopg

    served = lookup_sql(project.view("activity"), "postgres", None)
    star = served.replace("select v.cc_num, v._event_ts, v.n_1d from", "select v.* from")  # the former form
    assert star != served
    for sql in (served, star):
        assert pg_conn.execute(sql, ["a"], prepare=True).fetchall()[0][2] == 2
    assert len(pg_conn.execute("select 1 from pg_prepared_statements").fetchall()) == 2  # both prepared
    make_project(CHANGED, name="changed.yml").apply()
    assert pg_conn.execute(served, ["a"], prepare=True).fetchall()[0][-1] == 2
    with pytest.raises(psycopg.errors.FeatureNotSupported, match="cached plan must not change result type"):
        pg_conn.execute(star, ["a"], prepare=True)


# ---------------------------------------------------------------- review fixes (REVIEW.md)


def test_the_documented_deployment_examples_use_sizes_the_pinned_emulator_accepts():
    """The emulator's entrypoint allows exactly these sizes (misc/images/materialized/entrypoint.sh,
    ``allowed_cluster_replica_sizes``); an M.1 size fails there with "unknown cluster replica size", so
    an example a reader copies must not use one."""
    from pathlib import Path

    from materializer.definitions import deployment

    emulator = ["25cc", "50cc", "100cc", "200cc", "300cc", "400cc", "600cc", "800cc", "1200cc", "1600cc", "3200cc"]
    assert list(deployment.EMULATOR_SIZES) == emulator
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    examples = [deployment.__doc__] + re.findall(r"```yaml\n(.*?)```", readme, flags=re.DOTALL)
    sizes = [size for text in examples if "deployment:" in text
             for size in re.findall(r"\bsize: \"?([\w.-]+)\"?[,}]", text)]
    assert sizes and all(size in emulator for size in sizes), sizes


def test_the_wait_reads_the_new_views_of_this_database_only(pg_conn):
    """The hydration query on tables shaped as Materialize's catalog: another database with the same
    schema name holds a hydrated ``v__next``; this database's ``v__next`` is not hydrated yet."""
    for statement in [
        "create schema mz_catalog", "create schema mz_internal",
        "create table mz_catalog.mz_databases (id text, name text)",
        "create table mz_catalog.mz_schemas (id text, database_id text, name text)",
        "create table mz_catalog.mz_objects (id text, schema_id text, name text)",
        "create table mz_internal.mz_hydration_statuses (object_id text, replica_id text, hydrated boolean)",
        "insert into mz_catalog.mz_databases values ('u1', current_database()), ('u2', 'other')",
        "insert into mz_catalog.mz_schemas values ('s1', 'u1', current_schema()), ('s2', 'u2', current_schema())",
        "insert into mz_catalog.mz_objects values ('o1', 's1', 'v__next'), ('o2', 's2', 'v__next'), "
        "('o3', 's1', 'w__next')",
        "insert into mz_internal.mz_hydration_statuses values ('o1', 'r1', false), ('o2', 'r1', true), "
        "('o3', 'r1', false), ('o3', 'r2', true)",
    ]:
        pg_conn.execute(statement)
    rows = dict(pg_conn.execute(swap.hydration_query(2), ["v__next", "w__next"]).fetchall())
    assert rows == {"v__next": False, "w__next": True}
    from materializer.errors import DatabaseError

    with pytest.raises(DatabaseError, match=r"^v__next did not hydrate"):
        swap.await_hydrated(pg_conn, ("v__next", "w__next"), timeout=0, interval=0)


@pytest.mark.parametrize("aborts, succeeds", [(1, True), (4, False)])
def test_a_swap_aborted_by_concurrent_ddl_is_tried_again(make_project, pg_conn, monkeypatch, aborts, succeeds):
    """The block of renames aborted by another session's DDL (SQLSTATE 40001) changed nothing and is
    run again, at most four times in all; here PostgreSQL raises the serialization failure itself, from an
    event trigger on the first renames."""
    from materializer.db import apply as apply_module
    from materializer.errors import MaterializerError

    monkeypatch.setattr(apply_module, "BLOCK_BACKOFF", 0.01)
    project = make_project(BASE)
    project.apply()
    pg_conn.execute("create table aborts (left_ int)")
    pg_conn.execute("insert into aborts values (%s)", [aborts])
    # nextval is not rolled back with the aborted block, so each try counts
    pg_conn.execute("create sequence tries")
    pg_conn.execute("create function abort_rename() returns event_trigger language plpgsql as $$ begin "
                    "if nextval('tries') <= (select left_ from aborts) then "
                    "raise exception 'could not serialize access' using errcode = '40001'; end if; end $$")
    pg_conn.execute("create event trigger abort_rename on ddl_command_end when tag in ('ALTER VIEW') "
                    "execute function abort_rename()")
    changed = make_project(CHANGED, name="changed.yml")
    changed.db.engine = SwappingPostgres()
    try:
        if succeeds:
            done = changed.apply()
            assert [a.verb for a in done.actions] == ["build", "await", "swap", "drop"]
            assert pg_conn.execute("select last_value from tries").fetchone()[0] == aborts + 2  # two renames
            assert [d.name for d in pg_conn.execute("select * from activity limit 0").description][-1] == \
                "amount_max_1d"
        else:
            with pytest.raises(MaterializerError, match="could not serialize access"):
                changed.apply()
            assert pg_conn.execute("select last_value from tries").fetchone()[0] == 4  # four tries, no more
            # nothing served changed: the old view still answers, without the new feature
            assert "amount_max_1d" not in [d.name for d in pg_conn.execute("select * from activity limit 0").description]
    finally:
        pg_conn.execute("drop event trigger abort_rename")

"""Streaming-engine correctness (issue 11): what Materialize and RisingWave refuse or keep forever, each
finding reproduced against the old form and shown gone from the new one, and the engine text executed.

- Shapes, by code on the rendered SQL (tests/stream_shapes.py): no join without an equality condition
  and no temporal predicate in a SELECT of two relations (RisingWave), writes each engine takes; and,
  by `materializer lint`'s unbounded-state rule, a lower bound on the clock wherever a growing relation
  is read (bounded state). The old forms are kept in tests/regressions/issue11/ (the golden files
  before the fix) and must fail them.
- Retention: the Materialize and RisingWave views run on PostgreSQL through the test shim
  (tests/engine_shim.py) give exactly the independent reference (tests/monitor_reference.py) applied
  to the rows their retention keeps, and differ from the PostgreSQL views exactly where README's
  "The engines" says they do.
- Reference versions: `materializer reference` appends a version in one INSERT (traced on the wire),
  the views and the maintained drift cells read the newest, and a table made before versions keeps
  its rows through apply, read as version 1.
- Mutants: flipping `>=` to `>` (or `<=` to `<`) in any variant of temporal_filter, clock_between or
  clock_until makes the values of the views rendered with it differ from the reference.

What cannot run on PostgreSQL, even through the shim: Materialize's indexes on materialized views
(PostgreSQL indexes tables only; no effect on results) and the engines' own planning (whether a
view is accepted at all), which the shape rules stand in for, from the engines' planner tests.
"""

from __future__ import annotations

import math
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import pq

from materializer.definitions.validate import parse_project
from materializer.errors import MaterializerError, ProjectError
from materializer.sql import render
from materializer.sql.compile import compile_project
from materializer.sql.lint import Statement, lint
from tests import monitor_reference as ref
from tests import reference
from tests.engine_shim import create_engine_objects
from tests.stream_shapes import joins_without_equality, temporal_predicates_over_joins, write_problems
from tests.test_golden import DESIGN_EXAMPLE, MANAGED_MONITOR

OLD = Path(__file__).parent / "regressions" / "issue11"
UTC = timezone.utc
US = timedelta(microseconds=1)
DIALECT = {"materialize": "postgres", "risingwave": "risingwave"}
CLOCK = {"materialize": "mz_now", "risingwave": "now"}


def _old(name: str) -> str:
    return (OLD / name).read_text(encoding="utf-8")


def _unbounded(sql: str, engine: str, growing=("predictions", "chargebacks", "transactions",
                                                 "fraud_model__scored")) -> list[str]:
    """What `materializer lint`'s unbounded-state rule finds in a view's query: each read of a growing
    relation without a lower bound on the clock."""
    return [f.message for f in lint([Statement("v", sql, maintained=True)], engine, check_syntax=False, growing=growing)
            if f.rule == "unbounded-state"]


def _views(text: str, engine: str) -> dict[str, str]:
    spec = parse_project(yaml.safe_load(text))
    return {o.name: o.sql.split(" as\n", 1)[1] for o in compile_project(spec, engine) if o.kind == "view"}


# ------------------------------------------------------------------ shapes: the findings, old and new


def test_the_old_metrics_view_is_a_nested_loop_join_with_a_temporal_predicate_over_two_relations() -> None:
    """RisingWave refused every monitor's `__metrics` (and `__versions`, which reads it): `scored cross
    join spans` is a nested-loop join, and `scored.predicted_at + spans.opens <= now()` a temporal
    predicate over two join inputs."""
    old = _old("metrics.risingwave.sql")
    assert joins_without_equality(old, "risingwave") == ["a join without an equality condition (a nested-loop "
                                                         "join): CROSS JOIN spans"]
    problems = temporal_predicates_over_joins(old, "risingwave", "now")
    assert len(problems) == 2 and all("reading 2 relations (scored, spans)" in p for p in problems)


def test_the_old_drift_view_is_a_nested_loop_join() -> None:
    old = _old("drift.risingwave.sql")
    assert joins_without_equality(old, "risingwave") == [
        "a join without an equality condition (a nested-loop join): CROSS JOIN (VALUES ('1h'), ('1d')) AS "
        "windows(window_name)"]


def test_the_old_views_keep_every_row_they_ever_saw() -> None:
    """`__scored` (the dedup, the label join and a min() over every prediction), latest values and the
    time series had only an upper bound on the clock: every row stayed in the engines' state
    (`materializer lint`'s unbounded-state rule; its own cases are in tests/test_lint.py)."""
    for name, engine in [("scored.materialize.sql", "materialize"), ("scored.risingwave.sql", "risingwave")]:
        problems = _unbounded(_old(name), engine)
        assert [p.split(", a growing")[0] for p in problems] == [
            "a SELECT reading predictions as p", "a SELECT reading chargebacks as o",
            "a SELECT reading predictions"], problems
    assert len(_unbounded(_old("latest.risingwave.sql"), "risingwave")) == 1
    assert len(_unbounded(_old("timeseries.materialize.sql"), "materialize")) == 1


@pytest.mark.parametrize("engine", ["materialize", "risingwave"])
@pytest.mark.parametrize("project", ["design_example", "managed_monitor"])
def test_every_streaming_view_passes_the_shape_rules(engine: str, project: str) -> None:
    text = {"design_example": DESIGN_EXAMPLE, "managed_monitor": MANAGED_MONITOR}[project]
    views = _views(text, engine)
    assert {"fraud_model__metrics", "fraud_model__drift", "fraud_model__versions"} <= set(views)
    growing = ["transactions", "predictions", "chargebacks", "fraud_model__scored"]
    for name, body in views.items():
        assert joins_without_equality(body, DIALECT[engine]) == [], name
        assert temporal_predicates_over_joins(body, DIALECT[engine], CLOCK[engine]) == [], name
        # __versions reads only the metrics view (bounded by the windows): no growing relation to bound
        assert _unbounded(body, engine, growing) == [], name


def test_the_rules_catch_what_they_name() -> None:
    assert joins_without_equality("select * from a join b on a.k = b.k and a.t < b.t", "risingwave") == []
    assert joins_without_equality("select * from a left join b using (k)", "risingwave") == []
    assert joins_without_equality("select * from a, b", "risingwave") != []
    assert joins_without_equality("select * from a join b on a.t < b.t", "risingwave") != []
    assert joins_without_equality("select * from a left join lateral (select 1) as x on true", "risingwave") != []
    assert temporal_predicates_over_joins("select * from a where a.t + interval '1 hour' >= now()",
                                          "risingwave", "now") == []
    assert temporal_predicates_over_joins("select * from a join b on a.k = b.k where a.t >= now()",
                                          "risingwave", "now") != []
    assert _unbounded("select * from a where a.t <= now() and a.t + interval '1 hour' >= now()",
                      "risingwave", ["a"]) == []
    assert _unbounded("select * from a where now() <= a.t + interval '1 hour'", "risingwave", ["a"]) == []
    assert _unbounded("with e as (select x, t from a) select * from e where e.t <= now()", "risingwave", ["a"]) != []


# ------------------------------------------------------------------ reference writes, traced on the wire


# What `materializer reference` sent before (monitoring/metrics.py): one transaction that read the
# reference relation, emptied the bins and copied the new ones in.
OLD_REFERENCE_WRITE = [["select score from training_scores where score is not null",
                        "delete from fraud__reference",
                        "copy fraud__reference (column_name, bin, lower_bound, upper_bound, share) from stdin"]]


def test_the_old_reference_write_fails_on_both_engines() -> None:
    assert write_problems("materialize", OLD_REFERENCE_WRITE) == [
        "a transaction that reads and writes (Materialize: read-only or insert-only)",
        "UPDATE or DELETE inside a transaction block (Materialize: insert-only)"]
    assert write_problems("risingwave", OLD_REFERENCE_WRITE) == [
        "a write inside a transaction block (RisingWave: no read-write transactions)",
        "COPY ... FROM STDIN (RisingWave: only COPY (query) TO STDOUT)",
        "UPDATE or DELETE on an APPEND ONLY table (RisingWave rejects it)"]


def _traced(conn: psycopg.Connection, path: Path, run) -> list[list[str]]:
    """The statements ``run()`` sends on ``conn``, grouped in transactions (libpq's trace of the wire: a
    ReadyForQuery of status I ends one; BEGIN and COMMIT themselves are left out)."""
    with path.open("w") as out:
        conn.pgconn.trace(out.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            run()
        finally:
            conn.pgconn.untrace()
    text = path.read_text()
    transactions: list[list[str]] = []
    current: list[str] = []
    message = re.compile(r'^F\t\d+\t(?:Query\t "(?P<q>.*?)"|Parse\t "[^"]*" "(?P<p>.*?)" \d+[^\n]*)$'
                         r'|^B\t\d+\tReadyForQuery\t (?P<status>[IT])$', re.MULTILINE | re.DOTALL)
    for m in message.finditer(text):
        if m.group("status"):
            if m.group("status") == "I" and current:
                transactions.append(current)
                current = []
            continue
        sql = m.group("q") if m.group("q") is not None else m.group("p")
        if sql.strip().lower() not in ("begin", "commit"):
            current.append(sql)
    return transactions


REFERENCE_PROJECT = """
name: fraud
sources:
  predictions:
    columns: {tx_id: text, predicted_at: timestamptz, score: double precision}
    timestamp: predicted_at
  chargebacks:
    columns: {tx_id: text, reported_at: timestamptz, is_fraud: integer}
    timestamp: reported_at
monitors:
  fraud:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score}
    outcomes: {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}
    windows: [1d]
    reference: {relation: training_scores, column: score}
"""
T = datetime(2026, 5, 1, 12, tzinfo=UTC)


def _drift(project, t: datetime) -> dict:
    return {r["column_name"]: r for r in project.drift("fraud", window="1d", as_of=t)}


@pytest.mark.parametrize("engine", ["postgres", "materialize", "risingwave"])
def test_reference_is_appended_as_a_version_in_one_insert(make_project, tmp_path: Path, engine: str) -> None:
    """`materializer reference` reads, then writes one INSERT of the new version, alone in its transaction:
    what Materialize (insert-only) and RisingWave (no read-write transaction, no COPY FROM STDIN, an
    append-only table) take; on PostgreSQL it holds a lock on the table. Run on PostgreSQL with each
    engine's path, traced on the wire; the drift views read the newest version, the maintained drift
    cells are recounted."""
    project = make_project(REFERENCE_PROJECT)
    project.apply()
    conn = project.db.conn
    conn.execute("create table training_scores (score double precision)")
    conn.execute("insert into training_scores select x / 100.0 from generate_series(0, 99) as x")
    conn.execute("insert into predictions values ('a', %s, 0.5), ('b', %s, 0.95)", [T - timedelta(hours=1)] * 2)
    assert project.store_reference("fraud") == {"score": 100}
    first = _drift(project, T)["score"]
    conn.execute("update training_scores set score = score / 10")   # a new training distribution
    project.spec.engine = engine  # the write path of that engine (the connection stays PostgreSQL's)
    writes = _traced(conn, tmp_path / "trace", lambda: project.store_reference("fraud"))
    project.spec.engine = "postgres"
    assert write_problems(engine, writes) == []
    inserts = [s for group in writes for s in group if s.lower().startswith("insert")]
    assert len(inserts) == 1 and all(not s.lower().startswith(("delete", "update", "copy"))
                                     for group in writes for s in group)
    if engine == "postgres":
        assert writes[-1][0].startswith("lock table fraud__reference") and writes[-1][1] == inserts[0]
    else:
        assert writes[-1] == inserts, "the INSERT is a transaction of its own"
    stored = conn.execute("select version, count(*) from fraud__reference group by 1 order by 1").fetchall()
    assert stored == [(1, 10), (2, 10)]
    second = _drift(project, T)["score"]
    # the newest bins: both predictions are above the new reference's top decile (about 0.089)
    values = [v for (v,) in conn.execute("select score from training_scores")]
    cuts = ref.decile_cuts(values)
    p = ref.bin_shares(values, cuts)
    q = ref.bin_shares([0.5, 0.95], cuts)
    for key, value in ref.drift_stats(p, q).items():
        assert math.isclose(second[key], value, rel_tol=1e-9), key
    assert second["psi"] > first["psi"]
    cells = conn.execute("select count(distinct bin) from materializer.fraud__drift_cells").fetchone()[0]
    assert cells == 1, "the maintained drift cells were recounted against the newest bins"


def test_a_reference_table_made_before_versions_keeps_its_rows(make_project) -> None:
    """apply adds the version column to a reference table that holds rows; they read as version 1 until
    `materializer reference` appends version 2."""
    project = make_project(REFERENCE_PROJECT)
    conn = project.db.conn
    conn.execute("create table fraud__reference (column_name text, bin integer, lower_bound double precision, "
                 "upper_bound double precision, share double precision)")
    conn.execute("insert into fraud__reference values ('score', 0, '-Infinity', 0.5, 0.5), "
                 "('score', 1, 0.5, 'Infinity', 0.5)")
    plan = project.apply()
    assert "new columns: version" in plan.summary()
    assert conn.execute("select count(*), count(version) from fraud__reference").fetchone() == (2, 0)
    conn.execute("insert into predictions values ('a', %s, 0.2), ('b', %s, 0.7), ('c', %s, 0.9)",
                 [T - timedelta(hours=1)] * 3)
    before = _drift(project, T)["score"]
    assert before["n"] == 3
    expected = ref.drift_stats(ref.bin_shares([0.25, 0.75], [0.5]), ref.bin_shares([0.2, 0.7, 0.9], [0.5]))
    assert math.isclose(before["psi"], expected["psi"], rel_tol=1e-9)
    conn.execute("create table training_scores as select x / 100.0 as score from generate_series(0, 99) as x")
    project.store_reference("fraud")
    assert conn.execute("select coalesce(version, 1), count(*) from fraud__reference group by 1 order by 1"
                        ).fetchall() == [(1, 2), (2, 10)]
    assert _drift(project, T)["score"]["psi"] != before["psi"]


def test_the_reference_macro_of_a_dbt_model_is_one_version(pg_conn) -> None:
    """monitor_reference (the dbt model of the bins) carries version 1, so monitor_drift reads it as the
    newest version, on every engine's renderer."""
    pg_conn.execute("create table training (score double precision)")
    pg_conn.execute("insert into training select x / 10.0 from generate_series(0, 9) as x")
    for engine in ("postgres", "materialize", "risingwave"):
        sql = render.renderer(engine).call("monitor_reference", relation="training",
                                           columns=[{"name": "score", "column": "score"}])
        rows = pg_conn.execute(f"select version, count(*) from ({sql}) as bins group by 1").fetchall()
        assert rows == [(1, 10)], engine


# ------------------------------------------------------------------ retention: what the engines keep


RETENTION_PROJECT = """
name: kept
sources:
  predictions:
    columns: {tx_id: text, predicted_at: timestamptz, score: double precision}
    timestamp: predicted_at
  chargebacks:
    columns: {tx_id: text, reported_at: timestamptz, is_fraud: integer}
    timestamp: reported_at
monitors:
  late:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score}
    outcomes: {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}
    label_policy: implicit_negative
    maturity: 2h
    windows: [1h, 1d]
    bucket: 1h
  now:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score}
    outcomes: {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}
    windows: [1h, 1d]
    bucket: 1h
"""
SPECS = {"late": ref.Spec(ref.BINARY, "implicit_negative", timedelta(hours=2), 0.5),
         "now": ref.Spec(ref.BINARY, "explicit", None, 0.5)}
H = timedelta(hours=1)
RETENTION = {"late": timedelta(hours=26), "now": timedelta(hours=24)}   # maturity + the longest window


def _retention_rows() -> tuple[list[dict], list[dict]]:
    """Predictions and outcomes around T, with the cases retention changes: a copy of an id more than
    the retention after its first, an outcome dated before its prediction, and old buckets."""
    preds, outs = [], []

    def p(key: str, at: datetime, score: float) -> None:
        preds.append({"tx_id": key, "predicted_at": at, "score": score, "model_version": None, "channel": None})

    def o(key: str, at: datetime, label: int) -> None:
        outs.append({"tx_id": key, "reported_at": at, "label": label})

    for i in range(40):                                  # every half hour over 20 hours
        at = T - timedelta(minutes=30 * i + 7)
        p(f"r{i}", at, (i * 37 % 100) / 100)
        if i % 3:
            o(f"r{i}", at + timedelta(minutes=40), i % 2)
    p("dup", T - timedelta(hours=30), 0.9)              # the first copy, gone from the engines after 26h / 24h
    p("dup", T - timedelta(hours=21), 0.2)              # a later copy: there, a prediction of its own
    p("early", T - timedelta(hours=25), 0.8)            # its outcome is dated two hours before it
    o("early", T - timedelta(hours=27), 1)
    p("old", T - timedelta(hours=40), 0.6)              # old buckets: listed on PostgreSQL only
    o("old", T - timedelta(hours=39), 1)
    return preds, outs


def _metrics_row(conn, view: str, window: str, t: datetime) -> dict | None:
    with conn.transaction():
        conn.execute("select set_config('materializer.as_of', %s, true)", [t.isoformat()])
        cur = conn.execute(f"select * from {view} where window_name = %s and slice = 'all'", [window])
        rows = cur.fetchall()
        names = [d.name for d in cur.description]
    return dict(zip(names, rows[0])) if rows else None


def _kept(rows: list[dict], column: str, t: datetime, retention: timedelta) -> list[dict]:
    """The rows a streaming view keeps at t: those dated at most the retention before t."""
    return [r for r in rows if r[column] + retention >= t]


@pytest.mark.parametrize("engine", ["materialize", "risingwave"])
def test_streaming_views_hold_what_their_retention_keeps(make_project, engine: str) -> None:
    """A monitor without `history:` keeps predictions and outcomes for maturity + its longest window and
    lists the time series' buckets of its longest window. The Materialize and RisingWave views (run
    through the test shim) equal the reference on exactly those rows; the PostgreSQL views, computed on
    read from every row, equal the reference on all of them, and the two differ where README's "The
    engines" says: a copy of an id more than the retention after its first counts on its own, an
    outcome dated before its prediction is forgotten first, and older buckets are not listed."""
    project = make_project(RETENTION_PROJECT)
    project.apply()
    conn = project.db.conn
    preds, outs = _retention_rows()
    for r in preds:
        conn.execute("insert into predictions values (%s, %s, %s)", [r["tx_id"], r["predicted_at"], r["score"]])
    for r in outs:
        conn.execute("insert into chargebacks values (%s, %s, %s)", [r["tx_id"], r["reported_at"], r["label"]])
    schema = create_engine_objects(conn, project.spec, engine)
    differ = set()
    for name, spec in SPECS.items():
        monitor = project.spec.monitors[name]
        assert monitor.retention.timedelta == RETENTION[name] and monitor.timeseries_history.timedelta == timedelta(days=1)
        for t in (T, T + 90 * timedelta(minutes=1), T + timedelta(hours=3)):
            kept = (ref.dedup_predictions(_kept(preds, "predicted_at", t, RETENTION[name])),
                    ref.index_outcomes(_kept(outs, "reported_at", t, RETENTION[name])))
            full = (ref.dedup_predictions(preds), ref.index_outcomes(outs))
            for window, width in (("1h", H), ("1d", timedelta(days=1))):
                want_kept = ref.expected_metrics(spec, ref.cohort(spec, *kept, t, width))[0]
                want_full = ref.expected_metrics(spec, ref.cohort(spec, *full, t, width))[0]
                got = _metrics_row(conn, f"{schema}.{monitor.view('metrics')}", window, t) or dict.fromkeys(ref.COUNTS, 0)
                assert {k: got[k] for k in ref.COUNTS} == {k: want_kept[k] for k in ref.COUNTS}, (name, window, t)
                pg = _metrics_row(conn, monitor.view("metrics"), window, t) or dict.fromkeys(ref.COUNTS, 0)
                assert {k: pg[k] for k in ref.COUNTS} == {k: want_full[k] for k in ref.COUNTS}, (name, window, t)
                if want_kept != want_full:
                    differ.add((name, window))
            series = {r["bucket_start"]: r["metrics"]["n"] for r in project.timeseries(name, as_of=t)}
            want = ref.buckets(spec, *kept, t, H)
            with conn.transaction():
                conn.execute("select set_config('materializer.as_of', %s, true)", [t.isoformat()])
                engine_series = dict(conn.execute(f"select bucket_start, n from {schema}.{monitor.view('timeseries')} "
                                                  "where slice = 'all'").fetchall())
            listed = {start: c.n for start, c in want.items() if start + timedelta(days=1) >= t}
            assert engine_series == listed, (name, t)
            assert len(series) > len(engine_series), "PostgreSQL lists the older buckets too"
    assert {("late", "1d"), ("now", "1d")} <= differ


def test_history_lengthens_what_the_scored_view_keeps() -> None:
    spec = parse_project(yaml.safe_load(RETENTION_PROJECT.replace("    windows: [1h, 1d]\n    bucket: 1h\n  now:",
                                                                  "    windows: [1h, 1d]\n    bucket: 1h\n"
                                                                  "    history: 14d\n  now:")))
    late = spec.monitors["late"]
    assert late.timeseries_history.timedelta == timedelta(days=14)
    assert late.retention.timedelta == timedelta(days=14, hours=2)
    body = _views(RETENTION_PROJECT.replace("    windows: [1h, 1d]\n    bucket: 1h\n  now:",
                                            "    windows: [1h, 1d]\n    bucket: 1h\n    history: 14d\n  now:"),
                  "materialize")
    assert "p.predicted_at + interval '338 hours' >= mz_now()" in body["late__scored"]
    assert "+ interval '336 hours' >= mz_now()" in body["late__timeseries"]


@pytest.mark.parametrize("raw, path, words", [
    ({"history": "30x"}, "monitors.late.history", ["not a duration"]),
    ({"history": "30m"}, "monitors.late.history", ["shorter than the bucket"]),
])
def test_history_is_validated(raw, path, words) -> None:
    project = yaml.safe_load(RETENTION_PROJECT)
    project["monitors"]["late"].update(raw)
    with pytest.raises(ProjectError) as info:
        parse_project(project)
    assert f"{path}:" in str(info.value) and all(w in str(info.value) for w in words), str(info.value)


LATEST = """
name: last
engine: {engine}
sources:
  tx:
    columns: {{cc_num: text, amount: numeric, ts: timestamptz}}
    timestamp: ts
feature_views:
  last_tx:
    source: tx
    entity: [cc_num]
    features:
      last_amount: {{agg: latest, column: amount}}
"""


@pytest.mark.parametrize("engine", ["materialize", "risingwave"])
def test_a_latest_view_needs_max_age_on_a_streaming_engine(engine: str) -> None:
    with pytest.raises(ProjectError) as info:
        parse_project(yaml.safe_load(LATEST.format(engine=engine)))
    assert "feature_views.last_tx.max_age: missing: on " + engine in str(info.value)
    spec = parse_project(yaml.safe_load(LATEST.format(engine="postgres")))   # fine on PostgreSQL
    with pytest.raises(MaterializerError, match=r"feature_views\.last_tx\.max_age: missing: on " + engine):
        compile_project(spec, engine)
    with pytest.raises(MaterializerError, match=r"latest_features on " + engine + " needs max_age"):
        render.renderer(engine).call("latest_features", relation="tx", entity=["cc_num"], timestamp="ts",
                                     features=[{"name": "a", "agg": "latest", "column": "amount", "filter": None}])
    with pytest.raises(MaterializerError, match=r"monitor_scored on " + engine + " needs `retention`"):
        render.renderer(engine).call("monitor_scored", predictions={"relation": "p", "id": "i", "timestamp": "t",
                                                                    "score": "s", "columns": []},
                                     outcomes={"relation": "o", "id": "i", "timestamp": "t", "label": "y"},
                                     task="binary_classification", label_policy="explicit")


# ------------------------------------------------------------------ mutants of the clock comparisons


MUTANT_PROJECT = """
name: edges
sources:
  tx:
    columns: {cc_num: text, amount: numeric, ts: timestamptz}
    timestamp: ts
  predictions:
    columns: {tx_id: text, predicted_at: timestamptz, score: double precision}
    timestamp: predicted_at
  chargebacks:
    columns: {tx_id: text, reported_at: timestamptz, is_fraud: integer}
    timestamp: reported_at
feature_views:
  activity:
    source: tx
    entity: [cc_num]
    windows: [1h]
    features:
      n: {agg: count}
monitors:
  late:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score}
    outcomes: {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}
    label_policy: implicit_negative
    maturity: 2h
    windows: [1h, 1d]
    bucket: 1h
"""
MUTANT_RETENTION = timedelta(hours=26)


def _edge_rows() -> tuple[list[dict], list[dict], list[dict]]:
    """Events and predictions exactly on every edge a clock comparison draws at T."""
    events = [{"cc_num": "k", "amount": 1, "ts": T}, {"cc_num": "k", "amount": 2, "ts": T - H},
              {"cc_num": "k", "amount": 3, "ts": T - H / 2}]
    preds = [{"tx_id": "now", "predicted_at": T, "score": 0.4},                       # pending from T on
             {"tx_id": "mature", "predicted_at": T - 2 * H, "score": 0.7},            # cohort_at = T
             {"tx_id": "almost", "predicted_at": T - 2 * H + US, "score": 0.6},       # pending until T + 1us
             {"tx_id": "edge", "predicted_at": T - MUTANT_RETENTION, "score": 0.8},   # cohort_at = T - 1d
             {"tx_id": "mid", "predicted_at": T - 5 * H, "score": 0.3}]
    for r in preds:
        r.update(model_version=None, channel=None)
    outs = [{"tx_id": "edge", "reported_at": T - MUTANT_RETENTION, "label": 1},     # kept until exactly T
            {"tx_id": "mid", "reported_at": T - 4 * H, "label": 1}]
    return events, preds, outs


def _edge_problems(conn, schema: str, monitor, events, preds, outs) -> list[str]:
    """What differs, at T, between the views of ``schema`` and the reference on the edge rows."""
    problems = []
    with conn.transaction():
        conn.execute("select set_config('materializer.as_of', %s, true)", [T.isoformat()])
        row = conn.execute(f"select n_1h from {schema}.activity where cc_num = 'k'").fetchone()
        metrics = {r[0]: r[1:] for r in conn.execute(
            f"select window_name, n, pending, tp from {schema}.late__metrics where slice = 'all'").fetchall()}
        series = dict(conn.execute(f"select bucket_start, n from {schema}.late__timeseries where slice = 'all'"
                                   ).fetchall())
    want_n, _ = reference.windowed(events, ("k",), ["cc_num"], "ts", T, {"1h": H}, {"n": ("count", None, None)})
    if (row[0] if row else 0) != want_n["n_1h"]:
        problems.append(f"activity n_1h {row} != {want_n['n_1h']}")
    spec = ref.Spec(ref.BINARY, "implicit_negative", 2 * H, 0.5)
    kept = (ref.dedup_predictions(_kept(preds, "predicted_at", T, MUTANT_RETENTION)),
            ref.index_outcomes(_kept(outs, "reported_at", T, MUTANT_RETENTION)))
    for window, width in (("1h", H), ("1d", timedelta(days=1))):
        want = ref.expected_metrics(spec, ref.cohort(spec, *kept, T, width))[0]
        if metrics.get(window) != (want["n"], want["pending"], want["tp"]):
            problems.append(f"late {window}: {metrics.get(window)} != {(want['n'], want['pending'], want['tp'])}")
    want_series = {start: c.n for start, c in ref.buckets(spec, *kept, T, H).items()
                   if start + timedelta(days=1) >= T}
    if series != want_series:
        problems.append(f"late timeseries {series} != {want_series}")
    return problems


def _load_edges(make_project):
    project = make_project(MUTANT_PROJECT)
    project.apply()
    conn = project.db.conn
    events, preds, outs = _edge_rows()
    for e in events:
        conn.execute("insert into tx values (%s, %s, %s)", [e["cc_num"], e["amount"], e["ts"]])
    for r in preds:
        conn.execute("insert into predictions values (%s, %s, %s)", [r["tx_id"], r["predicted_at"], r["score"]])
    for r in outs:
        conn.execute("insert into chargebacks values (%s, %s, %s)", [r["tx_id"], r["reported_at"], r["label"]])
    return project, events, preds, outs


def _mutants() -> list[tuple[str, str, int, str]]:
    """(macro file, variant, occurrence, engine that renders it) for every comparison of every variant."""
    out = []
    for file, variants in {"temporal_filter.sql": {"postgres": "postgres", "materialize": "materialize",
                                                   "risingwave": "risingwave"},
                           "clock_between.sql": {"default": "risingwave", "materialize": "materialize"},
                           "clock_until.sql": {"default": "risingwave", "materialize": "materialize"}}.items():
        text = (render.macros_dir() / file).read_text()
        for variant, engine in variants.items():
            body = _variant(text, f"{variant}__{file.removesuffix('.sql')}")
            for i in range(len(re.findall(r"[<>]=", body))):
                out.append((file, variant, i, engine))
    return out


def _variant(text: str, name: str) -> str:
    start = text.index(f"{{% macro {name}(")
    return text[start:text.index("{%- endmacro %}", start)]


def test_the_edge_rows_give_the_reference_everywhere(make_project) -> None:
    project, events, preds, outs = _load_edges(make_project)
    conn = project.db.conn
    assert _edge_problems(conn, "public", project.spec.monitors["late"], events, preds, outs) == []
    for engine in ("materialize", "risingwave"):
        schema = create_engine_objects(conn, project.spec, engine)
        assert _edge_problems(conn, schema, project.spec.monitors["late"], events, preds, outs) == [], engine


@pytest.mark.parametrize("file, variant, occurrence, engine", _mutants(),
                         ids=lambda v: str(v).removesuffix(".sql"))
def test_a_flipped_comparison_changes_the_values(make_project, tmp_path, monkeypatch, file, variant, occurrence,
                                                 engine) -> None:
    """Each `>=` (or `<=`) of each variant of temporal_filter, clock_between and clock_until made strict
    renders views whose values at T differ from the reference on the edge rows: the value tests run the
    text of every variant, so none can change unnoticed."""
    project, events, preds, outs = _load_edges(make_project)
    mutated = tmp_path / "macros"
    shutil.copytree(render.macros_dir(), mutated)
    text = (mutated / file).read_text()
    name = f"{variant}__{file.removesuffix('.sql')}"
    body = _variant(text, name)
    spots = [m.start() for m in re.finditer(r"[<>]=", body)]
    flipped = body[:spots[occurrence]] + body[spots[occurrence]] + " " + body[spots[occurrence] + 2:]
    (mutated / file).write_text(text.replace(body, flipped))
    monkeypatch.setattr(render, "macros_dir", lambda: mutated)
    render.renderer.cache_clear()
    try:
        conn = project.db.conn
        if engine == "postgres":
            schema = "pg"
            conn.execute("create schema pg")
            conn.execute("select set_config('search_path', 'pg, public', false)")
            try:
                for obj in compile_project(project.spec, "postgres"):
                    if obj.kind in ("table", "view") and not obj.name.startswith("late"):
                        conn.execute(obj.sql)
                conn.execute("insert into pg.tx select * from public.tx")
            finally:
                conn.execute("select set_config('search_path', '\"$user\", public', false)")
            conn.execute("create view pg.late__metrics as select * from public.late__metrics")
            conn.execute("create view pg.late__timeseries as select * from public.late__timeseries")
        else:
            schema = create_engine_objects(conn, project.spec, engine)
        problems = _edge_problems(conn, schema, project.spec.monitors["late"], events, preds, outs)
    finally:
        render.renderer.cache_clear()
    assert problems, f"{name} with comparison {occurrence} made strict still gives the reference's values"

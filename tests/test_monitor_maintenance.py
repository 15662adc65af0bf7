"""PostgreSQL's incremental maintenance of monitors (macro monitor_maintenance).

The triggers keep a state row per prediction id and counter cells per bucket; the views sum
whole buckets from the cells and read the partial ones from the rows. Two independent checks
hold it to the semantics:

- after any sequence of writes (COPY and INSERT batches, updates of scores, times, ids and
  labels, deletes, TRUNCATE, rolled-back statements), the maintained tables equal a rebuild from
  the sources;
- at any time t (before, inside and after the data; with outcomes dated after t), the views
  give the same rows as the monitor's on-read formulation (the text the streaming engines run).

Both of those are package code; a third check is not: after random writes full of ties (one id
and one predicted_at with other scores, NaN among them; one id and one reported_at with other
labels), the views equal the independent reference (tests/monitor_reference.py). The metric
values themselves are checked against scikit-learn in test_monitor_values.py.
"""

from __future__ import annotations

import math
import random
import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from materializer.cli import app
from materializer.sql.compile import monitor_args
from materializer.sql.render import renderer
from tests import monitor_reference as ref
from tests.test_monitor_values import PROJECT, SPECS, WINDOWS, assert_metrics

UTC = timezone.utc
BASE = datetime(2026, 3, 1, tzinfo=UTC)
NAN, INF = float("nan"), float("inf")
BINARY_MONITORS = ("fraud_explicit", "fraud_implicit")
MONITORS = ("fraud_explicit", "fraud_implicit", "fraud_bool", "demand")
FLOAT_TOLERANCE = 1e-9


# ------------------------------------------------------------------ helpers


def live_views(project) -> None:
    """`<monitor>__metrics_live` and `__timeseries_live`: the on-read text, over `__scored_live`."""
    conn = project.db.conn
    macros = renderer("postgres").macros
    for name in MONITORS:
        m = project.spec.monitors[name]
        a = monitor_args(m)
        maturity = m.maturity.sql_interval if m.maturity else None
        scored = str(macros["default__monitor_scored"](
            predictions=a["predictions"], outcomes=a["outcomes"], task=m.task, label_policy=m.label_policy,
            maturity=maturity, threshold=m.threshold, probe=True))
        conn.execute(f"create or replace view {name}__scored_live as {scored}")
        metrics = str(macros["default__monitor_metrics"](
            scored=f"{name}__scored_live", task=m.task, label_policy=m.label_policy, windows=a["windows"],
            slices=a["slices"], cost_fp=m.cost_fp, cost_fn=m.cost_fn, maturity=maturity))
        conn.execute(f"create or replace view {name}__metrics_live as {metrics}")
        series = str(macros["default__monitor_timeseries"](
            scored=f"{name}__scored_live", task=m.task, label_policy=m.label_policy, bucket=a["bucket"],
            slices=a["slices"], cost_fp=m.cost_fp, cost_fn=m.cost_fn))
        conn.execute(f"create or replace view {name}__timeseries_live as {series}")
        if m.reference_relation:
            drift = str(macros["default__monitor_drift"](
                scored=f"{name}__scored_live", reference=m.view("reference"), windows=a["windows"],
                columns=a["drift_columns"]))
            conn.execute(f"create or replace view {name}__drift_live as {drift}")


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
            return (math.isnan(a) and math.isnan(b)) or a == b
        return abs(a - b) <= FLOAT_TOLERANCE * max(1.0, abs(a), abs(b))
    return a == b


def assert_rows_equal(ours: list[tuple], theirs: list[tuple], context: str) -> None:
    assert len(ours) == len(theirs), (context, len(ours), len(theirs))
    for a, b in zip(ours, theirs):
        assert all(same(x, y) for x, y in zip(a, b)), f"{context}: {a!r} != {b!r}"


def assert_views_match_live(project, times: list[datetime]) -> None:
    conn = project.db.conn
    for name in MONITORS:
        kinds = ("metrics", "timeseries", "drift") if project.spec.monitors[name].reference_relation else (
            "metrics", "timeseries")
        for t in times:
            for kind in kinds:
                with conn.transaction():
                    conn.execute("select set_config('materializer.as_of', %s, true)", [t.isoformat()])
                    ours = conn.execute(f"select * from {name}__{kind} order by 1, 2, 3").fetchall()
                    theirs = conn.execute(f"select * from {name}__{kind}_live order by 1, 2, 3").fetchall()
                assert_rows_equal(ours, theirs, f"{name}__{kind} at {t}")


def maintained_rows(conn, name: str) -> tuple[list[tuple], list[tuple]]:
    """The state rows, and the cells (with the drift cells, when the monitor watches drift)."""
    state = conn.execute(f"select * from materializer.{name}__state order by prediction_id").fetchall()
    cells = conn.execute(f"select * from materializer.{name}__cells order by 1, 2, 3, 4, 5").fetchall()
    if conn.execute("select to_regclass(%s)", [f"materializer.{name}__drift_cells"]).fetchone()[0]:
        cells += [(*row, None) for row in conn.execute(
            f"select 'drift', * from materializer.{name}__drift_cells order by 1, 2, 3, 4")]
    return state, cells


def store_reference(project, values: list[float]) -> None:
    """A reference for fraud_explicit's drift (its score), stored as `materializer reference` does."""
    conn = project.db.conn
    conn.execute("create table if not exists training_scores (score double precision)")
    conn.execute("truncate training_scores")
    with conn.cursor() as cur, cur.copy("copy training_scores (score) from stdin") as copy:
        for v in values:
            copy.write_row([v])
    project.store_reference("fraud_explicit")


def allow_any_rows(project) -> None:
    """Drop the row checks apply puts on the sources (all but the binary labels'), as on a table
    that held rows before them: the triggers must then count what no push would let in (null
    times, NaN and infinite scores and labels), as the on-read form does."""
    conn = project.db.conn
    for table in ("predictions", "chargebacks", "chargebacks_bool", "forecasts", "actuals"):
        for (name,) in conn.execute("select conname from pg_constraint where conrelid = to_regclass(%s) "
                                    "and contype = 'c' and conname not like '%%\\_\\_binary'", [table]).fetchall():
            conn.execute(f"alter table {table} drop constraint {name}")


class Rebuilt(Exception):
    pass


def assert_maintained_equals_rebuild(project, context: str) -> None:
    """The maintained state and cells equal what a rebuild from the sources gives (rolled back)."""
    conn = project.db.conn
    for name in MONITORS:
        state, cells = maintained_rows(conn, name)
        try:
            with conn.transaction():
                conn.execute(f"select materializer.{name}__rebuild()")
                fresh_state, fresh_cells = maintained_rows(conn, name)
                raise Rebuilt
        except Rebuilt:
            pass
        assert_rows_equal(state, fresh_state, f"{name} state after {context}")
        # the newest outcome time of a cell only grows (a later one only costs a recomputation)
        for cell, fresh in zip(cells, fresh_cells):
            assert fresh[-1] is None or (cell[-1] is not None and cell[-1] >= fresh[-1]), (name, cell, fresh)
        assert_rows_equal([c[:-1] for c in cells], [c[:-1] for c in fresh_cells], f"{name} cells after {context}")


# ------------------------------------------------------------------ random writes


class Writer:
    """Random writes to the monitors' sources: a small id pool, so ids collide often; ties (one id,
    one predicted_at, other scores; one id, one reported_at, other labels) written in one statement
    or beside a row written earlier; NaN and infinite scores and actual values."""

    def __init__(self, conn, seed: int) -> None:
        self.conn = conn
        self.rng = random.Random(seed)

    def when(self, days: float = 4.0) -> datetime:
        at = BASE + timedelta(seconds=self.rng.randrange(int(days * 86400)))
        return at.replace(microsecond=self.rng.choice([0, 0, 1, 999999, self.rng.randrange(1_000_000)]))

    def pred_id(self) -> str:
        return f"p{self.rng.randrange(40):02d}"

    def score(self, regression: bool) -> float | None:
        r = self.rng.random()
        if r < 0.04:
            return self.rng.choice([NAN, INF, -INF])
        if regression:
            return None if r < 0.08 else round(self.rng.uniform(-50, 500), 3)
        if r < 0.05:
            return None
        if r < 0.1:
            return self.rng.choice([-0.1, 1.5])
        if r < 0.25:
            return self.rng.choice([0.0, 1.0, 0.5, 0.3, 0.29, 0.57])
        return self.rng.random()

    def prediction(self, regression: bool = False) -> list:
        rng = self.rng
        at = self.when() if rng.random() > 0.03 else None
        return [self.pred_id() if rng.random() > 0.03 else None, at, self.score(regression),
                rng.choice(["v1", "v2", "v2", None]), rng.choice(["web", "app", None])]

    def outcome(self, regression: bool = False) -> list:
        rng = self.rng
        key = self.pred_id() if rng.random() > 0.05 else f"zz{rng.randrange(5)}"
        if regression:
            label = None if rng.random() < 0.05 else round(rng.uniform(-10, 600), 2)
            label = rng.choice([Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")]) if rng.random() < 0.04 \
                else label
        else:
            label = None if rng.random() < 0.05 else rng.choice([0, 1])
            label = bool(label) if label is not None and getattr(self, "boolean", False) else label
        return [key, BASE + timedelta(seconds=rng.randrange(-86400, 6 * 86400)), label]

    def write(self, tables: tuple[str, str], regression: bool, op: str | None = None) -> str:
        """One random statement (or one of kind ``op``) on (predictions table, outcomes table); returns
        what it did."""
        rng, conn = self.rng, self.conn
        preds, outs = tables
        self.boolean = outs == "chargebacks_bool"
        pcols = "tx_id, predicted_at, score, model_version, channel"
        label = "actual" if regression else "is_fraud"
        ocols = f"tx_id, reported_at, {label}"
        op = rng.choices(["copy_p", "insert_p", "copy_o", "insert_o", "update_p", "update_o", "move_id",
                          "delete_p", "delete_o", "noop", "truncate_o", "rollback", "tie_p", "tie_p_later",
                          "tie_o", "tie_o_later"],
                         weights=[8, 6, 6, 6, 4, 4, 2, 3, 3, 1, 1, 2, 4, 3, 5, 4])[0] if op is None else op
        if op in ("copy_p", "copy_o"):
            table, cols, make = (preds, pcols, self.prediction) if op == "copy_p" else (outs, ocols, self.outcome)
            with conn.cursor() as cur, cur.copy(f"copy {table} ({cols}) from stdin") as copy:
                for _ in range(rng.randrange(1, 30)):
                    copy.write_row(make(regression))
        elif op in ("insert_p", "insert_o"):
            table, cols, make = (preds, pcols, self.prediction) if op == "insert_p" else (outs, ocols, self.outcome)
            rows = [make(regression) for _ in range(rng.randrange(1, 6))]
            marks = ", ".join(["(" + ", ".join(["%s"] * len(rows[0])) + ")"] * len(rows))
            conn.execute(f"insert into {table} ({cols}) values {marks}", [v for r in rows for v in r])
        elif op == "update_p":
            conn.execute(f"update {preds} set score = %s, predicted_at = coalesce(%s, predicted_at) where tx_id = %s",
                         [self.score(regression), self.when() if rng.random() < 0.5 else None, self.pred_id()])
        elif op == "update_o":
            value = round(rng.uniform(0, 100), 2) if regression else rng.choice([0, 1, None])
            value = bool(value) if value is not None and self.boolean else value
            conn.execute(f"update {outs} set {label} = %s, reported_at = reported_at + %s where tx_id = %s",
                         [value, timedelta(hours=rng.randrange(-48, 48)), self.pred_id()])
        elif op == "move_id":
            conn.execute(f"update {preds} set tx_id = %s where ctid = (select ctid from {preds} where tx_id = %s "
                         "limit 1)", [self.pred_id(), self.pred_id()])
        elif op == "delete_p":
            conn.execute(f"delete from {preds} where tx_id = %s", [self.pred_id()])
        elif op == "delete_o":
            conn.execute(f"delete from {outs} where tx_id = %s and reported_at > %s", [self.pred_id(), self.when()])
        elif op in ("tie_p", "tie_o"):
            # one id and one time, two or three other scores (labels) in one statement
            table, cols = (preds, pcols) if op == "tie_p" else (outs, ocols)
            first = self.prediction(regression) if op == "tie_p" else self.outcome(regression)
            first[0] = first[0] or self.pred_id()
            first[1] = first[1] or self.when()
            rows = [first]
            for _ in range(rng.randrange(1, 3)):
                other = self.prediction(regression) if op == "tie_p" else self.outcome(regression)
                if op == "tie_o" and not regression and first[2] is not None:
                    other[2] = not first[2] if self.boolean else 1 - first[2]   # another label, surely
                rows.append([first[0], first[1], *other[2:]])
            with conn.cursor() as cur, cur.copy(f"copy {table} ({cols}) from stdin") as copy:
                for row in rows:
                    copy.write_row(row)
        elif op in ("tie_p_later", "tie_o_later"):
            # another score (label) at the time of a row already stored for that id
            table, cols, ts = (preds, pcols, "predicted_at") if op == "tie_p_later" else (outs, ocols, "reported_at")
            rows = conn.execute(f"select tx_id, {ts} from {table} where tx_id is not null and {ts} is not null "
                                f"order by tx_id, {ts}").fetchall()
            if rows:
                stored = rng.choice(rows)
                other = self.prediction(regression) if op == "tie_p_later" else self.outcome(regression)
                conn.execute(f"insert into {table} ({cols}) values ({', '.join(['%s'] * len(other))})",
                             [*stored, *other[2:]])
        elif op == "noop":
            conn.execute(f"delete from {preds} where tx_id = 'never'")
        elif op == "truncate_o":
            conn.execute(f"truncate {outs}")
        elif op == "rollback":
            try:
                with conn.transaction():
                    conn.execute(f"insert into {preds} ({pcols}) values (%s, %s, %s, 'v9', 'web')",
                                 [self.pred_id(), self.when(), 0.5])
                    conn.execute(f"insert into {outs} ({ocols}) values (%s, %s, 7)", [self.pred_id(), self.when()])
            except psycopg.Error:
                pass  # the label 7 breaks the check (binary) or the value is fine (regression): either way
        return op


@pytest.fixture
def monitored(make_project):
    project = make_project(PROJECT)
    project.apply()
    allow_any_rows(project)
    store_reference(project, [random.Random(3).betavariate(2, 5) for _ in range(500)])
    live_views(project)
    return project


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_writes_keep_the_maintained_tables_equal_to_a_rebuild(monitored, seed) -> None:
    project = monitored
    writer = Writer(project.db.conn, seed)
    for step in range(60):
        regression = step % 4 == 3
        outcomes = "chargebacks_bool" if step % 5 == 4 else "chargebacks"
        op = writer.write(("forecasts", "actuals") if regression else ("predictions", outcomes), regression)
        assert_maintained_equals_rebuild(project, f"step {step} ({op})")
    rng = random.Random(seed)
    times = [BASE - timedelta(days=1), BASE + timedelta(days=10)]
    times += [BASE + timedelta(seconds=rng.randrange(6 * 86400), microseconds=rng.randrange(10**6))
              for _ in range(6)]
    times += [BASE + timedelta(hours=30), BASE + timedelta(hours=30, microseconds=-1)]   # bucket edges
    assert_views_match_live(project, times)


SOURCES = {"fraud_explicit": ("predictions", "chargebacks", "is_fraud"),
           "fraud_implicit": ("predictions", "chargebacks", "is_fraud"),
           "fraud_bool": ("predictions", "chargebacks_bool", "is_fraud"),
           "demand": ("forecasts", "actuals", "actual")}
SLICE_COLUMNS = {"version": "model_version", "channel": "channel"}


def reference_of(conn, name: str) -> tuple[dict, dict]:
    """The monitor's deduplicated predictions and indexed outcomes, read back from its sources and
    computed by the reference (rows with a null id or time never count; exact ties in time and
    score go to the smaller version, then channel, nulls last, as the views order them)."""
    preds_table, outs_table, label = SOURCES[name]
    preds = [dict(zip(("tx_id", "predicted_at", "score", "model_version", "channel"), row)) for row in conn.execute(
        f"select tx_id, predicted_at, score, model_version, channel from {preds_table} "
        "where tx_id is not null and predicted_at is not null")]
    outs = [{"tx_id": k, "reported_at": at, "label": y}
            for k, at, y in conn.execute(f"select tx_id, reported_at, {label} from {outs_table}")]
    return (ref.dedup_predictions(preds, tie_columns=("model_version", "channel")), ref.index_outcomes(outs))


def assert_views_equal_the_reference(project, times: list[datetime]) -> int:
    """Every monitor's metrics (overall, by version, by channel; every window) and time series at
    ``times`` equal the reference's; returns how many groups held an invalid row."""
    conn = project.db.conn
    with_invalid = 0
    for name in MONITORS:
        spec = SPECS[name]
        deduped, outcomes = reference_of(conn, name)
        for t in times:
            for window, width in WINDOWS.items():
                for by in (None, "version", "channel"):
                    got = {tuple(g["by"].items()): g["metrics"]
                           for g in project.metrics(name, window=window, by=by, as_of=t).groups}
                    if by is None:
                        want = {(): ref.cohort(spec, deduped, outcomes, t, width)}
                    else:
                        column = SLICE_COLUMNS[by]
                        want = {}
                        for value in {r[column] for r in deduped.values()}:
                            c = ref.cohort(spec, deduped, outcomes, t, width, lambda r, v=value: r[column] == v)
                            if c.nonzero:
                                want[((by, "(null)" if value is None else value),)] = c
                    context = f"{name} {window} at {t} by {by}"
                    assert got.keys() == want.keys(), context
                    for key, c in want.items():
                        assert_metrics(got[key], ref.expected_metrics(spec, c)[0], f"{context} {key}")
                        with_invalid += c.invalid > 0
            series = {datetime.fromisoformat(r["bucket_start"]): r["metrics"] for r in project.timeseries(name, as_of=t)}
            expected = ref.buckets(spec, deduped, outcomes, t, timedelta(hours=1))
            assert series.keys() == expected.keys(), f"{name} buckets at {t}"
            for start, c in expected.items():
                assert_metrics(series[start], ref.expected_metrics(spec, c)[0], f"{name} bucket {start} at {t}")
    return with_invalid


@pytest.mark.parametrize("seed", [6, 7])
def test_random_writes_with_ties_equal_the_reference(monitored, seed) -> None:
    """Random writes full of ties (one id and one predicted_at with other scores, NaN among them;
    one id and one reported_at with other labels), in one statement or beside a stored row: the
    triggers keep what a rebuild gives, and the views equal the independent reference."""
    project = monitored
    conn = project.db.conn
    writer = Writer(conn, seed)
    for step in range(90):
        regression = step % 3 == 2
        outcomes = "chargebacks_bool" if step % 5 == 4 else "chargebacks"
        op = writer.write(("forecasts", "actuals") if regression else ("predictions", outcomes), regression)
        if step % 15 == 14:
            assert_maintained_equals_rebuild(project, f"step {step} ({op})")
    for step in range(24):   # ties last, so that no later write undoes them
        regression = step % 3 == 2
        outcomes = "chargebacks_bool" if step % 5 == 4 else "chargebacks"
        op = ("tie_p", "tie_p_later", "tie_o", "tie_o_later")[step % 4]
        writer.write(("forecasts", "actuals") if regression else ("predictions", outcomes), regression, op)
    conn.execute("insert into predictions values ('p07', %s, 'NaN', 'v1', 'web'), ('p07', %s, 0.25, 'v2', 'app')",
                 [BASE + timedelta(hours=20), BASE + timedelta(hours=20)])
    assert_maintained_equals_rebuild(project, "the ties")
    ties = {table: conn.execute(f"select count(*) from (select 1 from {table} where tx_id is not null group by "
                                f"tx_id, {ts} having count(distinct coalesce({value}::text, '-')) > 1) as t"
                                ).fetchone()[0]
            for table, ts, value in (("predictions", "predicted_at", "score"), ("forecasts", "predicted_at", "score"),
                                     ("chargebacks", "reported_at", "is_fraud"), ("actuals", "reported_at", "actual"))}
    assert all(n >= 2 for n in ties.values()), ties
    assert conn.execute("select count(*) from predictions where score = 'NaN'").fetchone()[0] > 0
    rng = random.Random(seed)
    times = [BASE + timedelta(hours=30), BASE + timedelta(days=5)]
    times += [BASE + timedelta(seconds=rng.randrange(5 * 86400), microseconds=rng.randrange(10**6)) for _ in range(2)]
    assert assert_views_equal_the_reference(project, times) >= 10


def test_views_match_the_on_read_form_at_every_kind_of_time(monitored) -> None:
    """Predictions spread over days, outcomes before and after t: partial buckets at both ends of
    every window, pending spans, buckets holding outcomes dated after t (explicit)."""
    project = monitored
    writer = Writer(project.db.conn, 11)
    for _ in range(80):
        writer.write(("predictions", "chargebacks"), False)
        writer.write(("forecasts", "actuals"), True)
    rng = random.Random(5)
    times = [BASE + timedelta(hours=h) for h in (0, 1, 24, 47, 48, 49, 96)]
    times += [BASE + timedelta(seconds=rng.randrange(7 * 86400), microseconds=rng.randrange(10**6))
              for _ in range(12)]
    assert_views_match_live(project, times)


def test_the_time_series_since_a_time_is_the_tail_of_the_whole_series(monitored) -> None:
    """`materializer.since` (set by project.timeseries(since=...)) leaves out older buckets only."""
    project = monitored
    conn = project.db.conn
    writer = Writer(conn, 17)
    for _ in range(60):
        writer.write(("predictions", "chargebacks"), False)
    t = BASE + timedelta(days=3, hours=9, minutes=41)
    for since in (BASE + timedelta(days=1), BASE + timedelta(days=1, hours=5, minutes=7), t, BASE - timedelta(days=9)):
        bucket = since.replace(minute=0, second=0, microsecond=0)
        for name in MONITORS:
            with conn.transaction():
                conn.execute("select set_config('materializer.as_of', %s, true)", [t.isoformat()])
                conn.execute("select set_config('materializer.since', %s, true)", [since.isoformat()])
                ours = conn.execute(f"select * from {name}__timeseries order by 1, 2, 3").fetchall()
                theirs = conn.execute(f"select * from {name}__timeseries_live where bucket_start >= %s "
                                      "order by 1, 2, 3", [bucket]).fetchall()
            assert_rows_equal(ours, theirs, f"{name} since {since}")
        whole = project.timeseries("fraud_implicit", by="version", as_of=t)
        recent = project.timeseries("fraud_implicit", by="version", as_of=t, since=since)
        assert recent == [r for r in whole if datetime.fromisoformat(r["bucket_start"]) >= since]


def test_storing_another_reference_recounts_the_drift_cells(monitored) -> None:
    project = monitored
    writer = Writer(project.db.conn, 13)
    for _ in range(60):
        writer.write(("predictions", "chargebacks"), False)
    t = BASE + timedelta(days=2, hours=7, minutes=3)
    assert_views_match_live(project, [t])
    before = project.drift("fraud_explicit", window="7d", as_of=t)
    store_reference(project, [random.Random(4).uniform(0.4, 1.0) for _ in range(300)])
    after = project.drift("fraud_explicit", window="7d", as_of=t)
    assert before[0]["n"] == after[0]["n"] > 0 and before[0]["psi"] != after[0]["psi"]
    assert_maintained_equals_rebuild(project, "a new reference")
    assert_views_match_live(project, [t])


# ------------------------------------------------------------------ apply


def test_apply_installs_triggers_and_the_views_read_the_cells(monitored) -> None:
    conn = monitored.db.conn
    triggers = {r[0] for r in conn.execute(
        "select tgname from pg_trigger where tgrelid = 'predictions'::regclass and not tgisinternal")}
    assert {f"{m}__predictions_{e}" for m in ("fraud_explicit", "fraud_implicit", "fraud_bool")
            for e in ("insert", "update", "delete", "truncate")} <= triggers
    definition = conn.execute("select pg_get_viewdef('fraud_implicit__metrics')").fetchone()[0]
    assert "materializer.fraud_implicit__cells" in definition


def test_apply_builds_the_state_of_rows_loaded_before_the_monitor(make_project) -> None:
    without = PROJECT.split("monitors:")[0]
    project = make_project(without)
    project.apply()
    allow_any_rows(project)
    writer = Writer(project.db.conn, 21)
    for _ in range(40):
        writer.write(("predictions", "chargebacks"), False)
        writer.write(("forecasts", "actuals"), True)
    project.close()
    project = make_project(PROJECT)
    plan = project.apply()
    assert "+ create maintenance fraud_implicit__maintenance" in plan.summary()
    live_views(project)
    assert project.db.conn.execute("select count(*) from materializer.fraud_implicit__state").fetchone()[0] > 0
    assert_maintained_equals_rebuild(project, "apply")
    assert_views_match_live(project, [BASE + timedelta(days=d, hours=5) for d in (1, 3, 5)])


def test_changing_the_threshold_rebuilds_the_counters(make_project, tmp_path: Path) -> None:
    project = make_project(PROJECT)
    project.apply()
    allow_any_rows(project)
    writer = Writer(project.db.conn, 31)
    for _ in range(40):
        writer.write(("predictions", "chargebacks"), False)
    t = BASE + timedelta(days=5)
    before = project.metrics("fraud_implicit", window="7d", as_of=t).groups[0]["metrics"]
    project.close()
    project = make_project(PROJECT.replace("threshold: 0.3", "threshold: 0.8"))
    plan = project.apply()
    summary = plan.summary()
    assert "~ replace maintenance fraud_implicit__maintenance (definition changed)" in summary
    assert "fraud_explicit__maintenance" not in summary        # untouched
    live_views(project)
    after = project.metrics("fraud_implicit", window="7d", as_of=t).groups[0]["metrics"]
    assert after["n"] == before["n"] and (after["tp"], after["fp"]) != (before["tp"], before["fp"])
    assert_maintained_equals_rebuild(project, "the new threshold")
    assert_views_match_live(project, [t])
    assert project.apply().empty


def test_removing_a_monitor_drops_its_maintenance_and_keeps_the_rows(make_project) -> None:
    project = make_project(PROJECT)
    project.apply()
    allow_any_rows(project)
    Writer(project.db.conn, 41).write(("predictions", "chargebacks"), False)
    rows = project.db.conn.execute("select count(*) from predictions").fetchone()[0]
    project.close()
    raw = yaml.safe_load(PROJECT)
    del raw["monitors"]["fraud_implicit"]
    project = make_project(yaml.safe_dump(raw))
    summary = project.apply().summary()
    assert "- drop maintenance fraud_implicit__maintenance" in summary
    conn = project.db.conn
    assert conn.execute("select to_regclass('materializer.fraud_implicit__state')").fetchone()[0] is None
    assert conn.execute("select count(*) from pg_proc where proname like 'fraud_implicit__%'").fetchone()[0] == 0
    assert conn.execute("select count(*) from pg_trigger where tgname like 'fraud_implicit__%'").fetchone()[0] == 0
    assert conn.execute("select count(*) from predictions").fetchone()[0] == rows
    conn.execute("insert into predictions values ('p99', %s, 0.5, 'v1', 'web')", [BASE])   # still writable
    assert_maintained_equals_rebuild_for(project, ("fraud_explicit",))


def assert_maintained_equals_rebuild_for(project, names: tuple[str, ...]) -> None:
    conn = project.db.conn
    for name in names:
        state, cells = maintained_rows(conn, name)
        try:
            with conn.transaction():
                conn.execute(f"select materializer.{name}__rebuild()")
                fresh_state, fresh_cells = maintained_rows(conn, name)
                assert_rows_equal(state, fresh_state, name)
                assert_rows_equal([c[:-1] for c in cells], [c[:-1] for c in fresh_cells], name)
                raise Rebuilt
        except Rebuilt:
            pass


def test_external_sources_are_computed_on_read(make_project, pg_conn) -> None:
    pg_conn.execute("create table raw_outcomes (tx_id text, reported_at timestamptz, is_fraud integer)")
    text = PROJECT.replace("""  chargebacks:
    columns: {tx_id: text, reported_at: timestamptz, is_fraud: integer}
    timestamp: reported_at""", """  chargebacks:
    relation: raw_outcomes
    timestamp: reported_at""")
    project = make_project(text)
    summary = project.apply().summary()
    assert "fraud_explicit__maintenance" not in summary and "fraud_bool__maintenance" in summary
    conn = project.db.conn
    assert conn.execute("select count(*) from pg_trigger where tgrelid = 'raw_outcomes'::regclass").fetchone()[0] == 0
    conn.execute("insert into predictions values ('p1', %s, 0.9, 'v1', 'web')", [BASE])
    conn.execute("insert into raw_outcomes values ('p1', %s, 1)", [BASE + timedelta(hours=1)])
    got = project.metrics("fraud_explicit", window="1d", as_of=BASE + timedelta(hours=2)).groups[0]["metrics"]
    assert (got["n"], got["tp"]) == (1, 1)


# ------------------------------------------------------------------ writes that fail, writers that overlap


def test_a_failed_push_changes_no_counter(monitored, tmp_path: Path, cli_env: Path) -> None:
    project = monitored
    Writer(project.db.conn, 51).write(("predictions", "chargebacks"), False)
    before = {m: maintained_rows(project.db.conn, m) for m in MONITORS}
    (cli_env / "materializer.yml").write_text(PROJECT, encoding="utf-8")
    bad = cli_env / "outcomes.csv"
    bad.write_text("tx_id,reported_at,is_fraud\np01,2026-03-02T00:00:00Z,1\np02,2026-03-02T00:00:00Z,2\n",
                   encoding="utf-8")
    result = CliRunner().invoke(app, ["push", "chargebacks", str(bad)])
    assert result.exit_code == 1, result.output
    for m in MONITORS:
        state, cells = maintained_rows(project.db.conn, m)
        assert_rows_equal(state, before[m][0], f"{m} state")
        assert_rows_equal(cells, before[m][1], f"{m} cells")


def test_concurrent_writers_take_turns(monitored, pg_dsn: str) -> None:
    """Two transactions write rows of the same id; the second trigger waits for the first commit,
    then recomputes from both rows."""
    first = psycopg.connect(pg_dsn)
    second = psycopg.connect(pg_dsn, autocommit=True)
    try:
        first.execute("insert into predictions values ('p1', %s, 0.9, 'v1', 'web')", [BASE + timedelta(hours=2)])
        done = threading.Event()

        def later() -> None:
            second.execute("insert into predictions values ('p1', %s, 0.1, 'v2', 'app')", [BASE + timedelta(hours=1)])
            done.set()

        thread = threading.Thread(target=later)
        thread.start()
        time.sleep(0.5)
        assert not done.is_set(), "the second writer should wait for the first transaction"
        first.commit()
        thread.join(10)
        assert done.is_set()
    finally:
        first.close()
        second.close()
    state = monitored.db.conn.execute(
        "select score, model_version from materializer.fraud_explicit__state where prediction_id = 'p1'").fetchall()
    assert state == [(0.1, "v2")]   # the earlier prediction wins, though it committed last
    assert_maintained_equals_rebuild(monitored, "two writers")

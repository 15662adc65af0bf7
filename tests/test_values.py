"""Feature values on a real PostgreSQL against the independent reading of DESIGN §5 (tests/reference.py).

The generated events include, for every evaluation time t and window W, events
exactly at t - W, just before it, exactly at t and after t; equal timestamps
with different values; nulls; an entity with no events; and unicode and
quote-laden keys. Every SQL text is checked: the PostgreSQL views that
`apply` creates, and the views as the Materialize and the RisingWave renderers
write them, run on PostgreSQL through the test shim (tests/engine_shim.py).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import yaml

from materializer.definitions.validate import parse_project
from tests import reference

PROJECT = """
name: values
sources:
  tx:
    columns: {tx_id: text, cc_num: text, merchant: text, amount: numeric, status: text, seq: integer,
              ts: timestamptz}
    timestamp: ts
feature_views:
  activity:
    source: tx
    entity: [cc_num]
    windows: [10m, 1h, 1d]
    features:
      n:          {agg: count}
      n_amount:   {agg: count, column: amount}
      total:      {agg: sum, column: amount}
      mean:       {agg: avg, column: amount}
      lo:         {agg: min, column: amount}
      hi:         {agg: max, column: amount}
      sd:         {agg: stddev, column: amount}
      merchants:  {agg: count_distinct, column: merchant}
      top_merchant: {agg: max, column: merchant}
      failed:     {agg: count, filter: "status = 'failed'"}
      failed_sum: {agg: sum, column: amount, filter: "status = 'failed'"}
  last:
    source: tx
    entity: [cc_num]
    max_age: 2h
    features:
      last_amount:   {agg: latest, column: amount}
      last_merchant: {agg: latest, column: merchant}
  last_forever:
    source: tx
    entity: [cc_num]
    features:
      amount_ever: {agg: latest, column: amount}
  last_tb:
    source: tx
    entity: [cc_num]
    tie_break: seq
    features:
      amount_tb:   {agg: latest, column: amount}
      merchant_tb: {agg: latest, column: merchant}
  pair:
    source: tx
    entity: [cc_num, merchant]
    windows: [30m, 1h]
    features:
      n:     {agg: count}
      total: {agg: sum, column: amount}
"""

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
TIMES = [T0, T0 + timedelta(minutes=37, seconds=11), T0 + timedelta(days=1, minutes=5)]
WINDOWS = {"10m": timedelta(minutes=10), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
KEYS = [f"c{i}" for i in range(8)] + ["ünï-キー-💳", "o'brien \"x\", y", "ghost"]
MERCHANTS = ["alpha", "bravo", "charlie", "delta", "echo"]
STATUSES = ["approved", "failed", "declined", None]

ACTIVITY = {
    "n": ("count", None, None),
    "n_amount": ("count", "amount", None),
    "total": ("sum", "amount", None),
    "mean": ("avg", "amount", None),
    "lo": ("min", "amount", None),
    "hi": ("max", "amount", None),
    "sd": ("stddev", "amount", None),
    "merchants": ("count_distinct", "merchant", None),
    "top_merchant": ("max", "merchant", None),
    "failed": ("count", None, lambda e: e["status"] == "failed"),
    "failed_sum": ("sum", "amount", lambda e: e["status"] == "failed"),
}


def generate(seed: int) -> list[dict]:
    """Random events plus the edge cases, for every key except 'ghost'."""
    rng = random.Random(seed)
    events: list[dict] = []

    def add(key: str, ts: datetime, amount: object = "random", merchant: object = "random", seq: object = None) -> None:
        if amount == "random":
            amount = None if rng.random() < 0.1 else Decimal(rng.randrange(1, 50000)) / 100
        if merchant == "random":
            merchant = None if rng.random() < 0.1 else rng.choice(MERCHANTS)
        events.append({
            "tx_id": f"t{len(events)}", "cc_num": key, "merchant": merchant, "amount": amount,
            "status": rng.choice(STATUSES), "seq": seq if seq is not None else rng.randrange(100), "ts": ts,
        })

    active = [k for k in KEYS if k != "ghost"]
    for key in active:
        for _ in range(rng.randrange(5, 40)):
            add(key, T0 + timedelta(seconds=rng.uniform(-2 * 86400, 2 * 86400)))
    for t in TIMES:
        for key in rng.sample(active, 4):
            for width in [*WINDOWS.values(), timedelta(hours=2), timedelta(minutes=30)]:
                add(key, t - width)                                   # exactly on the window's edge: inside
                add(key, t - width - timedelta(microseconds=1))       # just outside
            add(key, t)                                               # exactly now: inside
            add(key, t + timedelta(seconds=1))                        # the future: never seen
        key = rng.choice(active)                                      # ties on ts, with a null among them
        tie = t - timedelta(minutes=3)
        add(key, tie, Decimal("10.00"), "alpha", seq=1)
        add(key, tie, Decimal("99.99"), None, seq=2)
        add(key, tie, None, "echo", seq=2)
    stale = "c7"                                                      # latest event older than max_age at T0
    events = [e for e in events if not (e["cc_num"] == stale and T0 - timedelta(days=3) < e["ts"] <= T0)]
    add(stale, T0 - timedelta(hours=5))
    return events


def load(project, events: list[dict]) -> None:
    project.apply()
    cols = ["tx_id", "cc_num", "merchant", "amount", "status", "seq", "ts"]
    with project.db.conn.cursor() as cur, cur.copy(f"copy tx ({', '.join(cols)}) from stdin") as copy:
        for e in events:
            copy.write_row([e[c] for c in cols])
    project.db.conn.execute("analyze tx")


def close(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    return a == b


def assert_same(got: dict, want: dict, context: str) -> None:
    assert got.keys() == want.keys(), context
    bad = {k: (got[k], want[k]) for k in want if not close(got[k], want[k])}
    assert not bad, f"{context}: (got, want) {bad}"


@pytest.fixture(params=[11, 29], ids=lambda s: f"seed{s}")
def loaded(request, make_project):
    project = make_project(PROJECT)
    events = generate(request.param)
    load(project, events)
    return project, events


def test_windowed_online_values_match_reference(loaded):
    project, events = loaded
    for t in TIMES:
        for key in KEYS:
            got = project.online_features("activity", {"cc_num": key}, as_of=t)
            want_values, want_statuses = reference.windowed(events, (key,), ["cc_num"], "ts", t, WINDOWS, ACTIVITY)
            assert_same(got.features, want_values, f"activity {key!r} at {t}")
            assert got.statuses == want_statuses, f"statuses of {key!r} at {t}"
            assert got.as_of == t


def test_latest_online_values_match_reference(loaded):
    project, events = loaded
    for t in TIMES:
        for key in KEYS:
            for view, features, max_age, tie in [
                ("last", {"last_amount": "amount", "last_merchant": "merchant"}, timedelta(hours=2), None),
                ("last_forever", {"amount_ever": "amount"}, None, None),
                ("last_tb", {"amount_tb": "amount", "merchant_tb": "merchant"}, None, "seq"),
            ]:
                got = project.online_features(view, {"cc_num": key}, as_of=t)
                want, want_statuses = reference.latest(events, (key,), ["cc_num"], "ts", t, features, max_age, tie)
                assert_same(got.features, want, f"{view} {key!r} at {t}")
                assert got.statuses == want_statuses, f"{view} statuses of {key!r} at {t}"


def test_edge_cases_are_present_in_the_data(loaded):
    """Guard the generator: the statuses the suite claims to cover really occur."""
    project, events = loaded
    seen = set()
    for t in TIMES:
        for key in KEYS:
            seen |= set(project.online_features("last", {"cc_num": key}, as_of=t).statuses.values())
            seen |= set(project.online_features("activity", {"cc_num": key}, as_of=t).statuses.values())
    assert {"PRESENT", "NOT_FOUND", "NULL_VALUE", "OUTSIDE_MAX_AGE"} <= seen


def test_composite_keys(loaded):
    project, events = loaded
    windows = {"30m": timedelta(minutes=30), "1h": timedelta(hours=1)}
    features = {"n": ("count", None, None), "total": ("sum", "amount", None)}
    for t in TIMES:
        for key in KEYS[:4] + KEYS[8:9]:
            for merchant in MERCHANTS[:3]:
                got = project.online_features("pair", {"cc_num": key, "merchant": merchant}, as_of=t)
                want, statuses = reference.windowed(events, (key, merchant), ["cc_num", "merchant"], "ts", t,
                                                    windows, features)
                assert_same(got.features, want, f"pair {key!r}/{merchant} at {t}")
                assert got.statuses == statuses


def _all_rows(conn, view: str, t: datetime, key: int = 1) -> dict:
    """Every row of ``view`` at ``t``, by its first ``key`` columns (one column: the value itself)."""
    with conn.transaction():
        conn.execute("select set_config('materializer.as_of', %s, true)", [t.isoformat()])
        cur = conn.execute(f"select * from {view}")
        names = [d.name for d in cur.description]
        return {(row[0] if key == 1 else tuple(row[:key])): dict(zip(names, row)) for row in cur.fetchall()}


# The project as the streaming engines take it: a latest-value view needs max_age there (it bounds the
# view's state), so the two views without one get a day.
STREAMING_PROJECT = PROJECT.replace(
    "  last_forever:\n    source: tx\n", "  last_forever:\n    source: tx\n    max_age: 1d\n").replace(
    "  last_tb:\n    source: tx\n", "  last_tb:\n    source: tx\n    max_age: 1d\n")
LATEST_VIEWS = {  # view: (features, max_age of the streaming text, tie-break)
    "last": ({"last_amount": "amount", "last_merchant": "merchant"}, timedelta(hours=2), None),
    "last_forever": ({"amount_ever": "amount"}, timedelta(days=1), None),
    "last_tb": ({"amount_tb": "amount", "merchant_tb": "merchant"}, timedelta(days=1), "seq"),
}


def _plain_row(row: dict) -> dict:
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}


@pytest.mark.parametrize("engine", ["materialize", "risingwave"])
def test_engine_text_matches_postgres_views(loaded, engine):
    """Every feature view as the Materialize and the RisingWave renderer write it (`materialize__` and
    `risingwave__` variants of temporal_filter, time_bucket and the views), run on PostgreSQL through
    the test shim (tests/engine_shim.py: their clock pinned to t; `in cluster`, `append only` and the
    lookup indexes dropped, as PostgreSQL has no such clauses), gives at every t the rows of the
    PostgreSQL views and the reference's values. A latest-value view there keeps the events of its
    max_age: an entity whose newest event is older has no row, where PostgreSQL's view has the row
    with null values (OUTSIDE_MAX_AGE); the values of every other entity are the same."""
    from tests.engine_shim import create_engine_objects

    project, events = loaded
    conn = project.db.conn
    spec = parse_project(yaml.safe_load(STREAMING_PROJECT))
    schema = create_engine_objects(conn, spec, engine)
    seen_dropped = 0
    for t in TIMES:
        for view in ("activity", "pair"):
            ours, theirs = _all_rows(conn, view, t, key=2 if view == "pair" else 1), \
                _all_rows(conn, f"{schema}.{view}", t, key=2 if view == "pair" else 1)
            assert ours.keys() == theirs.keys(), f"{engine} {view} at {t}: entities differ"
            for key in ours:
                assert_same(_plain_row(theirs[key]), _plain_row(ours[key]), f"{engine} {view} {key!r} at {t}")
        rows = _all_rows(conn, f"{schema}.activity", t)
        for key in KEYS:
            want, _ = reference.windowed(events, (key,), ["cc_num"], "ts", t, WINDOWS, ACTIVITY)
            if key not in rows:
                assert all(v in (0, None) for v in want.values())
                continue
            got = {k: v for k, v in _plain_row(rows[key]).items() if k in want}
            assert_same(got, want, f"{engine} activity {key!r} at {t}")
        for view, (features, max_age, tie) in LATEST_VIEWS.items():
            ours, theirs = _all_rows(conn, view, t), _all_rows(conn, f"{schema}.{view}", t)
            kept = {k for k, row in ours.items() if row["_event_ts"] >= t - max_age}
            assert set(theirs) == kept, f"{engine} {view} at {t}: the entities within max_age"
            seen_dropped += len(set(ours) - kept)
            for key in KEYS:
                want, statuses = reference.latest(events, (key,), ["cc_num"], "ts", t, features, max_age, tie)
                if key not in theirs:
                    assert set(statuses.values()) <= {"NOT_FOUND", "OUTSIDE_MAX_AGE"}, (view, key, t)
                    continue
                row = _plain_row(theirs[key])
                assert row["_within_max_age"] is True and row["_event_ts"] == ours[key]["_event_ts"]
                assert_same({k: row[k] for k in features}, want, f"{engine} {view} {key!r} at {t}")
                assert_same({k: row[k] for k in features}, {k: _plain_row(ours[key])[k] for k in features},
                            f"{engine} {view} {key!r} at {t} against PostgreSQL")
    assert seen_dropped > 0, "an entity whose newest event is older than max_age"


def test_unpinned_clock_reads_now(make_project):
    """Without --as-of the views read now(): a fresh event counts, one from two hours ago does not."""
    project = make_project(PROJECT)
    now = datetime.now(timezone.utc)
    load(project, [
        {"tx_id": "a", "cc_num": "k", "merchant": "alpha", "amount": Decimal(1), "status": None, "seq": 1,
         "ts": now - timedelta(seconds=5)},
        {"tx_id": "b", "cc_num": "k", "merchant": "alpha", "amount": Decimal(2), "status": None, "seq": 1,
         "ts": now - timedelta(hours=2)},
    ])
    got = project.online_features("activity", {"cc_num": "k"})
    assert got.features["n_10m"] == 1 and got.features["n_1h"] == 1 and got.features["n_1d"] == 2
    assert abs((got.as_of - datetime.now(timezone.utc)).total_seconds()) < 60


def test_null_tie_breaks_in_every_form(make_project):
    """Tied rows whose tie-break is null: the non-null one wins; all null, per column max (the PostgreSQL
    view, and the Materialize and RisingWave text run through the test shim)."""
    from tests.engine_shim import create_engine_objects

    project = make_project(PROJECT)
    ts = T0 - timedelta(minutes=1)
    rows = [("a", Decimal(1), "alpha", None), ("a", Decimal(5), "bravo", 3), ("a", Decimal(9), "charlie", None),
            ("b", Decimal(2), "alpha", None), ("b", Decimal(7), None, None)]
    events = [{"tx_id": f"n{i}", "cc_num": k, "merchant": m, "amount": a, "status": None, "seq": s, "ts": ts}
              for i, (k, a, m, s) in enumerate(rows)]
    load(project, events)
    conn = project.db.conn
    spec = parse_project(yaml.safe_load(STREAMING_PROJECT))
    schemas = [create_engine_objects(conn, spec, engine) for engine in ("materialize", "risingwave")]
    features = {"amount_tb": "amount", "merchant_tb": "merchant"}
    for key in ("a", "b"):
        want, _ = reference.latest(events, (key,), ["cc_num"], "ts", T0, features, None, "seq")
        got = project.online_features("last_tb", {"cc_num": key}, as_of=T0).features
        assert_same(got, want, f"postgres form {key}")
        for schema in schemas:
            streamed = _all_rows(conn, f"{schema}.last_tb", T0)[key]
            assert_same({k: v for k, v in _plain_row(streamed).items() if k in want}, want, f"{schema} form {key}")
    assert want == {"amount_tb": 7.0, "merchant_tb": "alpha"}

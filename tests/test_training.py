"""Point-in-time training sets against the independent reading of DESIGN §5, and against online lookups.

The spine has rows exactly at event times and at window edges, rows before and after
events, duplicate rows (kept, in order), keys with no events, and unicode keys; the
property test checks online(k, t) == training_set(k, t) for random keys and times.
Both PostgreSQL forms of a windowed view ('frames' and 'probes') are checked against the
reference; the estimate that picks one is checked on a dense and a sparse spine.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from materializer.cli import app
from materializer.errors import MaterializerError
from materializer.features import training
from tests import reference
from tests.test_values import ACTIVITY, KEYS, PROJECT, T0, TIMES, WINDOWS, close, generate, load

LATEST = {
    "last": ({"last_amount": "amount", "last_merchant": "merchant"}, timedelta(hours=2), None),
    "last_forever": ({"amount_ever": "amount"}, None, None),
    "last_tb": ({"amount_tb": "amount", "merchant_tb": "merchant"}, None, "seq"),
}


def spine_rows(events: list[dict], seed: int) -> list[tuple[str, datetime]]:
    rng = random.Random(seed)
    rows = [(k, t) for t in TIMES for k in KEYS]
    for e in rng.sample(events, 40):                      # exactly at event times
        rows.append((e["cc_num"], e["ts"]))
    for e in rng.sample(events, 20):                      # exactly one window after an event: the edge
        rows.append((e["cc_num"], e["ts"] + rng.choice(list(WINDOWS.values()))))
    rows += [rows[3], rows[3], rows[0]]                   # duplicates, kept in order
    rows.append((KEYS[-1], T0 - timedelta(days=30)))      # before any event
    rng.shuffle(rows)
    return rows


def expected(events: list[dict], key: str, t: datetime) -> dict:
    want, _ = reference.windowed(events, (key,), ["cc_num"], "ts", t, WINDOWS, ACTIVITY)
    out = {f"activity__{k}": v for k, v in want.items()}
    for view, (features, max_age, tie) in LATEST.items():
        values, _ = reference.latest(events, (key,), ["cc_num"], "ts", t, features, max_age, tie)
        out.update({f"{view}__{k}": v for k, v in values.items()})
    return out


def plain(value):
    if isinstance(value, Decimal):
        return float(value)
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value


@pytest.fixture(params=[5, 17], ids=lambda s: f"seed{s}")
def loaded(request, make_project):
    project = make_project(PROJECT)
    events = generate(request.param)
    load(project, events)
    return project, events, request.param


@pytest.fixture(params=["frames", "probes"])
def method(request, monkeypatch):
    """Force one PostgreSQL form of the windowed views."""
    monkeypatch.setattr(training, "WINDOWED_METHOD", request.param)
    return request.param


def test_training_set_matches_reference_row_by_row(loaded, method):
    project, events, seed = loaded
    rows = spine_rows(events, seed)
    spine = pd.DataFrame({"cc_num": [k for k, _ in rows], "event_timestamp": [t for _, t in rows],
                          "row_id": range(len(rows))})
    frame = project.training_set(spine, ["activity:*", "last:*", "last_forever:*", "last_tb:*"])
    assert len(frame) == len(spine)
    assert list(frame["row_id"]) == list(range(len(rows))), "every spine row once, in the spine's order"
    assert list(frame.columns[:3]) == ["cc_num", "event_timestamp", "row_id"]
    for i, (key, t) in enumerate(rows):
        want = expected(events, key, t)
        got = {k: plain(frame.at[i, k]) for k in want}
        bad = {k: (got[k], want[k]) for k in want if not close(got[k], want[k])}
        assert not bad, f"row {i} ({key!r} at {t}): (got, want) {bad}"


@pytest.mark.parametrize("engine", ["materialize", "risingwave"])
def test_engine_training_forms_match_reference_row_by_row(loaded, engine):
    """The training queries as the Materialize and the RisingWave renderer write them (correlated
    subqueries per point; RisingWave's ASOF LEFT JOIN for a latest view without a tie-break), run on
    PostgreSQL over the same points, give every spine row the reference's values. The one construct
    PostgreSQL lacks, RisingWave's ASOF LEFT JOIN, runs as its documented meaning (the newest match):
    tests/engine_shim.py rewrites it to LEFT JOIN LATERAL ... ORDER BY ts DESC LIMIT 1."""
    from tests.engine_shim import postgres_text

    project, events, seed = loaded
    conn = project.db.conn
    rows = spine_rows(events, seed)
    conn.execute("create temporary table points (_row bigint, _ts timestamptz, cc_num text)")
    with conn.cursor() as cur, cur.copy("copy points (_row, _ts, cc_num) from stdin") as copy:
        for i, (key, t) in enumerate(rows):
            copy.write_row([i, t, key])
    got: dict[int, dict] = {i: {} for i in range(len(rows))}
    asof = 0
    for view in ("activity", "last", "last_forever", "last_tb"):
        sql = training._view_sql(project.spec.feature_views[view], "points", engine)
        asof += "asof left join" in sql
        cur = conn.execute(postgres_text(sql))
        names = [d.name for d in cur.description]
        for row in cur.fetchall():
            values = dict(zip(names, row))
            got[values["_row"]].update({f"{view}__{k}": plain(v) for k, v in values.items()
                                        if k not in ("_row", "_event_ts")})
    assert asof == (2 if engine == "risingwave" else 0), "RisingWave's latest views without a tie-break use ASOF"
    for i, (key, t) in enumerate(rows):
        want = expected(events, key, t)
        bad = {k: (got[i].get(k), want[k]) for k in want if not close(got[i].get(k), want[k])}
        assert not bad, f"{engine} row {i} ({key!r} at {t}): (got, want) {bad}"


def test_training_set_equals_online_at_the_same_time(loaded):
    project, events, seed = loaded
    rows = spine_rows(events, seed)[:60]
    spine = pd.DataFrame({"cc_num": [k for k, _ in rows], "event_timestamp": [t for _, t in rows]})
    frame = project.training_set(spine, ["activity:*", "last:*", "last_tb:*"])
    for i, (key, t) in enumerate(rows):
        for view in ("activity", "last", "last_tb"):
            online = project.online_features(view, {"cc_num": key}, as_of=t)
            for name, value in online.features.items():
                assert close(plain(frame.at[i, f"{view}__{name}"]), value), (view, name, key, t)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_online_equals_offline_property(make_project, data):
    """For random keys and times: online(k, t) == training_set(k, t), for every feature type."""
    project = _property_project(make_project)
    key = data.draw(st.sampled_from(KEYS))
    offset = data.draw(st.integers(min_value=-3 * 86400, max_value=3 * 86400))
    micros = data.draw(st.sampled_from([0, 1, 999999]))
    t = T0 + timedelta(seconds=offset, microseconds=micros)
    frame = project.training_set(pd.DataFrame({"cc_num": [key], "event_timestamp": [t]}),
                                 ["activity:*", "last:*", "last_forever:*", "last_tb:*"])
    for view in ("activity", "last", "last_forever", "last_tb"):
        online = project.online_features(view, {"cc_num": key}, as_of=t)
        for name, value in online.features.items():
            assert close(plain(frame.at[0, f"{view}__{name}"]), value), (view, name, key, t)


_PROPERTY: dict = {}


def _property_project(make_project):
    """One loaded database for all the hypothesis examples of a test run (the fixture is shared)."""
    if id(make_project) not in _PROPERTY:
        project = make_project(PROJECT, name="property.yml")
        load(project, generate(3))
        _PROPERTY.clear()
        _PROPERTY[id(make_project)] = project
    return _PROPERTY[id(make_project)]


def test_cli_writes_spine_columns_unchanged_then_features(loaded, tmp_path, monkeypatch):
    project, events, seed = loaded
    spine = tmp_path / "spine.csv"
    spine.write_text(
        "event_timestamp,cc_num,note\n"
        f"{TIMES[0].isoformat()},c1,\"a, quoted\"\n"
        f"2026-01-01 12:00:00,ünï-キー-💳,\n"          # no time zone: UTC, with a warning
        f"{TIMES[0].isoformat()},ghost,x\n", encoding="utf-8")
    out = tmp_path / "train.csv"
    monkeypatch.setenv("MATERIALIZER_DSN", project.db.dsn)
    result = CliRunner().invoke(app, ["-p", str(project.root / "materializer.yml"), "training-set", "--spine",
                                      str(spine), "--features", "activity:n_1h,last:last_amount", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "no time zone" in result.output
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["event_timestamp", "cc_num", "note", "activity__n_1h", "last__last_amount"]
    assert [r[:3] for r in rows[1:]] == [[TIMES[0].isoformat(), "c1", "a, quoted"],
                                        ["2026-01-01 12:00:00", "ünï-キー-💳", ""], [TIMES[0].isoformat(), "ghost", "x"]]
    for row, (key, t) in zip(rows[1:], [("c1", TIMES[0]), ("ünï-キー-💳", T0), ("ghost", TIMES[0])]):
        want = expected(events, key, t)
        assert int(row[3]) == want["activity__n_1h"]
        assert (row[4] == "" and want["last__last_amount"] is None) or close(float(row[4]), want["last__last_amount"])


def test_bad_spines_and_refs(make_project, tmp_path):
    project = make_project(PROJECT)
    project.apply()
    spine = tmp_path / "spine.csv"
    spine.write_text("key,ts\nc1,2026-01-01T00:00:00Z\n", encoding="utf-8")
    with pytest.raises(MaterializerError, match=r"no entity column 'cc_num'.*its columns: key, ts"):
        project.training_set(spine, ["activity:n_1h"], timestamp_column="ts")
    with pytest.raises(MaterializerError, match=r"no timestamp column.*'event_timestamp'"):
        project.training_set(spine, ["activity:n_1h"])
    with pytest.raises(MaterializerError, match=r"did you mean 'activity:n_1h'|did you mean 'n_1h'"):
        project.training_set(spine, ["activity:n_1hh"], timestamp_column="ts")
    with pytest.raises(MaterializerError, match="unknown feature view 'activty'"):
        project.training_set(spine, ["activty:n_1h"], timestamp_column="ts")
    bad_ts = tmp_path / "bad.csv"
    bad_ts.write_text("cc_num,event_timestamp\nc1,2026-01-01T00:00:00Z\nc2,yesterday\n", encoding="utf-8")
    with pytest.raises(MaterializerError, match=r"line 3.*'yesterday' is not a timestamp"):
        project.training_set(bad_ts, ["activity:n_1h"])
    empty = tmp_path / "empty.csv"
    empty.write_text("cc_num,event_timestamp\n", encoding="utf-8")
    frame = project.training_set(empty, ["activity:n_1h", "last:*"])
    assert list(frame.columns) == ["cc_num", "event_timestamp", "activity__n_1h", "last__last_amount",
                                   "last__last_merchant"]
    assert len(frame) == 0


def test_feature_services(make_project, tmp_path):
    project = make_project(PROJECT + "feature_services:\n  fraud_v1: [activity:n_1h, last:*]\n")
    load(project, generate(7))
    spine = pd.DataFrame({"cc_num": ["c1", "c2"], "event_timestamp": [TIMES[0], TIMES[1]]})
    frame = project.training_set(spine, "fraud_v1")
    assert list(frame.columns) == ["cc_num", "event_timestamp", "activity__n_1h", "last__last_amount",
                                   "last__last_merchant"]
    with pytest.raises(MaterializerError, match="feature service"):
        project.training_set(spine, "fraud_v2")


def test_spine_sql(loaded):
    project, events, seed = loaded
    frame = project.training_set(None, ["activity:n_1d"], spine_sql=(
        "select cc_num, ts + interval '1 second' as event_timestamp from tx where tx_id in ('t1', 't2', 't3') "
        "order by tx_id"))
    assert len(frame) == 3
    for i in range(3):
        e = next(ev for ev in events if ev["tx_id"] == f"t{i + 1}")
        want, _ = reference.windowed(events, (e["cc_num"],), ["cc_num"], "ts", e["ts"] + timedelta(seconds=1),
                                     WINDOWS, ACTIVITY)
        assert frame.at[i, "activity__n_1d"] == want["n_1d"]
        assert frame.at[i, "cc_num"] == e["cc_num"]


def test_time_zone_rule_is_utc(make_project):
    project = make_project(PROJECT)
    load(project, [{"tx_id": "a", "cc_num": "k", "merchant": "alpha", "amount": Decimal(1), "status": None,
                    "seq": 1, "ts": datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)}])
    spine = pd.DataFrame({"cc_num": ["k", "k"], "event_timestamp": ["2026-01-01 11:59:59", "2026-01-01 12:00:00"]})
    frame = project.training_set(spine, ["activity:n_10m"])
    assert list(frame["activity__n_10m"]) == [0, 1]


def test_parquet_in_and_out(loaded, tmp_path):
    project, events, seed = loaded
    from materializer.features.training import write_csv

    spine = pd.DataFrame({"cc_num": ["c1", "c2"], "event_timestamp": [TIMES[0], TIMES[2]], "label": [1, 0]})
    path = tmp_path / "spine.parquet"
    spine.to_parquet(path)
    out = tmp_path / "train.parquet"
    assert write_csv(project, path, ["activity:n_1d", "last:last_amount"], out=out) == 2
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["cc_num", "event_timestamp", "label", "activity__n_1d", "last__last_amount"]
    for i, (key, t) in enumerate([("c1", TIMES[0]), ("c2", TIMES[2])]):
        want = expected(events, key, t)
        assert frame.at[i, "activity__n_1d"] == want["activity__n_1d"]
        assert close(plain(frame.at[i, "last__last_amount"]), want["last__last_amount"])


ON_DEMAND = PROJECT + """
on_demand_features:
  tx_risk:
    request: {amount: numeric, merchant: text}
    features:
      amount_vs_mean: "{amount} / nullif({activity:mean_1h}, 0)"
      new_merchant: "{merchant} is distinct from {last:last_merchant}"
      burst: "{activity:n_10m} + 1"
"""


def _on_demand_expected(events, key, t, amount, merchant):
    want = expected(events, key, t)
    mean = want["activity__mean_1h"]
    return {
        "amount_vs_mean": None if not mean else float(amount) / mean,
        "new_merchant": merchant != want["last__last_merchant"],
        "burst": want["activity__n_10m"] + 1,
    }


def test_on_demand_online_equals_offline_equals_reference(make_project):
    project = make_project(ON_DEMAND)
    events = generate(9)
    load(project, events)
    rng = random.Random(9)
    rows = [(rng.choice(KEYS), T0 + timedelta(seconds=rng.randrange(-86400, 86400)), rng.choice(["10", "250.5"]),
             rng.choice(["alpha", "bravo", "echo"])) for _ in range(40)]
    spine = pd.DataFrame({"cc_num": [r[0] for r in rows], "event_timestamp": [r[1] for r in rows],
                          "amount": [r[2] for r in rows], "merchant": [r[3] for r in rows]})
    frame = project.training_set(spine, ["tx_risk:*"])
    for i, (key, t, amount, merchant) in enumerate(rows):
        want = _on_demand_expected(events, key, t, amount, merchant)
        online = project.online_features("tx_risk", {"cc_num": key}, as_of=t,
                                         request={"amount": amount, "merchant": merchant})
        for name, value in want.items():
            assert close(plain(frame.at[i, f"tx_risk__{name}"]), value), (name, key, t, "offline")
            assert close(online.features[name], value), (name, key, t, "online")


def test_on_demand_bad_input(make_project, tmp_path):
    from materializer.errors import ProjectError

    with pytest.raises(ProjectError, match=r"on_demand_features.tx_risk.features.bad: \{amout\} is not a request "
                                           r"field \(did you mean 'amount'\?\)"):
        make_project(ON_DEMAND + '      bad: "{amout} * 2"\n', name="bad1.yml")
    with pytest.raises(ProjectError, match=r"\{activity:nope\}: activity has no feature 'nope'"):
        make_project(ON_DEMAND + '      bad: "{activity:nope} * 2"\n', name="bad2.yml")
    project = make_project(ON_DEMAND, name="ok.yml")
    load(project, generate(9))
    with pytest.raises(MaterializerError, match="needs the request field 'merchant'"):
        project.online_features("tx_risk", {"cc_num": "c1"}, request={"amount": 1})
    with pytest.raises(MaterializerError, match=r"spine has no column 'merchant', a request field of tx_risk"):
        project.training_set(pd.DataFrame({"cc_num": ["c1"], "event_timestamp": [T0], "amount": [1]}),
                             ["tx_risk:burst"])
    # request values are bound parameters: an injection attempt is just a string
    result = project.online_features("tx_risk", {"cc_num": "c1"},
                                     request={"amount": 1, "merchant": "x'; drop table tx; --"})
    assert result.features["new_merchant"] is True
    assert project.db.conn.execute("select count(*) from tx").fetchone()[0] > 0


def _check_rows(frame, events, rows, columns):
    for i, (key, t) in enumerate(rows):
        want = expected(events, key, t)
        got = {k: plain(frame.at[i, k]) for k in columns}
        bad = {k: (got[k], want[k]) for k in columns if not close(got[k], want[k])}
        assert not bad, f"row {i} ({key!r} at {t}): (got, want) {bad}"


def test_requested_features_only_match_reference(loaded, method):
    """A subset of windows and features (the queries compute only those) gives the reference values."""
    project, events, seed = loaded
    rows = spine_rows(events, seed)
    spine = pd.DataFrame({"cc_num": [k for k, _ in rows], "event_timestamp": [t for _, t in rows]})
    refs = ["activity:sd_1d", "activity:n_10m", "activity:merchants_10m", "activity:hi_1h",
            "activity:failed_sum_10m", "last:last_merchant"]
    frame = project.training_set(spine, refs)
    columns = [r.replace(":", "__") for r in refs]
    assert list(frame.columns) == ["cc_num", "event_timestamp", *columns]
    _check_rows(frame, events, rows, columns)


def _event(key, ts, amount, merchant="alpha", status="approved", seq=1):
    return {"tx_id": f"{key}-{ts.isoformat()}-{amount}-{seq}", "cc_num": key, "merchant": merchant,
            "amount": None if amount is None else Decimal(amount), "status": status, "seq": seq, "ts": ts}


def test_edges_of_windows_ties_and_single_events(make_project, method):
    """Hand-made edges: events exactly at t and at t - W, ties at one ts (a null among them), a point at
    an event's time, duplicate points, a key with no events, one event in a window (stddev null)."""
    project = make_project(PROJECT)
    t = T0
    events = [
        _event("k", t, "10.00", "bravo", "failed", 1),
        _event("k", t, "20.00", None, "approved", 2),                           # tie at t
        _event("k", t, None, "alpha", "failed", 3),                              # tie with a null amount
        _event("k", t - timedelta(minutes=10), "1.50"),                          # exactly t - 10m: inside
        _event("k", t - timedelta(minutes=10, microseconds=1), "1000.00"),       # just outside 10m
        _event("k", t - timedelta(hours=1), "7.25", "echo", "failed"),           # exactly t - 1h
        _event("k", t - timedelta(days=1), "3.00"),                              # exactly t - 1d
        _event("k", t + timedelta(microseconds=1), "99.00"),                     # after t: never seen at t
        _event("solo", t - timedelta(minutes=5), "42.00"),                       # one event: stddev null
    ]
    load(project, events)
    rows = [("k", t), ("k", t), ("k", t - timedelta(minutes=10)), ("k", t + timedelta(microseconds=1)),
            ("k", t - timedelta(days=1)), ("k", t - timedelta(days=1, microseconds=1)), ("solo", t),
            ("empty", t), ("k", t + timedelta(days=1)), ("k", t + timedelta(days=1, microseconds=1))]
    spine = pd.DataFrame({"cc_num": [k for k, _ in rows], "event_timestamp": [ts for _, ts in rows]})
    frame = project.training_set(spine, ["activity:*", "last:*", "last_tb:*", "last_forever:*"])
    columns = [c for c in frame.columns if "__" in c]
    _check_rows(frame, events, rows, columns)
    assert plain(frame.at[6, "activity__sd_10m"]) is None and plain(frame.at[6, "activity__n_10m"]) == 1
    assert frame.at[7, "activity__n_1d"] == 0 and plain(frame.at[7, "activity__total_1d"]) is None


EXTERNAL = """
name: external
sources:
  raw:
    relation: raw_tx
    timestamp: happened_at
feature_views:
  spend:
    source: raw
    entity: [card]
    windows: [1h, 1d]
    features:
      n:      {agg: count}
      total:  {agg: sum, column: amount}
      failed: {agg: count, filter: "status = 'failed'"}
      top:    {agg: max, column: amount, filter: "status <> 'failed'"}
"""


def test_external_source_with_filters_reads_every_column(make_project, method):
    """An external source with a filter: the view's columns are unknown (columns_read is None)."""
    project = make_project(EXTERNAL)
    conn = project.db.conn
    conn.execute("create table raw_tx (card text, happened_at timestamptz, amount numeric, status text)")
    rng = random.Random(3)
    events = [{"card": rng.choice(["a", "b"]), "ts": T0 + timedelta(minutes=rng.randrange(-3000, 60)),
               "amount": Decimal(rng.randrange(100)), "status": rng.choice(["failed", "ok", None])}
              for _ in range(200)]
    events.append({"card": "a", "ts": T0 - timedelta(hours=1), "amount": Decimal(5), "status": "failed"})
    with conn.cursor() as cur, cur.copy("copy raw_tx (card, happened_at, amount, status) from stdin") as copy:
        for e in events:
            copy.write_row([e["card"], e["ts"], e["amount"], e["status"]])
    project.apply()
    assert project.spec.feature_views["spend"].columns_read is None
    times = [T0, T0 - timedelta(hours=1), T0 - timedelta(minutes=30), T0 + timedelta(days=2)]
    rows = [(k, t) for k in ["a", "b", "nobody"] for t in times]
    spine = pd.DataFrame({"card": [k for k, _ in rows], "event_timestamp": [t for _, t in rows]})
    frame = project.training_set(spine, ["spend:*"])
    features = {"n": ("count", None, None), "total": ("sum", "amount", None),
                "failed": ("count", None, lambda e: e["status"] == "failed"),
                "top": ("max", "amount", lambda e: e["status"] is not None and e["status"] != "failed")}
    windows = {"1h": timedelta(hours=1), "1d": timedelta(days=1)}
    for i, (key, t) in enumerate(rows):
        want, _ = reference.windowed(events, (key,), ["card"], "ts", t, windows, features)
        for name, value in want.items():
            assert close(plain(frame.at[i, f"spend__{name}"]), value), (key, t, name)


def test_estimate_picks_frames_for_dense_spines_and_probes_for_sparse(make_project):
    """Many points over the same events: sorting once wins; one point: a probe wins."""
    project = make_project(PROJECT)
    rng = random.Random(11)
    events = [_event("dense", T0 - timedelta(seconds=rng.randrange(86400)), str(rng.randrange(1, 100)), seq=i)
              for i in range(3000)]
    events += [_event(f"other{i % 50}", T0 - timedelta(days=rng.randrange(1, 30)), "1", seq=i) for i in range(3000)]
    load(project, events)
    view = project.spec.feature_views["activity"]
    conn = project.db.conn
    position = {"cc_num": 0, "event_timestamp": 1}
    for rows, method in [([("dense", T0 - timedelta(seconds=s)) for s in range(0, 86400, 40)], "frames"),
                         ([("dense", T0)], "probes"),
                         ([("other1", T0 - timedelta(days=40))], "probes")]:
        training.load_spine(project, pd.DataFrame({"cc_num": [k for k, _ in rows],
                                                   "event_timestamp": [t for _, t in rows]}))
        conn.execute("drop table if exists pts")
        conn.execute(f"create temporary table pts as select _row, cast(c1 as timestamptz) as _ts, c0 as cc_num "
                     f"from {training.SPINE}")
        assert training._windowed_method(conn, view, "pts", ["n_1d", "hi_1h"]) == method, (rows[:2], method)
        frame = project.training_set(pd.DataFrame({"cc_num": [k for k, _ in rows[:30]],
                                                   "event_timestamp": [t for _, t in rows[:30]]}),
                                     ["activity:n_1d", "activity:hi_1h"])
        _check_rows(frame, events, rows[:30], ["activity__n_1d", "activity__hi_1h"])
    assert position  # the spine columns the points read


PROBES_CASE = {"points": "points", "relation": "transactions", "entity": ["cc_num"], "timestamp": "ts",
               "windows": [{"name": "10m", "interval": "interval '10 minutes'", "seconds": 600},
                           {"name": "1d", "interval": "interval '24 hours'", "seconds": 86400}],
               "features": [{"name": "tx_count", "agg": "count", "column": None, "filter": None},
                            {"name": "amount_max", "agg": "max", "column": "amount", "filter": None},
                            {"name": "merchants", "agg": "count_distinct", "column": "merchant", "filter": None},
                            {"name": "failed_count", "agg": "count", "column": None,
                             "filter": "status = 'failed'"}],
               "columns": ["cc_num", "ts", "amount", "merchant", "status"],
               "outputs": ["tx_count_10m", "amount_max_1d", "merchants_10m", "failed_count_1d"],
               "byte_sorted": ["cc_num"]}


@pytest.mark.parametrize("engine", ["postgres", "materialize", "risingwave"])
@pytest.mark.parametrize("method_name", ["frames", "probes"])
def test_golden_requested_outputs(engine, method_name, request):
    """Golden files of the windowed training query for a subset of outputs, in both PostgreSQL forms
    (the streaming engines ignore the method): tests/golden/training_windowed/outputs_<method>.*.sql."""
    from materializer.sql.render import renderer
    from tests.test_golden import GOLDEN, _check

    sql = renderer(engine).call("training_windowed", **PROBES_CASE, method=method_name)
    _check(GOLDEN / "training_windowed" / f"outputs_{method_name}.{engine}.sql", sql,
           request.config.getoption("--update-golden"))


def test_csv_text_of_features_and_spine_columns(make_project, tmp_path):
    """The CSV is PostgreSQL's COPY text: counts and numerics as printed, booleans true/false, an
    unquoted empty spine field (null) stays empty and a quoted empty one stays quoted."""
    from materializer.features.training import write_csv

    project = make_project(ON_DEMAND)
    events = generate(9)
    load(project, events)
    spine = tmp_path / "spine.csv"
    spine.write_text("cc_num,event_timestamp,amount,merchant,note\n"
                     f"c1,{TIMES[0].isoformat()},10,alpha,\n"
                     f"c2,{TIMES[1].isoformat()},250.5,echo,\"\"\n"
                     f"ghost,{TIMES[2].isoformat()},1,bravo,\"a \"\"b\"\", c\"\n", encoding="utf-8")
    out = tmp_path / "train.csv"
    assert write_csv(project, spine, ["tx_risk:new_merchant", "activity:n_1d", "last:last_amount"], out=out) == 3
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "cc_num,event_timestamp,amount,merchant,note,tx_risk__new_merchant,activity__n_1d,last__last_amount"
    rows = list(csv.reader(lines[1:]))
    assert lines[2].split(",")[4] == '""' and rows[1][4] == ""
    assert lines[1].split(",")[4] == "" and rows[2][4] == 'a "b", c'
    for row, (key, t, merchant) in zip(rows, [("c1", TIMES[0], "alpha"), ("c2", TIMES[1], "echo"),
                                              ("ghost", TIMES[2], "bravo")]):
        want = expected(events, key, t)
        assert row[5] == ("true" if merchant != want["last__last_merchant"] else "false")
        assert row[6] == str(want["activity__n_1d"])
        last = want["last__last_amount"]
        assert row[7] == ("" if last is None else str(Decimal(str(last)).quantize(Decimal("0.01"))))


def test_shared_evaluation_on_two_connections_matches_reference(loaded, method, monkeypatch):
    """Large spines: the views in parts by key on two connections, through unlogged work tables
    that are dropped afterwards (and a dead session's leftovers with them)."""
    project, events, seed = loaded
    conn = project.db.conn
    conn.execute("create table _mzt_999999999_0_p0 (x int)")      # a killed session's leftover
    monkeypatch.setattr(training, "PARALLEL_MIN_POINTS", 1)
    rows = spine_rows(events, seed)
    spine = pd.DataFrame({"cc_num": [k for k, _ in rows], "event_timestamp": [t for _, t in rows]})
    frame = project.training_set(spine, ["activity:*", "last:*", "last_tb:*"])
    _check_rows(frame, events, rows, [c for c in frame.columns if "__" in c])
    left = conn.execute("select relname from pg_class where relname like '\\_mzt\\_%'").fetchall()
    assert left == [], left
    out = project.root / "train.csv"
    from materializer.features.training import write_csv

    assert write_csv(project, spine, ["activity:n_1h", "last:last_amount"], out=out) == len(rows)
    assert conn.execute("select count(*) from pg_class where relname like '\\_mzt\\_%'").fetchone()[0] == 0


def test_shared_evaluation_with_on_demand_inputs(make_project, monkeypatch):
    monkeypatch.setattr(training, "PARALLEL_MIN_POINTS", 1)
    project = make_project(ON_DEMAND)
    events = generate(9)
    load(project, events)
    rows = [(k, t, "10", "alpha") for k in KEYS for t in TIMES]
    spine = pd.DataFrame({"cc_num": [r[0] for r in rows], "event_timestamp": [r[1] for r in rows],
                          "amount": [r[2] for r in rows], "merchant": [r[3] for r in rows]})
    frame = project.training_set(spine, ["tx_risk:*", "activity:n_1h"])
    for i, (key, t, amount, merchant) in enumerate(rows):
        for name, value in _on_demand_expected(events, key, t, amount, merchant).items():
            assert close(plain(frame.at[i, f"tx_risk__{name}"]), value), (name, key, t)
        assert frame.at[i, "activity__n_1h"] == expected(events, key, t)["activity__n_1h"]

"""Streaming sources (``kafka:``, ``webhook:``) and backfills with a cutover (``backfill:``).

The Kafka and webhook DDL of the streaming engines is checked by the golden files and the lint
corpus (tests/test_golden.py, tests/test_lint.py: both parsers, every rule). Here: the project-file
validation, compile's refusals, apply's handling of stream objects, and the seam of a backfill on
the real PostgreSQL, against an independent plain-Python computation over the intended union
(history events before ``until``, live events at or after it).
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pandas as pd
import pytest
import yaml

from materializer.db.apply import _stream_action
from materializer.definitions.validate import parse_project
from materializer.errors import MaterializerError, ProjectError
from materializer.sql.compile import DbObject, compile_project, compile_sql

BASE = """
name: fraud
engine: {engine}
sources:
  transactions:
    columns: {{tx_id: text, cc_num: text, amount: numeric, ts: timestamptz}}
    timestamp: ts
{extra}
"""


def parse(extra: str, engine: str = "materialize"):
    return parse_project(yaml.safe_load(BASE.format(engine=engine, extra=extra)))


def problems(extra: str, engine: str = "materialize") -> list[str]:
    with pytest.raises(ProjectError) as info:
        parse(extra, engine)
    return [line.split(": ", 1)[1] for line in str(info.value).splitlines() if line.startswith("materializer.yml")]


# ---------------------------------------------------------------- validation


def test_kafka_source_is_parsed():
    s = parse("    kafka: {broker: 'redpanda:9092', topic: tx.events-v2, start: latest, "
              "client_broker: 'localhost:19092'}").sources["transactions"]
    assert (s.kafka.broker, s.kafka.topic, s.kafka.start, s.kafka.push_broker) == (
        "redpanda:9092", "tx.events-v2", "latest", "localhost:19092")
    assert s.managed and s.streaming and s.relation == s.table == "transactions"
    default = parse("    kafka: {broker: 'redpanda:9092', topic: t}").sources["transactions"].kafka
    assert (default.start, default.push_broker) == ("earliest", "redpanda:9092")


@pytest.mark.parametrize("extra, expected", [
    ("    kafka: {broker: 'redpanda:9092', topic: t, offset: 3}",
     ["sources.transactions.kafka.offset: unknown key 'offset'"]),
    ("    kafka: {broker: 'redpanda:9092', topic: t, start: beginning}",
     ["sources.transactions.kafka.start: unknown start offset 'beginning'; use earliest"]),
    ("    kafka: {broker: redpanda, topic: t}",
     ["sources.transactions.kafka.broker: 'redpanda' is not a broker address; write host:port"]),
    ("    kafka: {broker: 'redpanda:99999', topic: t}",
     ["sources.transactions.kafka.broker: 'redpanda:99999' is not a broker address"]),
    ("    kafka: {broker: 'redpanda:9092', topic: t, client_broker: 'http://localhost:19092'}",
     ["sources.transactions.kafka.client_broker: 'http://localhost:19092' is not a broker address"]),
    ("    kafka: {broker: 'redpanda:9092', topic: 'tx events'}",
     ["sources.transactions.kafka.topic: 'tx events' is not a Kafka topic name"]),
    ("    kafka: {broker: 'redpanda:9092', topic: \"t'; drop table x; --\"}",
     ["sources.transactions.kafka.topic: \"t'; drop table x; --\" is not a Kafka topic name"]),
    ("    kafka: {broker: 'redpanda:9092', topic: '..'}",
     ["sources.transactions.kafka.topic: '..' is not a Kafka topic name"]),
    ("    kafka: {broker: 'redpanda:9092'}", ["sources.transactions.kafka.topic: missing"]),
    ("    kafka: redpanda:9092", ["sources.transactions.kafka: expected a mapping of Kafka settings"]),
    ("    kafka: {broker: 'redpanda:9092', topic: t}\n    webhook: {}",
     ["sources.transactions: a source reads one stream: keep `kafka:` or `webhook:`, not both"]),
    ("    webhook: {secret: x}", ["sources.transactions.webhook.secret: unknown key 'secret'"]),
    ("    backfill: {relation: raw.history, until: '2026-11-01T00:00:00'}",
     ["sources.transactions.backfill.until: '2026-11-01T00:00:00' has no time zone"]),
    ("    backfill: {relation: raw.history, until: 2026-11-01}",
     ["sources.transactions.backfill.until: datetime.date(2026, 11, 1) is not a timestamp"]),
    ("    backfill: {relation: raw.history, until: soon}",
     ["sources.transactions.backfill.until: 'soon' is not a timestamp"]),
    ("    backfill: {until: '2026-11-01T00:00:00Z'}", ["sources.transactions.backfill.relation: missing"]),
    ("    backfill: {relation: 'raw history', until: '2026-11-01T00:00:00Z'}",
     ["sources.transactions.backfill.relation: 'raw history' is not a valid relation"]),
    ("    backfill: {relation: transactions, until: '2026-11-01T00:00:00Z'}",
     ["sources.transactions.backfill.relation: 'transactions' is the source itself"]),
    ("    backfill: {relation: h, until: '2026-11-01T00:00:00Z', from: x}",
     ["sources.transactions.backfill.from: unknown key 'from'"]),
])
def test_bad_stream_settings(extra, expected):
    got = problems(extra)
    assert len(got) == len(expected), got
    for line, want in zip(got, expected):
        assert line.startswith(want), (line, want)


def test_stream_keys_refused_on_external_relation():
    text = """
name: fraud
sources:
  chargebacks:
    relation: raw.chargebacks
    timestamp: reported_at
    kafka: {broker: 'redpanda:9092', topic: chargebacks}
"""
    with pytest.raises(ProjectError, match=r"sources\.chargebacks\.kafka: `kafka:` applies to a source with "
                                           r"`columns:`.*external `relation:`"):
        parse_project(yaml.safe_load(text))


def test_webhook_refused_on_risingwave_with_the_alternative():
    got = problems("    webhook: {}", engine="risingwave")
    assert got == ["sources.transactions.webhook: a webhook source is Materialize's CREATE SOURCE ... FROM WEBHOOK, "
                   "which risingwave does not run; on risingwave read the events from a Kafka topic instead (replace "
                   "`webhook: {}` with `kafka: {broker: ..., topic: ...}`), or use engine materialize"]
    # declared for PostgreSQL or Materialize: compiling it for RisingWave is refused the same way
    spec = parse("    webhook: {}", engine="postgres")
    with pytest.raises(MaterializerError, match=r"sources\.transactions\.webhook: .*Kafka topic"):
        compile_project(spec, "risingwave")


def test_until_is_normalized_to_utc():
    spec = parse("    backfill: {relation: raw.history, until: '2026-11-01T01:30:00+01:30'}")
    assert spec.sources["transactions"].backfill.until == "2026-11-01T00:00:00+00:00"
    assert spec.sources["transactions"].relation == "transactions__all"


# ---------------------------------------------------------------- compile


def test_one_connection_per_broker_and_objects_in_order():
    text = BASE.format(engine="materialize", extra="""    kafka: {broker: 'redpanda:9092', topic: transactions}
  clicks:
    columns: {cc_num: text, ts: timestamptz}
    timestamp: ts
    kafka: {broker: 'redpanda:9092', topic: clicks}
  orders:
    columns: {cc_num: text, ts: timestamptz}
    timestamp: ts
    kafka: {broker: 'kafka-2.internal:9093', topic: orders}
""").replace("name: fraud", "name: Fraud Detection (EU)")
    objects = compile_project(parse_project(yaml.safe_load(text)), "materialize")
    kinds = [(o.kind, o.name) for o in objects]
    assert kinds[:2] == [("connection", "fraud_detection_eu__kafka__redpanda_9092"),
                         ("connection", "fraud_detection_eu__kafka__kafka_2_internal_9093")]
    assert kinds[2:] == [("source", "transactions__raw"), ("source_view", "transactions"),
                         ("source", "clicks__raw"), ("source_view", "clicks"),
                         ("source", "orders__raw"), ("source_view", "orders")]
    assert "from kafka connection fraud_detection_eu__kafka__kafka_2_internal_9093" in objects[-2].sql
    # PostgreSQL: the same sources are managed tables push writes
    pg = compile_project(parse_project(yaml.safe_load(text)), "postgres")
    assert [o.name for o in pg if o.kind == "table"] == ["transactions", "clicks", "orders"]
    assert not [o for o in pg if o.kind in ("connection", "source", "source_view", "stream_table")]


def test_views_read_the_union_of_a_backfilled_source():
    spec = parse("""    kafka: {broker: 'redpanda:9092', topic: transactions}
    backfill: {relation: raw.history, until: '2026-11-01T00:00:00Z'}
feature_views:
  card_activity:
    source: transactions
    entity: [cc_num]
    windows: [1h]
    features:
      tx_count: {agg: count}
""")
    for engine in ("postgres", "materialize", "risingwave"):
        objects = {o.name: o for o in compile_project(spec, engine)}
        assert "from transactions__all" in objects["card_activity"].sql
        assert objects["card_activity"].depends_on == ("transactions__all",)
        union = objects["transactions__all"].sql
        assert "from raw.history\nwhere ts < cast('2026-11-01T00:00:00+00:00' as timestamptz)" in union
        assert "from transactions\nwhere ts >= cast('2026-11-01T00:00:00+00:00' as timestamptz)" in union
    assert "create table if not exists transactions (" in compile_sql(spec, "postgres")


# ---------------------------------------------------------------- apply


def test_stream_objects_are_created_once_and_never_replaced(pg_conn):
    """The plan step of a stream object (db/apply.py _stream_action): created when missing (for a table
    or view: missing from the catalog too), unchanged when its SQL is the recorded one, refused with
    what to do when it changed."""
    source = DbObject("source", "transactions__raw", "create source if not exists transactions__raw ...", "transactions")
    assert _stream_action(pg_conn, source, {}).verb == "create"
    assert _stream_action(pg_conn, source, {"transactions__raw": ("source", source.sql)}) is None
    with pytest.raises(MaterializerError) as info:
        _stream_action(pg_conn, source, {"transactions__raw": ("source", "create source ... (topic 'old')")})
    assert str(info.value) == (
        "source transactions__raw (source transactions) changed in the project since apply created it; materializer "
        "never drops a stream's objects (they hold the events ingested so far, and a Kafka start offset is fixed "
        "when the source is created). Change the project back, or drop it by hand (drop source transactions__raw "
        "cascade, which also drops the views that read it) and rerun apply to create it and its views again")
    with pytest.raises(MaterializerError, match=r"^transactions__raw \(source transactions\) is a table that an "
                                                r"earlier apply created, and the project now makes it a source; "
                                                r"materializer never drops it \(it may hold rows\)\. Drop it by hand "
                                                r"\(drop table transactions__raw cascade"):
        _stream_action(pg_conn, source, {"transactions__raw": ("table", "create table transactions__raw (a text)")})
    view = DbObject("source_view", "transactions", "create view transactions as select 1 as a", "transactions")
    recorded = {"transactions": ("source_view", view.sql)}
    assert _stream_action(pg_conn, view, recorded).verb == "create"  # recorded, but gone from the catalog
    pg_conn.execute(view.sql)
    assert _stream_action(pg_conn, view, recorded) is None


def test_apply_refuses_a_missing_history_relation(make_project):
    project = make_project(BASE.format(engine="postgres", extra="""    backfill: {relation: history.transactions, until: '2026-01-10T00:00:00Z'}"""))
    with pytest.raises(MaterializerError) as info:
        project.apply()
    assert str(info.value).startswith(
        "sources.transactions.backfill.relation: relation history.transactions does not exist on ")
    assert str(info.value).endswith(
        "create it with the source's columns (tx_id, cc_num, amount, ts) and load the events before "
        "2026-01-10T00:00:00+00:00 into it, or fix `backfill.relation:` in the project file")


# ---------------------------------------------------------------- the seam of a backfill, on PostgreSQL

U = datetime(2026, 1, 10, tzinfo=timezone.utc)  # the cutover
SEAM = f"""
name: fraud
engine: postgres
sources:
  transactions:
    columns: {{tx_id: text, cc_num: text, amount: numeric, ts: timestamptz}}
    timestamp: ts
    kafka: {{broker: 'redpanda:9092', topic: transactions}}
    backfill: {{relation: history.transactions, until: '{U.isoformat()}'}}
  predictions:
    columns: {{tx_id: text, predicted_at: timestamptz, score: double precision}}
    timestamp: predicted_at
    backfill: {{relation: history.predictions, until: '{U.isoformat()}'}}
  chargebacks:
    columns: {{tx_id: text, reported_at: timestamptz, is_fraud: integer}}
    timestamp: reported_at
feature_views:
  card_activity:
    source: transactions
    entity: [cc_num]
    windows: [1h, 1d]
    features:
      tx_count:   {{agg: count}}
      amount_sum: {{agg: sum, column: amount}}
monitors:
  fraud_model:
    task: binary_classification
    predictions: {{source: predictions, id: tx_id, timestamp: predicted_at, score: score}}
    outcomes:    {{source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}}
    label_policy: explicit
    threshold: 0.5
    windows: [1d]
    bucket: 1h
"""
M = timedelta(minutes=1)
# (tx_id, cc_num, amount, ts): the history holds events up to 20 minutes after the cutover (its load
# overlapped the stream), the live table events from 30 minutes before it (the topic was replayed);
# both hold the events exactly at the cutover and copies of events on either side of it
HISTORY_TX = [
    ("h1", "c1", "10", U - 23 * 60 * M), ("h2", "c1", "20", U - 50 * M), ("h3", "c2", "5", U - 10 * M),
    ("h4", "c1", "7", U - 1 * M), ("s1", "c1", "100", U - 20 * M), ("s2", "c2", "200", U + 5 * M),
    ("at", "c1", "1000", U), ("h5", "c2", "3", U + 20 * M), ("h6", "c1", "1", U - 59 * M),
]
LIVE_TX = [
    ("s1", "c1", "100", U - 20 * M), ("l0", "c2", "9", U - 30 * M), ("at", "c1", "1000", U),
    ("s2", "c2", "200", U + 5 * M), ("l1", "c1", "4", U + 1 * M), ("l2", "c2", "8", U + 40 * M),
    ("l3", "c1", "2", U + 59 * M), ("l4", "c1", "6", U + 61 * M),
]
# predictions, with copies across the seam whose scores differ: counted twice (or from the wrong
# side) the deduplication would keep the greater score and flip the predicted label
HISTORY_PRED = [("p1", U - 3 * 60 * M, 0.9), ("p2", U - 30 * M, 0.2), ("p3", U - 5 * M, 0.4),
                ("p4", U, 0.9), ("p5", U + 10 * M, 0.9)]
LIVE_PRED = [("p3", U - 5 * M, 0.95), ("p6", U - 15 * M, 0.99), ("p4", U, 0.1), ("p5", U + 10 * M, 0.3),
             ("p7", U + 30 * M, 0.7), ("p8", U + 50 * M, 0.6)]
OUTCOMES = [("p1", U - 60 * M, 1), ("p2", U - 10 * M, 1), ("p3", U + 1 * M, 0), ("p4", U + 2 * M, 0),
            ("p5", U + 15 * M, 1), ("p6", U + 20 * M, 1), ("p7", U + 40 * M, 0), ("p8", U + 55 * M, 1)]


def union(history: list[tuple], live: list[tuple], ts: int) -> list[tuple]:
    """The intended union: the history's rows before the cutover, the live rows at or after it."""
    return [r for r in history if r[ts] < U] + [r for r in live if r[ts] >= U]


def expected_features(key: str, t: datetime) -> dict:
    rows = [r for r in union(HISTORY_TX, LIVE_TX, 3) if r[1] == key]
    out = {}
    for name, width in (("1h", timedelta(hours=1)), ("1d", timedelta(days=1))):
        inside = [Decimal(r[2]) for r in rows if t - width <= r[3] <= t]
        out[f"tx_count_{name}"] = len(inside)
        out[f"amount_sum_{name}"] = sum(inside) if inside else None
    return out


def expected_metrics(t: datetime) -> dict:
    """Binary metrics of window 1d at t, label_policy explicit (DESIGN §5), over the intended union."""
    preds: dict[str, tuple] = {}
    for pid, at, score in sorted(union(HISTORY_PRED, LIVE_PRED, 1), key=lambda r: (r[1], -r[2])):
        preds.setdefault(pid, (at, score))  # the earliest wins; ties: the greater score
    counts = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    cohort = 0
    for pid, (at, score) in preds.items():
        if not t - timedelta(days=1) <= at <= t:
            continue
        cohort += 1
        labels = [(r[1], r[2]) for r in OUTCOMES if r[0] == pid and r[1] <= t]
        if not labels:
            continue
        label = max(labels)[1]
        predicted = score >= 0.5
        counts[{(1, True): "tp", (0, True): "fp", (0, False): "tn", (1, False): "fn"}[(label, predicted)]] += 1
    n = sum(counts.values())
    return {**counts, "n": n, "n_labelled": n, "coverage": n / cohort if cohort else None}


def write_csv(path, header, rows):
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow([v.isoformat() if isinstance(v, datetime) else v for v in r])
    return path


@pytest.fixture
def seam(make_project, pg_conn, tmp_path):
    """The project applied on PostgreSQL: the history tables filled with SQL, the live tables by push."""
    pg_conn.execute("create schema history")
    pg_conn.execute("create table history.transactions (tx_id text, cc_num text, amount numeric, ts timestamptz)")
    pg_conn.execute("create table history.predictions (tx_id text, predicted_at timestamptz, score double precision)")
    with pg_conn.cursor() as cur:
        cur.executemany("insert into history.transactions values (%s, %s, %s, %s)", HISTORY_TX)
        cur.executemany("insert into history.predictions values (%s, %s, %s)", HISTORY_PRED)
    project = make_project(SEAM)
    project.apply()
    assert project.push("transactions", write_csv(tmp_path / "tx.csv", ["tx_id", "cc_num", "amount", "ts"],
                                                  LIVE_TX)) == len(LIVE_TX)
    assert project.push("predictions", write_csv(tmp_path / "p.csv", ["tx_id", "predicted_at", "score"],
                                                 LIVE_PRED)) == len(LIVE_PRED)
    project.push("chargebacks", write_csv(tmp_path / "c.csv", ["tx_id", "reported_at", "is_fraud"], OUTCOMES))
    # push wrote the live tables only; the union reads both
    assert pg_conn.execute("select count(*) from transactions").fetchone()[0] == len(LIVE_TX)
    return project


TIMES = [U - 61 * M, U - 20 * M, U - 1 * M, U - timedelta(microseconds=1), U, U + 1 * M, U + 20 * M, U + 59 * M,
         U + 60 * M, U + 61 * M, U + 23 * 60 * M, U + 24 * 60 * M]


def test_seam_features_online(seam):
    for key in ("c1", "c2"):
        for t in TIMES:
            got = seam.online_features("card_activity", {"cc_num": key}, as_of=t).features
            want = expected_features(key, t)
            assert {k: (Decimal(str(v)) if isinstance(v, float) else v) for k, v in got.items()} == want, (key, t)


def test_seam_training_set(seam):
    spine = pd.DataFrame([{"cc_num": k, "event_timestamp": t} for t in TIMES for k in ("c1", "c2")])
    got = seam.training_set(spine, ["card_activity:*"])
    assert len(got) == len(spine)
    for _, row in got.iterrows():
        want = expected_features(row["cc_num"], row["event_timestamp"].to_pydatetime())
        for name, value in want.items():
            cell = row[f"card_activity__{name}"]
            cell = None if pd.isna(cell) else cell
            assert (None if cell is None else Decimal(str(cell))) == value, (row["cc_num"], row["event_timestamp"], name)


def test_seam_monitor_metrics(seam):
    for t in (U - 1 * M, U, U + 12 * M, U + 45 * M, U + 2 * 60 * M):
        got = seam.metrics("fraud_model", window="1d", as_of=t).groups[0]["metrics"]
        want = expected_metrics(t)
        assert {k: got[k] for k in want} == pytest.approx(want), t
    # not a vacuous check: the seam's events change the answer
    assert expected_metrics(U + 2 * 60 * M)["n"] == 8 - 1  # p1..p8 but p6 (live, before the cutover)


def test_seam_verify(seam):
    report = seam.verify(entities=5, as_of=U + 30 * M)
    assert report.ok


def test_adding_and_removing_a_backfill_keeps_the_live_rows(make_project, pg_conn, tmp_path):
    """A backfill added to a source that holds rows: the union view is created and the views that read
    the source are rebuilt over it; removed again: the views read the table, whose rows stay."""
    live = BASE.format(engine="postgres", extra="""feature_views:
  card_activity:
    source: transactions
    entity: [cc_num]
    windows: [1d]
    features:
      tx_count: {agg: count}""")
    with_backfill = live.replace("    timestamp: ts\n", "    timestamp: ts\n    backfill: {relation: history.transactions, "
                                                       f"until: '{U.isoformat()}'}}\n", 1)
    pg_conn.execute("create schema history")
    pg_conn.execute("create table history.transactions (tx_id text, cc_num text, amount numeric, ts timestamptz)")
    pg_conn.execute("insert into history.transactions values ('h', 'c1', 1, %s), ('late', 'c1', 1, %s)",
                    [U - 10 * M, U + 10 * M])
    project = make_project(live)
    project.apply()
    project.push("transactions", write_csv(tmp_path / "tx.csv", ["tx_id", "cc_num", "amount", "ts"],
                                           [("early", "c1", "1", U - 5 * M), ("l", "c1", "1", U + 5 * M)]))
    at = U + 20 * M
    assert project.online_features("card_activity", {"cc_num": "c1"}, as_of=at).features == {"tx_count_1d": 2}

    project = make_project(with_backfill, name="backfill.yml")
    plan = project.apply()
    assert "+ create view transactions__all" in plan.summary()
    assert "~ replace view card_activity (transactions__all is rebuilt)" in plan.summary()
    # history before the cutover (h) + live at or after it (l): not 'early' (live, before), not 'late'
    assert project.online_features("card_activity", {"cc_num": "c1"}, as_of=at).features == {"tx_count_1d": 2}
    assert pg_conn.execute("select array_agg(tx_id order by ts) from transactions__all").fetchone()[0] == ["h", "l"]
    assert project.apply().empty

    # the cutover moved 15 minutes later: the history's 'late' (U + 10m) is read, the live 'l' (U + 5m) not
    project = make_project(with_backfill.replace(U.isoformat(), (U + 15 * M).isoformat()), name="moved.yml")
    assert "~ replace view transactions__all" in project.apply().summary()
    assert pg_conn.execute("select array_agg(tx_id order by ts) from transactions__all").fetchone()[0] == ["h", "late"]
    assert project.online_features("card_activity", {"cc_num": "c1"}, as_of=at).features == {"tx_count_1d": 2}

    project = make_project(live, name="live.yml")
    plan = project.apply()
    assert "- drop view transactions__all" in plan.summary()
    assert pg_conn.execute("select count(*) from transactions").fetchone()[0] == 2
    assert project.online_features("card_activity", {"cc_num": "c1"}, as_of=at).features == {"tx_count_1d": 2}
    assert pg_conn.execute("select to_regclass('transactions__all')").fetchone()[0] is None

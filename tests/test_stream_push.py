"""push to a streaming source on Materialize and RisingWave: rows to the Kafka topic, or POSTed to
the webhook (db/streams.py).

No broker runs here. The Kafka client is replaced at its boundary only (``kafka_producer``, which
returns confluent-kafka's Producer) by a small in-process producer that records what it is given
and reports deliveries as the real one does (callbacks served by poll and flush, flush returning
the messages still queued). No database is involved in these paths. The webhook path POSTs to a
real HTTP server in a thread.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from materializer.db import streams
from materializer.engines import get_engine
from materializer.errors import PushError

PROJECT = """
name: fraud
engine: {engine}
sources:
  transactions:
    columns: {{tx_id: uuid, cc_num: text, amount: "numeric(12,2)", n: integer, big: bigint, x: double precision,
               ok: boolean, meta: jsonb, day: date, ts: timestamptz}}
    timestamp: ts
    kafka: {{broker: "redpanda:9092", topic: transactions, client_broker: "localhost:19092"}}
  predictions:
    columns: {{tx_id: text, predicted_at: timestamptz, score: double precision}}
    timestamp: predicted_at
    kafka: {{broker: "redpanda:9092", topic: predictions}}
  labels:
    columns: {{tx_id: text, reported_at: timestamptz, is_fraud: integer}}
    timestamp: reported_at
    kafka: {{broker: "redpanda:9092", topic: labels}}
feature_views:
  card_activity:
    source: transactions
    entity: [cc_num]
    windows: [1h]
    features:
      tx_count: {{agg: count}}
  card_pair:
    source: predictions
    entity: [tx_id]
    windows: [1h]
    features:
      n: {{agg: count}}
monitors:
  model:
    task: binary_classification
    predictions: {{source: predictions, id: tx_id, timestamp: predicted_at, score: score}}
    outcomes: {{source: labels, id: tx_id, timestamp: reported_at, label: is_fraud}}
    windows: [1d]
    bucket: 1h
"""

CSV = """tx_id,cc_num,amount,n,big,x,ok,meta,day,ts
6f1c2a3e-0000-4000-8000-000000000001,c1,12.5,3,9007199254740993,0.1,true,"{""k"": [1, ""é""]}",2026-01-02,2026-01-10T01:00:00+01:00
6f1c2a3e-0000-4000-8000-000000000002,c2,,,,,,,,2026-01-10 00:00:05Z
6f1c2a3e-0000-4000-8000-000000000003,,-7.005,0,-1,1e-05,false,null,2026-01-03,2026-01-10T00:00:06.5Z
"""

EXPECTED = [
    (b"c1", {"tx_id": "6f1c2a3e-0000-4000-8000-000000000001", "cc_num": "c1", "amount": "12.50", "n": 3,
             "big": 9007199254740993, "x": Decimal("0.1"), "ok": True, "meta": {"k": [1, "é"]}, "day": "2026-01-02",
             "ts": "2026-01-10T00:00:00Z"}),
    (b"c2", {"tx_id": "6f1c2a3e-0000-4000-8000-000000000002", "cc_num": "c2", "amount": None, "n": None,
             "big": None, "x": None, "ok": None, "meta": None, "day": None, "ts": "2026-01-10T00:00:05Z"}),
    (None, {"tx_id": "6f1c2a3e-0000-4000-8000-000000000003", "cc_num": None, "amount": "-7.01", "n": 0, "big": -1,
            "x": Decimal("0.00001"), "ok": False, "meta": None, "day": "2026-01-03", "ts": "2026-01-10T00:00:06.500000Z"}),
]


class FakeProducer:
    """confluent_kafka.Producer's produce/poll/flush: deliveries are reported by poll and flush, each
    message failing when ``fail(n)`` says so (n counts from 1); ``stuck`` messages are never delivered
    (flush returns how many are still queued)."""

    def __init__(self, fail=lambda n: False, stuck: int = 0) -> None:
        self.fail, self.stuck = fail, stuck
        self.produced: list[tuple[str, bytes | None, bytes]] = []
        self.pending: list = []
        self.flushed = False

    def produce(self, topic, value, key=None, on_delivery=None):
        assert not self.flushed, "produce after flush"
        self.produced.append((topic, key, value))
        self.pending.append((len(self.produced), on_delivery))

    def _serve(self, keep: int) -> int:
        served = self.pending[:len(self.pending) - keep] if keep else self.pending
        for n, callback in served:
            callback("KafkaError{code=MSG_TIMED_OUT,val=7,str=\"Local: Message timed out\"}" if self.fail(n)
                     else None, object())
        self.pending = self.pending[len(served):]
        return len(self.pending)

    def poll(self, timeout):
        return self._serve(keep=len(self.pending))  # delivery reports arrive later: nothing served yet

    def flush(self, timeout):
        self.flushed = True
        return self._serve(keep=self.stuck)


@pytest.fixture
def producers(monkeypatch):
    """Every producer push creates, with the broker it was created for."""
    made: list[tuple[str, FakeProducer]] = []
    settings = {"fail": lambda n: False, "stuck": 0}

    def factory(broker):
        p = FakeProducer(**settings)
        made.append((broker, p))
        return p

    monkeypatch.setattr(streams, "kafka_producer", factory)
    return made, settings


def messages(p: FakeProducer) -> list[tuple[str, bytes | None, dict]]:
    return [(topic, key, json.loads(value, parse_float=Decimal)) for topic, key, value in p.produced]


@pytest.mark.parametrize("engine", ["materialize", "risingwave"])
def test_csv_rows_go_to_the_topic_typed_and_keyed(make_project, tmp_path, producers, engine):
    made, _ = producers
    project = make_project(PROJECT.format(engine=engine))
    path = tmp_path / "tx.csv"
    path.write_text(CSV, encoding="utf-8")
    assert project.push("transactions", path) == 3
    assert [b for b, _ in made] == ["localhost:19092"]  # client_broker: as push reaches the broker
    got = messages(made[0][1])
    assert [(t, k) for t, k, _ in got] == [("transactions", k) for k, _ in EXPECTED]
    for (_, _, doc), (_, want) in zip(got, EXPECTED):
        assert doc == want
    # integers are JSON numbers written exactly (a float would round the bigint); a numeric is its exact
    # decimal as a string (RisingWave would read a JSON number through a float)
    raw = made[0][1].produced[0][2].decode()
    assert '"amount":"12.50",' in raw and '"big":9007199254740993,' in raw and '"ts":"2026-01-10T00:00:00Z"' in raw


def test_jsonl_rows_and_message_keys(make_project, tmp_path, producers):
    made, _ = producers
    project = make_project(PROJECT.format(engine="materialize"))
    path = tmp_path / "p.jsonl"
    path.write_text('{"tx_id": "t1", "predicted_at": "2026-01-10T00:00:00Z", "score": 0.25}\n'
                    '{"tx_id": "t2", "predicted_at": "2026-01-10T00:00:01Z", "score": null}\n', encoding="utf-8")
    assert project.push("predictions", path) == 2
    assert made[0][0] == "redpanda:9092"  # no client_broker: the engine's address
    assert messages(made[0][1]) == [
        ("predictions", b"t1", {"tx_id": "t1", "predicted_at": "2026-01-10T00:00:00Z", "score": Decimal("0.25")}),
        ("predictions", b"t2", {"tx_id": "t2", "predicted_at": "2026-01-10T00:00:01Z", "score": None})]
    # keys: the one key column its readers use (a view's entity, a monitor's id), else none
    spec = project.spec
    assert streams.message_key(spec, spec.sources["transactions"]) == "cc_num"
    assert streams.message_key(spec, spec.sources["predictions"]) == "tx_id"  # view entity = monitor id
    assert streams.message_key(spec, spec.sources["labels"]) == "tx_id"


@pytest.mark.parametrize("bad, where", [
    ("6f1c2a3e-0000-4000-8000-000000000009,c9,1,2,3,4,true,{},2026-01-01,",
     "line 5, column ts: no time; every event needs its time"),
    ("6f1c2a3e-0000-4000-8000-000000000009,c9,1,2.5,3,4,true,{},2026-01-01,2026-01-10T00:00:00Z",
     "line 5, column n: '2.5' is not a valid integer"),
    ("6f1c2a3e-0000-4000-8000-000000000009,c9,NaN,2,3,4,true,{},2026-01-01,2026-01-10T00:00:00Z",
     "line 5, column amount:"),
    ("6f1c2a3e-0000-4000-8000-000000000009,c9,1,2,3,4,true,{},2026-01-01,now", "line 5, column ts:"),
    ("not-a-uuid,c9,1,2,3,4,true,{},2026-01-01,2026-01-10T00:00:00Z", "line 5, column tx_id:"),
])
def test_a_bad_row_anywhere_sends_nothing(make_project, tmp_path, producers, bad, where):
    made, _ = producers
    project = make_project(PROJECT.format(engine="materialize"))
    path = tmp_path / "tx.csv"
    path.write_text(CSV + bad + "\n", encoding="utf-8")
    with pytest.raises(PushError) as info:
        project.push("transactions", path)
    assert f"tx.csv: {where}" in str(info.value) and str(info.value).endswith("nothing was inserted")
    assert made == []  # checked before a producer is even created


def test_a_failed_flush_says_how_many_rows_were_delivered(make_project, tmp_path, producers):
    made, settings = producers
    settings["fail"] = lambda n: n == 2
    project = make_project(PROJECT.format(engine="materialize"))
    path = tmp_path / "tx.csv"
    path.write_text(CSV, encoding="utf-8")
    with pytest.raises(PushError) as info:
        project.push("transactions", path)
    assert str(info.value) == (
        f"{path}: 2 of 3 rows were delivered to topic transactions on localhost:19092 (1 failed: "
        "KafkaError{code=MSG_TIMED_OUT,val=7,str=\"Local: Message timed out\"}); the delivered rows stay in the "
        "topic (a topic is not a transaction), so pushing the file again sends them twice: push a file of the "
        "rows that are missing")
    assert len(made[0][1].produced) == 3  # all produced, then flushed


def test_messages_still_queued_after_the_flush(make_project, tmp_path, producers):
    made, settings = producers
    settings["stuck"] = 2
    project = make_project(PROJECT.format(engine="risingwave"))
    path = tmp_path / "tx.csv"
    path.write_text(CSV, encoding="utf-8")
    with pytest.raises(PushError, match=r"1 of 3 rows were delivered to topic transactions on localhost:19092 "
                                        r"\(2 still unacknowledged after 30s\)"):
        project.push("transactions", path)


def test_missing_kafka_client_names_the_extra(make_project, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "confluent_kafka", None)  # `import confluent_kafka` fails
    project = make_project(PROJECT.format(engine="materialize"))
    path = tmp_path / "tx.csv"
    path.write_text(CSV, encoding="utf-8")
    with pytest.raises(Exception) as info:
        project.push("transactions", path)
    assert str(info.value) == ('push to a Kafka topic needs confluent_kafka, which is not installed; '
                               'pip install "materializer[kafka]"')


def test_postgres_push_still_writes_the_table(make_project, tmp_path, producers, pg_conn):
    made, _ = producers
    project = make_project(PROJECT.format(engine="postgres"))
    project.apply()
    path = tmp_path / "tx.csv"
    path.write_text(CSV, encoding="utf-8")
    assert project.push("transactions", path) == 3
    assert made == []
    assert pg_conn.execute("select count(*), sum(amount) from transactions").fetchone() == (3, Decimal("5.49"))


def test_http_push_rows_go_to_the_topic(make_project, producers, pg_dsn):
    """POST /push's path: rows checked by serve/push.py, then produced (no connection is opened)."""
    from materializer.serve import push as push_rows
    from materializer.serve.database import ConnectionPool

    made, _ = producers
    project = make_project(PROJECT.format(engine="risingwave"))
    source = project.spec.sources["predictions"]
    pool = ConnectionPool(pg_dsn, get_engine("risingwave"))
    rows = [{"tx_id": "t1", "predicted_at": "2026-01-10T01:00:00+01:00", "score": 0.5},
            {"tx_id": "t2", "predicted_at": "2026-01-10T00:00:00Z"}]
    names, typed = push_rows.check_rows(project.spec, source, rows)
    assert push_rows.streamed(pool, source)
    assert asyncio.run(push_rows.stream(pool, project.spec, source, names, typed)) == 2
    assert messages(made[0][1]) == [
        ("predictions", b"t1", {"tx_id": "t1", "predicted_at": "2026-01-10T00:00:00Z", "score": Decimal("0.5")}),
        ("predictions", b"t2", {"tx_id": "t2", "predicted_at": "2026-01-10T00:00:00Z", "score": None})]


@pytest.mark.parametrize("side, want", [(None, "localhost:19092"), ("client_broker", "localhost:19092"),
                                        ("broker", "redpanda:9092")])
def test_push_broker_env_picks_the_address(make_project, tmp_path, producers, monkeypatch, side, want):
    """MATERIALIZER_PUSH_BROKER=broker (the compose file's serve services, inside the network) sends to the
    engine's address; by default push uses client_broker, as it reaches the broker from this machine."""
    made, _ = producers
    if side is not None:
        monkeypatch.setenv("MATERIALIZER_PUSH_BROKER", side)
    project = make_project(PROJECT.format(engine="materialize"))
    path = tmp_path / "tx.csv"
    path.write_text(CSV, encoding="utf-8")
    assert project.push("transactions", path) == 3
    assert [b for b, _ in made] == [want]


def test_a_bad_push_broker_env_is_one_clear_error(make_project, tmp_path, producers, monkeypatch):
    from materializer.errors import MaterializerError

    made, _ = producers
    monkeypatch.setenv("MATERIALIZER_PUSH_BROKER", "engine")
    project = make_project(PROJECT.format(engine="materialize"))
    path = tmp_path / "tx.csv"
    path.write_text(CSV, encoding="utf-8")
    with pytest.raises(MaterializerError, match=r"MATERIALIZER_PUSH_BROKER='engine': use broker .* or client_broker"):
        project.push("transactions", path)
    assert made == []


# ---------------------------------------------------------------- webhooks


class Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]] = []
    refuse_at: int | None = None

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Receiver.refuse_at is not None and len(Receiver.bodies) + 1 == Receiver.refuse_at:
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b"invalid JSON")
            return
        Receiver.bodies.append((self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    Receiver.bodies, Receiver.refuse_at = [], None
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


WEBHOOK = """
name: shop
engine: materialize
sources:
  clicks:
    columns: {user_id: text, price: "numeric(10,2)", ts: timestamptz}
    timestamp: ts
    webhook: {}
"""


def test_webhook_rows_are_posted(make_project, tmp_path, receiver):
    project = make_project(WEBHOOK)
    source = project.spec.sources["clicks"]
    path = tmp_path / "clicks.csv"
    path.write_text("user_id,price,ts\nu1,3.5,2026-01-10T00:00:00Z\nu2,,2026-01-10T00:00:01Z\n", encoding="utf-8")
    docs = streams.documents(path, source, ["user_id", "price", "ts"], [(2, ["u1", "3.5", "2026-01-10T00:00:00Z"]),
                                                                        (3, ["u2", None, "2026-01-10T00:00:01Z"])],
                             {}, get_engine("materialize"), None)
    url = f"http://127.0.0.1:{receiver.server_port}/api/webhook/materialize/public/clicks__raw"
    assert streams.post_rows(url, path, docs) == 2
    assert [(p, json.loads(b, parse_float=Decimal)) for p, b in Receiver.bodies] == [
        ("/api/webhook/materialize/public/clicks__raw", {"user_id": "u1", "price": "3.50", "ts": "2026-01-10T00:00:00Z"}),
        ("/api/webhook/materialize/public/clicks__raw", {"user_id": "u2", "price": None, "ts": "2026-01-10T00:00:01Z"})]
    assert b'"price":"3.50"' in Receiver.bodies[0][1]


def test_a_refused_webhook_post_says_how_many_rows_were_delivered(tmp_path, receiver):
    Receiver.refuse_at = 2
    url = f"http://127.0.0.1:{receiver.server_port}/api/webhook/materialize/public/clicks__raw"
    docs = [(None, b'{"a":1}'), (None, b'{"a":2}'), (None, b'{"a":3}')]
    with pytest.raises(PushError) as info:
        streams.post_rows(url, tmp_path / "clicks.csv", docs)
    assert str(info.value) == (f"{tmp_path / 'clicks.csv'}: 1 of 3 rows were delivered to {url}; row 2 was refused "
                               "(HTTP 400: invalid JSON); push a file of the rows that are missing")
    assert len(Receiver.bodies) == 1


def test_webhook_url_from_the_dsn():
    assert streams.webhook_url("postgresql://materialize@mz.internal:6875/materialize", "materialize", "public",
                               "clicks__raw") == "http://mz.internal:6876/api/webhook/materialize/public/clicks__raw"
    assert streams.webhook_url("host=localhost port=6875 dbname=shop", "shop", "events", "clicks__raw") == (
        "http://localhost:6876/api/webhook/shop/events/clicks__raw")
    assert streams.webhook_url("postgresql://u@[::1]:6875/db", "db", "public", "c__raw") == (
        "http://[::1]:6876/api/webhook/db/public/c__raw")

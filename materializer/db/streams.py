"""push to a streaming source: rows to its Kafka topic, or POSTed to its Materialize webhook.

On Materialize and RisingWave a ``kafka:`` source reads a topic, so ``push`` writes there, one JSON
object per row (keyed by the entity or id column its readers key on, when there is exactly one);
a ``webhook:`` source (Materialize) gets one POST per row at
``http://<host>:6876/api/webhook/<database>/<schema>/<source>__raw`` (the URL form of
doc/user/content/sql/create-source/webhook.md, "Webhook URL"; 6876 is the emulator's HTTP port).
On PostgreSQL the same sources are tables and push writes them as any managed source.

Every row is checked and typed before the first message (the checks of db/inserts.py, with the same
messages: row checks, types, the engine's limits). A topic is not a transaction: the producer sends
every message, then flushes; a failed delivery is reported with exactly how many rows were
delivered. The Kafka client is the ``kafka`` extra (confluent-kafka):
``pip install "materializer[kafka]"``.

Messages go to ``client_broker`` (the broker as this machine reaches it), or to ``broker`` when
``MATERIALIZER_PUSH_BROKER=broker``: a process that runs next to the engine, such as the serve
services of docker-compose.yml inside the compose network, reaches the broker as the engine does.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from psycopg import conninfo

from materializer.db.inserts import Record, _check_record
from materializer.definitions.spec import ProjectSpec, Source
from materializer.engines import Engine
from materializer.errors import MaterializerError, PushError
from materializer.extras import optional

if TYPE_CHECKING:
    from materializer.project import Project

#: how long push waits for the broker to acknowledge every message
FLUSH_TIMEOUT = 30.0
#: how long the producer tries to deliver one message before reporting it failed (within the flush)
MESSAGE_TIMEOUT = 25.0
#: Materialize's HTTP port, where webhook sources listen (the compose file publishes it)
WEBHOOK_PORT = 6876
#: which address of a ``kafka:`` source push writes to: ``client_broker`` (default) or ``broker``
PUSH_BROKER_ENV = "MATERIALIZER_PUSH_BROKER"
_NUMBERS = ("smallint", "integer", "bigint", "numeric", "real", "double precision")


class Producer(Protocol):
    """The part of confluent_kafka.Producer that push uses."""

    def produce(self, topic: str, value: bytes, key: bytes | None = None,
                on_delivery: Callable[[Any, Any], None] | None = None) -> None: ...

    def poll(self, timeout: float) -> int: ...

    def flush(self, timeout: float) -> int: ...


def push_broker(kafka: Any) -> str:
    """The broker push writes a ``kafka:`` source's messages to (see ``MATERIALIZER_PUSH_BROKER``)."""
    side = os.environ.get(PUSH_BROKER_ENV, "").strip() or "client_broker"
    if side == "client_broker":
        return kafka.push_broker
    if side == "broker":
        return kafka.broker
    raise MaterializerError(f"{PUSH_BROKER_ENV}={side!r}: use broker (the address the engine reaches) or "
                            "client_broker (the default)")


def kafka_producer(broker: str) -> Producer:
    """A confluent-kafka producer for ``broker`` (host:port as push reaches it): every message
    acknowledged by all in-sync replicas, retried without duplicates (idempotence), given up within
    the flush's wait so that its failure is reported (librdkafka's own log stays quiet below critical:
    push says what failed)."""
    kafka = optional("confluent_kafka", "push to a Kafka topic")
    try:
        return kafka.Producer({"bootstrap.servers": broker, "client.id": "materializer-push", "acks": "all",
                               "enable.idempotence": True, "message.timeout.ms": int(MESSAGE_TIMEOUT * 1000),
                               "log_level": 2})
    except kafka.KafkaException as exc:
        raise PushError(f"cannot create a Kafka producer for {broker}: {exc}") from None


def message_key(spec: ProjectSpec, source: Source) -> str | None:
    """The column that keys the messages: the one key column every reader of the source keys on (a
    single-column entity of its feature views, the id of a monitor side), so one entity's events stay
    in one partition, in order; None (no key) when there is none or several."""
    keys = {v.entity[0] for v in spec.feature_views.values() if v.source.name == source.name and len(v.entity) == 1}
    if any(v.source.name == source.name and len(v.entity) > 1 for v in spec.feature_views.values()):
        return None
    for m in spec.monitors.values():
        keys |= {side.id for side in (m.predictions, m.outcomes) if side.source.name == source.name}
    return next(iter(keys)) if len(keys) == 1 else None


def _json_value(text: str | None, sql_type: str) -> str:
    """One value of a JSON document from its canonical text (db/inserts.py ``canonical``).

    Integers, floats and booleans are JSON numbers and booleans. A ``numeric`` is a JSON string of
    its exact decimal: RisingWave decodes a string into a decimal exactly but a JSON number with a
    fraction through a float (its JSON parser, src/connector/src/parser/unified/json.rs: Decimal
    from ``ValueType::String`` with ``Decimal::from_str``, from ``ValueType::F64`` with
    ``Decimal::try_from(f64)``), and Materialize's view reads the field as text either way (``->>``).
    A timestamptz is RFC 3339 in UTC with ``Z``, which RisingWave's parser asks for and
    Materialize's cast reads."""
    if text is None:
        return "null"
    kind = sql_type.split("(")[0]
    if kind == "numeric":
        return json.dumps(text)
    if kind in _NUMBERS or kind == "boolean":
        return text  # integers, repr() of a float, true/false: JSON as they are
    if kind == "jsonb":
        return json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    if kind == "timestamptz":
        text = text.replace(" ", "T", 1)
        text = text[:-6] + "Z" if text.endswith("+00:00") else text
    return json.dumps(text, ensure_ascii=False)


def documents(path: Path, source: Source, columns: list[str], records: Iterable[Record],
              rules: dict[str, tuple[str, ...]], engine: Engine, key: str | None) -> list[tuple[bytes | None, bytes]]:
    """(key, JSON object) of every row, each checked and typed first: a bad row anywhere raises before
    anything is sent."""
    types = {c: (source.columns or {})[c] for c in columns}
    return [_message(dict(zip(columns, _check_record(path, line, columns, values, types, rules, engine))), types, key)
            for line, values in records]


def _message(texts: dict[str, str | None], types: dict[str, str], key: str | None) -> tuple[bytes | None, bytes]:
    """(key, JSON object) of one row's canonical texts, in the order of ``texts``."""
    body = "{" + ",".join(f"{json.dumps(c)}:{_json_value(text, types[c])}" for c, text in texts.items()) + "}"
    key_text = texts.get(key) if key is not None else None
    return (None if key_text is None else key_text.encode("utf-8")), body.encode("utf-8")


def produce(producer: Producer, topic: str, where: str, path: Path,
            messages: list[tuple[bytes | None, bytes]]) -> int:
    """Send every message, then flush; returns the count, or raises saying exactly how many of them the
    broker acknowledged."""
    delivered = 0
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        nonlocal delivered
        if err is None:
            delivered += 1
        else:
            errors.append(str(err))

    sent = 0
    failure = None
    try:
        for key, value in messages:
            while True:
                try:
                    producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                    break
                except BufferError:  # the local queue is full: serve delivery reports, then retry
                    producer.poll(1.0)
            sent += 1
            producer.poll(0)
    except Exception as exc:  # noqa: BLE001 (the client's KafkaException and the like: reported below)
        failure = f"row {sent + 1} could not be sent ({exc})"
    remaining = producer.flush(FLUSH_TIMEOUT)
    total = len(messages)
    if failure is None and not errors and not remaining and delivered == total:
        return total
    why = failure or (f"{len(errors)} failed: {errors[0]}" if errors else
                      f"{remaining} still unacknowledged after {FLUSH_TIMEOUT:g}s")
    raise PushError(f"{path}: {delivered} of {total} rows were delivered to topic {topic} on {where} ({why}); the "
                    f"delivered rows stay in the topic (a topic is not a transaction), so pushing the file again "
                    f"sends them twice: push a file of the rows that are missing")


def webhook_url(dsn: str, database: str, schema: str, raw: str) -> str:
    """The URL of a Materialize webhook source: the SQL server's host, the HTTP port."""
    host = conninfo.conninfo_to_dict(dsn).get("host") or "localhost"
    if "," in host or host.startswith("/"):
        host = "localhost" if host.startswith("/") else host.split(",")[0]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{WEBHOOK_PORT}/api/webhook/{database}/{schema}/{raw}"


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def post_rows(url: str, path: Path, messages: list[tuple[bytes | None, bytes]],
              post: Callable[[str, bytes], None] = _post) -> int:
    """POST every JSON object; a failure says exactly how many rows were delivered before it."""
    for i, (_key, body) in enumerate(messages):
        try:
            post(url, body)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace").strip()[:200]
            raise PushError(f"{path}: {i} of {len(messages)} rows were delivered to {url}; row {i + 1} was refused "
                            f"(HTTP {exc.code}{': ' + detail if detail else ''}); push a file of the rows that are "
                            "missing") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PushError(f"{path}: {i} of {len(messages)} rows were delivered to {url}; row {i + 1} could not be "
                            f"sent ({reason}); is Materialize's HTTP port {WEBHOOK_PORT} reachable? push a file of "
                            "the rows that are missing") from None
    return len(messages)


def send_file(project: Project, source: Source, engine: Engine, path: Path, columns: list[str],
              records: Callable[[], Iterable[Record]], rules: dict[str, tuple[str, ...]]) -> int:
    """Check every row, then send them all to the source's topic or webhook; returns the row count."""
    messages = documents(path, source, columns, records(), rules, engine, message_key(project.spec, source))
    if not messages:
        return 0
    if source.kafka is not None:
        broker = push_broker(source.kafka)
        return produce(kafka_producer(broker), source.kafka.topic, broker, path, messages)
    database, schema = project.db.conn.execute("select current_database(), current_schema()").fetchone()
    from materializer.sql.streams import raw_name

    return post_rows(webhook_url(project.db.dsn, database, schema, raw_name(source)), path, messages)


def _typed_text(value: Any, sql_type: str) -> str | None:
    """A value checked by the HTTP push (definitions/values.py ``coerce``) as canonical text."""
    if value is None:
        return None
    if hasattr(value, "obj") and sql_type == "jsonb":  # psycopg's Jsonb wrapper
        return json.dumps(value.obj)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat() if sql_type == "timestamptz" else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    return str(value)


def row_documents(source: Source, names: list[str], rows: list[list[Any]], key: str | None
                  ) -> list[tuple[bytes | None, bytes]]:
    """(key, JSON object) of rows the HTTP push checked and typed (serve/push.py ``check_rows``)."""
    types = {c: (source.columns or {})[c] for c in names}
    return [_message({c: _typed_text(v, types[c]) for c, v in zip(names, row)}, types, key) for row in rows]


def send_rows(spec: ProjectSpec, source: Source, names: list[str], rows: list[list[Any]], dsn: str,
              place: tuple[str, str] | None = None) -> int:
    """Send checked rows (the HTTP push) to the source's topic, or to its webhook (``place``: the
    database and schema the source was created in)."""
    messages = row_documents(source, names, rows, message_key(spec, source))
    where = Path(f"push {source.name}")
    if source.kafka is not None:
        broker = push_broker(source.kafka)
        return produce(kafka_producer(broker), source.kafka.topic, broker, where, messages)
    from materializer.sql.streams import raw_name

    database, schema = place or ("materialize", "public")
    return post_rows(webhook_url(dsn, database, schema, raw_name(source)), where, messages)

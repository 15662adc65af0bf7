"""The streaming keys of a source: ``kafka:``, ``webhook:`` and ``backfill:``.

A source with ``columns:`` may read a Kafka topic (``kafka: {broker, topic, start, client_broker}``)
or a webhook (``webhook: {}``, Materialize only) on the streaming engines; on PostgreSQL it stays a
managed table that push writes, so one project runs everywhere. ``backfill: {relation, until}``
names the history before a cutover: the views read the history's events before ``until`` and the
source's own events at or after it, through one union (``<source>__all``).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from materializer.definitions.checks import Problems, check_keys, hidden_relation, mapping, relation
from materializer.definitions.spec import Backfill, Kafka

KAFKA_KEYS = ("broker", "topic", "start", "client_broker")
BACKFILL_KEYS = ("relation", "until")
STARTS = ("earliest", "latest")
#: Kafka's legal topic characters (ASCII letters, digits, '.', '_', '-'), at most 249 of them; '.' and
#: '..' are refused by Kafka (org.apache.kafka.common.internals.Topic.validate)
TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
#: host:port; the host a DNS name, an IPv4 address or a bracketed IPv6 address
BROKER = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$")
#: a webhook source's engine: Materialize documents CREATE SOURCE ... FROM WEBHOOK; RisingWave's
#: webhook tables need a secret-validated request and its own HTTP listener (not this project's key)
WEBHOOK_ENGINES = ("materialize", "postgres")


def webhook_refused(engine: str) -> str:
    """Why a webhook source cannot run on ``engine``, and the alternative."""
    return (f"a webhook source is Materialize's CREATE SOURCE ... FROM WEBHOOK, which {engine} does not run; "
            f"on {engine} read the events from a Kafka topic instead (replace `webhook: {{}}` with "
            "`kafka: {broker: ..., topic: ...}`), or use engine materialize")


def parse_broker(p: Problems, path: str, value: Any) -> str | None:
    match = BROKER.match(value) if isinstance(value, str) else None
    if match is None or not 0 < int(match.group(1)) < 65536:
        p.add(path, f"{value!r} is not a broker address; write host:port, for example redpanda:9092")
        return None
    return value


def parse_kafka(p: Problems, path: str, raw: Any) -> Kafka | None:
    """``kafka: {broker, topic, start, client_broker}``."""
    if mapping(p, path, raw, "Kafka settings (broker, topic, start)") is None:
        return None
    check_keys(p, path, raw, KAFKA_KEYS)
    before = len(p.lines)
    if "broker" not in raw:
        p.add(f"{path}.broker", "missing: the broker as the engine reaches it, host:port (redpanda:9092)")
    broker = parse_broker(p, f"{path}.broker", raw["broker"]) if "broker" in raw else None
    topic = raw.get("topic")
    if topic is None:
        p.add(f"{path}.topic", "missing: name the Kafka topic the events are written to")
    elif not isinstance(topic, str) or not TOPIC.match(topic) or topic in (".", ".."):
        p.add(f"{path}.topic", f"{topic!r} is not a Kafka topic name; use 1 to 249 of the characters Kafka allows: "
                               "ASCII letters, digits, '.', '_' and '-'")
    start = raw.get("start", "earliest")
    if start not in STARTS:
        p.add(f"{path}.start", f"unknown start offset {start!r}; use earliest (every message the topic keeps) or "
                               "latest (only messages written after the source is created)")
    client = raw.get("client_broker")
    if client is not None:
        client = parse_broker(p, f"{path}.client_broker", client)
    if len(p.lines) > before:
        return None
    return Kafka(broker=str(broker), topic=str(topic), start=str(start), client_broker=client)


def parse_webhook(p: Problems, path: str, raw: Any) -> bool:
    """``webhook: {}`` (no settings yet)."""
    if raw is None:
        return True
    if mapping(p, path, raw, "webhook settings (none yet: write `webhook: {}`)") is None:
        return False
    for key in raw:
        p.add(f"{path}.{key}", f"unknown key '{key}'; a webhook source has no settings yet: write `webhook: {{}}`")
    return not raw


def parse_until(p: Problems, path: str, value: Any) -> str | None:
    """A timestamp with a time zone (an ISO 8601 text with Z or an offset), as UTC ISO text."""
    when = value
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            when = None
    if not isinstance(when, datetime):
        p.add(path, f"{value!r} is not a timestamp; write the cutover in ISO 8601 with its time zone, for example "
                    "\"2026-11-01T00:00:00Z\"")
        return None
    if when.tzinfo is None:
        p.add(path, f"'{value}' has no time zone; the cutover is a timestamptz: add Z (UTC) or an offset, for "
                    "example \"2026-11-01T00:00:00Z\"")
        return None
    return when.astimezone(timezone.utc).isoformat()


def parse_backfill(p: Problems, path: str, raw: Any) -> Backfill | None:
    """``backfill: {relation, until}``."""
    if mapping(p, path, raw, "backfill settings (relation, until)") is None:
        return None
    check_keys(p, path, raw, BACKFILL_KEYS)
    before = len(p.lines)
    rel = None
    if "relation" not in raw:
        p.add(f"{path}.relation", "missing: name the existing table or view that holds the history")
    else:
        rel = relation(p, f"{path}.relation", raw["relation"], "the table or view holding the events before until")
        if rel is not None and hidden_relation(p, f"{path}.relation", rel):
            rel = None
    until = None
    if "until" not in raw:
        p.add(f"{path}.until", "missing: the cutover time; the history holds the events before it, the live "
                               "source those at or after it")
    else:
        until = parse_until(p, f"{path}.until", raw["until"])
    if len(p.lines) > before or rel is None or until is None:
        return None
    return Backfill(relation=rel, until=until)


def parse_streams(p: Problems, path: str, body: dict, has_relation: bool
                  ) -> tuple[Kafka | None, bool, Backfill | None, bool]:
    """(kafka, webhook, backfill, ok) of one source's settings; ``ok`` False when one was refused."""
    before = len(p.lines)
    keys = [k for k in ("kafka", "webhook", "backfill") if k in body]
    if has_relation and keys:
        p.add(f"{path}.{keys[0]}", f"`{keys[0]}:` applies to a source with `columns:` (materializer creates what "
                                   "it reads); an external `relation:` is read as it is: remove one of the two")
        return None, False, None, False
    if "kafka" in body and "webhook" in body:
        p.add(path, "a source reads one stream: keep `kafka:` or `webhook:`, not both")
        return None, False, None, False
    kafka = parse_kafka(p, f"{path}.kafka", body["kafka"]) if "kafka" in body else None
    webhook = parse_webhook(p, f"{path}.webhook", body["webhook"]) if "webhook" in body else False
    backfill = parse_backfill(p, f"{path}.backfill", body["backfill"]) if "backfill" in body else None
    return kafka, webhook, backfill, len(p.lines) == before

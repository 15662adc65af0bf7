"""The objects of streaming sources and backfills: Kafka connections, sources, typed views, and the
union view of a source with ``backfill:`` (definitions/streams.py), rendered for one engine.

- PostgreSQL: a ``kafka:`` or ``webhook:`` source is the managed table push writes.
- Materialize: one ``CREATE CONNECTION ... TO KAFKA`` per distinct broker, the source
  ``<source>__raw`` of JSON documents, and the typed view ``<source>`` over it.
- RisingWave: ``<source>`` is a table with a Kafka connector.
- Any engine, with ``backfill:``: the view ``<source>__all`` that every reader reads.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from materializer.definitions.names import fit
from materializer.definitions.spec import ProjectSpec, Source
from materializer.definitions.streams import WEBHOOK_ENGINES, webhook_refused
from materializer.errors import MaterializerError

if TYPE_CHECKING:
    from materializer.engines import Engine
    from materializer.sql.compile import DbObject

#: the object kinds of streams in the plan of apply (db/apply.py): created once, never replaced or dropped
STREAM_KINDS = ("connection", "source", "stream_table", "source_view")


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_") or "project"
    return slug if re.match(r"[a-z_]", slug) else f"p_{slug}"


def connection_name(spec: ProjectSpec, broker: str) -> str:
    """The Kafka connection of one broker: ``<project>__kafka__<host>_<port>`` as an identifier."""
    return fit(f"{_slug(spec.name)}__kafka__{_slug(broker)}")


def raw_name(source: Source) -> str:
    """The Materialize source of a stream's JSON documents, under the typed view named as the source."""
    return f"{source.table}__raw"


def stream_objects(spec: ProjectSpec, engine: Engine, source: Source, renderer) -> list[DbObject]:
    """The objects ingesting one streaming source on a streaming engine (empty on PostgreSQL, where
    the source is a managed table)."""
    from materializer.sql.compile import DbObject

    if not source.streaming or not engine.materialized:
        return []
    if source.webhook and engine.name not in WEBHOOK_ENGINES:
        raise MaterializerError(f"sources.{source.name}.webhook: {webhook_refused(engine.name)}")
    columns = [{"name": n, "type": t} for n, t in (source.columns or {}).items()]
    stream = {"kind": "kafka" if source.kafka else "webhook"}
    if source.kafka:
        stream.update(topic=source.kafka.topic, broker=source.kafka.broker, start=source.kafka.start,
                      connection=connection_name(spec, source.kafka.broker))
    if engine.name == "risingwave":  # a table with a connector, named as the source
        sql = renderer.call("stream_source", relation=source.table, columns=columns, stream=stream,
                            cluster=spec.cluster).strip()
        return [DbObject("stream_table", source.table, sql, source.name, tuple((source.columns or {}).items()))]
    sql = renderer.call("stream_source", relation=raw_name(source), columns=columns, stream=stream,
                        cluster=spec.cluster).strip()
    view = renderer.call("stream_view", relation=source.table, raw=raw_name(source),
                         document="data" if source.kafka else "body", columns=columns).strip()
    return [DbObject("source", raw_name(source), sql, source.name),
            DbObject("source_view", source.table, view, source.name, tuple((source.columns or {}).items()),
                     depends_on=(raw_name(source),))]


def connection_objects(spec: ProjectSpec, engine: Engine, renderer) -> list[DbObject]:
    """One Kafka connection per distinct broker of the project's sources (Materialize)."""
    from materializer.sql.compile import DbObject

    if not engine.materialized:
        return []
    brokers = dict.fromkeys(s.kafka.broker for s in spec.sources.values() if s.kafka)
    out = []
    for broker in brokers:
        name = connection_name(spec, broker)
        sql = renderer.call("kafka_connection", name=name, broker=broker).strip()
        if sql:
            out.append(DbObject("connection", name, sql))
    return out


def backfill_object(engine: Engine, source: Source, renderer) -> DbObject | None:
    """The union view of a source with ``backfill:``: on PostgreSQL a view apply manages as the feature
    views (replaced when it changes; dropped with the views reading it, which are rebuilt, when the
    backfill is removed), a stream object elsewhere."""
    from materializer.sql.compile import DbObject

    if source.backfill is None:
        return None
    sql = renderer.call("source_backfill", relation=source.relation, history=source.backfill.relation,
                        live=source.table, columns=list(source.columns or {}), timestamp=source.timestamp,
                        until=source.backfill.until).strip()
    kind = "source_view" if engine.materialized else "backfill_view"
    return DbObject(kind, source.relation, sql, source.name, tuple((source.columns or {}).items()),
                    depends_on=(source.table,) if engine.materialized else ())

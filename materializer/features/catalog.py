"""The catalog: everything a project defines that can be asked for, with each view's freshness.

``describe(project)`` lists sources (with their stream and backfill settings), feature views (each feature with its reference, type,
aggregate, window and the view's max age), on-demand features, feature services and monitors;
it needs no database. ``freshness_sql(project)`` is one query giving the time of the newest
event of every source that a feature view reads (the view's freshness: no value can be newer);
``with_freshness`` adds those times and their age to a description.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from materializer.definitions.spec import NUMERIC_TYPES, FeatureView, Monitor, OutputFeature, Source

if TYPE_CHECKING:
    from materializer.project import Project

_FLOATS = ("real", "double precision")


def output_type(view: FeatureView, out: OutputFeature) -> str | None:
    """The SQL type of a feature column (None when the source's column types are unknown)."""
    agg = out.feature.agg
    if agg in ("count", "count_distinct"):
        return "bigint"
    column_type = view.source.column_type(out.feature.column) if out.feature.column else None
    if column_type is None:
        return None
    base = column_type.split("(")[0]
    if agg in ("avg", "stddev"):
        return "double precision" if base in _FLOATS else "numeric"
    if agg == "sum":
        if base in _FLOATS:
            return "double precision"
        return "bigint" if base in ("smallint", "integer") else "numeric" if base in NUMERIC_TYPES else column_type
    return column_type  # min, max, latest


def stream_settings(source: Source) -> dict[str, Any] | None:
    """What a source's events arrive through, for the catalog: a Kafka topic (``kafka:``, the broker as
    the engine reaches it), a webhook (``webhook:``), or None (a table push writes, an external relation).
    The settings hold no secret today (hosts, a topic, a start offset); a credential added to them later
    (SASL, say) must never be listed here."""
    if source.kafka is not None:
        k = source.kafka
        return {"kind": "kafka", "topic": k.topic, "start": k.start, "broker": k.broker}
    if source.webhook:
        return {"kind": "webhook"}
    return None


def _view_kinds(monitor: Monitor) -> list[str]:
    """The views ``apply`` creates for a monitor: versions only with a version column, drift only with
    a reference."""
    return ["scored", "metrics", "timeseries", *(["versions"] if monitor.version else []),
            *(["drift"] if monitor.reference_relation else [])]


def describe(project: Project) -> dict[str, Any]:
    """The project's definitions as one JSON-ready document (no database needed)."""
    spec = project.spec
    views = []
    for view in spec.feature_views.values():
        views.append({
            "name": view.name,
            "source": view.source.name,
            "entity": list(view.entity),
            "kind": view.kind,
            "windows": [w.text for w in view.windows],
            "max_age": view.max_age.text if view.max_age else None,
            "tie_break": view.tie_break,
            "features": [{
                "name": out.name,
                "ref": f"{view.name}:{out.name}",
                "type": output_type(view, out),
                "aggregate": out.feature.agg,
                "column": out.feature.column,
                "filter": out.feature.filter,
                "window": out.window.text if out.window else None,
                "max_age": view.max_age.text if view.max_age else None,
            } for out in view.output_features],
        })
    on_demand = [{
        "name": od.name,
        "entity": list(od.entity),
        "request": dict(od.request),
        "inputs": list(od.inputs),
        "features": [{"name": name, "ref": f"{od.name}:{name}", "expression": expr}
                     for name, expr in od.features.items()],
    } for od in spec.on_demand.values()]
    monitors = [{
        "name": m.name,
        "task": m.task,
        "label_policy": m.label_policy,
        "windows": [w.text for w in m.windows],
        "bucket": m.bucket.text,
        "maturity": m.maturity.text if m.maturity else None,
        "threshold": m.threshold if m.binary else None,
        "predictions": {"source": m.predictions.source.name, "id": m.predictions.id,
                        "timestamp": m.predictions.timestamp, "score": m.predictions.value},
        "outcomes": {"source": m.outcomes.source.name, "id": m.outcomes.id,
                     "timestamp": m.outcomes.timestamp, "label": m.outcomes.value},
        "slices": [name for name, _ in m.slices],
        "drift_threshold": m.drift_threshold,
        "drift_columns": ([m.predictions.value, *m.features] if m.reference_relation else []),
        "views": {kind: m.relation(kind) for kind in _view_kinds(m)},
    } for m in spec.monitors.values()]
    return {
        "project": spec.name,
        "engine": spec.engine,
        "sources": [{
            "name": s.name,
            "relation": s.relation,
            "managed": s.managed,
            "timestamp": s.timestamp,
            "columns": dict(s.columns) if s.columns is not None else None,
            "stream": stream_settings(s),
            "backfill": {"relation": s.backfill.relation, "until": s.backfill.until} if s.backfill else None,
        } for s in spec.sources.values()],
        "feature_views": views,
        "on_demand_features": on_demand,
        "feature_services": [{"name": name, "features": list(refs)} for name, refs in spec.feature_services.items()],
        "monitors": monitors,
    }


def freshness_sql(project: Project) -> str | None:
    """One query: ``(source, newest event time)`` for every source a feature view reads (None: no views).
    Events dated after the clock are left out: no view sees them yet."""
    sources = {v.source.name: v.source for v in project.spec.feature_views.values()}
    if not sources:
        return None
    clock = "(select materializer.clock())" if project.engine == "postgres" else "now()"
    return " union all ".join(
        f"select '{name}' as source, (select max({s.timestamp}) from {s.relation} where {s.timestamp} <= {clock}) "
        "as newest" for name, s in sources.items())


def with_freshness(doc: dict[str, Any], newest: dict[str, datetime | None], now: datetime) -> dict[str, Any]:
    """``doc`` with ``newest_event`` and ``age_seconds`` on every source and feature view that has them."""
    doc["as_of"] = now.isoformat()
    for item in doc["sources"]:
        if item["name"] in newest:
            _stamp(item, newest[item["name"]], now)
    for item in doc["feature_views"]:
        _stamp(item, newest.get(item["source"]), now)
    return doc


def _stamp(item: dict[str, Any], newest: datetime | None, now: datetime) -> None:
    item["newest_event"] = newest.isoformat() if newest else None
    item["age_seconds"] = round((now - newest).total_seconds(), 3) if newest else None


def catalog(project: Project) -> dict[str, Any]:
    """``describe`` with freshness read from the database (``materializer catalog``)."""
    doc = describe(project)
    sql = freshness_sql(project)
    conn = project.db.conn
    clock = "materializer.clock()" if project.engine == "postgres" else "now()"
    now = conn.execute(f"select {clock}").fetchone()[0]
    newest = dict(conn.execute(sql).fetchall()) if sql else {}
    return with_freshness(doc, newest, now)

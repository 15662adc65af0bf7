"""A monitor at a glance: the one document the live dashboard draws and the stream sends.

``summary(project, monitor)`` gathers, at one clock reading: the window's metrics overall and per
model version; the headline metric per version, label coverage and pending counts per time bucket
over the recent past; the versions compared with their significance; the drift of each watched
column against the monitor's PSI threshold; and the age of every feature view's newest event. Every
number comes from the monitor views through the same functions as ``materializer metrics --json``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from materializer.definitions.timeparse import parse_timestamp
from materializer.monitoring.metrics import drift_doc, get_monitor, metrics, timeseries_doc, versions_doc

if TYPE_CHECKING:
    from materializer.project import Project

#: How many buckets of history the charts show.
HISTORY_BUCKETS = 168


def headline_metrics(binary: bool) -> tuple[str, ...]:
    """The metrics a dashboard leads with: accuracy (then AUC) or MAE (then RMSE)."""
    return ("accuracy", "roc_auc") if binary else ("mae", "rmse")


def summary(project: Project, name: str, window: str | None = None,
            as_of: datetime | str | None = None) -> dict[str, Any]:
    """The dashboard document of monitor ``name`` (its first window unless ``window``)."""
    from materializer.features.catalog import freshness_sql

    monitor = get_monitor(project, name)
    overall = metrics(project, name, window=window, as_of=as_of)
    now = overall.as_of
    # every read at the first one's clock (PostgreSQL pins it; the streaming engines read their own)
    pinned = as_of if as_of is not None else now.isoformat() if project.engine == "postgres" else None
    by_version = metrics(project, name, window=overall.window, by="version", as_of=pinned) if monitor.version \
        else None
    since = parse_timestamp(now) - timedelta(seconds=monitor.bucket.seconds * HISTORY_BUCKETS)
    series_all = timeseries_doc(project, name, as_of=pinned, since=since)
    series_versions = timeseries_doc(project, name, by="version", as_of=pinned, since=since) if monitor.version \
        else None
    headline = headline_metrics(monitor.binary)

    def points(buckets: list[dict[str, Any]], metric: str) -> list[list[Any]]:
        return [[b["bucket_start"], b["metrics"].get(metric)] for b in buckets]

    series: dict[str, Any] = {
        "coverage": points(series_all["buckets"], "coverage"),
        "pending": points(series_all["buckets"], "pending"),
        "n": points(series_all["buckets"], "n"),
    }
    for metric in headline:
        per_version: dict[str, list[list[Any]]] = {}
        if series_versions is not None:
            for b in series_versions["buckets"]:
                per_version.setdefault(str(b["by"]["version"]), []).append([b["bucket_start"], b["metrics"][metric]])
        else:
            per_version["all"] = points(series_all["buckets"], metric)
        series[metric] = per_version
    drift = drift_doc(project, name, window=overall.window, as_of=pinned)["columns"]
    for column in drift:
        column["threshold"] = monitor.drift_threshold
        column["drifted"] = column.get("psi") is not None and column["psi"] > monitor.drift_threshold
    freshness: list[dict[str, Any]] = []
    sql = freshness_sql(project)
    if sql:
        conn = project.db.conn
        with conn.transaction():
            if project.engine == "postgres":
                conn.execute("select set_config('materializer.as_of', %s, true)", [now.isoformat()])
            newest = dict(conn.execute(sql).fetchall())
        for view in project.spec.feature_views.values():
            ts = newest.get(view.source.name)
            freshness.append({"view": view.name, "newest_event": ts.isoformat() if ts else None,
                              "age_seconds": round((now - ts).total_seconds(), 3) if ts else None})
    return {
        "monitor": name,
        "task": monitor.task,
        "label_policy": monitor.label_policy,
        "maturity": monitor.maturity.text if monitor.maturity else None,
        "bucket": monitor.bucket.text,
        "window": overall.window,
        "windows": [w.text for w in monitor.windows],
        "as_of": now.isoformat(),
        "headline": list(headline),
        "overall": overall.groups[0]["metrics"] if overall.groups else {},
        "by_version": [{"version": g["by"]["version"], "metrics": g["metrics"]} for g in by_version.groups]
        if by_version is not None else [],
        "series": series,
        "versions": versions_doc(project, name, window=overall.window, as_of=pinned)["comparisons"],
        "drift": drift,
        "drift_threshold": monitor.drift_threshold,
        "freshness": freshness,
    }

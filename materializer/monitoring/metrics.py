"""Reading a monitor's views: metrics per window and slice, time series, version comparisons, drift.

All numbers are computed by the views (``<monitor>__metrics`` and so on); this
module selects, shapes and, for ``--as-of``, pins the clock (PostgreSQL only).
It also stores the fixed drift bins of a monitor's reference
(``materializer reference MONITOR``).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from materializer.definitions.spec import Monitor
from materializer.definitions.timeparse import parse_timestamp
from materializer.errors import InputError, MaterializerError, NotFoundError, did_you_mean

if TYPE_CHECKING:
    from materializer.project import Project

BINARY_METRICS = ("n", "n_labelled", "coverage", "pending", "n_invalid", "tp", "fp", "tn", "fn", "accuracy",
                  "precision", "recall", "f1", "specificity", "positive_rate", "predicted_positive_rate",
                  "log_loss", "brier", "roc_auc", "ece", "cost")
REGRESSION_METRICS = ("n", "n_labelled", "coverage", "pending", "n_invalid", "mae", "rmse", "mean_error", "mape",
                      "r2")
COUNTS = ("n", "n_labelled", "pending", "n_invalid", "tp", "fp", "tn", "fn")
DECILES = [i / 10 for i in range(1, 10)]
# type oids of numbers: int2, int4, int8, float4, float8, numeric
NUMBER_TYPES = frozenset({21, 23, 20, 700, 701, 1700})


@dataclass
class MetricsResult:
    """Metrics of one window, overall or by a slice (the JSON of ``materializer metrics``)."""

    monitor: str
    window: str
    as_of: datetime
    groups: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "window": self.window, "as_of": self.as_of.isoformat(),
                "groups": self.groups}


def get_monitor(project: Project, name: str) -> Monitor:
    monitors = project.spec.monitors
    if name not in monitors:
        raise NotFoundError(f"unknown monitor {name!r}{did_you_mean(str(name), monitors)}; "
                            f"known monitors: {', '.join(monitors) or '(none)'}")
    return monitors[name]


def metric_names(monitor: Monitor) -> tuple[str, ...]:
    return BINARY_METRICS if monitor.binary else REGRESSION_METRICS


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return float(value) if not isinstance(value, (int, bool, str, datetime)) else value


def _select(project: Project, sql: str, params: list[Any], as_of: datetime | str | None,
            since: datetime | None = None) -> tuple[datetime, list[dict[str, Any]]]:
    """Rows of a query and the clock reading, in one transaction (pinned by ``as_of`` on PostgreSQL;
    ``since`` bounds the time series' oldest bucket there, see monitor_timeseries)."""
    pinned = parse_timestamp(as_of, "--as-of") if as_of is not None else None
    if pinned is not None and project.engine != "postgres":
        raise InputError(f"--as-of needs the postgres engine: {project.engine} maintains its views at its "
                                "own clock; read the metrics without --as-of")
    conn = project.db.conn
    clock = "materializer.clock()" if project.engine == "postgres" else "now()"
    with conn.transaction():
        if pinned is not None:
            conn.execute("select set_config('materializer.as_of', %s, true)", [pinned.isoformat()])
        if since is not None and project.engine == "postgres":
            conn.execute("select set_config('materializer.since', %s, true)", [since.isoformat()])
        now = conn.execute(f"select {clock}").fetchone()[0]
        cur = conn.execute(sql, params)
        names = [d.name for d in cur.description or []]
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
    return now, rows


def _window(monitor: Monitor, window: str | None) -> str:
    """One of the monitor's windows (None: its first); any other value is an InputError."""
    windows = [w.text for w in monitor.windows]
    if window is None:
        return windows[0]
    if window not in windows:
        raise InputError(f"monitor {monitor.name} has no window {window!r}{did_you_mean(str(window), windows)}; "
                         f"its windows: {', '.join(windows)}")
    return window


def _slice_name(monitor: Monitor, by: str | None) -> str | None:
    if by is None:
        return None
    names = [name for name, _ in monitor.slices]
    if by not in names:
        raise InputError(f"cannot slice monitor {monitor.name} by {by!r}{did_you_mean(str(by), names)}; "
                         f"use one of: {', '.join(names) or '(none: declare version or segments)'}")
    return by


def _empty_metrics(monitor: Monitor) -> dict[str, Any]:
    out: dict[str, Any] = {m: (0 if m in COUNTS else None) for m in metric_names(monitor)}
    if monitor.binary and monitor.cost_fp is not None:
        out["cost"] = 0.0
    return out


def metrics(project: Project, name: str, window: str | None = None, by: str | None = None,
            as_of: datetime | str | None = None) -> MetricsResult:
    """Metrics of one window (default: the monitor's first), overall or ``by`` version or a segment."""
    monitor = get_monitor(project, name)
    window = _window(monitor, window)
    slice_name = _slice_name(monitor, by) or "all"
    now, rows = _select(
        project,
        f"select * from {monitor.relation('metrics')} where window_name = %s and slice = %s order by slice_value",
        [window, slice_name], as_of)
    groups = []
    for row in rows:
        key = {} if slice_name == "all" else {slice_name: row["slice_value"]}
        groups.append({"by": key, "metrics": {m: _plain(row.get(m)) for m in metric_names(monitor)}})
    if slice_name == "all" and not groups:
        groups.append({"by": {}, "metrics": _empty_metrics(monitor)})
    return MetricsResult(monitor=name, window=window, as_of=now, groups=groups)


def timeseries_doc(project: Project, name: str, by: str | None = None, as_of: datetime | str | None = None,
                   since: datetime | str | None = None) -> dict[str, Any]:
    """``{"monitor", "by", "as_of", "buckets": [{"bucket_start", "by", "metrics"}, ...]}``, oldest first
    (``materializer metrics --show timeseries --json`` and ``GET /monitors/{name}/timeseries``)."""
    monitor = get_monitor(project, name)
    slice_name = _slice_name(monitor, by) or "all"
    sql = f"select * from {monitor.relation('timeseries')} where slice = %s"
    params: list[Any] = [slice_name]
    start = parse_timestamp(since, "--since") if since is not None else None
    if start is not None and project.engine != "postgres":
        sql += " and bucket_start >= %s"
        params.append(start)
    now, rows = _select(project, sql + " order by bucket_start, slice_value", params, as_of, since=start)
    if start is not None:
        # on PostgreSQL the view itself leaves out older buckets (materializer.since) but keeps the one
        # holding `since`; filtering here, not in SQL, keeps the planner's estimates (and its plan) sane
        rows = [row for row in rows if row["bucket_start"] >= start]
    buckets = [{"bucket_start": row["bucket_start"].isoformat(),
                "by": {} if slice_name == "all" else {slice_name: row["slice_value"]},
                "metrics": {m: _plain(row.get(m)) for m in metric_names(monitor)}} for row in rows]
    return {"monitor": name, "by": by, "as_of": now.isoformat(), "buckets": buckets}


def timeseries(project: Project, name: str, by: str | None = None, as_of: datetime | str | None = None,
               since: datetime | str | None = None) -> list[dict[str, Any]]:
    """One record per bucket (and slice value): ``{"bucket_start", "by", "metrics"}``, oldest first."""
    return timeseries_doc(project, name, by=by, as_of=as_of, since=since)["buckets"]


def versions_doc(project: Project, name: str, window: str | None = None,
                 as_of: datetime | str | None = None) -> dict[str, Any]:
    """``{"monitor", "window", "as_of", "comparisons": [...]}``: model versions compared pairwise in a window
    (no comparisons without a version column)."""
    monitor = get_monitor(project, name)
    window = _window(monitor, window)
    if not monitor.version:
        now, rows = _select(project, "select 1 where false", [], as_of)
    else:
        now, rows = _select(project, f"select * from {monitor.relation('versions')} where window_name = %s "
                                     "order by metric, version_a, version_b", [window], as_of)
    return {"monitor": name, "window": window, "as_of": now.isoformat(),
            "comparisons": [{k: _plain(v) for k, v in row.items()} for row in rows]}


def versions(project: Project, name: str, window: str | None = None,
             as_of: datetime | str | None = None) -> list[dict[str, Any]]:
    """Pairwise comparisons of model versions in a window (empty without a version column)."""
    return versions_doc(project, name, window=window, as_of=as_of)["comparisons"]


def drift_doc(project: Project, name: str, window: str | None = None,
              as_of: datetime | str | None = None) -> dict[str, Any]:
    """``{"monitor", "window", "as_of", "columns": [...]}``: psi, js and ks of the score and the watched
    features in a window (none without a reference)."""
    monitor = get_monitor(project, name)
    window = _window(monitor, window)
    if not monitor.reference_relation:
        now, rows = _select(project, "select 1 where false", [], as_of)
    else:
        now, rows = _select(project, f"select * from {monitor.relation('drift')} where window_name = %s "
                                     "order by column_name", [window], as_of)
    return {"monitor": name, "window": window, "as_of": now.isoformat(),
            "columns": [{k: _plain(v) for k, v in row.items()} for row in rows]}


def drift(project: Project, name: str, window: str | None = None,
          as_of: datetime | str | None = None) -> list[dict[str, Any]]:
    """psi, js and ks of the score and the watched features in a window (empty without a reference)."""
    return drift_doc(project, name, window=window, as_of=as_of)["columns"]


def reference_bins(values: list[float]) -> list[tuple[float, float]]:
    """(lower, upper) bounds of the bins cut at the distinct deciles, open-ended at both ends."""
    if not values:
        return []
    ordered = sorted(values)
    cuts: list[float] = []
    for q in DECILES:  # linear interpolation between closest ranks, as percentile_cont
        pos = q * (len(ordered) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        cut = ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
        if not cuts or cut > cuts[-1]:
            cuts.append(cut)
    bounds = [-math.inf, *cuts, math.inf]
    return list(zip(bounds[:-1], bounds[1:]))


def reference_insert(table: str, rows: list[tuple[str, int, float, float, float]]) -> tuple[str, list[Any]]:
    """One ``INSERT ... SELECT`` appending ``rows`` (column_name, bin, lower_bound, upper_bound, share) to
    the reference table as its next version (the greatest stored version plus one; rows stored before
    versions, version null, are version 1), with its parameters.

    One statement that only inserts, every column in the table's order: what each engine takes.
    Materialize runs transactions that are read-only or insert-only, and serializes an ``INSERT ...
    SELECT`` with the other writes to its tables (doc/user/content/sql/begin.md, sql/insert.md);
    RisingWave has no read-write transaction, no ``COPY ... FROM STDIN``, and an append-only table
    takes no ``DELETE`` (risingwave-docs sql/commands/sql-begin.mdx, sql-copy.mdx, sql-insert.mdx:
    "provide all columns in the table in order").
    """
    values = ",\n".join(["        (cast(%s as text), cast(%s as integer), cast(%s as double precision), "
                          "cast(%s as double precision), cast(%s as double precision))"] * len(rows))
    sql = (f"insert into {table} (column_name, bin, lower_bound, upper_bound, share, version)\n"
           "select\n    bins.column_name,\n    bins.bin,\n    bins.lower_bound,\n    bins.upper_bound,\n"
           f"    bins.share,\n    (select coalesce(max(coalesce(version, 1)), 0) + 1 from {table}) as version\n"
           f"from (\n    values\n{values}\n) as bins (column_name, bin, lower_bound, upper_bound, share)")
    return sql, [x for row in rows for x in row]


def store_reference(project: Project, name: str) -> dict[str, int]:
    """Compute the fixed bins of the monitor's reference and append them as its newest version; returns rows
    read per column.

    The reads come first, each on its own; the write is one ``INSERT`` (reference_insert), its own
    transaction on every engine. On PostgreSQL it holds a lock on the table, so two runs cannot take
    one version number; the views and the maintained drift cells (a trigger recounts them after the
    statement) read the newest version.
    """
    monitor = get_monitor(project, name)
    if not monitor.reference_relation:
        raise MaterializerError(f"monitor {name} has no `reference:`; add reference: {{relation: ..., column: ...}}")
    conn = project.db.conn
    pairs = [(monitor.predictions.value, monitor.reference_column or monitor.predictions.value)]
    pairs += [(f, f) for f in monitor.features]
    table = monitor.view("reference")
    rows_read: dict[str, int] = {}
    try:
        rows: list[tuple[str, int, float, float, float]] = []
        for stored, column in pairs:
            cur = conn.execute(f"select {column} from {monitor.reference_relation} where {column} is not null")
            type_code = cur.description[0].type_code if cur.description else None
            if type_code not in NUMBER_TYPES:
                type_name = conn.execute("select format_type(%s, null)", [type_code]).fetchone()[0]
                raise InputError(f"the reference {monitor.reference_relation}.{column} of monitor {name} is "
                                 f"{type_name}, not a number; drift bins are cut from numbers: point it at a "
                                 "numeric column (the model's scores, or a numeric feature)")
            # finite values only, as the drift views count them (NaN and infinity are not binned)
            values = [x for x in (float(v) for (v,) in cur) if math.isfinite(x)]
            if not values:
                raise MaterializerError(f"the reference {monitor.reference_relation}.{column} has no finite "
                                        "values; load the training or validation rows first")
            bins = reference_bins(values)
            counts = [0] * len(bins)
            uppers = [hi for _, hi in bins[:-1]]
            for v in values:
                counts[bisect.bisect_right(uppers, v)] += 1
            rows += [(stored, i, lo, hi, c / len(values)) for i, ((lo, hi), c) in enumerate(zip(bins, counts))]
            rows_read[stored] = len(values)
        sql, params = reference_insert(table, rows)
        if project.engine == "postgres":
            with conn.transaction():
                conn.execute(f"lock table {table} in share row exclusive mode")
                conn.execute(sql, params)
        else:
            conn.execute(sql, params)
            for statement in project.db.engine.after_insert():  # RisingWave: FLUSH, so that reads see them
                conn.execute(statement)
    except psycopg.Error as exc:
        message = " ".join(str(exc).split())
        raise MaterializerError(f"could not store the reference of {name}: {message}; run `materializer apply` "
                                "first and check that the reference relation exists") from None
    return rows_read

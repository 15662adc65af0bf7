"""Grafana provisioning generated from the project file (``materializer dashboards grafana --out DIR``).

What is written, for Grafana's file provisioning (docker-compose.yml mounts the two folders at
``/etc/grafana/provisioning/datasources`` and ``.../dashboards``)::

    DIR/datasources/materializer-<project>.yaml    the datasource: Grafana's PostgreSQL plugin,
                                                   which reads Materialize and RisingWave too
    DIR/dashboards/materializer-<project>.yaml     the dashboard provider (reloads every 10 s)
    DIR/dashboards/materializer-<project>/<monitor>.json
    DIR/dashboards/materializer-<project>/feature-freshness.json

Every dashboard is derived from the project, so a new monitor gets its dashboard by running the
command again; dashboards of monitors that are gone are removed. Panels query the project's
views with Grafana's macros (the SQL is in :mod:`materializer.monitoring.grafana_queries`, per
engine). Nothing here needs a database.

The datasource never holds a password: Grafana reads it from ``MATERIALIZER_GRAFANA_PASSWORD`` in
its own environment (``$__env{...}`` in the file).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import conninfo

from materializer.definitions.spec import Monitor, ProjectSpec
from materializer.errors import InputError, MaterializerError
from materializer.monitoring.grafana_queries import (
    ALL_VERSIONS,
    PanelDialect,
    Query,
    counts_series,
    coverage_series,
    current_metric,
    dialect,
    drift_table,
    events_series,
    freshness_table,
    headline_series,
    pending_series,
    versions_table,
    versions_variable,
)

#: Grafana's PostgreSQL datasource plugin (its alias ``postgres`` works too).
DATASOURCE_TYPE = "grafana-postgresql-datasource"
#: The dashboard JSON model version written (Grafana 11.0's; newer versions migrate it on load).
SCHEMA_VERSION = 39
#: Where Grafana reads provisioning in its container (docker-compose.yml mounts DIR's folders there).
PROVISIONING = "/etc/grafana/provisioning"
#: The environment variable Grafana reads the database password from.
PASSWORD_ENV = "MATERIALIZER_GRAFANA_PASSWORD"
#: The database of each engine as Grafana reaches it on docker-compose.yml's network (the embedded
#: PostgreSQL listens on a unix socket only: give --dsn a server Grafana can reach).
COMPOSE_DSNS = {
    "postgres": "postgresql://postgres@host.docker.internal:5432/postgres",
    "materialize": "postgresql://materialize@materialize:6875/materialize",
    "risingwave": "postgresql://root@risingwave:4566/dev",
}
#: Colors of the JS distance and KS cells (orange from, red from); psi's come from the monitor's
#: ``drift_threshold`` (red over it, orange from half of it).
DRIFT_COLORS = {"js": (0.1, 0.2), "ks": (0.1, 0.2)}
#: How often the dashboards refresh.
REFRESH = "30s"
FRESHNESS = "feature-freshness"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "project"


def uid(text: str) -> str:
    """A Grafana uid (at most 40 of letters, digits, ``-`` and ``_``): the text, or its start and a hash."""
    slug = _slug(text)
    if len(slug) <= 40:
        return slug
    return f"{slug[:31]}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


@dataclass(frozen=True)
class Datasource:
    """The datasource as Grafana reaches the database."""

    name: str
    uid: str
    url: str
    user: str
    database: str
    sslmode: str

    @property
    def ref(self) -> dict[str, str]:
        """How panels and targets refer to it."""
        return {"type": DATASOURCE_TYPE, "uid": self.uid}


def datasource(spec: ProjectSpec, engine: str, dsn: str | None = None) -> Datasource:
    """The project's datasource for ``engine``, at ``dsn`` (default: the engine's compose service)."""
    text = dsn or COMPOSE_DSNS[engine]
    try:
        parts = conninfo.conninfo_to_dict(text)
    except psycopg.Error:
        raise InputError("--dsn: not a PostgreSQL connection string; give one such as "
                         f"{COMPOSE_DSNS['materialize']}") from None
    if parts.get("password"):
        raise InputError(f"--dsn: leave the password out (it would be written to the provisioning file); "
                         f"Grafana reads it from {PASSWORD_ENV} in its environment")
    host = str(parts.get("host") or "localhost")
    if "," in host:
        raise InputError("--dsn: give one host; Grafana's datasource connects to one server")
    port = str(parts.get("port") or "5432")
    if not port.isdigit():
        raise InputError(f"--dsn: port {port!r} is not a number; give one such as {COMPOSE_DSNS['materialize']}")
    url = host if host.startswith("/") else f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    user = str(parts.get("user") or "postgres")
    return Datasource(name=f"materializer {spec.name}", uid=uid(f"materializer-{spec.name}"), url=url, user=user,
                      database=str(parts.get("dbname") or user), sslmode=str(parts.get("sslmode") or "disable"))


# ---------------------------------------------------------------- panels


class _Layout:
    """Numbers panels and places them left to right on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.row_height = 0

    def add(self, panel: dict[str, Any], width: int, height: int) -> None:
        if self.x + width > 24:
            self.break_row()
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"h": height, "w": width, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += width
        self.row_height = max(self.row_height, height)

    def break_row(self) -> None:
        if self.x:
            self.y += self.row_height
        self.x = self.row_height = 0


def _widths(count: int, total: int = 24) -> list[int]:
    """``count`` panel widths filling one row of the grid (the first ones one column wider)."""
    base, extra = divmod(total, count)
    return [base + (1 if i < extra else 0) for i in range(count)]


def _targets(ds: Datasource, queries: list[Query]) -> list[dict[str, Any]]:
    return [{"refId": chr(ord("A") + i), "datasource": ds.ref, "editorMode": "code", "format": q.format,
             "rawQuery": True, "rawSql": q.sql} for i, q in enumerate(queries)]


def _thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


def _panel(kind: str, title: str, description: str, ds: Datasource, queries: list[Query],
           defaults: dict[str, Any] | None = None, overrides: list[dict[str, Any]] | None = None,
           options: dict[str, Any] | None = None, interval: str | None = None) -> dict[str, Any]:
    panel: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": ds.ref,
        "targets": _targets(ds, queries),
        "fieldConfig": {"defaults": defaults or {}, "overrides": overrides or []},
        "options": options or {},
    }
    if interval:
        panel["interval"] = interval  # the panel's minimum interval: never finer than the monitor's bucket
    return panel


def _series(title: str, description: str, ds: Datasource, query: Query | list[Query], unit: str = "short",
            ratio: bool = False, interval: str | None = None) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 2, "pointSize": 4,
                                                         "showPoints": "auto", "spanNulls": False}}
    if ratio:
        defaults.update(min=0, max=1)
    queries = query if isinstance(query, list) else [query]
    return _panel("timeseries", title, description, ds, queries, defaults,
                  options={"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                           "tooltip": {"mode": "multi", "sort": "none"}}, interval=interval)


def _stat(title: str, description: str, ds: Datasource, query: Query, column: str, per_version: bool,
          unit: str = "short", decimals: int | None = None,
          thresholds: dict[str, Any] | None = None) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": unit, "color": {"mode": "thresholds"},
                                "thresholds": thresholds or _thresholds((None, "blue"))}
    if decimals is not None:
        defaults["decimals"] = decimals
    if per_version:
        defaults["displayName"] = "${__data.fields.version}"
    return _panel("stat", title, description, ds, [query], defaults, options={
        "reduceOptions": {"values": True, "calcs": ["lastNotNull"], "fields": f"/^{column}$/"},
        "orientation": "auto", "textMode": "value_and_name" if per_version else "value", "colorMode": "value",
        "graphMode": "none", "justifyMode": "auto"})


def _table(title: str, description: str, ds: Datasource, query: Query,
           overrides: list[dict[str, Any]]) -> dict[str, Any]:
    return _panel("table", title, description, ds, [query], {"custom": {"align": "auto"}}, overrides,
                  options={"showHeader": True, "cellHeight": "sm"})


def _override(column: str, **properties: Any) -> dict[str, Any]:
    return {"matcher": {"id": "byName", "options": column},
            "properties": [{"id": key.replace("__", "."), "value": value} for key, value in properties.items()]}


def _mapping(values: dict[str, tuple[str, str]], null: str | None = None) -> list[dict[str, Any]]:
    options = {key: {"text": text, "color": color, "index": i} for i, (key, (text, color)) in enumerate(values.items())}
    out: list[dict[str, Any]] = [{"type": "value", "options": options}]
    if null is not None:
        out.append({"type": "special", "options": {"match": "null", "result": {"text": null, "index": len(values)}}})
    return out


# ---------------------------------------------------------------- dashboards


@dataclass
class Dashboard:
    """One dashboard: its file name and Grafana JSON model."""

    file: str
    model: dict[str, Any] = field(default_factory=dict)

    @property
    def panels(self) -> list[dict[str, Any]]:
        return self.model["panels"]


def _dashboard(title: str, uid_: str, description: str, tags: list[str], panels: list[dict[str, Any]],
               variables: list[dict[str, Any]], time_from: str) -> dict[str, Any]:
    return {
        "uid": uid_,
        "title": title,
        "description": description,
        "tags": tags,
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_from, "to": "now"},
        "timezone": "utc",
        "refresh": REFRESH,
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


def _window_variable(m: Monitor) -> dict[str, Any]:
    windows = [w.text for w in m.windows]
    return {"name": "window", "label": "window", "type": "custom", "query": ",".join(windows), "hide": 0,
            "multi": False, "includeAll": False,
            "current": {"text": windows[0], "value": windows[0], "selected": True},
            "options": [{"text": w, "value": w, "selected": i == 0} for i, w in enumerate(windows)]}


def _version_variable(m: Monitor, d: PanelDialect, ds: Datasource) -> dict[str, Any]:
    sql = versions_variable(m, d)
    return {"name": "version", "label": "model version", "type": "query", "datasource": ds.ref,
            "query": sql, "definition": sql, "refresh": 2, "sort": 1, "hide": 0, "multi": True,
            "includeAll": True, "allValue": ALL_VERSIONS,
            "current": {"text": ["All"], "value": ["$__all"], "selected": True}, "options": []}


def _stat_panels(m: Monitor, d: PanelDialect, ds: Datasource) -> list[dict[str, Any]]:
    """The chosen window's metrics now, per chosen version (or for the whole monitor)."""
    whole = "per model version" if m.version else "for the whole monitor"
    window = "in the window `$window`"
    # column, title, unit, decimals, thresholds, what it counts
    stats: list[tuple[str, str, str, int, dict[str, Any] | None, str]] = []
    if m.binary:
        stats += [("accuracy", "Accuracy ($window)", "percentunit", 1, None, window),
                  ("roc_auc", "ROC AUC ($window)", "none", 3, None, window)]
        if m.cost_fp is not None:
            stats.append(("cost", "Cost ($window)", "none", 0, None, window))
    else:
        stats += [("mae", "MAE ($window)", "none", 3, None, window),
                  ("rmse", "RMSE ($window)", "none", 3, None, window)]
    if m.label_policy == "implicit_negative":
        pending = ("pending", "Pending labels (now)", "short", 0, None,
                   "(predictions not yet mature, whatever the window)")
    else:
        pending = ("pending", "Pending labels ($window)", "short", 0, None, f"{window} (no outcome yet)")
    stats += [("coverage", "Label coverage ($window)", "percentunit", 1, None, window), pending,
              ("n", "Predictions counted ($window)", "short", 0, None, window),
              ("n_invalid", "Invalid predictions ($window)", "short", 0, _thresholds((None, "green"), (1, "orange")),
               window)]
    return [_stat(title, f"`{column}` of `{m.view('metrics')}` {what}, {whole}.", ds, current_metric(m, d, column),
                  column, m.version is not None, unit, decimals, thresholds)
            for column, title, unit, decimals, thresholds, what in stats]


def _series_panels(m: Monitor, d: PanelDialect, ds: Datasource) -> list[dict[str, Any]]:
    """The headline metrics, label coverage, pending labels and counts over time, per chosen version."""
    names = {"accuracy": ("Accuracy", "percentunit", True), "roc_auc": ("ROC AUC", "none", True),
             "cost": ("Cost", "none", False), "mae": ("MAE", "none", False), "rmse": ("RMSE", "none", False)}
    bucket = m.bucket.text
    by = " per model version" if m.version else ""
    when = " (when they matured)" if m.label_policy == "implicit_negative" else ""
    panels = []
    for metric, query in headline_series(m, d).items():
        title, unit, ratio = names[metric]
        how = (f"Each interval pools its buckets' AUCs weighted by their positive-negative pairs (exact at the "
               f"bucket size, {bucket})." if metric == "roc_auc" else
               "Each interval is computed from the sums of its buckets.")
        panels.append(_series(f"{title}{by}", f"`{metric}` of `{m.view('timeseries')}` by the time its predictions "
                              f"entered the metrics{when}. {how}", ds, query, unit, ratio, bucket))
    panels.append(_series(f"Label coverage{by}", "The labelled share of the predictions counted in each interval "
                          "(the monitor's `coverage`).", ds, coverage_series(m, d), "percentunit", True, bucket))
    if m.label_policy == "implicit_negative":
        pending = (f"Predictions made and not yet mature (younger than {m.maturity.text if m.maturity else '?'}) "
                   "at the end of each interval: the metrics' `pending` over time.")
    else:
        pending = "Each interval's predictions that have no outcome yet, by prediction time."
    panels.append(_series(f"Pending labels{by}", pending, ds, pending_series(m, d), "short", False, bucket))
    panels.append(_series("Predictions counted, labelled and invalid", "`n`, `n_labelled` and `n_invalid` per "
                          "interval, the chosen versions together.", ds, counts_series(m, d), "short", False, bucket))
    return panels


def _table_panels(m: Monitor, d: PanelDialect, ds: Datasource) -> list[dict[str, Any]]:
    """The versions compared (with a version column) and drift (with a reference), in the chosen window."""
    panels = []
    if m.version:
        significant = _override("significant", custom__cellOptions={"type": "color-text"},
                                mappings=_mapping({"true": ("yes", "orange"), "false": ("no", "text")}, "n/a"))
        panels.append(_table(
            "Versions compared ($window)", f"`{m.view('versions')}`: each pair of chosen versions in the window "
            "`$window`; `statistic` is a two-proportion z (accuracy), Hanley-McNeil z (AUC) or Welch t (regression, "
            "`mae`); `significant` means |statistic| > 1.96.", ds, versions_table(m, d),
            [significant, *(_override(c, decimals=4) for c in ("value_a", "value_b", "difference", "statistic"))]))
    if m.reference_relation:
        limits = {"psi": (m.drift_threshold / 2, m.drift_threshold), **DRIFT_COLORS}
        overrides = [_override(column, decimals=4, custom__cellOptions={"type": "color-background"},
                               color={"mode": "thresholds"},
                               thresholds=_thresholds((None, "green"), (warn, "orange"), (alert, "red")))
                     for column, (warn, alert) in limits.items()]
        overrides.append(_override("drifted", custom__cellOptions={"type": "color-text"},
                                   mappings=_mapping({"true": ("yes", "red"), "false": ("no", "green")}, "n/a")))
        colors = ", ".join(f"{c} {w:g} / {a:g}" for c, (w, a) in limits.items())
        panels.append(_table(
            "Drift against the reference ($window)", f"`{m.view('drift')}` in the window `$window`: the score and "
            f"the watched features against the stored reference bins (`materializer reference {m.name}`); "
            f"`drifted` when psi is over the monitor's `drift_threshold` ({m.drift_threshold:g}); cells orange / "
            f"red from {colors}. Read `n` beside them: on small windows psi is noisy.", ds, drift_table(m, d),
            overrides))
    return panels


def monitor_dashboard(spec: ProjectSpec, m: Monitor, d: PanelDialect, ds: Datasource) -> Dashboard:
    """A monitor's dashboard: the window's metrics now; the headline metrics, coverage, pending labels and
    counts over time per version; the versions compared and drift."""
    layout = _Layout()
    stats = _stat_panels(m, d, ds)
    for panel, width in zip(stats, _widths(len(stats)), strict=True):
        layout.add(panel, width, 4)
    layout.break_row()
    series = _series_panels(m, d, ds)
    for i, panel in enumerate(series):  # two a row; an odd last one takes the whole row
        layout.add(panel, 24 if i == len(series) - 1 and len(series) % 2 else 12, 8)
    layout.break_row()
    for panel in _table_panels(m, d, ds):
        layout.add(panel, 24, 8)
    variables = [_window_variable(m)] + ([_version_variable(m, d, ds)] if m.version else [])
    days = max(1, -(-max(w.seconds for w in m.windows) // 86400))  # the longest window, in whole days
    model = _dashboard(f"{m.name}: model quality ({spec.name})", uid(f"materializer-{spec.name}-{m.name}"),
                       f"Generated by `materializer dashboards grafana` from the project {spec.name} ({m.task}, "
                       f"{m.label_policy}, bucket {m.bucket.text}); run it again rather than editing here.",
                       ["materializer", spec.name], layout.panels, variables, f"now-{days}d")
    return Dashboard(f"{m.name}.json", model)


def freshness_dashboard(spec: ProjectSpec, d: PanelDialect, ds: Datasource) -> Dashboard:
    """Per feature view: the newest event of its source and its age; the events per interval of each source."""
    layout = _Layout()
    layout.add(_panel("bargauge", "Age of the newest event", "Seconds since each feature view's newest event "
                      "(events dated after now are left out).", ds, [freshness_table(spec, d)],
                      {"unit": "s", "displayName": "${__data.fields.feature_view}", "min": 0,
                       "color": {"mode": "fixed", "fixedColor": "blue"}},
                      options={"reduceOptions": {"values": True, "calcs": ["lastNotNull"], "fields": "/^age_seconds$/"},
                               "orientation": "horizontal", "displayMode": "basic", "showUnfilled": True}), 10, 8)
    layout.add(_table("Newest event per feature view", "`stale` once the newest event is older than the view's "
                      "shortest window (its short features are all empty) or its max age.", ds,
                      freshness_table(spec, d),
                      [_override("age_seconds", unit="s", decimals=0), _override("stale_after_seconds", unit="s"),
                       _override("status", mappings=_mapping({"fresh": ("fresh", "green"), "stale": ("stale", "red"),
                                                              "no events": ("no events", "orange")}),
                                 custom__cellOptions={"type": "color-background"})]), 14, 8)
    layout.break_row()
    layout.add(_series("Events per interval", "Events of each source a feature view reads: a gap is when data "
                       "stopped arriving.", ds, list(events_series(spec, d).values())), 24, 8)
    model = _dashboard(f"Feature freshness ({spec.name})", uid(f"materializer-{spec.name}-freshness"),
                       f"Generated by `materializer dashboards grafana` from the project {spec.name}; run it again "
                       "rather than editing here.", ["materializer", spec.name], layout.panels, [], "now-24h")
    return Dashboard(f"{FRESHNESS}.json", model)


# ---------------------------------------------------------------- files


@dataclass
class Provisioning:
    """Everything written under ``--out``: paths relative to it, and their text."""

    datasource: Datasource
    engine: str
    dashboards: list[Dashboard]
    folder: str  # dashboards/<folder>/ holds the dashboards

    def files(self) -> dict[str, str]:
        header = ("# Generated by `materializer dashboards grafana` from the project file; run it again rather "
                  "than editing.\n")
        ds = self.datasource
        datasources = {"apiVersion": 1, "datasources": [{
            "name": ds.name, "uid": ds.uid, "type": DATASOURCE_TYPE, "access": "proxy", "url": ds.url,
            "user": ds.user, "editable": False,
            "jsonData": {"database": ds.database, "sslmode": ds.sslmode, "postgresVersion": 1000,
                         "timescaledb": False},
            "secureJsonData": {"password": f"$__env{{{PASSWORD_ENV}}}"},
        }]}
        providers = {"apiVersion": 1, "providers": [{
            "name": ds.name, "orgId": 1, "folder": "materializer", "type": "file", "disableDeletion": False,
            "allowUiUpdates": False, "updateIntervalSeconds": 10,
            "options": {"path": f"{PROVISIONING}/dashboards/{self.folder}", "foldersFromFilesStructure": False},
        }]}
        out = {f"datasources/{self.folder}.yaml": header + f"# The password is read from {PASSWORD_ENV} in Grafana's "
               f"environment.\n" + yaml.safe_dump(datasources, sort_keys=False),
               f"dashboards/{self.folder}.yaml": header + yaml.safe_dump(providers, sort_keys=False)}
        for dash in self.dashboards:
            out[f"dashboards/{self.folder}/{dash.file}"] = json.dumps(dash.model, indent=2, ensure_ascii=False) + "\n"
        return out


def provisioning(spec: ProjectSpec, engine: str | None = None, dsn: str | None = None) -> Provisioning:
    """The Grafana provisioning of a project for ``engine`` (default: the project's)."""
    engine = engine or spec.engine
    d = dialect(engine)
    ds = datasource(spec, engine, dsn)
    dashboards = [monitor_dashboard(spec, m, d, ds) for m in spec.monitors.values()]
    if spec.feature_views:
        dashboards.append(freshness_dashboard(spec, d, ds))
    return Provisioning(ds, engine, dashboards, _slug(f"materializer-{spec.name}"))


def write(prov: Provisioning, out: Path) -> tuple[list[Path], list[Path]]:
    """Write the files under ``out``; remove this project's dashboards that are no longer generated.
    Returns (written, removed)."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder (created if missing), for example --out grafana")
    files = prov.files()
    written, removed = [], []
    try:
        for relative, text in files.items():
            path = out / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        folder = out / "dashboards" / prov.folder
        folder.mkdir(parents=True, exist_ok=True)  # the provider reads it, even with no dashboard yet
        for path in sorted(folder.glob("*.json")):
            if str(path.relative_to(out).as_posix()) in files:
                continue
            try:
                model = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(model, dict) and "materializer" in (model.get("tags") or []):
                path.unlink()
                removed.append(path)
    except OSError as exc:
        raise MaterializerError(f"--out {out}: {exc.strerror or exc}; give a folder you can write to") from None
    return written, removed

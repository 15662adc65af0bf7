"""Feature views and monitors that a dbt project deploys, discovered from its ``target/manifest.json``.

A dbt model marks itself with ``meta: {materializer: {...}}`` (``config.meta``), the keys of an
entry of ``materializer.yml`` (DESIGN §4):

- a feature view: ``{kind: feature_view, entity, timestamp, windows | max_age, tie_break,
  features, source?}``; its source is the one node the model reads (``ref``/``source``), or the
  one named by ``source:`` when it reads several; ``timestamp:`` names that source's event time;
- a monitor: every model of it says ``{kind: monitor, monitor: NAME, view: KIND}`` (KIND one of
  scored, metrics, timeseries, versions, reference, drift); the scored model also holds the
  definition, whose ``predictions.source``, ``outcomes.source`` and ``reference.relation`` name
  the nodes it reads.

Discovery builds the raw mapping a project file would hold (each node read becomes an external
source ``relation: schema.identifier``) and validates it with ``parse_project``: the same rules
and errors, reported at the model's meta (``models.card_activity.meta.materializer.windows[1]:
...``). Each view then reads the relation dbt built (``served_from``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from materializer.definitions.checks import Problems
from materializer.definitions.spec import ENGINES, ProjectSpec
from materializer.definitions.validate import VIEW_KEYS, parse_project
from materializer.errors import ProjectError, did_you_mean

MONITOR_VIEWS = ("scored", "metrics", "timeseries", "versions", "reference", "drift")
#: keys of a model's meta.materializer besides those of the project file's entry
FEATURE_VIEW_META = ("kind", "timestamp", *VIEW_KEYS)
MONITOR_META = ("kind", "monitor", "view")


def load_manifest(path: str | Path) -> dict[str, Any]:
    """The parsed manifest; a missing, unreadable or foreign file is a one-line ProjectError."""
    path = Path(path)
    fix = "run `dbt parse` (or `dbt build`) in the dbt project, then pass its target/manifest.json"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such dbt manifest; {fix}") from None
    except (OSError, ValueError) as exc:
        raise ProjectError(f"{path}: cannot read the dbt manifest: {getattr(exc, 'strerror', None) or exc}; "
                           f"{fix}") from None
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise ProjectError(f"{path}: not JSON ({exc}); {fix}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("nodes"), dict) \
            or not isinstance(manifest.get("metadata"), dict):
        raise ProjectError(f"{path}: not a dbt manifest (no `nodes` and `metadata`); {fix}")
    return manifest


def _meta(node: dict[str, Any]) -> Any:
    config = node.get("config") or {}
    return (config.get("meta") or {}).get("materializer") or (node.get("meta") or {}).get("materializer")


def _relation(node: dict[str, Any]) -> str:
    """``schema.identifier`` of a node (the database is the connection's)."""
    name = node.get("identifier") if node.get("resource_type") == "source" else node.get("alias")
    return f"{node.get('schema')}.{name or node.get('name')}"


def _label(node: dict[str, Any]) -> str:
    if node.get("resource_type") == "source":
        return f"source('{node.get('source_name')}', '{node.get('name')}')"
    return f"{node.get('resource_type')} {node.get('name')}"


class _Discovery:
    def __init__(self, manifest: dict[str, Any], file: str) -> None:
        self.manifest = manifest
        self.file = file
        self.p = Problems(file)
        self.nodes: dict[str, dict[str, Any]] = {**manifest.get("sources", {}), **manifest["nodes"]}
        self.sources: dict[str, dict[str, Any]] = {}  # source key -> raw source
        self.source_of: dict[str, str] = {}  # node id -> source key
        self.where: dict[str, str] = {}  # project-file key path -> model meta path

    def upstream(self, node: dict[str, Any]) -> list[dict[str, Any]]:
        ids = (node.get("depends_on") or {}).get("nodes") or []
        return [self.nodes[i] for i in dict.fromkeys(ids) if i in self.nodes]

    def named(self, node: dict[str, Any], name: Any, path: str) -> dict[str, Any] | None:
        """The node ``name`` among those ``node`` reads (a model, seed, snapshot or source table; a source
        table also as ``source_name.table``)."""
        read = self.upstream(node)
        for other in read:
            names = {other.get("name"), other.get("alias"), other.get("identifier")}
            if other.get("resource_type") == "source":
                names.add(f"{other.get('source_name')}.{other.get('name')}")
            if name in names:
                return other
        known = [str(o.get("name")) for o in read]
        self.p.add(path, f"{name!r} is not a node this model reads{did_you_mean(str(name), known)}; it reads "
                         f"{', '.join(_label(o) for o in read) or 'nothing'}: name one of them, or add "
                         f"{{{{ ref('{name}') }}}} to the model")
        return None

    def source(self, node: dict[str, Any], timestamp: Any, path: str) -> str:
        """The key of the external source reading ``node`` (one per node; its event time must agree)."""
        uid = node["unique_id"]
        if uid in self.source_of:
            key = self.source_of[uid]
            if timestamp and self.sources[key]["timestamp"] != timestamp:
                self.p.add(path, f"{_label(node)} is read with the event time '{self.sources[key]['timestamp']}' "
                                 f"elsewhere; one source has one event-time column: use '"
                                 f"{self.sources[key]['timestamp']}'")
            return key
        key = str(node.get("name"))
        if key in self.sources:  # a seed and a source table of one name
            key = f"{node.get('source_name') or node.get('resource_type')}__{key}"
        self.source_of[uid] = key
        self.sources[key] = {"relation": _relation(node), "timestamp": timestamp}
        return key

    def feature_view(self, node: dict[str, Any], meta: dict[str, Any], path: str) -> tuple[str, dict] | None:
        name = str(node["name"])
        raw = {k: v for k, v in meta.items() if k not in ("kind", "timestamp", "source")}
        for key in meta:
            if key not in FEATURE_VIEW_META:
                self.p.add(f"{path}.{key}", f"unknown key '{key}'{did_you_mean(str(key), FEATURE_VIEW_META)}; "
                                            f"allowed keys: {', '.join(FEATURE_VIEW_META)}")
        timestamp = meta.get("timestamp")
        if not isinstance(timestamp, str) or not timestamp:
            self.p.add(f"{path}.timestamp", "missing: name the event-time column of the source the model reads")
            return None
        if "source" in meta:
            upstream = self.named(node, meta["source"], f"{path}.source")
        else:
            read = self.upstream(node)
            upstream = read[0] if len(read) == 1 else None
            if upstream is None:
                self.p.add(f"{path}.source", f"the model reads {len(read)} nodes"
                                             f"{' (' + ', '.join(_label(o) for o in read) + ')' if read else ''}; "
                                             "name its source of events with `source:`")
        if upstream is None:
            return None
        raw["source"] = self.source(upstream, timestamp, f"{path}.timestamp")
        self.where[f"feature_views.{name}"] = path
        return name, raw

    def monitors(self, models: list[tuple[dict[str, Any], dict[str, Any], str]]) -> dict[str, dict]:
        grouped: dict[str, dict[str, tuple[dict, dict, str]]] = {}
        for node, meta, path in models:
            name, view = meta.get("monitor"), meta.get("view")
            if not isinstance(name, str) or not name:
                self.p.add(f"{path}.monitor", "missing: name the monitor this model belongs to")
                continue
            if view not in MONITOR_VIEWS:
                self.p.add(f"{path}.view", f"{'missing' if view is None else f'unknown view {view!r}'}"
                                           f"{did_you_mean(str(view), MONITOR_VIEWS) if view else ''}; use one of "
                                           f"{', '.join(MONITOR_VIEWS)}")
                continue
            views = grouped.setdefault(name, {})
            if view in views:
                self.p.add(f"{path}.view", f"monitor {name} has a {view} model already ({views[view][0]['name']}); "
                                           "give each view one model")
                continue
            views[view] = (node, meta, path)
        out: dict[str, dict] = {}
        for name, views in grouped.items():
            if "scored" not in views:
                node, _, path = next(iter(views.values()))
                self.p.add(f"{path}.monitor", f"monitor {name} has no scored model (meta.materializer with view: "
                                              "scored and the monitor's definition); add it")
                continue
            node, meta, path = views["scored"]
            raw = {k: v for k, v in meta.items() if k not in MONITOR_META}
            for view, (other, other_meta, other_path) in views.items():
                extra = [k for k in other_meta if k not in MONITOR_META]
                if view != "scored" and extra:
                    self.p.add(f"{other_path}.{extra[0]}", f"the definition of monitor {name} belongs in the meta "
                                                           f"of its scored model ({node['name']}); remove it here")
            ok = True
            for side, timestamp_key in (("predictions", "timestamp"), ("outcomes", "timestamp")):
                side_raw = raw.get(side)
                if not isinstance(side_raw, dict):
                    continue  # parse_project reports it
                upstream = self.named(node, side_raw.get("source"), f"{path}.{side}.source")
                timestamp = side_raw.get(timestamp_key)
                if not isinstance(timestamp, str) or not timestamp:
                    self.p.add(f"{path}.{side}.timestamp", f"missing: name the time column of the {side}")
                    ok = False
                if upstream is None:
                    ok = False
                    continue
                raw[side] = {**side_raw, "source": self.source(upstream, timestamp, f"{path}.{side}.timestamp")}
            reference = raw.get("reference")
            if isinstance(reference, dict) and "relation" in reference:
                reader = views.get("reference", views["scored"])
                upstream = self.named(reader[0], reference["relation"], f"{path}.reference.relation")
                if upstream is None:
                    ok = False
                else:
                    raw["reference"] = {**reference, "relation": _relation(upstream)}
            if reference is not None and "reference" not in views:
                self.p.add(f"{path}.reference", f"monitor {name} measures drift: add its reference model "
                                                "(view: reference) and drift model (view: drift)")
                ok = False
            if ok:
                raw["served_from"] = {view: _relation(v[0]) for view, v in views.items()}
                self.where[f"monitors.{name}"] = path
                out[name] = raw
        return out

    def spec(self) -> ProjectSpec:
        metadata = self.manifest["metadata"]
        engine = metadata.get("adapter_type")
        if engine not in ENGINES:
            raise ProjectError(f"{self.file}: the dbt adapter is {engine!r}, not one of materializer's engines "
                               f"({', '.join(ENGINES)}); build the project with a postgres, materialize or "
                               "risingwave target")
        views: dict[str, dict] = {}
        monitor_models = []
        cluster = None
        for uid, node in self.manifest["nodes"].items():
            meta = _meta(node)
            if node.get("resource_type") != "model" or meta is None:
                continue
            path = f"models.{node.get('name')}.meta.materializer"
            if not isinstance(meta, dict):
                self.p.add(path, "expected a mapping such as {kind: feature_view, ...}")
                continue
            kind = meta.get("kind")
            if kind == "feature_view":
                found = self.feature_view(node, meta, path)
                if found:
                    views[found[0]] = found[1]
                    cluster = cluster or (node.get("config") or {}).get("cluster")
            elif kind == "monitor":
                monitor_models.append((node, meta, path))
            else:
                self.p.add(f"{path}.kind", f"{'missing' if kind is None else f'unknown kind {kind!r}'}"
                                           f"{did_you_mean(str(kind), ('feature_view', 'monitor')) if kind else ''}; "
                                           "use feature_view or monitor")
        monitors = self.monitors(monitor_models)
        self.p.raise_if_any()
        served = {name: m.pop("served_from") for name, m in monitors.items()}
        raw = {"name": metadata.get("project_name") or "dbt", "engine": engine, "sources": self.sources,
               "feature_views": views, "monitors": monitors}
        if cluster:
            raw["cluster"] = cluster
        try:
            spec = parse_project(raw, file=self.file)
        except ProjectError as exc:
            raise ProjectError(self._at_models(str(exc))) from None
        spec.feature_views = {name: dataclasses.replace(v, served_from=_relation(self._model(name)))
                              for name, v in spec.feature_views.items()}
        spec.monitors = {name: dataclasses.replace(m, served_from=tuple(served[name].items()))
                         for name, m in spec.monitors.items()}
        return spec

    def _model(self, name: str) -> dict[str, Any]:
        return next(n for n in self.manifest["nodes"].values()
                    if n.get("resource_type") == "model" and n.get("name") == name)

    def _at_models(self, message: str) -> str:
        """A problem of the project file's shape, pointed at the model meta it came from."""
        def point(match: re.Match[str]) -> str:
            key = f"{match.group(1)}.{match.group(2)}"
            return f"{self.file}: {self.where.get(key, key)}"

        return re.sub(rf"^{re.escape(self.file)}: (feature_views|monitors)\.([A-Za-z0-9_]+)", point, message,
                      flags=re.MULTILINE)


def spec_from_manifest(manifest: dict[str, Any], file: str = "manifest.json") -> ProjectSpec:
    """The validated ProjectSpec of the feature views and monitors a dbt manifest declares."""
    return _Discovery(manifest, file).spec()


def load_dbt_project(path: str | Path) -> ProjectSpec:
    """Read and validate ``target/manifest.json`` of a dbt project."""
    return spec_from_manifest(load_manifest(path), str(path))

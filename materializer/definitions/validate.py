"""Validation of ``materializer.yml``: every problem reported with its key path and the fix.

``parse_project`` turns the raw YAML mapping into a :class:`ProjectSpec`, or
raises one :class:`ProjectError` listing every problem found, each line of the
form ``<file>: <key path>: <what is wrong>; <the fix>``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from materializer.definitions.checks import (
    NO_MAX_TYPES,
    TYPE_ALIASES,
    Problems,
    YamlBoolean,
    base_type,
    canonical_type,
    check_keys,
    duration,
    hidden_relation,
    identifier,
    mapping,
    numeric_problem,
    relation,
)
from materializer.definitions.deployment import parse_deployment
from materializer.definitions.durations import Duration
from materializer.definitions.filters import expression_problems, filter_problems
from materializer.definitions.monitors import parse_monitors
from materializer.definitions.names import check_names
from materializer.definitions.spec import (
    AGGREGATES,
    ENGINES,
    NUMERIC_TYPES,
    Feature,
    FeatureView,
    OnDemandView,
    ProjectSpec,
    Source,
)
from materializer.definitions.streams import WEBHOOK_ENGINES, parse_streams, webhook_refused
from materializer.errors import ProjectError, did_you_mean

TOP_KEYS = ("name", "engine", "cluster", "deployment", "sources", "feature_views", "on_demand_features",
            "feature_services", "monitors")
REFERENCE = re.compile(r"\{([^{}]*)\}")
SOURCE_KEYS = ("columns", "relation", "timestamp", "kafka", "webhook", "backfill")
VIEW_KEYS = ("source", "entity", "windows", "max_age", "tie_break", "features", "description")
FEATURE_KEYS = ("agg", "column", "filter", "description")


STREAMING_ENGINES = ("materialize", "risingwave")


def latest_needs_max_age(engine: str) -> str:
    """Why a latest-value view needs ``max_age`` on a streaming engine, and the fix."""
    return (f"missing: on {engine} a latest-value view keeps the events of the last max_age (without it, every "
            "event ever seen stays in the engine's memory); declare max_age, for example 30d (an entity whose "
            "newest event is older is then not found)")


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key].line + 1})", key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _construct_boolean(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> YamlBoolean:
    return YamlBoolean(loader.construct_scalar(node))


# `on:`, `yes`, `off`... stay the words written (YAML 1.1 would make them booleans), so that a name
# spelt so gets "quote it ('on')" rather than an error about True
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:bool", _construct_boolean)


def load_yaml(path: Path) -> Any:
    """Read a YAML file; a syntax error becomes a ProjectError with the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProjectError(f"{path}: no such project file; run `materializer init` to create one, "
                           "or pass --project PATH") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProjectError(f"{path}:{where}: malformed YAML: {problem}; fix the syntax at that position") from None


def parse_project(raw: Any, file: str = "materializer.yml") -> ProjectSpec:
    """Validate a raw project mapping and build the typed spec (or raise ProjectError)."""
    p = Problems(file)
    if not isinstance(raw, dict):
        p.add("(top level)", "expected a mapping with name, engine, sources and feature_views")
        p.raise_if_any()
    check_keys(p, "", raw, TOP_KEYS)

    name = raw.get("name", "materializer")
    if not isinstance(name, str) or not name.strip():
        p.add("name", "expected a non-empty project name")
    elif not name.isprintable():
        p.add("name", "the project name is one line of printable text (it heads the compiled SQL as a comment); "
                      "remove the line breaks and control characters")
    engine = raw.get("engine", "postgres")
    if engine not in ENGINES:
        p.add("engine", f"unknown engine {engine!r}{did_you_mean(str(engine), ENGINES)}; use one of {', '.join(ENGINES)}")
    deployment = parse_deployment(p, raw.get("deployment"), raw.get("cluster"))

    sources = _parse_sources(p, raw.get("sources") or {})
    p.broken_sources = _declared(raw.get("sources")) - set(sources)
    views = _parse_views(p, raw.get("feature_views") or {}, sources)
    p.broken_views = _declared(raw.get("feature_views")) - set(views)
    for sname, source in sources.items():
        if source.webhook and engine not in WEBHOOK_ENGINES:
            p.add(f"sources.{sname}.webhook", webhook_refused(str(engine)))
    if engine in STREAMING_ENGINES:
        for vname, view in views.items():
            if view.kind == "latest" and view.max_age is None:
                p.add(f"feature_views.{vname}.max_age", latest_needs_max_age(str(engine)))
    monitors = parse_monitors(p, raw.get("monitors") or {}, sources)
    on_demand = _parse_on_demand(p, raw.get("on_demand_features") or {}, views,
                                 set(sources) | p.broken_sources | set(views) | p.broken_views)
    p.broken_views |= _declared(raw.get("on_demand_features")) - set(on_demand)
    services = _parse_services(p, raw.get("feature_services") or {}, {**views, **on_demand})
    spec = ProjectSpec(name=str(name), engine=str(engine), sources=sources, feature_views=views,
                       cluster=deployment.compute.name, monitors=monitors, feature_services=services,
                       on_demand=on_demand, deployment=deployment)
    check_names(p, spec)
    p.raise_if_any()
    return spec


def _declared(raw: Any) -> set[str]:
    """The names a section declares (its keys), valid or not."""
    return {k for k in raw if isinstance(k, str)} if isinstance(raw, dict) else set()


def _parse_on_demand(p: Problems, raw: Any, views: dict[str, FeatureView], taken: set[str]
                     ) -> dict[str, OnDemandView]:
    """`on_demand_features: {name: {request: {field: type}, features: {name: expression}}}`."""
    out: dict[str, OnDemandView] = {}
    if mapping(p, "on_demand_features", raw, "on-demand feature views") is None:
        return out
    for name, body in raw.items():
        path = f"on_demand_features.{name}"
        if identifier(p, path, name, "on-demand view") is None or mapping(p, path, body, "settings") is None:
            continue
        if name in taken:
            p.add(path, f"'{name}' is already the name of a source or feature view; rename it")
            continue
        check_keys(p, path, body, ("request", "features", "description"))
        before = len(p.lines)
        skipped = False
        request: dict[str, str] = {}
        req = body.get("request") or {}
        if mapping(p, f"{path}.request", req, "field: type") is not None:
            for field_name, ftype in req.items():
                if identifier(p, f"{path}.request.{field_name}", field_name, "request field") is None:
                    continue
                canon = canonical_type(ftype) if isinstance(ftype, str) else None
                if canon is None:
                    p.add(f"{path}.request.{field_name}", numeric_problem(ftype) or
                          f"unsupported type {ftype!r}; use text, bigint, numeric, double precision, boolean, "
                          "timestamptz, ...")
                    continue
                request[field_name] = canon
        features: dict[str, str] = {}
        inputs: list[str] = []
        fraw = body.get("features")
        if mapping(p, f"{path}.features", fraw, "name: expression") is None or not fraw:
            if isinstance(fraw, dict):
                p.add(f"{path}.features", "an on-demand view needs at least one feature")
            continue
        for fname, expr in fraw.items():
            fpath = f"{path}.features.{fname}"
            if identifier(p, fpath, fname, "feature") is None:
                continue
            if str(fname).startswith("_"):
                p.add(fpath, "feature names starting with _ are reserved; rename the feature")
                continue
            if not isinstance(expr, str) or not expr.strip():
                p.add(fpath, "expected an SQL expression such as \"{amount} / nullif({card_activity:amount_avg_1d}, 0)\"")
                continue
            if ";" in expr or "--" in expr or "/*" in expr:
                p.add(fpath, "an on-demand feature is one SQL expression: no `;` and no comments")
                continue
            refs = REFERENCE.findall(expr)
            if not refs:
                p.add(fpath, "the expression uses no {request field} or {view:feature}; reference at least one")
                continue
            problems = expression_problems(REFERENCE.sub(" 0 ", expr))
            for problem in problems:
                p.add(fpath, problem)
            if problems:
                continue
            for ref in refs:
                view_name, sep, feature = ref.partition(":")
                if sep and view_name in p.broken_views:
                    skipped = True  # the view's own problem is reported under feature_views
                elif not sep:
                    if ref not in request:
                        p.add(fpath, f"{{{ref}}} is not a request field{did_you_mean(ref, request)}; declare it "
                                     f"under `request:` (fields: {', '.join(request) or 'none'})")
                elif view_name not in views:
                    p.add(fpath, f"{{{ref}}}: unknown feature view {view_name!r}{did_you_mean(view_name, views)}")
                elif feature not in views[view_name].feature_names:
                    p.add(fpath, f"{{{ref}}}: {view_name} has no feature {feature!r}"
                                 f"{did_you_mean(feature, views[view_name].feature_names)}")
                elif view_name not in inputs:
                    inputs.append(view_name)
            features[fname] = expr
        if skipped:
            continue
        entities = {views[v].entity for v in inputs}
        if len(entities) > 1:
            p.add(path, "the feature views it reads have different entity keys; use views of one entity")
        if len(p.lines) > before:
            continue
        entity = next(iter(entities)) if entities else ()
        if not entity:
            p.add(path, "an on-demand view must read at least one stored feature ({view:feature}), which gives its "
                        "entity keys")
            continue
        out[name] = OnDemandView(name=name, entity=entity, request=request, features=features, inputs=tuple(inputs))
    return out


def _parse_services(p: Problems, raw: Any, views: dict[str, FeatureView]) -> dict[str, list[str]]:
    """`feature_services: {name: [view:feature, view:*, ...]}`: the features one model uses."""
    out: dict[str, list[str]] = {}
    if mapping(p, "feature_services", raw, "feature services") is None:
        return out
    for name, refs in raw.items():
        path = f"feature_services.{name}"
        if identifier(p, path, name, "feature service") is None:
            continue
        if not isinstance(refs, list) or not refs:
            p.add(path, "expected a list of feature references, for example [card_activity:tx_count_1h, card_last_tx:*]")
            continue
        for i, ref in enumerate(refs):
            view, sep, feature = str(ref).partition(":")
            if sep and view in p.broken_views:
                continue  # the view's own problem is reported where it is declared
            if not sep or view not in views:
                p.add(f"{path}[{i}]", f"{ref!r} is not a feature reference view:feature"
                                      f"{did_you_mean(view, views) if sep else ''}; views: {', '.join(views)}")
            elif feature != "*" and feature not in views[view].feature_names:
                p.add(f"{path}[{i}]", f"{view} has no feature {feature!r}"
                                      f"{did_you_mean(feature, views[view].feature_names)}")
        out[name] = [str(r) for r in refs]
    return out


def _parse_sources(p: Problems, raw: Any) -> dict[str, Source]:
    out: dict[str, Source] = {}
    if mapping(p, "sources", raw, "sources") is None:
        return out
    for sname, body in raw.items():
        path = f"sources.{sname}"
        if identifier(p, path, sname, "source") is None or mapping(p, path, body, "source settings") is None:
            continue
        check_keys(p, path, body, SOURCE_KEYS)
        has_cols, has_rel = "columns" in body, "relation" in body
        kafka, webhook, backfill, streams_ok = parse_streams(p, path, body, has_rel)
        if not streams_ok:
            continue
        if not has_cols and not has_rel:
            p.add(path, "a source needs `columns:` (a managed table) or `relation:` (an existing table or view)")
            continue
        columns: dict[str, str] | None = None
        if has_cols:
            columns = {}
            cols = body["columns"]
            if mapping(p, f"{path}.columns", cols, "column: type") is None:
                continue
            if not cols:
                p.add(f"{path}.columns", "a source needs at least one column")
            for cname, ctype in cols.items():
                cpath = f"{path}.columns.{cname}"
                if identifier(p, cpath, cname, "column") is None:
                    if isinstance(cname, str):
                        p.broken_columns.setdefault(str(sname), set()).add(cname)
                    continue
                canon = canonical_type(ctype) if isinstance(ctype, str) else None
                if canon is None:
                    p.add(cpath, numeric_problem(ctype) or
                          f"unsupported type {ctype!r}{did_you_mean(str(ctype), TYPE_ALIASES)}; use one of "
                          "text, integer, bigint, numeric, double precision, boolean, timestamptz, date, jsonb, uuid")
                    p.broken_columns.setdefault(str(sname), set()).add(cname)
                    continue
                columns[cname] = canon
        rel = sname
        if has_rel:
            rel = relation(p, f"{path}.relation", body["relation"], "the existing table or view to read")
            if rel is None or hidden_relation(p, f"{path}.relation", rel):
                continue
        elif hidden_relation(p, path, rel):
            continue
        ts = body.get("timestamp")
        if ts is None:
            p.add(f"{path}.timestamp", "missing: name the event-time column (a timestamptz)")
            continue
        if identifier(p, f"{path}.timestamp", ts, "column") is None:
            continue
        if columns is not None:
            if p.broken_column(str(sname), ts):
                continue
            if ts not in columns and columns:
                p.add(f"{path}.timestamp", f"'{ts}' is not a column of this source{did_you_mean(ts, columns)}; "
                                           f"columns: {', '.join(columns)}")
                continue
            if columns and columns.get(ts) != "timestamptz":
                p.add(f"{path}.columns.{ts}", f"the timestamp column must be timestamptz, not {columns[ts]}")
                continue
        if backfill is not None and backfill.relation in (sname, f"{sname}__all"):
            p.add(f"{path}.backfill.relation", f"'{backfill.relation}' is the source itself; name the table or "
                                               "view that holds the events before the cutover")
            continue
        out[sname] = Source(name=sname, relation=f"{sname}__all" if backfill else rel, timestamp=ts,
                            columns=columns, managed=has_cols and not has_rel, kafka=kafka, webhook=webhook,
                            backfill=backfill)
    return out


def _parse_views(p: Problems, raw: Any, sources: dict[str, Source]) -> dict[str, FeatureView]:
    out: dict[str, FeatureView] = {}
    if mapping(p, "feature_views", raw, "feature views") is None:
        return out
    for vname, body in raw.items():
        path = f"feature_views.{vname}"
        if identifier(p, path, vname, "feature view") is None or mapping(p, path, body, "view settings") is None:
            continue
        check_keys(p, path, body, VIEW_KEYS)
        sname = body.get("source")
        source = sources.get(sname) if isinstance(sname, str) else None
        if source is None:
            if not (isinstance(sname, str) and sname in p.broken_sources):  # else reported under sources
                known = [*sources, *sorted(p.broken_sources)]
                p.add(f"{path}.source", f"unknown source {sname!r}{did_you_mean(str(sname), known)}; "
                                        f"known sources: {', '.join(known) or '(none)'}")
            # the rest is checked as for an external source (columns unknown); the view is not kept
            source = Source(name=str(sname), relation=str(sname), timestamp="", columns=None, managed=False)
            sources_ok = False
        else:
            sources_ok = True

        def column_ok(cpath: str, col: Any, source: Source = source) -> str | None:
            if p.broken_column(source.name, col):
                return None  # its type or name is reported under sources
            if identifier(p, cpath, col, "column") is None:
                return None
            if source.columns is not None and col not in source.columns:
                p.add(cpath, f"'{col}' is not a column of source '{source.name}'{did_you_mean(col, source.columns)}; "
                             f"columns: {', '.join(source.columns)}")
                return None
            return col

        entity_raw = body.get("entity")
        if isinstance(entity_raw, str):
            entity_raw = [entity_raw]
        if not isinstance(entity_raw, list) or not entity_raw:
            p.add(f"{path}.entity", "expected a list of one or more key columns, for example [cc_num]")
            continue
        entity = [column_ok(f"{path}.entity[{i}]", c) for i, c in enumerate(entity_raw)]
        for i, c in enumerate(entity):
            if c is not None and c == source.timestamp:
                p.add(f"{path}.entity[{i}]", f"'{c}' is the source's event time, not a key; key the view by the "
                                             "columns that name what the features describe")
                entity[i] = None
        named = [c for c in entity_raw if isinstance(c, str)]
        if len(set(named)) != len(named):
            p.add(f"{path}.entity", "a key column is listed twice")

        features_raw = body.get("features")
        if mapping(p, f"{path}.features", features_raw, "feature: definition") is None or not features_raw:
            if isinstance(features_raw, dict):
                p.add(f"{path}.features", "a feature view needs at least one feature")
            continue
        features: list[Feature] = []
        for fname, fbody in features_raw.items():
            fpath = f"{path}.features.{fname}"
            if identifier(p, fpath, fname, "feature") is None:
                continue
            if str(fname).startswith("_"):
                p.add(fpath, "feature names starting with _ are reserved; rename the feature")
                continue
            if mapping(p, fpath, fbody, "feature settings") is None:
                continue
            check_keys(p, fpath, fbody, FEATURE_KEYS)
            agg = fbody.get("agg")
            if agg not in AGGREGATES:
                p.add(f"{fpath}.agg", f"unknown aggregate {agg!r}{did_you_mean(str(agg), AGGREGATES)}; "
                                      f"use one of {', '.join(AGGREGATES)}")
                continue
            col = fbody.get("column")
            if col is not None and column_ok(f"{fpath}.column", col) is None:
                continue
            if col is None and agg != "count":
                p.add(f"{fpath}.column", f"`{agg}` needs a `column:`")
                continue
            ctype = source.column_type(col) if col else None
            if ctype and agg in ("sum", "avg", "stddev") and base_type(ctype) not in NUMERIC_TYPES:
                p.add(f"{fpath}.column", f"`{agg}` needs a numeric column; '{col}' is {ctype}")
                continue
            if ctype == "jsonb" and agg in ("min", "max", "count_distinct"):
                p.add(f"{fpath}.column", f"`{agg}` is not defined for jsonb column '{col}'")
                continue
            if ctype in NO_MAX_TYPES and agg in ("min", "max"):
                p.add(f"{fpath}.column", f"`{agg}` is not defined for {ctype} column '{col}' (the database has no "
                                         f"{agg}({ctype})); use count with a filter, count_distinct or latest")
                continue
            if ctype in NO_MAX_TYPES and agg == "latest":
                p.add(f"{fpath}.column", f"`latest` breaks ties on the time with max(), which {ctype} column '{col}' "
                                         "has not; store the value as text or a number")
                continue
            filt = fbody.get("filter")
            if filt is not None:
                if agg == "latest":
                    p.add(f"{fpath}.filter", "a `latest` feature cannot have a filter; filter the source instead")
                    continue
                if not isinstance(filt, str) or not filt.strip():
                    p.add(f"{fpath}.filter", "expected a SQL boolean expression, for example \"status = 'failed'\"")
                    continue
                if ";" in filt or "--" in filt or "/*" in filt:
                    p.add(f"{fpath}.filter", "a filter is one SQL expression: no `;` and no comments")
                    continue
                problems = filter_problems(filt, source.columns, source.name)
                for problem in problems:
                    p.add(f"{fpath}.filter", problem)
                if problems:
                    continue
            features.append(Feature(name=fname, agg=agg, column=col, filter=filt))

        latest = [f for f in features if f.agg == "latest"]
        windowed = [f for f in features if f.agg != "latest"]
        windows: list[Duration] = []
        max_age = None
        tie_break = None
        if latest and windowed:
            p.add(f"{path}.features", f"mixes `latest` ({latest[0].name}) and windowed aggregates "
                                      f"({windowed[0].name}); put latest values in a view of their own")
            continue
        if latest:
            if "windows" in body:
                p.add(f"{path}.windows", "a window on a `latest` view has no meaning; use `max_age:` to bound "
                                         "how old the latest value may be, and remove `windows:`")
                continue
            if body.get("max_age") is not None:
                max_age = duration(p, f"{path}.max_age", body["max_age"])
            if body.get("tie_break") is not None:
                tie_break = column_ok(f"{path}.tie_break", body["tie_break"])
                if tie_break is not None and (tie_break == source.timestamp or tie_break in entity):
                    what = "the event time" if tie_break == source.timestamp else "a key of the view"
                    p.add(f"{path}.tie_break", f"'{tie_break}' is {what}, the same for every tied event; name the "
                                               "column that orders events of one key at one time")
                    continue
                ttype = source.column_type(tie_break) if tie_break else None
                if ttype in NO_MAX_TYPES:
                    p.add(f"{path}.tie_break", f"ties are broken with the greatest tie-break (max()), which {ttype} "
                                               f"column '{tie_break}' has not; use a number, text or time column")
                    continue
        elif features:
            for key in ("max_age", "tie_break"):
                if key in body:
                    p.add(f"{path}.{key}", f"`{key}` applies to `latest` views only; remove it")
            wraw = body.get("windows")
            if isinstance(wraw, (str, int)):
                wraw = [wraw]
            if not isinstance(wraw, list) or not wraw:
                p.add(f"{path}.windows", "windowed aggregates need `windows:`, a list such as [10m, 1h, 1d]")
                continue
            for i, w in enumerate(wraw):
                d = duration(p, f"{path}.windows[{i}]", w)
                if d is None:
                    continue
                if any(d.seconds == o.seconds for o in windows):
                    p.add(f"{path}.windows[{i}]", f"'{w}' repeats a window of the same length; remove it")
                    continue
                windows.append(d)
            if len(windows) != len(wraw):
                continue
        if None in entity or len(features) != len(features_raw) or not sources_ok:
            continue
        view = FeatureView(name=vname, source=source, entity=tuple(entity), features=tuple(features),
                           windows=tuple(windows), max_age=max_age, tie_break=tie_break)
        names = view.feature_names
        seen = set(view.entity)
        for n in names:
            if n in seen:
                p.add(f"{path}.features", f"two columns would be named '{n}' (features, windows and keys share one "
                                          "namespace); rename one feature")
            seen.add(n)
        out[vname] = view
    return out

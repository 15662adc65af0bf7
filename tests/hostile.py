"""Random project files for the hostile-project tests: names, types, aggregates, filters and monitors
drawn from the shapes that broke before (key words, names of generated columns and CTEs, types
without max(), columns named like the monitor views' columns...), and a runner that applies an
accepted project on PostgreSQL and reads everything it serves."""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)

# names that work (key words PostgreSQL reads as names, names of CTEs that hide nothing, of the
# monitors' columns where a source column may have them...), and names validation refuses
NAMES = ["k", "ts", "amount", "time", "values", "score", "label", "n", "value", "name", "type", "level", "key",
         "kind", "events", "final", "latest", "labels", "request", "s", "x_1h", "status", "y", "p", "o", "e",
         "bin", "timestamp", "at", "zone", "first"]
REFUSED = ["window", "order", "position", "on", "_ts", "tail", "prediction_id", "predicted_at", "left", "_event_ts",
           "_x"]
NUMBERS = ("integer", "bigint", "smallint", "numeric", "numeric(10,2)", "double precision", "real")

TYPES = ["text", "integer", "bigint", "smallint", "numeric", "numeric(10,2)", "double precision", "real", "boolean",
         "date", "jsonb", "uuid", "timestamptz"]
AGGS = ["count", "count_distinct", "sum", "avg", "min", "max", "stddev", "latest"]
WINDOWS = ["10m", "1h", "1d", "90s", "2w"]


def filters_for(column: str, type_: str) -> list[str]:
    if type_ in ("integer", "bigint", "smallint", "numeric", "numeric(10,2)", "double precision", "real"):
        return [f"{column} > 0", f"coalesce({column}, 0) >= 1 and {column} is not null"]
    if type_ == "text":
        return [f"{column} = 'a'", f"lower({column}) like 'a%'"]
    if type_ == "boolean":
        return [f"{column}", f"not {column}"]
    return [f"{column} is not null"]


def names() -> st.SearchStrategy[str]:
    """A name: one in forty of those validation refuses."""
    return st.integers(0, 39).flatmap(lambda i: st.sampled_from(REFUSED if i == 0 else NAMES))


def column_for(draw, cols: dict[str, str], wanted: tuple[str, ...]) -> str:
    """A column, of one of the ``wanted`` types nine times in ten when the source has one."""
    fitting = [c for c, t in cols.items() if t in wanted]
    if fitting and draw(st.integers(0, 9)):
        return draw(st.sampled_from(fitting))
    return draw(st.sampled_from(list(cols)))


@st.composite
def projects(draw) -> tuple[dict, list[str]]:
    """(a raw project of managed sources, the sources to read as existing tables instead: see
    ``with_external``)."""
    def source(name: str) -> dict:
        cols = draw(st.lists(names(), min_size=2, max_size=6, unique=True))
        types = {c: draw(st.sampled_from(TYPES)) for c in cols}
        ts = draw(names().filter(lambda c: c not in cols))
        types[ts] = "timestamptz"
        return {"columns": types, "timestamp": ts}

    source_names = draw(st.lists(names(), min_size=2, max_size=2, unique=True))
    sources = {n: source(n) for n in source_names}
    views = {}
    for vname in draw(st.lists(names(), min_size=1, max_size=2, unique=True)):
        sname = draw(st.sampled_from(source_names))
        cols = sources[sname]["columns"]
        plain = [c for c in cols if c != sources[sname]["timestamp"]]
        entity = draw(st.lists(st.sampled_from(plain), min_size=1, max_size=2, unique=True))
        latest = draw(st.booleans())
        features = {}
        for fname in draw(st.lists(names(), min_size=1, max_size=3, unique=True)):
            agg = "latest" if latest else draw(st.sampled_from(AGGS[:-1]))
            feature: dict[str, Any] = {"agg": agg}
            if agg != "count" or draw(st.booleans()):
                wanted = NUMBERS if agg in ("sum", "avg", "stddev") else tuple(
                    t for t in TYPES if t not in ("boolean", "uuid", "jsonb"))
                feature["column"] = column_for(draw, cols, wanted)
            if not latest and draw(st.booleans()):
                c = draw(st.sampled_from(list(cols)))
                feature["filter"] = draw(st.sampled_from(filters_for(c, cols[c])))
            features[fname] = feature
        body: dict[str, Any] = {"source": sname, "entity": entity, "features": features}
        if latest:
            if draw(st.booleans()):
                body["max_age"] = draw(st.sampled_from(WINDOWS))
            if draw(st.booleans()):
                body["tie_break"] = draw(st.sampled_from(list(cols)))
        else:
            body["windows"] = draw(st.lists(st.sampled_from(WINDOWS), min_size=1, max_size=3, unique=True))
        views[vname] = body
    raw: dict[str, Any] = {"sources": sources, "feature_views": views}
    if draw(st.booleans()):
        p, o = draw(st.sampled_from(source_names)), draw(st.sampled_from(source_names))
        pc, oc = list(sources[p]["columns"]), list(sources[o]["columns"])
        task = draw(st.sampled_from(["binary_classification", "regression"]))
        monitor: dict[str, Any] = {
            "task": task, "windows": ["1h", "1d"],
            "predictions": {"source": p, "id": draw(st.sampled_from(pc)),
                            "score": column_for(draw, sources[p]["columns"], NUMBERS)},
            "outcomes": {"source": o, "id": draw(st.sampled_from(oc)),
                         "label": column_for(draw, sources[o]["columns"],
                                             ("integer", "bigint", "smallint", "boolean") if task.startswith("binary")
                                             else NUMBERS)},
        }
        if draw(st.booleans()):
            monitor["predictions"]["segments"] = [draw(st.sampled_from(pc))]
        if draw(st.booleans()):
            monitor["predictions"]["version"] = draw(st.sampled_from(pc))
        if task == "binary_classification" and draw(st.booleans()):
            monitor["label_policy"] = "implicit_negative"
            monitor["maturity"] = "1h"
        if draw(st.booleans()):
            monitor["reference"] = {"relation": "reference_rows", "column": "ref_score"}
            numbers = [c for c, t in sources[p]["columns"].items() if t in NUMBERS]
            if numbers and draw(st.booleans()):
                monitor["features"] = [draw(st.sampled_from(numbers))]
        raw["monitors"] = {draw(names()): monitor}
    if draw(st.booleans()):
        vname = draw(st.sampled_from(list(views)))
        feature = draw(st.sampled_from(list(views[vname]["features"])))
        column = feature if "windows" not in views[vname] else f"{feature}_{views[vname]['windows'][0]}"
        raw["on_demand_features"] = {draw(names()): {
            "request": {draw(names()): draw(st.sampled_from(["numeric", "text", "bigint"]))},
            "features": {draw(names()): f"{{{vname}:{column}}} is not null"}}}
        field = next(iter(next(iter(raw["on_demand_features"].values()))["request"]))
        expr = next(iter(next(iter(raw["on_demand_features"].values()))["features"].values()))
        next(iter(raw["on_demand_features"].values()))["features"] = {
            draw(names()): f"{expr} and {{{field}}} is not null"}
        raw["feature_services"] = {"model": [f"{vname}:*"]}
    return raw, [name for name in source_names if draw(st.integers(0, 2)) == 0]


def with_external(raw: dict, names: list[str]) -> tuple[dict, dict[str, dict[str, str]]]:
    """The project with sources ``names`` read from existing tables (``relation: ext_<name>``), and those
    tables' columns. Validation cannot check the columns of an existing table, so a test validates the
    managed project first: its columns are then known to fit how they are used."""
    raw = copy.deepcopy(raw)
    tables = {}
    for name in names:
        source = raw["sources"][name]
        tables[f"ext_{name}"] = source["columns"]
        raw["sources"][name] = {"relation": f"ext_{name}", "timestamp": source["timestamp"]}
    return raw, tables


def value(type_: str, i: int) -> Any:
    """A value of a column type for row ``i`` (labels of binary monitors must be 0 or 1)."""
    if type_ == "timestamptz":
        return T0 - timedelta(minutes=5 * (i + 1))
    if type_ == "text":
        return "a" if i % 2 == 0 else "b"
    if type_ in ("integer", "bigint", "smallint"):
        return i % 2
    if type_.startswith("numeric") or type_ in ("double precision", "real"):
        return (i % 3) / 4
    if type_ == "boolean":
        return i % 2 == 0
    if type_ == "date":
        return (T0 - timedelta(days=i)).date()
    if type_ == "jsonb":
        return '{"a": 1}'
    if type_ == "uuid":
        return str(uuid.UUID(int=i % 2))
    raise ValueError(type_)


def create_tables(conn, tables: dict[str, dict[str, str]]) -> None:
    """The existing tables external sources read."""
    for name, columns in tables.items():
        conn.execute(f"create table {name} ({', '.join(f'{quoted(c)} {t}' for c, t in columns.items())})")


def quoted(name: str) -> str:
    return '"' + name + '"'


def exercise(project, tables: dict[str, dict[str, str]] | None = None) -> None:
    """Load rows into every source, then read every view, training set and monitor the project serves."""
    import pandas as pd

    from materializer.features import training

    conn = project.db.conn
    spec = project.spec
    types = {s.name: s.columns or (tables or {})[s.relation] for s in spec.sources.values()}
    for relation, columns in {s.relation: types[s.name] for s in spec.sources.values()}.items():
        cols = list(columns)
        for i in range(4):
            conn.execute(f"insert into {relation} ({', '.join(map(quoted, cols))}) "
                         f"values ({', '.join(['%s'] * len(cols))})",
                         [value(columns[c], i) for c in cols])
    at = T0 + timedelta(minutes=1)
    for view in spec.feature_views.values():
        key = {k: str(value(types[view.source.name][k], 0)) for k in view.entity}
        project.online_features(view.name, key, as_of=at)
        spine = pd.DataFrame({**{k: [str(v)] for k, v in key.items()}, "event_timestamp": [at.isoformat()]})
        for method in ("frames", "probes"):
            training.WINDOWED_METHOD = method
            try:
                project.training_set(spine, [f"{view.name}:*"])
            finally:
                training.WINDOWED_METHOD = None
    for od in spec.on_demand.values():
        first = spec.feature_views[od.inputs[0]]
        key = {k: str(value(types[first.source.name][k], 0)) for k in first.entity}
        request = {f: str(value(t, 1)) for f, t in od.request.items()}
        project.online_features(od.name, key, as_of=at, request=request)
        spine = pd.DataFrame({**{k: [str(v)] for k, v in key.items()}, "event_timestamp": [at.isoformat()],
                              **{f: [str(v)] for f, v in request.items() if f not in key}})
        project.training_set(spine, [f"{od.name}:*"])
    from materializer.features.verify import verify

    verify(project, entities=3, as_of=at)
    streaming_forms(project)
    for monitor in spec.monitors.values():
        if monitor.reference_relation:
            extra = "".join(f", g / 10.0 as {c}" for c in monitor.features if c != "ref_score")
            conn.execute("create table if not exists reference_rows as "
                         f"select g / 10.0 as ref_score{extra} from generate_series(0, 9) as g")
            project.store_reference(monitor.name)
        for window in monitor.windows:
            project.metrics(monitor.name, window=window.text, as_of=at)
        for by in ("version", *monitor.segments) if monitor.version else monitor.segments:
            project.metrics(monitor.name, window="1d", by=by, as_of=at)
        project.timeseries(monitor.name, as_of=at)
        if monitor.reference_relation:
            project.drift(monitor.name, as_of=at)
        if monitor.version:
            project.versions(monitor.name, as_of=at)


def streaming_forms(project) -> None:
    """Run the text Materialize and RisingWave get (the default__ macros: joins and reductions instead
    of window functions and index probes) on PostgreSQL, where the clock is PostgreSQL's."""
    from materializer.sql.compile import feature_args, monitor_args, window_args
    from materializer.sql.render import renderer

    macros = renderer("postgres").macros
    conn = project.db.conn
    for view in project.spec.feature_views.values():
        args = {"relation": view.source.relation, "entity": list(view.entity), "timestamp": view.source.timestamp,
                "features": feature_args(view), "columns": view.columns_read}
        if view.kind == "latest":
            sql = macros["default__latest_features"](**args, max_age=view.max_age.sql_interval if view.max_age
                                                     else None, tie_break=view.tie_break)
        else:
            sql = macros["default__windowed_features"](**args, windows=window_args(view))
        conn.execute(f"select * from ({sql}) as streaming")
    for m in project.spec.monitors.values():
        a = monitor_args(m)
        maturity = m.maturity.sql_interval if m.maturity else None
        scored = str(macros["default__monitor_scored"](
            predictions=a["predictions"], outcomes=a["outcomes"], task=m.task, label_policy=m.label_policy,
            maturity=maturity, threshold=m.threshold))
        conn.execute(f"create or replace view {m.name}__scored_streaming as {scored}")
        for macro, extra in (("default__monitor_metrics", {"windows": a["windows"], "maturity": maturity}),
                             ("default__monitor_timeseries", {"bucket": a["bucket"]})):
            sql = macros[macro](scored=f"{m.name}__scored_streaming", task=m.task, label_policy=m.label_policy,
                                slices=a["slices"], cost_fp=m.cost_fp, cost_fn=m.cost_fn, **extra)
            conn.execute(f"select * from ({sql}) as streaming")
        if m.reference_relation:
            sql = macros["default__monitor_drift"](scored=f"{m.name}__scored_streaming", reference=m.view("reference"),
                                                   windows=a["windows"], columns=a["drift_columns"])
            conn.execute(f"select * from ({sql}) as streaming")

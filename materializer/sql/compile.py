"""Turn a validated project into the database objects it needs, rendered for one engine.

Each object is one statement. Their order is the order of creation: the clock
function, then managed source tables with their indexes and row checks, then
feature views (and their indexes on Materialize).
"""

from __future__ import annotations

from dataclasses import dataclass

from materializer.definitions import names
from materializer.definitions.deployment import Deployment
from materializer.definitions.row_checks import row_checks
from materializer.definitions.spec import FeatureView, Monitor, ProjectSpec
from materializer.definitions.validate import latest_needs_max_age
from materializer.engines import Engine, get_engine
from materializer.errors import MaterializerError
from materializer.sql.render import renderer
from materializer.sql.streams import backfill_object, connection_objects, stream_objects

# The reference bins of a monitor: every `materializer reference` appends a version (a table created
# before versions gains the column through apply; its rows, version null, read as version 1).
REFERENCE_COLUMNS = {"column_name": "text", "bin": "integer", "lower_bound": "double precision",
                     "upper_bound": "double precision", "share": "double precision", "version": "integer"}


@dataclass(frozen=True)
class DbObject:
    """One database object and the statement that creates it."""

    kind: str  # cluster | schema | function | table | index | check | view | view_index | maintenance
    #            | connection | source | stream_table | source_view | backfill_view (sql/streams.py)
    name: str
    sql: str
    source: str | None = None  # for views and indexes: the source table they read
    columns: tuple[tuple[str, str], ...] = ()  # for tables: (column, type)
    depends_on: tuple[str, ...] = ()  # project objects it reads (views over views)
    sources: tuple[str, ...] = ()  # for maintenance: the sources whose triggers it installs
    check: tuple[str, str, str] | None = None  # for row checks: (the table, the column, the condition)

    @property
    def statement(self) -> str:
        return self.sql.rstrip().rstrip(";") + ";"


def window_args(view: FeatureView) -> list[dict]:
    return [{"name": w.text, "interval": w.sql_interval, "seconds": w.seconds} for w in view.windows]


def feature_args(view: FeatureView) -> list[dict]:
    return [{"name": f.name, "agg": f.agg, "column": f.column, "filter": f.filter} for f in view.features]


def view_body(view: FeatureView, engine: str) -> str:
    """The SELECT of a feature view, rendered from its macro for ``engine``."""
    r = renderer(engine)
    if view.kind == "latest":
        return r.call(
            "latest_features",
            relation=view.source.relation,
            entity=list(view.entity),
            timestamp=view.source.timestamp,
            features=feature_args(view),
            max_age=view.max_age.sql_interval if view.max_age else None,
            tie_break=view.tie_break,
            columns=view.columns_read,
        )
    return r.call(
        "windowed_features",
        relation=view.source.relation,
        entity=list(view.entity),
        timestamp=view.source.timestamp,
        windows=window_args(view),
        features=feature_args(view),
        columns=view.columns_read,
    )




def maintained(m: Monitor, engine: Engine) -> bool:
    """Whether ``apply`` maintains the monitor's counters with triggers: on PostgreSQL, when both of
    its sources are managed tables without a backfill (external relations are never touched, and the
    history of a backfill is one; their views compute on read)."""
    return (not engine.materialized and m.predictions.source.managed and m.outcomes.source.managed
            and m.predictions.source.backfill is None and m.outcomes.source.backfill is None)


def maintenance_tables(name: str) -> tuple[str, str, str]:
    """The state, cells and drift cells tables of a maintained monitor."""
    state, cells, drift_cells = (f"materializer.{name}__{kind}" for kind in names.MAINTENANCE_TABLES)
    return state, cells, drift_cells


def maintenance_name(name: str) -> str:
    return f"{name}__maintenance"


def maintenance_drop(object_name: str) -> list[str]:
    """Statements removing a monitor's maintenance (its triggers go with their functions)."""
    name = object_name.removesuffix("__maintenance")
    functions = [f"drop function if exists materializer.{name}__{f} cascade" for f in names.MAINTENANCE_FUNCTIONS]
    return [*functions, f"drop table if exists {', '.join(maintenance_tables(name))} cascade"]


def monitor_args(m: Monitor) -> dict:
    """The arguments of the monitor macros, from a validated monitor."""
    extra = list(dict.fromkeys([*(c for _, c in m.slices), *m.features]))
    pred_source, out_source = m.predictions.source, m.outcomes.source
    return {
        "predictions": {"relation": pred_source.relation, "id": m.predictions.id,
                        "timestamp": m.predictions.timestamp, "score": m.predictions.value, "columns": extra,
                        "id_type": pred_source.column_type(m.predictions.id),
                        "column_types": {c: pred_source.column_type(c) for c in extra}},
        "outcomes": {"relation": out_source.relation, "id": m.outcomes.id,
                     "timestamp": m.outcomes.timestamp, "label": m.outcomes.value,
                     "id_type": out_source.column_type(m.outcomes.id)},
        "windows": [{"name": w.text, "interval": w.sql_interval, "seconds": w.seconds} for w in m.windows],
        "bucket": {"name": m.bucket.text, "interval": m.bucket.sql_interval, "seconds": m.bucket.seconds},
        "slices": [{"name": n, "column": c} for n, c in m.slices],
        # the state of the streaming engines' views (PostgreSQL computes on read and ignores both)
        "retention": m.retention.sql_interval,
        "history": m.timeseries_history.sql_interval,
        # the score is the `score` column of the scored view and state rows, whatever its source name
        "drift_columns": [{"name": m.predictions.value, "column": "score"},
                          *({"name": c, "column": c} for c in m.features)],
    }


def monitor_objects(m: Monitor, engine: Engine, cluster: str) -> list[DbObject]:
    """The reference-bins table and the views of one monitor, in creation order."""
    r = renderer(engine.name)
    a = monitor_args(m)
    source = m.predictions.source.name
    objects: list[DbObject] = []
    scored = m.view("scored")
    maturity = m.maturity.sql_interval if m.maturity else None
    reference = m.view("reference") if m.reference_relation else None
    if reference:
        objects.append(DbObject("table", reference,
                                r.call("source_table", relation=reference,
                                       columns=[{"name": n, "type": t} for n, t in REFERENCE_COLUMNS.items()]),
                                None, tuple(REFERENCE_COLUMNS.items())))
    kept = None  # the maintained tables, which the PostgreSQL views read
    if maintained(m, engine):
        state, cells, drift_cells = maintenance_tables(m.name)
        kept = {"state": state, "cells": cells, "drift_cells": drift_cells if reference else None,
                "outcomes": a["outcomes"], "bucket": a["bucket"], "columns": a["predictions"]["columns"]}
        drift = {"cells": drift_cells, "reference": reference, "columns": a["drift_columns"]} if reference else None
        sql = r.call("monitor_maintenance", monitor=m.name, state=state, cells=cells, predictions=a["predictions"],
                     outcomes=a["outcomes"], task=m.task, label_policy=m.label_policy, maturity=maturity,
                     threshold=m.threshold, bucket=a["bucket"], slices=a["slices"], drift=drift)
        objects.append(DbObject("maintenance", maintenance_name(m.name), sql, source,
                                sources=(m.predictions.source.name, m.outcomes.source.name)))
    bodies = {
        "scored": r.call("monitor_scored", predictions=a["predictions"], outcomes=a["outcomes"], task=m.task,
                         label_policy=m.label_policy, maturity=maturity, threshold=m.threshold, maintained=kept,
                         retention=a["retention"]),
        "metrics": r.call("monitor_metrics", scored=scored, task=m.task, label_policy=m.label_policy,
                          windows=a["windows"], slices=a["slices"], cost_fp=m.cost_fp, cost_fn=m.cost_fn,
                          maturity=maturity, maintained=kept),
        "timeseries": r.call("monitor_timeseries", scored=scored, task=m.task, label_policy=m.label_policy,
                             bucket=a["bucket"], slices=a["slices"], cost_fp=m.cost_fp, cost_fn=m.cost_fn,
                             maintained=kept, history=a["history"]),
    }
    if m.version:
        bodies["versions"] = r.call("monitor_versions", metrics=m.view("metrics"), task=m.task)
    if reference:
        bodies["drift"] = r.call("monitor_drift", scored=scored, reference=reference, windows=a["windows"],
                                 columns=a["drift_columns"], maintained=kept)
    # on PostgreSQL with maintenance the views read its tables; otherwise the scored view
    reads_rows = (maintenance_name(m.name),) if kept else (scored,)
    reads = {"scored": reads_rows if kept else backfills(m.predictions.source, m.outcomes.source),
             "metrics": reads_rows, "timeseries": reads_rows,
             "versions": (m.view("metrics"),), "drift": (*reads_rows, m.view("reference"))}
    for kind, body in bodies.items():
        objects.append(DbObject("view", m.view(kind), engine.create_view(m.view(kind), body, cluster), source,
                                depends_on=reads[kind]))
    return objects


def backfills(*sources) -> tuple[str, ...]:
    """The union views (``<source>__all``) that views reading ``sources`` read: rebuilt with them."""
    return tuple(s.relation for s in sources if s.backfill is not None)


def compile_project(spec: ProjectSpec, engine_name: str | None = None) -> list[DbObject]:
    """Every object of the project, in creation order, rendered for ``engine_name`` (default: the project's)."""
    engine: Engine = get_engine(engine_name or spec.engine)
    r = renderer(engine.name)
    objects: list[DbObject] = []
    if engine.has_clusters:  # created by apply when given a size and absent (definitions/deployment.py)
        objects += [DbObject("cluster", c.name, sql) for c in spec.deployment.clusters if (sql := c.create_sql())]
    clock = r.call("clock_function").strip()
    if clock:
        objects.append(DbObject("schema", "materializer", "create schema if not exists materializer"))
        objects.append(DbObject("function", "materializer.clock", clock))
    objects.extend(connection_objects(spec, engine, r))
    for source in spec.sources.values():
        if not source.managed:
            continue
        streamed = stream_objects(spec, engine, source, r)
        objects.extend(streamed)
        if not streamed:
            columns = [{"name": n, "type": t} for n, t in (source.columns or {}).items()]
            objects.append(DbObject("table", source.table,
                                    r.call("source_table", relation=source.table, columns=columns),
                                    source.name, tuple((source.columns or {}).items())))
            for name, cols in names.source_indexes(spec, source):
                sql = r.call("source_index", relation=source.table, name=name, columns=list(cols)).strip()
                if sql:
                    objects.append(DbObject("index", name, sql, source.name))
            for check in row_checks(spec, source):
                sql = r.call("source_check", relation=source.table, name=check.name,
                             condition=check.condition).strip()
                if sql:
                    objects.append(DbObject("check", check.name, sql, source.name,
                                            check=(source.table, check.column, check.condition)))
        union = backfill_object(engine, source, r)
        if union is not None:
            objects.append(union)
    for view in spec.feature_views.values():
        if engine.materialized and view.kind == "latest" and view.max_age is None:
            raise MaterializerError(f"feature_views.{view.name}.max_age: {latest_needs_max_age(engine.name)}")
        objects.append(DbObject("view", view.name,
                                engine.create_view(view.name, view_body(view, engine.name), spec.cluster),
                                view.source.name, depends_on=backfills(view.source)))
        # the lookup index lives in the serving cluster, on a view maintained in the compute cluster
        index = engine.view_index(view.name, list(view.entity), spec.serving_cluster)
        if index:
            objects.append(DbObject("view_index", names.view_index(view.name), index, view.source.name))
    for monitor in spec.monitors.values():
        objects.extend(monitor_objects(monitor, engine, spec.cluster))
    return objects


def compile_sql(spec: ProjectSpec, engine_name: str | None = None) -> str:
    """The whole project as one SQL script, statements separated by blank lines."""
    engine = engine_name or spec.engine
    header = f"-- materializer: project {spec.name}, engine {engine}\n"
    if spec.deployment != Deployment() and not get_engine(engine).has_clusters:
        header += f"-- deployment: ignored on {engine}, which has no clusters (Materialize only)\n"
    return header + "\n" + "\n\n".join(o.statement for o in compile_project(spec, engine)) + "\n"

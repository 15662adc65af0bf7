"""Turn a validated project into the database objects it needs, rendered for one engine.

Each object is one statement. Their order is the order of creation: the clock
function, then managed source tables and their indexes, then feature views
(and their indexes on Materialize).
"""

from __future__ import annotations

from dataclasses import dataclass

from materializer.engines import Engine, get_engine
from materializer.render import renderer
from materializer.spec import FeatureView, ProjectSpec, Source


@dataclass(frozen=True)
class DbObject:
    """One database object and the statement that creates it."""

    kind: str  # schema | function | table | index | view | view_index
    name: str
    sql: str
    source: str | None = None  # for views and indexes: the source table they read

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


def source_index_columns(spec: ProjectSpec, source: Source) -> list[tuple[str, ...]]:
    """The distinct (entity..., ts) key lists that the source's feature views look up."""
    keys = [(*v.entity, source.timestamp) for v in spec.feature_views.values() if v.source.name == source.name]
    return list(dict.fromkeys(keys))


def compile_project(spec: ProjectSpec, engine_name: str | None = None) -> list[DbObject]:
    """Every object of the project, in creation order, rendered for ``engine_name`` (default: the project's)."""
    engine: Engine = get_engine(engine_name or spec.engine)
    r = renderer(engine.name)
    objects: list[DbObject] = []
    clock = r.call("clock_function").strip()
    if clock:
        objects.append(DbObject("schema", "materializer", "create schema if not exists materializer"))
        objects.append(DbObject("function", "materializer.clock", clock))
    for source in spec.sources.values():
        if not source.managed:
            continue
        columns = [{"name": n, "type": t} for n, t in (source.columns or {}).items()]
        objects.append(DbObject("table", source.relation,
                                r.call("source_table", relation=source.relation, columns=columns), source.name))
        for cols in source_index_columns(spec, source):
            name = f"{source.relation.replace('.', '_')}__{'_'.join(cols)}__idx"
            sql = r.call("source_index", relation=source.relation, name=name, columns=list(cols)).strip()
            if sql:
                objects.append(DbObject("index", name, sql, source.name))
    for view in spec.feature_views.values():
        objects.append(DbObject("view", view.name,
                                engine.create_view(view.name, view_body(view, engine.name), spec.cluster),
                                view.source.name))
        index = engine.view_index(view.name, list(view.entity), spec.cluster)
        if index:
            objects.append(DbObject("view_index", f"{view.name}__lookup_idx", index, view.source.name))
    return objects


def compile_sql(spec: ProjectSpec, engine_name: str | None = None) -> str:
    """The whole project as one SQL script, statements separated by blank lines."""
    engine = engine_name or spec.engine
    header = f"-- materializer: project {spec.name}, engine {engine}\n"
    return header + "\n" + "\n\n".join(o.statement for o in compile_project(spec, engine)) + "\n"

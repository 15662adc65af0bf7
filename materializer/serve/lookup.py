"""Online features over HTTP: Feast's ``/get-online-features`` and the row-shaped ``/features/{view}``.

A request names features (``view:feature``, ``view:*``) or a feature service and gives the
entities column-wise (``{"cc_num": ["a", "b"]}``, composite keys as several columns, request
fields of on-demand views as more columns). Each feature view is read with one query for all
the request's entities (``features.online.batch_lookup_sql``); each on-demand view with one
query that evaluates its expressions per entity row. Several views are read in one read-only
transaction, so they share one clock reading. Values are checked against the column types
before anything reaches the database; names only ever come from the validated project.

The answer is Feast's feature-server JSON: ``metadata.feature_names`` (entity columns first)
and one ``results`` entry per name with ``values``, ``statuses`` and ``event_timestamps``
(RFC 3339, UTC; ``1970-01-01T00:00:00Z`` where there is no event). Statuses follow the
project's rules, max age included (``OUTSIDE_MAX_AGE``, which Feast's own server does not
enforce).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from materializer.definitions.spec import FeatureView, OnDemandView
from materializer.definitions.values import coerce
from materializer.errors import InputError, LimitExceeded, NotFoundError, did_you_mean
from materializer.features.on_demand import REQUEST, render_expression
from materializer.features.online import (
    NOT_FOUND,
    NULL_VALUE,
    PRESENT,
    RowReader,
    batch_lookup_sql,
    batch_params,
    catalog_key_types,
    key_param,
    key_type_reads,
    rows_by_key,
    undeclared_keys,
)
from materializer.features.refs import expand_features

if TYPE_CHECKING:
    import psycopg

    from materializer.project import Project
    from materializer.serve.database import ConnectionPool

EPOCH = "1970-01-01T00:00:00Z"


def feast_time(value: datetime | None) -> str:
    """A timestamp as Feast's server writes it: UTC, whole seconds, ``Z``."""
    if value is None:
        return EPOCH
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_value(value: Any) -> Any:
    """A database value as JSON: numerics as numbers, times as RFC 3339 text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass
class ViewRead:
    """What one request reads from one view: the view and the wanted features' output names."""

    view: FeatureView | OnDemandView
    features: list[tuple[str, str]] = field(default_factory=list)  # (feature, output name)


@dataclass
class Plan:
    """A resolved request: output names in order, grouped by the view that answers them."""

    names: list[str]
    reads: dict[str, ViewRead]
    key_columns: list[str]  # entity columns, in the order the views need them
    request_fields: dict[str, str]  # on-demand request field -> SQL type


class OnlineLookup:
    """The lookups of one project on one engine; plans and SQL are cached per request shape."""

    def __init__(self, project: Project, max_entities: int = 1000) -> None:
        self.project = project
        self.engine = project.engine
        self.max_entities = max_entities
        # PostgreSQL reads its (pinnable) clock in the lookup itself; the streaming engines answer
        # from their maintained views at their own time, read here as the time of the request
        self.clock = "(select materializer.clock())" if self.engine == "postgres" else None
        self._plans: dict[tuple[Any, ...], Plan] = {}
        self._sql: dict[tuple[str, int], str] = {}
        self._columns: dict[str, list[str]] = {}
        self._readers: dict[tuple[Any, ...], RowReader] = {}
        # the catalog types of the keys a view does not declare (an external source's), read once on
        # the first request that reads the view (serve may start before apply); views listed in
        # _settled need no further catalog read, so a request adds no query once they are known
        self._catalog_types: dict[str, dict[str, str | None]] = {}
        spec = project.spec
        self._settled = {*spec.on_demand, *(v.name for v in spec.feature_views.values() if not undeclared_keys(v))}

    # ------------------------------------------------------------------ planning

    def plan(self, features: list[str] | None, service: str | None, full_names: bool) -> Plan:
        """Resolve the features of a request (cached; at most 256 shapes are kept)."""
        cache_key = (tuple(features or ()), service, full_names)
        plan = self._plans.get(cache_key)
        if plan is not None:
            return plan
        if service is not None:
            if service not in self.project.spec.feature_services:
                services = self.project.spec.feature_services
                raise NotFoundError(f"unknown feature service {service!r}{did_you_mean(service, services)}; "
                                    f"feature services: {', '.join(services) or '(none)'}")
            refs = [service]
        else:
            refs = list(features or [])
        pairs = expand_features(self.project, refs)
        spec = self.project.spec
        reads: dict[str, ViewRead] = {}
        names: list[str] = []
        for view_name, feature in pairs:
            view = spec.feature_views.get(view_name) or spec.on_demand[view_name]
            out = f"{view_name}__{feature}" if full_names else feature
            if out in names:
                raise InputError(f"two requested features are both named {out!r}; pass \"full_feature_names\": true "
                                 "to name them view__feature")
            names.append(out)
            reads.setdefault(view_name, ViewRead(view)).features.append((feature, out))
        key_columns: list[str] = []
        request_fields: dict[str, str] = {}
        for read in reads.values():
            for k in read.view.entity:
                if k not in key_columns:
                    key_columns.append(k)
            if isinstance(read.view, OnDemandView):
                request_fields.update(read.view.request)
        plan = Plan(names=names, reads=reads, key_columns=key_columns, request_fields=request_fields)
        if len(self._plans) >= 256:
            self._plans.clear()
        self._plans[cache_key] = plan
        return plan

    # ------------------------------------------------------------------ entities

    def check_entities(self, plan: Plan, entities: Any) -> tuple[int, dict[str, list[Any]]]:
        """The number of entity rows and each column's checked values; InputError on any mismatch."""
        if not isinstance(entities, dict) or not entities:
            raise InputError("\"entities\" must be an object of columns, for example "
                             "{\"cc_num\": [\"4111-0001\", \"4111-0002\"]}")
        lengths = set()
        for name, values in entities.items():
            if not isinstance(values, list):
                raise InputError(f"entities.{name} must be a list of values (one per entity row)")
            lengths.add(len(values))
        if len(lengths) > 1:
            raise InputError("every column of \"entities\" must have the same length; got "
                             + ", ".join(f"{n}: {len(v)}" for n, v in entities.items()))
        count = lengths.pop()
        if count > self.max_entities:
            raise LimitExceeded(f"{count} entity rows in one request; the limit is {self.max_entities} "
                                  "(serve --max-entities)")
        allowed = [*plan.key_columns, *plan.request_fields]
        for name in entities:
            if name not in allowed:
                raise InputError(f"entities.{name} is neither an entity key nor a request field of the requested "
                                 f"features{did_you_mean(str(name), allowed)}; expected: {', '.join(allowed)}")
        for name in allowed:
            if name not in entities:
                what = "entity key" if name in plan.key_columns else "request field"
                raise InputError(f"entities has no column {name!r}: the requested features need this {what}")
        checked: dict[str, list[Any]] = {}
        types = self._key_types(plan)
        for name in allowed:
            sql_type = types.get(name) if name in plan.key_columns else plan.request_fields[name]
            what = f"entities.{name}"
            seen: dict[Any, Any] = {}
            column = []
            for i, value in enumerate(entities[name]):
                try:
                    hashable = (type(value), value)
                    hit = seen.get(hashable)
                except TypeError:  # a list or object: refused by coerce below
                    hashable, hit = None, None
                if hit is None:
                    hit = coerce(value, sql_type, f"{what}[{i}]")
                    if hashable is not None:
                        seen[hashable] = hit
                if hit is None and name in plan.key_columns:
                    raise InputError(f"{what}[{i}] is null; every entity row needs a key")
                column.append(hit)
            checked[name] = column
        return count, checked

    def _key_types(self, plan: Plan) -> dict[str, str | None]:
        types: dict[str, str | None] = {}
        for read in plan.reads.values():
            view = read.view
            source_view = view if isinstance(view, FeatureView) else self.project.spec.feature_views[view.inputs[0]]
            read_types = self._catalog_types.get(source_view.name, {})
            for k in view.entity:
                types.setdefault(k, source_view.source.column_type(k) or read_types.get(k))
        return types

    # ------------------------------------------------------------------ reading

    def _view_sql(self, view: FeatureView, distinct: int) -> str:
        count = 0 if self.engine == "postgres" else distinct
        key = (view.name, count)
        sql = self._sql.get(key)
        if sql is None:
            sql = self._sql[key] = batch_lookup_sql(view, self.engine, self.clock, count,
                                                    self._catalog_types.get(view.name))
        return sql

    def _on_demand_sql(self, od: OnDemandView) -> str:
        key = (od.name, -1)
        sql = self._sql.get(key)
        if sql is None:
            from materializer.engines import get_engine

            engine = get_engine(self.engine)
            views = {v: self.project.spec.feature_views[v] for v in od.inputs}
            first = views[od.inputs[0]]
            arrays = [f"{engine.lookup_param(t)}[]" for t in od.request.values()]
            arrays += [f"{engine.lookup_param(first.source.column_type(k))}[]" for k in od.entity]
            columns = [*od.request, *(f"_key_{k}" for k in od.entity)]
            lateral = " ".join(
                f"left join lateral (select * from {views[v].relation} where "
                + " and ".join(f"{k} = {REQUEST}._key_{k}" for k in views[v].entity)
                + f" offset 0) as {v} on true" for v in od.inputs)
            select = ", ".join(f"({render_expression(expr, views)}) as {name}" for name, expr in od.features.items())
            sql = self._sql[key] = (
                f"select {self.clock or 'now()'} as _as_of, {REQUEST}._ord, {select} "
                f"from unnest({', '.join(arrays)}) with ordinality as {REQUEST}({', '.join(columns)}, _ord) "
                f"{lateral} order by {REQUEST}._ord")
        return sql

    async def resolve_key_types(self, pool: ConnectionPool, plan: Plan) -> None:
        """Read the catalog types of the undeclared keys of the plan's views not read yet (before the
        entities are checked against them, outside any lookup transaction: once per view and process;
        nothing once every view of the plan is known)."""
        pending = [read.view for name, read in plan.reads.items() if name not in self._settled]
        if not pending:
            return
        from materializer.engines import get_engine

        engine = get_engine(self.engine)
        async with pool.connection() as conn:
            for view in pending:
                answers = [await (await conn.execute(q, p)).fetchall() for q, p in key_type_reads(view)]
                types = catalog_key_types(view, engine, answers)
                if types is None:  # not applied yet: read again on the next request
                    continue
                self._catalog_types[view.name] = types
                self._settled.add(view.name)
                self._sql = {k: sql for k, sql in self._sql.items() if k[0] != view.name}

    async def read(self, pool: ConnectionPool, plan: Plan, count: int, entities: dict[str, list[Any]],
                   as_of: datetime | None = None) -> tuple[datetime | None, dict[str, list[tuple[Any, str, str]]]]:
        """Values, statuses and event times of every requested feature for ``count`` entity rows."""
        out: dict[str, list[tuple[Any, str, str]]] = {}
        clock: datetime | None = None
        if count == 0:
            return None, {name: [] for name in plan.names}
        async with pool.connection() as conn:
            reads = list(plan.reads.values())
            if len(reads) == 1 and as_of is None:
                clock = await self._read_view(conn, reads[0], count, entities, out)
            else:
                async with conn.transaction():
                    if self.engine == "postgres":
                        await conn.execute("set transaction read only")
                    if as_of is not None:
                        await conn.execute("select set_config('materializer.as_of', %s, true)", [as_of.isoformat()])
                    for read in reads:
                        clock = await self._read_view(conn, read, count, entities, out)
        return clock, out

    async def _read_view(self, conn: psycopg.AsyncConnection, read: ViewRead, count: int,
                         entities: dict[str, list[Any]], out: dict[str, list[tuple[Any, str, str]]]) -> datetime:
        view = read.view
        if isinstance(view, OnDemandView):
            return await self._read_on_demand(conn, view, read, count, entities, out)
        keys = list(zip(*(entities[k] for k in view.entity)))
        distinct = list(dict.fromkeys(keys))
        sql = self._view_sql(view, len(distinct))
        cur = await conn.execute(sql, batch_params(view, self.engine, distinct), prepare=True)
        rows = await cur.fetchall()
        names = self._columns.get(sql)
        if names is None:
            names = self._columns[sql] = [d.name for d in cur.description or []]
        found = rows_by_key(view, names, rows)
        clock = rows[0][0] if self.clock is not None and rows else datetime.now(timezone.utc)
        wanted = read.features
        reader_key = (sql, tuple(f for f, _ in wanted))
        reader = self._readers.get(reader_key)
        if reader is None:
            reader = self._readers[reader_key] = RowReader(view, names, [f for f, _ in wanted])
        event = reader.event
        columns: list[list[tuple[Any, str, str]]] = [[] for _ in wanted]
        answers: dict[tuple[Any, ...], list[tuple[Any, str, str]]] = {}
        for key in keys:
            answer = answers.get(key)
            if answer is None:
                row = found.get(key)
                when = feast_time(row[event]) if row is not None else EPOCH
                answer = answers[key] = [(v, s, EPOCH if s == NOT_FOUND else when) for v, s in reader.read(row)]
            for column, item in zip(columns, answer):
                column.append(item)
        for column, (_, name) in zip(columns, wanted):
            out[name] = column
        return clock

    async def _read_on_demand(self, conn: psycopg.AsyncConnection, od: OnDemandView, read: ViewRead, count: int,
                              entities: dict[str, list[Any]], out: dict[str, list[tuple[Any, str, str]]]) -> datetime:
        params = [[key_param(v) for v in entities[f]] for f in od.request]
        params += [[key_param(v) for v in entities[k]] for k in od.entity]
        cur = await conn.execute(self._on_demand_sql(od), params, prepare=True)
        rows = await cur.fetchall()
        position = {name: i + 2 for i, name in enumerate(od.features)}
        for feature, name in read.features:
            p = position[feature]
            out[name] = [(json_value(row[p]), PRESENT if row[p] is not None else NULL_VALUE, EPOCH) for row in rows]
        return rows[0][0] if rows else None


def feast_response(plan: Plan, raw_entities: dict[str, list[Any]],
                   values: dict[str, list[tuple[Any, str, str]]]) -> dict[str, Any]:
    """Feast's feature-server JSON for a request's entities and the values read."""
    results = []
    for k in plan.key_columns:
        column = raw_entities[k]
        results.append({"values": column, "statuses": [PRESENT] * len(column),
                        "event_timestamps": [EPOCH] * len(column)})
    for name in plan.names:
        column = values[name]
        results.append({"values": [c[0] for c in column], "statuses": [c[1] for c in column],
                        "event_timestamps": [c[2] for c in column]})
    return {"metadata": {"feature_names": [*plan.key_columns, *plan.names]}, "results": results}

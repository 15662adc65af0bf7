"""On-demand features: SQL expressions over request data and stored features, evaluated at request time.

An expression such as ``{amount} / nullif({card_activity:amount_avg_1d}, 0)`` is
rendered once into SQL over two relations: the request (the request fields,
typed, aliased ``_materializer_request``, a name no view can have) and one
relation per feature view it reads (aliased with the view's name). Online, the
request is a row of bound parameters and the views are the online views; offline,
the request is the spine's columns and the views are the point-in-time
features of each spine row. The expression text is the same in both, so they
cannot skew. A count missing for an entity reads 0, as online.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from materializer.definitions.spec import FeatureView, OnDemandView
from materializer.definitions.timeparse import parse_timestamp
from materializer.definitions.validate import REFERENCE
from materializer.definitions.values import coerce
from materializer.errors import InputError, did_you_mean
from materializer.features.online import NULL_VALUE, PRESENT, OnlineResult, _plain, check_entity, key_param, native

if TYPE_CHECKING:
    from materializer.project import Project


# The alias of the request data beside the views' (named as the views): a name no view can have.
REQUEST = "_materializer_request"


def render_expression(expression: str, views: dict[str, FeatureView]) -> str:
    """Replace ``{field}`` with ``_materializer_request.field`` and ``{view:feature}`` with ``view.feature``."""

    def column(match: Any) -> str:
        view_name, sep, feature = match.group(1).partition(":")
        if not sep:
            return f"{REQUEST}.{view_name}"
        view = views[view_name]
        counted = any(o.name == feature and o.is_count for o in view.output_features)
        return f"coalesce({view_name}.{feature}, 0)" if counted else f"{view_name}.{feature}"

    return REFERENCE.sub(column, expression)


def select_list(od: OnDemandView, views: dict[str, FeatureView]) -> str:
    return ", ".join(f"({render_expression(expr, views)}) as {name}" for name, expr in od.features.items())


def check_request(od: OnDemandView, request: dict[str, Any] | None) -> dict[str, Any]:
    """The request fields in declaration order, each checked against its type (as keys are)."""
    if request is not None and not isinstance(request, Mapping):
        raise InputError(f"the request of {od.name} must be a mapping of field names to values; "
                         f"got {type(request).__name__}")
    request = dict(request or {})
    for key in request:
        if key not in od.request:
            raise InputError(f"{key!r} is not a request field of {od.name}{did_you_mean(key, od.request)}; "
                                    f"its fields: {', '.join(od.request) or '(none)'}")
    missing = [f for f in od.request if f not in request]
    if missing:
        raise InputError(f"{od.name} needs the request field {missing[0]!r}; pass --request {missing[0]}=VALUE")
    return {f: coerce(native(request[f]), od.request[f], f"request field {f}") for f in od.request}


def online_on_demand(project: Project, name: str, entity: dict[str, Any], request: dict[str, Any] | None,
                     as_of: datetime | str | None = None) -> OnlineResult:
    """Evaluate an on-demand view for one entity and one request, reading the online views."""
    od = project.spec.on_demand[name]
    views = {v: project.spec.feature_views[v] for v in od.inputs}
    first = views[od.inputs[0]]
    keys = check_entity(first, entity)
    values = check_request(od, request)
    pinned = parse_timestamp(as_of, "--as-of") if as_of is not None else None
    if pinned is not None and project.engine != "postgres":
        raise InputError(f"--as-of needs the postgres engine: {project.engine} maintains its views at its "
                                "own clock")
    engine = project.db.engine
    cache_key = ("on_demand", name)
    sql = project._cache.get(cache_key)
    if sql is None:
        request_cols = ", ".join(f"{engine.lookup_param(t)} as {f}" for f, t in od.request.items()) or "1 as _none"
        joins = " ".join(
            f"left join (select * from {views[v].relation} where "
            + " and ".join(f"{k} = {engine.lookup_param(views[v].source.column_type(k))}" for k in views[v].entity)
            + f") as {v} on true" for v in od.inputs)
        clock = "(select materializer.clock())" if engine.supports_as_of else "now()"
        sql = project._cache[cache_key] = (f"select {clock} as _as_of, {select_list(od, views)} "
                                           f"from (select {request_cols}) as {REQUEST} {joins}")
    params = [key_param(v) for v in values.values()]
    for _ in od.inputs:
        params += [key_param(v) for v in keys.values()]
    conn = project.db.conn
    if pinned is not None:
        with conn.transaction():
            conn.execute("select set_config('materializer.as_of', %s, true)", [pinned.isoformat()])
            row = conn.execute(sql, params).fetchone()
    else:
        row = conn.execute(sql, params, prepare=True).fetchone()
    features = {f: _plain(v) for f, v in zip(od.features, row[1:])}
    return OnlineResult(view=name, entity=dict(keys), features=features,
                        statuses={f: PRESENT if v is not None else NULL_VALUE for f, v in features.items()},
                        as_of=row[0], extra={"request": values})

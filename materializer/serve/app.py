"""The HTTP app: ``create_app(project)`` builds it, uvicorn runs it (``materializer serve``).

Routes (OpenAPI at ``/openapi.json``, a readable page at ``/docs``):

- ``POST /get-online-features``: Feast's feature-server request and response, unchanged;
- ``GET /features/{view}?<key>=<value>``: one entity, the JSON of ``materializer features --json``;
- ``POST /push/{source}`` and Feast's ``POST /push``: rows in, all or nothing;
- ``GET /catalog``: what can be asked for, with each view's freshness;
- ``GET /monitors`` and ``/monitors/{name}/metrics|timeseries|versions|drift``;
- ``GET /healthz`` (the process), ``/readyz`` (the database), ``/metrics`` (Prometheus).

Every answer is JSON (``/metrics`` and ``/docs`` aside); an error is ``{"status": N, "detail":
"..."}`` with no stack trace: 401 bad or missing token, 404 unknown name, 413 over a limit, 415 not
JSON, 422 a bad value, 503 database unreachable (with ``Retry-After``). With a token, every route
but ``/healthz`` and ``/readyz`` needs ``Authorization: Bearer <token>``. Request bodies must be
``application/json``: a browser page cannot send that to another origin without the CORS
preflight this server never answers, so a web page cannot push rows into a local server.
"""

from __future__ import annotations

import copy
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from materializer.errors import (
    DatabaseError,
    DatabaseUnavailable,
    InputError,
    LimitExceeded,
    MaterializerError,
    NotFoundError,
    did_you_mean,
)

if TYPE_CHECKING:
    from materializer.project import Project

log = logging.getLogger("materializer.serve")

OPEN_PATHS = ("/healthz", "/readyz")
COOKIE = b"materializer_token"
IGNORED_FEAST_KEYS = ("include_feature_view_version_metadata", "allow_registry_cache", "transform_on_write")


@dataclass
class ServeSettings:
    """Limits and options of one server (``materializer serve --help`` lists them)."""

    token: str | None = None
    max_entities: int = 1000
    max_body_bytes: int = 1 << 20
    max_push_bytes: int = 32 << 20
    statement_timeout: float = 5.0
    pool_size: int = 4
    freshness_ttl: float = 5.0
    #: Pin the clock of every answer (PostgreSQL only): serve the state of a past moment.
    as_of: str | None = None
    #: Seconds between two readings of a streamed monitor without a connected change feed (serve/changes.py),
    #: and between two heartbeats.
    stream_interval: float = 2.0
    stream_heartbeat: float = 15.0
    #: Seconds between two readings of a streamed monitor whose change feed is connected (serve/changes.py).
    stream_fallback: float = 30.0


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


class UnsupportedMediaType(InputError):
    """A body that is not JSON (HTTP 415)."""


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": status, "detail": detail}, status_code=status, headers=headers)


def status_of(exc: MaterializerError) -> int:
    if isinstance(exc, LimitExceeded):
        return 413
    if isinstance(exc, UnsupportedMediaType):
        return 415
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, DatabaseUnavailable):
        return 503
    if isinstance(exc, DatabaseError):
        return 500
    return 422  # InputError, PushError, ProjectError and other mistakes in the request


def check_body_headers(content_type: str, declared: str | None, limit: int) -> None:
    """415 unless the body is JSON; 413 when its declared length is over ``limit``."""
    content_type = content_type.split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"send the body as JSON with Content-Type: application/json "
                                   f"(got {content_type or 'no Content-Type'})")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise LimitExceeded(f"the body has {int(declared):,} bytes; the limit is {limit:,}")


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the body is not valid JSON: {exc}") from None


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body: 415 unless JSON, 413 over ``limit`` bytes, 422 when malformed."""
    check_body_headers(request.headers.get("content-type", ""), request.headers.get("content-length"), limit)
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise LimitExceeded(f"the body is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return parse_json(b"".join(chunks))


def error_of(exc: Exception, where: str) -> tuple[int, dict[str, Any], dict[str, str] | None]:
    """(status, JSON body, headers) answering an exception raised while serving ``where``."""
    if isinstance(exc, MaterializerError):
        status = status_of(exc)
        if status >= 500:
            log.warning("%s: %s", where, exc)
        return status, {"status": status, "detail": str(exc)}, {"Retry-After": "1"} if status == 503 else None
    log.error("%s failed", where, exc_info=exc)
    return 500, {"status": 500, "detail": "internal error; the server log has the details"}, None


def _only(params: Any, allowed: tuple[str, ...], where: str) -> dict[str, str]:
    """Query parameters, each at most once and all known."""
    out: dict[str, str] = {}
    for key, value in params.multi_items():
        if key not in allowed:
            raise InputError(f"unknown query parameter {key!r} for {where}{did_you_mean(key, allowed)}; "
                             f"allowed: {', '.join(allowed) or '(none)'}")
        if key in out:
            raise InputError(f"query parameter {key!r} is given twice")
        out[key] = value
    return out


class Guard:
    """Outermost layer: the bearer token, then per-route latency, status and error counts.

    ``direct`` maps ``(method, path)`` of the hottest routes to plain ASGI handlers that skip the
    framework's request objects and middleware (a quarter of the time of a lookup); every other
    request goes through Starlette."""

    def __init__(self, app: Any, token: str | None, telemetry: Any,
                 direct: dict[tuple[str, str], Any] | None = None) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.telemetry = telemetry
        self.direct = direct or {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token is not None and scope["path"] not in OPEN_PATHS and not self._authorized(scope):
            if await self._sign_in(scope, receive, send):
                return
            response = error_response(401, "missing or wrong bearer token; send Authorization: Bearer <token>",
                                      {"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            self._count(scope, "GET" if scope["method"] == "HEAD" else scope["method"], "unauthorized", 401, 0.0)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        direct = self.direct.get((scope["method"], scope["path"]))
        if direct is not None:
            try:
                await direct(scope, receive, send_status)
            finally:
                self._count(scope, scope["method"], scope["path"], status[0], time.perf_counter() - started)
            return
        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            self._count(scope, scope["method"], getattr(route, "path", "unmatched"), status[0],
                        time.perf_counter() - started)

    def _authorized(self, scope: dict) -> bool:
        """The bearer token in the Authorization header, or in the cookie the dashboard's sign-in sets
        (a browser cannot add a header to a page it navigates to, nor to an EventSource)."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self.token)
            if name == b"cookie":
                for part in value.split(b";"):
                    key, _, given = part.strip().partition(b"=")
                    if key == COOKIE and hmac.compare_digest(given, self.token):
                        return True
        return False

    async def _sign_in(self, scope: dict, receive: Any, send: Any) -> bool:
        """``/dashboard...?token=T``: with the right token, set the cookie and send the browser to the same
        page without the token in its address. True when it answered."""
        if not scope["path"].startswith("/dashboard"):
            return False
        from urllib.parse import parse_qsl, urlencode

        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if len(given) != 1 or not hmac.compare_digest(given[0].encode(), self.token):
            return False
        rest = urlencode([(k, v) for k, v in query if k != "token"])
        location = scope["path"] + (f"?{rest}" if rest else "")
        response = Response(status_code=303, headers={"Location": location, "Cache-Control": "no-store"})
        response.set_cookie(COOKIE.decode(), self.token.decode(), httponly=True, samesite="strict", path="/")
        await response(scope, receive, send)
        return True

    def _count(self, scope: dict, method: str, route: str, status: int, seconds: float) -> None:
        t = self.telemetry
        t.latency.labels(route, method).observe(seconds)
        t.requests.labels(route, method, str(status)).inc()
        if status >= 400:
            kind = "client" if status < 500 else "unavailable" if status == 503 else "server"
            t.errors.labels(route, kind).inc()


def create_app(project: Project, settings: ServeSettings | None = None, dsn: str | None = None) -> Any:
    """The ASGI app serving ``project``. ``dsn`` overrides the project's (``MATERIALIZER_DSN``, or the
    embedded PostgreSQL, started if needed). Connections open in the app's lifespan."""
    from materializer.db.connection import describe_dsn, resolve_dsn
    from materializer.engines import get_engine
    from materializer.features.catalog import describe, freshness_sql, with_freshness
    from materializer.serve import push as push_rows
    from materializer.serve.changes import feed_for
    from materializer.serve.dashboard import page as dashboard_page
    from materializer.serve.database import ConnectionPool
    from materializer.serve.lookup import OnlineLookup, feast_response
    from materializer.serve.monitors import MonitorReader, monitor_list
    from materializer.serve.openapi import docs_page, openapi_schema
    from materializer.serve.stream import StreamHub
    from materializer.serve.telemetry import CONTENT_TYPE, Telemetry

    settings = settings or ServeSettings()
    pinned = None
    if settings.as_of is not None:
        from materializer.definitions.values import coerce

        if project.engine != "postgres":
            raise InputError(f"--as-of needs the postgres engine: {project.engine} maintains its views at its own "
                             "clock")
        pinned = coerce(settings.as_of, "timestamptz", "--as-of").isoformat()
    engine = get_engine(project.engine)
    dsn = dsn or resolve_dsn(project.root, project._dsn, quiet=True, engine=engine)
    where = describe_dsn(dsn)
    lookup = OnlineLookup(project, max_entities=settings.max_entities)
    telemetry = Telemetry()
    static_catalog = describe(project)
    fresh_sql = freshness_sql(project)
    schema = openapi_schema(project, settings)
    state: dict[str, Any] = {"fresh": None, "fresh_at": 0.0}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state["pool"] = ConnectionPool(dsn, engine, project.spec.serving_cluster, size=settings.pool_size,
                                       statement_timeout=settings.statement_timeout, as_of=pinned)
        state["monitors"] = MonitorReader(project, dsn)
        state["hub"] = StreamHub(state["monitors"], interval=settings.stream_interval,
                                 heartbeat=settings.stream_heartbeat, as_of=pinned, fallback=settings.stream_fallback,
                                 feeds=lambda name: feed_for(project.spec.monitors[name], dsn, engine,
                                                             project.spec.serving_cluster))
        log.info("serving project %s (%s) from %s", project.name, project.engine, where)
        try:
            yield
        finally:
            await state["hub"].close()
            await state["pool"].close()
            state["monitors"].close()

    def pool() -> ConnectionPool:
        return state["pool"]

    async def freshness() -> tuple[datetime, dict[str, datetime | None]]:
        """(now, {source: newest event}) read at most every ``freshness_ttl`` seconds."""
        if state["fresh"] is not None and time.monotonic() - state["fresh_at"] < settings.freshness_ttl:
            return state["fresh"]
        clock = "materializer.clock()" if project.engine == "postgres" else "now()"
        async with pool().connection() as conn:
            now = (await (await conn.execute(f"select {clock}")).fetchone())[0]
            newest = dict(await (await conn.execute(fresh_sql)).fetchall()) if fresh_sql else {}
        state["fresh"], state["fresh_at"] = (now, newest), time.monotonic()
        return now, newest

    # ------------------------------------------------------------ features

    async def get_online_features(request: Request) -> Response:
        return JSONResponse(await feast_lookup(await read_json(request, settings.max_body_bytes)))

    async def feast_lookup_asgi(scope: dict, receive: Any, send: Any) -> None:
        """``POST /get-online-features`` as a plain ASGI handler (the same answers as the route)."""
        headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
        try:
            content_type = declared = None
            for name, value in scope["headers"]:
                if name == b"content-type":
                    content_type = value.decode("latin-1")
                elif name == b"content-length":
                    declared = value.decode("latin-1")
            check_body_headers(content_type or "", declared, settings.max_body_bytes)
            body = b""
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                if len(body) > settings.max_body_bytes:
                    raise LimitExceeded(f"the body is over the limit of {settings.max_body_bytes:,} bytes")
                if not message.get("more_body"):
                    break
            status, doc = 200, await feast_lookup(parse_json(body))
        except Exception as exc:  # noqa: BLE001 - every error becomes a JSON answer
            status, doc, extra = error_of(exc, "POST /get-online-features")
            headers += [(k.lower().encode(), v.encode()) for k, v in (extra or {}).items()]
        out = orjson.dumps(doc, default=_json_default)
        headers.append((b"content-length", str(len(out)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    async def feast_lookup(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InputError("the body must be a JSON object with \"entities\" and \"features\" or "
                             "\"feature_service\"")
        allowed = ("entities", "features", "feature_service", "full_feature_names", *IGNORED_FEAST_KEYS)
        for key in body:
            if key not in allowed:
                raise InputError(f"unknown key {key!r}{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")
        features, service = body.get("features"), body.get("feature_service")
        full = body.get("full_feature_names", False)
        if service is not None and not isinstance(service, str):
            raise InputError("\"feature_service\" must be the name of a feature service")
        if features is not None and (not isinstance(features, list) or not all(isinstance(f, str) for f in features)):
            raise InputError("\"features\" must be a list of references such as \"card_activity:tx_count_1h\"")
        if service is not None and features:
            raise InputError("give either \"features\" or \"feature_service\", not both")
        if service is None and not features:
            raise InputError("name the features: \"features\": [\"view:feature\", ...] or \"feature_service\"")
        if not isinstance(full, bool):
            raise InputError("\"full_feature_names\" must be true or false")
        if "entities" not in body:
            raise InputError("the body has no \"entities\"; give the keys column-wise, for example "
                             "{\"cc_num\": [\"4111-0001\"]}")
        plan = lookup.plan(features, service, full)
        await lookup.resolve_key_types(pool(), plan)
        count, checked = lookup.check_entities(plan, body["entities"])
        _, values = await lookup.read(pool(), plan, count, checked)
        return feast_response(plan, body["entities"], values)

    async def features_of_view(request: Request) -> Response:
        name = request.path_params["view"]
        spec = project.spec
        if name in spec.on_demand:
            od = spec.on_demand[name]
            keys, fields = list(od.entity), list(od.request)
        else:
            view = project.view(name)
            keys, fields = list(view.entity), []
        params = _only(request.query_params, (*keys, *fields, "as_of"), f"/features/{name}")
        as_of = None
        if "as_of" in params:
            from materializer.definitions.values import coerce

            if project.engine != "postgres":
                raise InputError(f"as_of needs the postgres engine: {project.engine} maintains its views at its "
                                 "own clock")
            as_of = coerce(params.pop("as_of"), "timestamptz", "as_of")
        plan = lookup.plan([f"{name}:*"], None, False)
        await lookup.resolve_key_types(pool(), plan)
        count, checked = lookup.check_entities(plan, {k: [v] for k, v in params.items()})
        clock, values = await lookup.read(pool(), plan, count, checked, as_of=as_of)
        doc = {
            "view": name,
            "entity": {k: checked[k][0] for k in keys},
            "features": {n: values[n][0][0] for n in plan.names},
            "statuses": {n: values[n][0][1] for n in plan.names},
            "as_of": clock.isoformat() if clock else None,
        }
        return JSONResponse(doc)

    # ------------------------------------------------------------ push

    async def push_source(request: Request) -> Response:
        source = push_rows.managed(project, request.path_params["source"])
        body = await read_json(request, settings.max_push_bytes)
        names, rows = push_rows.check_rows(project.spec, source, push_rows.rows_of(body))
        count = await push_rows.load(pool(), project.spec, source, names, rows)
        telemetry.rows_pushed.labels(source.name).inc(count)
        return JSONResponse({"source": source.name, "rows": count})

    async def feast_push(request: Request) -> Response:
        body = await read_json(request, settings.max_push_bytes)
        if not isinstance(body, dict):
            raise InputError("the body must be an object: {\"push_source_name\": ..., \"df\": {column: [...]}}")
        allowed = ("push_source_name", "df", "to", *IGNORED_FEAST_KEYS)
        for key in body:
            if key not in allowed:
                raise InputError(f"unknown key {key!r}{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")
        to = body.get("to", "online")
        if to not in push_rows.FEAST_TO:
            raise InputError(f"\"to\" must be one of {', '.join(push_rows.FEAST_TO)} (all write the same source "
                             "table here)")
        source = push_rows.managed(project, body.get("push_source_name"))
        names, rows = push_rows.check_rows(project.spec, source, push_rows.columns_to_rows(body.get("df"), "df"))
        count = await push_rows.load(pool(), project.spec, source, names, rows)
        telemetry.rows_pushed.labels(source.name).inc(count)
        return JSONResponse({"source": source.name, "rows": count})

    # ------------------------------------------------------------ catalog

    async def catalog(request: Request) -> Response:
        _only(request.query_params, (), "/catalog")
        now, newest = await freshness()
        return JSONResponse(with_freshness(copy.deepcopy(static_catalog), newest, now))

    # ------------------------------------------------------------ monitors

    def monitor_name(request: Request) -> str:
        from materializer.monitoring.metrics import get_monitor

        return get_monitor(project, request.path_params["name"]).name

    async def monitors(request: Request) -> Response:
        _only(request.query_params, (), "/monitors")
        return JSONResponse({"monitors": monitor_list(project)})

    async def monitor_metrics(request: Request) -> Response:
        name = monitor_name(request)
        q = _only(request.query_params, ("window", "by", "as_of"), f"/monitors/{name}/metrics")
        doc = await state["monitors"].run(
            lambda p: p.metrics(name, window=q.get("window"), by=q.get("by"), as_of=q.get("as_of") or pinned).to_dict())
        return JSONResponse(doc)

    async def monitor_timeseries(request: Request) -> Response:
        from materializer.monitoring.metrics import timeseries_doc

        name = monitor_name(request)
        q = _only(request.query_params, ("by", "as_of", "since"), f"/monitors/{name}/timeseries")
        return JSONResponse(await state["monitors"].run(
            lambda p: timeseries_doc(p, name, by=q.get("by"), as_of=q.get("as_of") or pinned, since=q.get("since"))))

    async def monitor_versions(request: Request) -> Response:
        from materializer.monitoring.metrics import versions_doc

        name = monitor_name(request)
        q = _only(request.query_params, ("window", "as_of"), f"/monitors/{name}/versions")
        return JSONResponse(await state["monitors"].run(
            lambda p: versions_doc(p, name, window=q.get("window"), as_of=q.get("as_of") or pinned)))

    async def monitor_drift(request: Request) -> Response:
        from materializer.monitoring.metrics import drift_doc

        name = monitor_name(request)
        q = _only(request.query_params, ("window", "as_of"), f"/monitors/{name}/drift")
        return JSONResponse(await state["monitors"].run(
            lambda p: drift_doc(p, name, window=q.get("window"), as_of=q.get("as_of") or pinned)))

    def monitor_window(request: Request, name: str) -> str | None:
        window = request.query_params.get("window")
        windows = [w.text for w in project.spec.monitors[name].windows]
        if window is not None and window not in windows:
            raise InputError(f"monitor {name} has no window {window!r}; its windows: {', '.join(windows)}")
        return window

    async def monitor_stream(request: Request) -> Any:
        from materializer.serve.stream import EventStreamResponse

        name = monitor_name(request)
        _only(request.query_params, ("window",), f"/monitors/{name}/stream")
        window = monitor_window(request, name)
        return EventStreamResponse(state["hub"], name, window, request.headers.get("last-event-id"))

    async def dashboard(request: Request) -> Response:
        monitors = list(project.spec.monitors)
        if "monitor" in request.path_params:
            from materializer.monitoring.metrics import get_monitor

            name = get_monitor(project, request.path_params["monitor"]).name
        elif monitors:
            name = monitors[0]
        else:
            return HTMLResponse("<!doctype html><title>materializer</title><p>This project has no monitors: add one "
                                "under <code>monitors:</code> in materializer.yml to see its dashboard here.</p>")
        _only(request.query_params, ("window",), "/dashboard")
        window = monitor_window(request, name)
        doc = await state["hub"].first(name, window)
        return HTMLResponse(dashboard_page(project.name, monitors, doc))

    # ------------------------------------------------------------ operations

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await pool().check()
        except DatabaseUnavailable as exc:
            return error_response(503, str(exc), {"Retry-After": "1"})
        return JSONResponse({"status": "ready", "database": where})

    async def metrics(request: Request) -> Response:
        try:
            now, newest = await freshness()
            views = {v.name: newest.get(v.source.name) for v in project.spec.feature_views.values()}
        except MaterializerError:
            now, views = None, {}
        p = pool()
        telemetry.connections_in_use.set(p.in_use)
        telemetry.connections_open.set(p._open)
        telemetry.stream_clients.set(state["hub"].clients)
        telemetry.stream_feeds.set(state["hub"].feeds_live)
        return Response(telemetry.exposition(now, views), media_type=CONTENT_TYPE)

    async def openapi(request: Request) -> Response:
        return JSONResponse(schema)

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page(schema))

    # ------------------------------------------------------------ errors

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            detail = {404: f"no route {request.url.path}; see /docs", 405: f"{request.method} is not allowed on "
                      f"{request.url.path}; see /docs"}.get(exc.status_code, str(exc.detail))
            return error_response(exc.status_code, detail, dict(exc.headers or {}))
        status, doc, headers = error_of(exc, f"{request.method} {request.url.path}")
        return JSONResponse(doc, status_code=status, headers=headers)

    routes = [
        Route("/get-online-features", get_online_features, methods=["POST"]),
        Route("/features/{view}", features_of_view, methods=["GET"]),
        Route("/push/{source}", push_source, methods=["POST"]),
        Route("/push", feast_push, methods=["POST"]),
        Route("/catalog", catalog, methods=["GET"]),
        Route("/monitors", monitors, methods=["GET"]),
        Route("/monitors/{name}/metrics", monitor_metrics, methods=["GET"]),
        Route("/monitors/{name}/timeseries", monitor_timeseries, methods=["GET"]),
        Route("/monitors/{name}/versions", monitor_versions, methods=["GET"]),
        Route("/monitors/{name}/drift", monitor_drift, methods=["GET"]),
        Route("/monitors/{name}/stream", monitor_stream, methods=["GET"]),
        Route("/dashboard", dashboard, methods=["GET"]),
        Route("/dashboard/{monitor}", dashboard, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={MaterializerError: on_error, HTTPException: on_error, Exception: on_error})
    app.state.project = project
    app.state.settings = settings
    app.state.telemetry = telemetry
    return Guard(app, settings.token, telemetry, direct={("POST", "/get-online-features"): feast_lookup_asgi})



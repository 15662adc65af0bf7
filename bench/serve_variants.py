"""Minimal ASGI apps that do the same work as one Feast lookup, each built a different way, for
``python bench/serve.py --choices``: which framework, connection strategy and JSON encoder
``materializer serve`` should use. Every variant parses Feast's body, runs the same prepared
query for the same entity, and answers Feast's JSON for the same 10 features.

Configured by environment (uvicorn imports ``<variant>_app`` from here): ``DSN``, ``POOL``
(connections per worker).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from contextlib import asynccontextmanager
from typing import Any

import orjson
import psycopg

DSN = os.environ.get("DSN", "")
POOL = int(os.environ.get("POOL", "4"))
FEATURES = [f"{f}_{w}" for w in ("1h", "1d") for f in ("tx_count", "merchants", "failed", "amount_sum", "amount_max")]
SQL = (f"select (select materializer.clock()), v.cc_num, v._event_ts, {', '.join('v.' + f for f in FEATURES)} "
       "from (select 1) as _one left join card_activity as v on v.cc_num = any(%s::text[])")


def shape(keys: list[str], rows: list[tuple]) -> dict[str, Any]:
    by = {r[1]: r for r in rows if r[1] is not None}
    epoch = "1970-01-01T00:00:00Z"
    results = [{"values": keys, "statuses": ["PRESENT"] * len(keys), "event_timestamps": [epoch] * len(keys)}]
    for i in range(len(FEATURES)):
        values, statuses, times = [], [], []
        for k in keys:
            r = by.get(k)
            v = r[3 + i] if r else None
            values.append(v)
            statuses.append("PRESENT" if v is not None else "NOT_FOUND")
            times.append(r[2].strftime("%Y-%m-%dT%H:%M:%SZ") if r else epoch)
        results.append({"values": values, "statuses": statuses, "event_timestamps": times})
    return {"metadata": {"feature_names": ["cc_num", *FEATURES]}, "results": results}


class Pool:
    """N async connections in a queue, opened at startup."""

    def __init__(self) -> None:
        self.idle: asyncio.Queue | None = None

    async def open(self) -> None:
        self.idle = asyncio.Queue()
        for _ in range(POOL):
            await self.idle.put(await psycopg.AsyncConnection.connect(DSN, autocommit=True))

    async def query(self, keys: list[str]) -> list[tuple]:
        assert self.idle is not None
        conn = await self.idle.get()
        try:
            return await (await conn.execute(SQL, [keys], prepare=True)).fetchall()
        finally:
            self.idle.put_nowait(conn)


pool = Pool()


@asynccontextmanager
async def lifespan(app: Any):
    await pool.open()
    yield


# ---------------------------------------------------------------- raw ASGI, no framework


async def raw_app(scope: dict, receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await pool.open()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    keys = orjson.loads(body)["entities"]["cc_num"]
    out = orjson.dumps(shape(keys, await pool.query(keys)))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]})
    await send({"type": "http.response.body", "body": out})


# ---------------------------------------------------------------- Starlette


def _starlette(encode: Any, query: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def endpoint(request: Any) -> Any:
        keys = orjson.loads(await request.body())["entities"]["cc_num"]
        return Response(encode(shape(keys, await query(keys))), media_type="application/json")

    return Starlette(routes=[Route("/get-online-features", endpoint, methods=["POST"])], lifespan=lifespan)


starlette_app = _starlette(orjson.dumps, pool.query)
starlette_stdlib_json_app = _starlette(lambda doc: json.dumps(doc, default=str).encode(), pool.query)

_local = threading.local()


def _sync_query(keys: list[str]) -> list[tuple]:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = psycopg.connect(DSN, autocommit=True)
    return conn.execute(SQL, [keys], prepare=True).fetchall()


async def _threaded_query(keys: list[str]) -> list[tuple]:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_sync_query, keys)


starlette_sync_threads_app = _starlette(orjson.dumps, _threaded_query)


# ---------------------------------------------------------------- FastAPI with a pydantic request model


try:
    from pydantic import BaseModel

    class GetOnlineFeatures(BaseModel):
        entities: dict[str, list[Any]]
        features: list[str] = []
        feature_service: str | None = None
        full_feature_names: bool = False
except ImportError:
    pass


def _fastapi() -> Any:
    from fastapi import FastAPI
    from fastapi.responses import Response

    app = FastAPI(lifespan=lifespan)

    @app.post("/get-online-features")
    async def endpoint(body: GetOnlineFeatures) -> Response:
        keys = body.entities["cc_num"]
        return Response(orjson.dumps(shape(keys, await pool.query(keys))), media_type="application/json")

    return app


try:
    fastapi_app = _fastapi()
except ImportError:  # FastAPI is not a dependency; --choices skips the variant without it
    fastapi_app = None

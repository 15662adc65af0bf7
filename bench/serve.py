#!/usr/bin/env python
"""HTTP serving: ``materializer serve`` against ``feast serve`` and the raw psycopg query, side by side.

A standalone script (not a pytest test)::

    python bench/serve.py                                   # the full run (~15 min)
    python bench/serve.py --duration 5 --warmup 1 --entities 10000 --events 100000   # quick
    python bench/serve.py --feast-python /tmp/feast-venv/bin/python   # Feast from its own venv

What it does, on loopback only, every load bounded in time (wrk's ``-d``):

1. a project with one windowed view of 10 features (``card_activity``: count, count_distinct,
   a filtered count, sum and max of the amount, over 1h and 1d: 6 integer and 4 float values);
   ``--events`` transactions over ``--entities`` cards (``c000000`` ...) spread over the last two
   days, loaded with one ``insert ... select generate_series``; plus one card ``heavy`` with
   10,000 events in the last hour (and ``heavy100``/``heavy1000`` with 100 and 1,000);
2. the same 10 values of every card, read from the view at one moment, written to a Feast
   repository (SQLite online store, ``write_to_online_store``) so that both servers hold the
   same data; a sample of cards is checked equal across the two servers (materializer's at that
   pinned moment);
3. for each system — ``feast serve --max-requests 0`` (1 worker, its best setting), and
   ``materializer serve`` with 1 and with ``--workers`` processes — ``wrk`` posts Feast's request
   body (random card per request; 1 entity x 10 features, and batches of 100 entities) at each
   ``--concurrency`` for ``--duration`` s after ``--warmup`` s: req/s, p50, p99, errors (non-2xx
   and socket errors), and the server's CPU (its processes' user+system time over the run);
4. the raw query (``select ... where cc_num = any(%s)``, prepared, unix socket): one sync
   connection at concurrency 1; ``--concurrency`` async connections on uvloop otherwise;
5. push-to-visible: a new card's event pushed, then looked up until seen (materializer: ``POST
   /push/transactions``; Feast: ``POST /push`` to its online store), ``--pushes`` times each;
6. lookup latency of an entity by the number of its events in the longest window (100, 1,000,
   10,000) next to a typical one, through HTTP and the raw query;
7. prints tables and writes ``bench/results/serve.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import harness
import psycopg

VIEW = "card_activity"
FEATURES = [f"{f}_{w}" for w in ("1h", "1d") for f in ("tx_count", "merchants", "failed", "amount_sum", "amount_max")]
TARGET_C8_RATIO = 5.0
TARGET_C8_P99_MS = 5.0
TARGET_BATCH_RATIO = 20.0
TARGET_C1_P50_RATIO = 2.0

PROJECT_YML = """\
name: bench_serve
engine: postgres
sources:
  transactions:
    columns: {tx_id: text, cc_num: text, merchant: text, amount: double precision, status: text, ts: timestamptz}
    timestamp: ts
feature_views:
  card_activity:
    source: transactions
    entity: [cc_num]
    windows: [1h, 1d]
    features:
      tx_count:   {agg: count}
      merchants:  {agg: count_distinct, column: merchant}
      failed:     {agg: count, filter: "status = 'failed'"}
      amount_sum: {agg: sum, column: amount}
      amount_max: {agg: max, column: amount}
"""

LOAD_SQL = """
insert into transactions (tx_id, cc_num, merchant, amount, status, ts)
select 'tx' || g, 'c' || lpad(mod(g, %(entities)s)::text, 6, '0'), 'm' || (random() * 2000)::int,
       round((random() * 500)::numeric, 2)::float8, case when random() < 0.05 then 'failed' else 'ok' end,
       now() - random() * interval '2 days'
from generate_series(1, %(events)s) as g
"""
HEAVY_SQL = """
insert into transactions (tx_id, cc_num, merchant, amount, status, ts)
select 'h' || %(name)s || g, %(name)s, 'm' || (random() * 2000)::int, round((random() * 500)::numeric, 2)::float8,
       'ok', now() - random() * interval '50 minutes'
from generate_series(1, %(n)s) as g
"""
RAW_SQL = f"select cc_num, _event_ts, {', '.join(FEATURES)} from {VIEW} where cc_num = any(%s::text[])"

WRK_LUA = r"""
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local entities = tonumber(os.getenv("BENCH_ENTITIES") or "100000")
local features = os.getenv("BENCH_FEATURES")
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  math.randomseed(os.time() * 1000 + (id or 0))
end
request = function()
  local ks = {}
  for i = 1, batch do ks[i] = string.format('"c%06d"', math.random(0, entities - 1)) end
  local body = '{"features":[' .. features .. '],"entities":{"cc_num":[' .. table.concat(ks, ",") .. ']}}'
  return wrk.format("POST", "/get-online-features", {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
"""

HEALTH_LUA = WRK_LUA.split("request = function()")[0] + """
request = function()
  return wrk.format("GET", "/healthz")
end
done = """ + WRK_LUA.split("done = ", 1)[1]

FEAST_YAML = """\
project: bench
registry: data/registry.db
provider: local
online_store:
  type: sqlite
  path: data/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""

FEAST_DEFINITIONS = """\
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, PushSource, ValueType
from feast.types import Float64, Int64

card = Entity(name="card", join_keys=["cc_num"], value_type=ValueType.STRING)
batch = FileSource(path="data/features.parquet", timestamp_field="event_timestamp")
push = PushSource(name="card_push", batch_source=batch)
card_activity = FeatureView(
    name="card_activity", entities=[card], ttl=timedelta(days=1), source=push, online=True,
    schema=[Field(name=n, dtype=Float64 if n.startswith("amount") else Int64) for n in {features!r}])
"""

FEAST_LOAD = """\
import sys
import pandas as pd
from feast import FeatureStore
store = FeatureStore(repo_path=sys.argv[1])
frame = pd.read_parquet(sys.argv[2])
for start in range(0, len(frame), 20000):
    store.write_to_online_store("card_activity", frame.iloc[start:start + 20000])
print(len(frame))
"""


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    for child in children:
        out += tree(int(child))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process tree so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


class Server:
    def __init__(self, name: str, cmd: list[str], cwd: Path, env: dict[str, str], port: int, log: Path) -> None:
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        import urllib.request

        deadline = time.monotonic() + 120
        while True:
            try:
                body = json.dumps({"features": [f"{VIEW}:{FEATURES[0]}"], "entities": {"cc_num": ["c000001"]}})
                req = urllib.request.Request(self.url + "/get-online-features", data=body.encode(),
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def post_json(url: str, body: Any) -> Any:
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read()
    return json.loads(text) if text else None


# --------------------------------------------------------------------------- load


def wrk(server: Server, lua: Path, concurrency: int, batch: int, duration: float, warmup: float,
        entities: int) -> dict[str, Any]:
    env = {**os.environ, "BENCH_BATCH": str(batch), "BENCH_ENTITIES": str(entities),
           "BENCH_FEATURES": ",".join(f'"{VIEW}:{f}"' for f in FEATURES)}
    threads = 1 if concurrency == 1 else 2
    base = ["wrk", "-t", str(threads), "-c", str(concurrency), "-s", str(lua), "--latency", "--timeout", "10s"]
    if warmup > 0:
        subprocess.run([*base, "-d", f"{warmup}s", server.url], env=env, capture_output=True, text=True, check=True)
    cpu0, t0 = cpu_seconds(server.proc.pid), time.monotonic()
    run = subprocess.run([*base, "-d", f"{duration}s", server.url], env=env, capture_output=True, text=True,
                         check=True)
    cpu1, t1 = cpu_seconds(server.proc.pid), time.monotonic()
    line = next(x for x in run.stdout.splitlines() if x.startswith("WRKJSON "))
    raw = json.loads(line[len("WRKJSON "):])
    seconds = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["status"] + raw["timeout"]
    return {"concurrency": concurrency, "batch": batch, "requests": raw["requests"],
            "req_s": round(raw["requests"] / seconds, 1), "rows_s": round(raw["requests"] * batch / seconds, 1),
            "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "mean_ms": round(raw["mean_us"] / 1000, 3), "max_ms": raw["max_us"] / 1000, "errors": errors,
            "server_cpu_cores": round((cpu1 - cpu0) / (t1 - t0), 2)}


def raw_sync(uri: str, keys: list[list[str]], duration: float) -> dict[str, Any]:
    conn = psycopg.connect(uri, autocommit=True)
    for k in keys[:200]:
        conn.execute(RAW_SQL, [k], prepare=True).fetchall()
    samples = []
    end = time.monotonic() + duration
    i = 0
    while time.monotonic() < end:
        t = time.perf_counter_ns()
        conn.execute(RAW_SQL, [keys[i % len(keys)]], prepare=True).fetchall()
        samples.append(time.perf_counter_ns() - t)
        i += 1
    conn.close()
    return latency_summary(samples, duration, len(keys[0]), 1)


def raw_async(uri: str, keys: list[list[str]], duration: float, concurrency: int) -> dict[str, Any]:
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run

    async def main() -> list[int]:
        conns = [await psycopg.AsyncConnection.connect(uri, autocommit=True) for _ in range(concurrency)]
        samples: list[int] = []
        end = time.monotonic() + duration

        async def worker(conn: psycopg.AsyncConnection, offset: int) -> None:
            i = offset
            for _ in range(50):
                await (await conn.execute(RAW_SQL, [keys[i % len(keys)]], prepare=True)).fetchall()
            while time.monotonic() < end:
                t = time.perf_counter_ns()
                await (await conn.execute(RAW_SQL, [keys[i % len(keys)]], prepare=True)).fetchall()
                samples.append(time.perf_counter_ns() - t)
                i += concurrency
        await asyncio.gather(*(worker(c, n * 997) for n, c in enumerate(conns)))
        for c in conns:
            await c.close()
        return samples

    samples = runner(main())
    return latency_summary(samples, duration, len(keys[0]), concurrency)


def latency_summary(samples_ns: list[int], duration: float, batch: int, concurrency: int) -> dict[str, Any]:
    ms = sorted(s / 1e6 for s in samples_ns)
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"concurrency": concurrency, "batch": batch, "requests": len(ms), "req_s": round(len(ms) / duration, 1),
            "rows_s": round(len(ms) * batch / duration, 1), "p50_ms": round(cuts[49], 3),
            "p99_ms": round(cuts[98], 3), "mean_ms": round(statistics.fmean(ms), 3), "errors": 0}


# --------------------------------------------------------------------------- data


def load(conn: psycopg.Connection, events: int, entities: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    conn.execute("truncate transactions")
    conn.execute("select setseed(0.42)")
    conn.execute(LOAD_SQL, {"events": events, "entities": entities})
    for name, n in (("heavy100", 100), ("heavy1000", 1000), ("heavy", 10000)):
        conn.execute(HEAVY_SQL, {"name": name, "n": n})
    conn.execute("analyze transactions")
    per_day = conn.execute("select count(*)::float / %s from transactions where ts >= now() - interval '1 day'",
                           [entities]).fetchone()[0]
    return {"events": events, "entities": entities, "load_s": round(time.perf_counter() - t0, 1),
            "events_per_entity_in_1d": round(per_day, 2)}


def feast_setup(python: str, repo: Path, conn: psycopg.Connection, at: datetime) -> dict[str, Any]:
    """The view's values at ``at`` for every card, written to a Feast SQLite online store."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (repo / "data").mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(FEAST_YAML)
    (repo / "definitions.py").write_text(FEAST_DEFINITIONS.format(features=FEATURES))
    t0 = time.perf_counter()
    with conn.transaction():
        conn.execute("select set_config('materializer.as_of', %s, true)", [at.isoformat()])
        rows = conn.execute(f"select cc_num, {', '.join(FEATURES)} from {VIEW}").fetchall()
    columns = list(zip(*rows))
    table = {"cc_num": list(columns[0]), "event_timestamp": [at] * len(rows)}
    for i, name in enumerate(FEATURES, start=1):
        table[name] = [None if v is None else (float(v) if name.startswith("amount") else int(v)) for v in columns[i]]
    pq.write_table(pa.table(table), repo / "data" / "features.parquet")
    env = {**os.environ, "FEAST_USAGE": "False"}
    feast = str(Path(python).parent / "feast")
    subprocess.run([feast, "apply"], cwd=repo, env=env, check=True, capture_output=True)
    loaded = subprocess.run([python, "-c", FEAST_LOAD, str(repo), str(repo / "data" / "features.parquet")],
                            env=env, check=True, capture_output=True, text=True)
    return {"rows": int(loaded.stdout.strip().splitlines()[-1]), "setup_s": round(time.perf_counter() - t0, 1)}


def same_values(a: dict[str, Any], b: dict[str, Any]) -> tuple[int, list[str]]:
    """Values compared name by name (Feast's order is its own); returns (values compared, differences)."""
    def columns(doc: dict[str, Any]) -> dict[str, list[Any]]:
        return {n: r["values"] for n, r in zip(doc["metadata"]["feature_names"], doc["results"])}
    ca, cb = columns(a), columns(b)
    diffs, compared = [], 0
    for name in FEATURES:
        for i, (x, y) in enumerate(zip(ca[name], cb[name])):
            compared += 1
            if x is None or y is None:
                ok = x is None and y is None or (x in (None, 0) and y in (None, 0))
            else:
                ok = abs(float(x) - float(y)) <= 1e-9 * max(1.0, abs(float(y)))
            if not ok:
                diffs.append(f"{ca['cc_num'][i]} {name}: {x} != {y}")
    return compared, diffs


# --------------------------------------------------------------------------- freshness and heavy entities


def push_to_visible(server: Server, kind: str, count: int) -> dict[str, Any]:
    push_ms, visible_ms, lookups = [], [], []
    for i in range(count):
        key = f"fresh-{kind}-{i}-{random.randrange(10**9)}"
        now = datetime.now(timezone.utc).isoformat()
        t0 = time.perf_counter()
        if kind == "materializer":
            post_json(server.url + "/push/transactions",
                      [{"tx_id": key, "cc_num": key, "merchant": "m1", "amount": 12.5, "status": "ok", "ts": now}])
        else:
            df = {"cc_num": [key], "event_timestamp": [now], **{f: [1.0 if f.startswith("amount") else 1]
                                                                 for f in FEATURES}}
            post_json(server.url + "/push", {"push_source_name": "card_push", "df": df, "to": "online"})
        t1 = time.perf_counter()
        tries = 0
        while True:
            tries += 1
            doc = post_json(server.url + "/get-online-features",
                            {"features": [f"{VIEW}:tx_count_1h"], "entities": {"cc_num": [key]}})
            if doc["results"][-1]["values"][0] not in (None, 0):
                break
            if time.perf_counter() - t0 > 30:
                raise SystemExit(f"{kind}: a pushed row was not visible after 30 s")
        t2 = time.perf_counter()
        push_ms.append((t1 - t0) * 1000)
        visible_ms.append((t2 - t0) * 1000)
        lookups.append(tries)
    return {"pushes": count, "push_p50_ms": round(statistics.median(push_ms), 2),
            "push_p99_ms": round(sorted(push_ms)[int(0.99 * (count - 1))], 2),
            "visible_p50_ms": round(statistics.median(visible_ms), 2),
            "visible_max_ms": round(max(visible_ms), 2), "lookups_until_visible_max": max(lookups)}


def heavy_entities(server: Server, uri: str, runs: int) -> list[dict[str, Any]]:
    conn = psycopg.connect(uri, autocommit=True)
    out = []
    for key in ("c000001", "heavy100", "heavy1000", "heavy"):
        events = conn.execute("select count(*) from transactions where cc_num = %s and ts >= now() - interval '1 day'",
                              [key]).fetchone()[0]
        raw, http = [], []
        body = {"features": [f"{VIEW}:{f}" for f in FEATURES], "entities": {"cc_num": [key]}}
        for _ in range(5):
            conn.execute(RAW_SQL, [[key]], prepare=True).fetchall()
            post_json(server.url + "/get-online-features", body)
        for _ in range(runs):
            t = time.perf_counter()
            conn.execute(RAW_SQL, [[key]], prepare=True).fetchall()
            raw.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            post_json(server.url + "/get-online-features", body)
            http.append((time.perf_counter() - t) * 1000)
        out.append({"entity": key, "events_in_1d": events, "raw_p50_ms": round(statistics.median(raw), 3),
                    "http_p50_ms": round(statistics.median(http), 3)})
    conn.close()
    return out


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entities", type=int, default=100_000, help="cards (default 100,000)")
    ap.add_argument("--events", type=int, default=1_000_000, help="transactions (default 1,000,000)")
    ap.add_argument("--duration", type=int, default=15, help="seconds per load level (default 15)")
    ap.add_argument("--warmup", type=int, default=3, help="warm-up seconds before each level (default 3)")
    ap.add_argument("--concurrency", default="1,8,32", help="wrk connections per level (default 1,8,32)")
    ap.add_argument("--batches", default="1,100", help="entities per request (default 1,100)")
    ap.add_argument("--workers", type=int, default=2, help="materializer serve --workers of the second run "
                                                           "(default 2, the cores here)")
    ap.add_argument("--feast-python", default=sys.executable,
                    help="a python with Feast installed (default: this one)")
    ap.add_argument("--skip-feast", action="store_true")
    ap.add_argument("--pushes", type=int, default=50, help="push-to-visible samples per system (default 50)")
    ap.add_argument("--heavy-runs", type=int, default=200, help="lookups per entity for the heavy-entity table")
    ap.add_argument("--choices", action="store_true",
                    help="instead: compare ways to build the server (framework, connections, JSON, event loop) "
                         "at c=1 and c=8, 1 worker, and write bench/results/serve_choices.json")
    harness.add_common_args(ap, "serve")
    args = ap.parse_args(argv)
    if args.choices and args.out == harness.results_path("serve"):
        args.out = harness.results_path("serve_choices")
    args.concurrency = [int(x) for x in args.concurrency.split(",")]
    args.batches = [int(x) for x in args.batches.split(",")]
    if shutil.which("wrk") is None:
        ap.error("wrk is not installed (Debian: apt-get install wrk)")
    with harness.embedded_project(PROJECT_YML, args.dir, args.keep) as (root, uri):
        return choices(args, root, uri) if args.choices else run(args, root, uri)


def choices(args: argparse.Namespace, root: Path, uri: str) -> int:
    """Variants of the server doing the same lookup: which framework, pool, encoder and loop to use."""
    from materializer.project import Project

    project = Project.load(root, dsn=uri)
    project.apply()
    conn = psycopg.connect(uri, autocommit=True)
    machine = harness.machine_info(conn, packages=("uvicorn", "starlette", "fastapi", "pydantic", "orjson", "uvloop"))
    out: dict[str, Any] = {**harness.header("serve", args, machine), "results": []}
    out["data"] = load(conn, args.events, args.entities)
    conn.close()
    lua = root / "post.lua"
    lua.write_text(WRK_LUA)
    here = str(Path(__file__).resolve().parent)
    uv = [sys.executable, "-m", "uvicorn", "--app-dir", here, "--log-level", "warning", "--no-access-log",
          "--port", "{port}"]
    fast = ["--loop", "uvloop", "--http", "httptools"]
    variants: list[tuple[str, list[str], dict[str, str]]] = [
        ("raw ASGI, async pool of 4, orjson", [*uv, *fast, "serve_variants:raw_app"], {"POOL": "4"}),
        ("Starlette, async pool of 4, orjson", [*uv, *fast, "serve_variants:starlette_app"], {"POOL": "4"}),
        ("Starlette, async pool of 4, stdlib json", [*uv, *fast, "serve_variants:starlette_stdlib_json_app"],
         {"POOL": "4"}),
        ("Starlette, one async connection", [*uv, *fast, "serve_variants:starlette_app"], {"POOL": "1"}),
        ("Starlette, async pool of 8", [*uv, *fast, "serve_variants:starlette_app"], {"POOL": "8"}),
        ("Starlette, sync psycopg in threads", [*uv, *fast, "serve_variants:starlette_sync_threads_app"], {}),
        ("Starlette, asyncio loop + h11 (no uvloop)", [*uv, "--loop", "asyncio", "--http", "h11",
                                                       "serve_variants:starlette_app"], {"POOL": "4"}),
        ("FastAPI + pydantic model, async pool of 4", [*uv, *fast, "serve_variants:fastapi_app"], {"POOL": "4"}),
        ("materializer serve (pool 4)", [sys.executable, "-m", "materializer.cli", "serve", "--log-level",
                                         "warning", "--port", "{port}"], {}),
        ("materializer serve (pool 1)", [sys.executable, "-m", "materializer.cli", "serve", "--log-level",
                                         "warning", "--pool-size", "1", "--port", "{port}"], {}),
    ]
    for name, cmd, extra in variants:
        if "fastapi_app" in cmd[-1]:
            try:
                import fastapi  # noqa: F401
            except ImportError:
                print(f"skipped {name}: FastAPI is not installed", file=sys.stderr)
                continue
        port = free_port()
        env = {**os.environ, "DSN": uri, "MATERIALIZER_DSN": uri, **extra}
        server = Server(name, [p.format(port=port) for p in cmd], root, env, port, root / f"variant-{port}.log")
        try:
            for c in (1, 8):
                r = wrk(server, lua, c, 1, args.duration, args.warmup, args.entities)
                r["system"] = name
                out["results"].append(r)
                print(f"{name:45} c={c:<3} {r['req_s']:>9,.0f} req/s  p50 {r['p50_ms']:6.2f} ms  "
                      f"p99 {r['p99_ms']:6.2f} ms  cpu {r['server_cpu_cores']}", file=sys.stderr)
                harness.write_results(args.out, out)
        finally:
            server.stop()
    print("\n| variant (1 worker) | c=1 req/s | c=1 p50 ms | c=8 req/s | c=8 p50 ms | c=8 p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, _, _ in variants:
        one, eight = pick(out["results"], name, 1, 1), pick(out["results"], name, 8, 1)
        if one and eight:
            print(f"| {name} | {one['req_s']:,.0f} | {one['p50_ms']:.2f} | {eight['req_s']:,.0f} | "
                  f"{eight['p50_ms']:.2f} | {eight['p99_ms']:.2f} |")
    return 0


def run(args: argparse.Namespace, root: Path, uri: str) -> int:
    from materializer.project import Project

    project = Project.load(root, dsn=uri)
    project.apply()
    conn = psycopg.connect(uri, autocommit=True)
    conn.execute("set timezone to 'UTC'")
    machine = harness.machine_info(conn, packages=("uvicorn", "starlette", "orjson", "uvloop"))
    harness.warn_if_tcp(conn)
    out: dict[str, Any] = {**harness.header("serve", args, machine), "features": FEATURES, "raw_sql": RAW_SQL}
    print(f"loading {args.events:,} events for {args.entities:,} cards ...", file=sys.stderr)
    out["data"] = load(conn, args.events, args.entities)
    lua = root / "post.lua"
    lua.write_text(WRK_LUA)
    health = root / "health.lua"
    health.write_text(HEALTH_LUA)
    env = {**os.environ, "MATERIALIZER_DSN": uri, "FEAST_USAGE": "False"}
    at = conn.execute("select now()").fetchone()[0]

    systems: list[tuple[str, list[str], Path]] = []
    if not args.skip_feast:
        repo = root / "feast_repo"
        print("writing the same values to Feast's SQLite online store ...", file=sys.stderr)
        out["feast_setup"] = feast_setup(args.feast_python, repo, conn, at)
        systems.append(("feast serve (1 worker, --max-requests 0)",
                        [str(Path(args.feast_python).parent / "feast"), "serve", "--max-requests", "0",
                         "--no-access-log", "--port", "{port}"], repo))
    mat = [sys.executable, "-m", "materializer.cli", "serve", "--log-level", "warning", "--port", "{port}"]
    systems.append(("materializer serve (1 worker)", mat, root))
    if args.workers > 1:
        systems.append((f"materializer serve ({args.workers} workers)", [*mat, "--workers", str(args.workers)], root))

    # correctness: the same values from both servers (materializer's clock pinned at the moment Feast's were read)
    if not args.skip_feast:
        sample = [f"c{random.Random(3).randrange(args.entities):06d}" for _ in range(200)]
        body = {"features": [f"{VIEW}:{f}" for f in FEATURES], "entities": {"cc_num": sample}}
        port = free_port()
        pinned = Server("materializer (pinned)", [p.format(port=port) for p in mat] + ["--as-of", at.isoformat()],
                        root, env, port, root / "pinned.log")
        ours = post_json(pinned.url + "/get-online-features", body)
        pinned.stop()
        port = free_port()
        feast = Server("feast", [p.format(port=port) for p in systems[0][1]], systems[0][2], env, port,
                       root / "feast-check.log")
        theirs = post_json(feast.url + "/get-online-features", body)
        feast.stop()
        compared, diffs = same_values(ours, theirs)
        out["check"] = {"values_compared": compared, "differences": diffs[:20]}
        print(f"check: {compared} values compared, {len(diffs)} differ", file=sys.stderr)
        if diffs:
            print("\n".join(diffs[:20]), file=sys.stderr)
            return 1

    results: list[dict[str, Any]] = []
    out["results"] = results
    for name, cmd, cwd in systems:
        port = free_port()
        server = Server(name, [p.format(port=port) for p in cmd], cwd, env, port, root / f"server-{port}.log")
        try:
            for batch in args.batches:
                for c in args.concurrency:
                    r = wrk(server, lua, c, batch, args.duration, args.warmup, args.entities)
                    r["system"] = name
                    results.append(r)
                    print(f"{name:45} c={c:<3} batch={batch:<4} {r['req_s']:>9,.0f} req/s  p50 {r['p50_ms']:7.2f} ms"
                          f"  p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}  cpu {r['server_cpu_cores']}",
                          file=sys.stderr)
                    harness.write_results(args.out, out)
            if name == "materializer serve (1 worker)":
                # the floor of this HTTP path: GET /healthz (no database, a two-key JSON body)
                for c in (1, 8):
                    r = wrk(server, health, c, 1, args.duration, args.warmup, args.entities)
                    r["system"] = "materializer serve (1 worker): GET /healthz, the HTTP floor"
                    results.append(r)
                    print(f"{r['system']:45} c={c:<3} {r['req_s']:>9,.0f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                          f"p99 {r['p99_ms']:7.2f} ms", file=sys.stderr)
            kind = "feast" if name.startswith("feast") else "materializer"
            if f"freshness_{kind}" not in out:
                out[f"freshness_{kind}"] = push_to_visible(server, kind, args.pushes)
            if kind == "materializer" and "heavy" not in out:
                out["heavy"] = heavy_entities(server, uri, args.heavy_runs)
        finally:
            server.stop()

    rng = random.Random(7)
    for batch in args.batches:
        keys = [[f"c{rng.randrange(args.entities):06d}" for _ in range(batch)] for _ in range(5000)]
        for c in args.concurrency:
            r = raw_sync(uri, keys, args.duration) if c == 1 else raw_async(uri, keys, args.duration, c)
            r["system"] = "raw psycopg query"
            results.append(r)
            print(f"{'raw psycopg query':45} c={c:<3} batch={batch:<4} {r['req_s']:>9,.0f} req/s  "
                  f"p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms", file=sys.stderr)
    machine["loadavg_end"] = harness.loadavg()
    out["verdict"] = verdict(results, args)
    harness.write_results(args.out, out)
    print_tables(out)
    conn.close()
    project.close()
    return 0


def pick(results: list[dict[str, Any]], system: str, c: int, batch: int) -> dict[str, Any] | None:
    return next((r for r in results if r["system"].startswith(system) and r["concurrency"] == c
                 and r["batch"] == batch), None)


def verdict(results: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    best = f"materializer serve ({args.workers} workers)" if args.workers > 1 else "materializer serve (1 worker)"
    feast8, ours8 = pick(results, "feast", 8, 1), pick(results, best, 8, 1)
    if feast8 and ours8:
        ratio = ours8["req_s"] / feast8["req_s"]
        out["c8_ratio"] = round(ratio, 2)
        out["c8_p99_ms"] = ours8["p99_ms"]
        out["c8_met"] = ratio >= TARGET_C8_RATIO and ours8["p99_ms"] <= TARGET_C8_P99_MS
    feastb = max((r for r in results if r["system"].startswith("feast") and r["batch"] == 100),
                 key=lambda r: r["rows_s"], default=None)
    oursb = max((r for r in results if r["system"].startswith(best) and r["batch"] == 100),
                key=lambda r: r["rows_s"], default=None)
    if feastb and oursb:
        out["batch_rows_ratio"] = round(oursb["rows_s"] / feastb["rows_s"], 2)
        out["batch_met"] = out["batch_rows_ratio"] >= TARGET_BATCH_RATIO
    ours1, raw1 = pick(results, "materializer serve (1 worker)", 1, 1), pick(results, "raw", 1, 1)
    if ours1 and raw1:
        out["c1_p50_ratio"] = round(ours1["p50_ms"] / raw1["p50_ms"], 2)
        out["c1_met"] = out["c1_p50_ratio"] <= TARGET_C1_P50_RATIO
    return out


def print_tables(out: dict[str, Any]) -> None:
    print("\n| system | entities/request | c | req/s | rows/s | p50 ms | p99 ms | errors | server CPU (cores) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in out["results"]:
        print(f"| {r['system']} | {r['batch']} | {r['concurrency']} | {r['req_s']:,.0f} | {r['rows_s']:,.0f} | "
              f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | {r.get('server_cpu_cores', '')} |")
    for kind in ("materializer", "feast"):
        f = out.get(f"freshness_{kind}")
        if f:
            print(f"\npush-to-visible, {kind}: push p50 {f['push_p50_ms']} ms, visible p50 {f['visible_p50_ms']} ms "
                  f"(max {f['visible_max_ms']} ms, lookups until visible at most {f['lookups_until_visible_max']})")
    if out.get("heavy"):
        print("\n| entity | events in the 1d window | raw query p50 ms | HTTP p50 ms |\n|---|---:|---:|---:|")
        for h in out["heavy"]:
            print(f"| {h['entity']} | {h['events_in_1d']:,} | {h['raw_p50_ms']} | {h['http_p50_ms']} |")
    print(f"\nverdict: {json.dumps(out['verdict'])}")


if __name__ == "__main__":
    sys.exit(main())

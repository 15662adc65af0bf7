#!/usr/bin/env python
"""Point-in-time training sets: ``materializer`` against Feast and DuckDB.

A standalone script (not a pytest test)::

    python bench/training_set.py                                   # 10M events, spines 100k / 1M / 5M
    python bench/training_set.py --events 1000000 --entities 10000 --spines 10000,100000   # quick
    python bench/training_set.py --skip-feast --skip-duckdb        # materializer only

What it does:

1. writes a project (``materializer.yml``) into ``--dir`` (default: a fresh temporary folder under
   /tmp): a managed source ``transactions`` (tx_id, cc_num text, merchant, amount numeric, status,
   ts timestamptz), a windowed view ``card_activity`` (windows 1h, 1d, 7d x count, sum, avg, max:
   12 columns, of which the training set asks for 5: tx_count_1h, amount_sum_1h, amount_avg_1d,
   amount_max_1d, tx_count_7d) and a latest view ``card_last_tx`` (last_amount, last_merchant,
   max_age 7d); starts the project's embedded PostgreSQL (``materializer.db.embedded.start``) and
   applies it;
2. loads ``--events`` transactions in one ``insert ... select generate_series ... order by ts``
   (event ``g`` belongs to entity ``g mod --entities``; timestamps uniform over 30 days from
   2025-01-01 UTC; appended in time order, as a stream writes them), with the ``(cc_num, ts)`` index dropped during the insert and created again after it (the same
   statement ``apply`` runs), then ``vacuum (analyze)``; exports the events to Parquet (for DuckDB
   and Feast: amount as double);
3. writes one spine per ``--spines`` size (random entity, random time in the 30 days, a 0/1
   label, and a ``spine_id``) as CSV (for materializer) and Parquet (for DuckDB and Feast);
4. for each size, runs each system in its own process (so peak RSS is that system's alone),
   watched by the parent (peak RSS of the process tree, ``--mem-limit-gb``, ``--timeout``):
   - ``materializer``: ``materializer.features.training.write_csv(project, spine.csv, FEATURES, out=...)``,
     the code path of ``materializer training-set``; phases timed by wrapping the module's
     functions (spine load, the views, streaming the CSV out; each view's busy time, its parts
     overlapping on two connections for large spines); the main PostgreSQL backend's VmHWM read
     from /proc and temp-file bytes from ``pg_stat_database``;
   - ``duckdb``: one ``COPY (query) TO 'out.csv'`` over the Parquet files: ASOF LEFT JOIN for the
     latest values, RANGE window frames over spine + events for the windows (in-memory reference);
   - ``materializer_latest`` (where Feast runs): the same call for the 2 latest values only,
     like for like with Feast;
   - ``feast_postgres``, ``feast_dask`` and ``feast_duckdb`` (in ``--feast-python``'s venv,
     default /tmp/feast-venv, ``pip install 'feast[postgres,duckdb]' psutil``):
     ``get_historical_features(...).to_df()`` for the 2 latest values only (Feast has no
     sliding-window aggregation in historical retrieval), with its PostgreSQL offline store
     (reading the same ``transactions`` table in the same embedded server, through its unix
     socket, ``sslmode: disable``), its file (dask) offline store and its DuckDB (ibis) offline
     store, both over the Parquet export;
5. checks: row counts; every row of DuckDB's output against materializer's (all 7 features);
   every row of Feast's latest values against materializer's; ~20 rows per size against
   ``project.online_features(view, {"cc_num": k}, as_of=t)``;
6. at the 1M spine (or the size closest below it): the windowed form materializer picks,
   ``explain (analyze, buffers)`` of its query, and timings of both windowed forms ('frames' and
   'probes') and of the latest view's query;
7. prints a table and writes ``bench/results/training_set.json`` (and the plan next to it).

The embedded server is stopped at the end (and the temporary folder removed) unless ``--keep``.
Imports at the top are the standard library only: the same file runs the Feast workers in the
Feast venv (``--worker``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import harness

FEAST_PYTHON = "/tmp/feast-venv/bin/python"
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
DAYS = 30
KEY_WIDTH = 9
TARGET_VS_FEAST = 5.0  # materializer at least 5x faster than Feast
TARGET_VS_DUCKDB = 3.0  # materializer within 3x of DuckDB

PROJECT_YML = """\
name: bench_training_set
engine: postgres

sources:
  transactions:
    columns:
      tx_id: text
      cc_num: text
      merchant: text
      amount: numeric
      status: text
      ts: timestamptz
    timestamp: ts

feature_views:
  card_activity:
    source: transactions
    entity: [cc_num]
    windows: [1h, 1d, 7d]
    features:
      tx_count:   {agg: count}
      amount_sum: {agg: sum, column: amount}
      amount_avg: {agg: avg, column: amount}
      amount_max: {agg: max, column: amount}
  card_last_tx:
    source: transactions
    entity: [cc_num]
    max_age: 7d
    features:
      last_amount:   {agg: latest, column: amount}
      last_merchant: {agg: latest, column: merchant}
"""

FEATURES = [
    "card_activity:tx_count_1h",
    "card_activity:amount_sum_1h",
    "card_activity:amount_avg_1d",
    "card_activity:amount_max_1d",
    "card_activity:tx_count_7d",
    "card_last_tx:last_amount",
    "card_last_tx:last_merchant",
]
LATEST_FEATURES = [f for f in FEATURES if f.startswith("card_last_tx:")]
OUT_COLUMNS = [f.replace(":", "__") for f in FEATURES]
TEXT_FEATURES = {"card_last_tx__last_merchant"}

# Events are appended in time order, as a stream writes them (so each heap page holds events of
# many random keys: no layout that favours per-key reads).
LOAD_SQL = f"""
insert into transactions (tx_id, cc_num, merchant, amount, status, ts)
select tx_id, cc_num, merchant, amount, status, ts
from (
    select 'tx' || g as tx_id,
           'c' || lpad(mod(g, %(entities)s)::text, {KEY_WIDTH}, '0') as cc_num,
           'm' || (random() * 2000)::int as merchant,
           round((random() * 500)::numeric, 2) as amount,
           case when random() < 0.05 then 'failed' else 'ok' end as status,
           timestamptz '{T0.isoformat()}' + random() * interval '{DAYS} days' as ts
    from generate_series(1, %(events)s) as g
) as generated
order by ts
"""

# DuckDB's reference: the same rules as the online views (window W at t: t - W <= ts <= t, events
# at exactly t included; count of nothing 0, sum/avg/max of nothing null; latest: the event with
# the greatest ts <= t, null when older than 7 days).
DUCKDB_SQL = """
with spine as (
    select spine_id, cc_num, event_timestamp, label from read_parquet('{spine}')
),
bounds as (
    select min(event_timestamp) - interval 7 day as since, max(event_timestamp) as until from spine
),
events as (
    select cc_num, ts, amount, merchant from read_parquet('{events}')
),
stacked as (
    select e.cc_num, e.ts as _ts, e.amount, cast(null as bigint) as _row
    from events as e, bounds as b
    where e.ts between b.since and b.until and e.cc_num in (select cc_num from spine)
    union all
    select cc_num, event_timestamp, null, spine_id from spine
),
framed as (
    select _row,
        count(*) filter (where _row is null) over w1h as tx_count_1h,
        sum(amount) filter (where _row is null) over w1h as amount_sum_1h,
        avg(amount) filter (where _row is null) over w1d as amount_avg_1d,
        max(amount) filter (where _row is null) over w1d as amount_max_1d,
        count(*) filter (where _row is null) over w7d as tx_count_7d
    from stacked
    window
        w1h as (partition by cc_num order by _ts range between interval 1 hour preceding and current row),
        w1d as (partition by cc_num order by _ts range between interval 1 day preceding and current row),
        w7d as (partition by cc_num order by _ts range between interval 7 day preceding and current row)
    qualify _row is not null
),
latest as (
    select s.spine_id, e.ts as _event_ts, e.amount, e.merchant
    from spine as s asof left join events as e on e.cc_num = s.cc_num and e.ts <= s.event_timestamp
)
select s.spine_id, s.cc_num, s.event_timestamp, s.label,
    f.tx_count_1h as card_activity__tx_count_1h,
    f.amount_sum_1h as card_activity__amount_sum_1h,
    f.amount_avg_1d as card_activity__amount_avg_1d,
    f.amount_max_1d as card_activity__amount_max_1d,
    f.tx_count_7d as card_activity__tx_count_7d,
    case when l._event_ts >= s.event_timestamp - interval 7 day then l.amount end as card_last_tx__last_amount,
    case when l._event_ts >= s.event_timestamp - interval 7 day then l.merchant end as card_last_tx__last_merchant
from spine as s
left join framed as f on f._row = s.spine_id
left join latest as l on l.spine_id = s.spine_id
order by s.spine_id
"""


def key_of(i: int) -> str:
    return f"c{i:0{KEY_WIDTH}d}"


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). Not getrusage's ru_maxrss: Linux carries the parent's peak
    across fork + exec into it, so a small child of a big parent would report the parent's."""
    hwm = proc_status(os.getpid()).get("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def proc_status(pid: int) -> dict[str, float]:
    """VmHWM / VmRSS of a process in MB (None when unreadable)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM:", "VmRSS:", "RssAnon:", "RssShmem:")):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


# --------------------------------------------------------------------------- workers (child processes)


def worker_materializer(job: dict[str, Any]) -> dict[str, Any]:
    from materializer.features import training
    from materializer.project import Project

    project = Project.load(job["dir"], dsn=job["dsn"])
    conn = project.db.conn
    backend = conn.execute("select pg_backend_pid()").fetchone()[0]
    phases: dict[str, float] = {}

    def timed(name: str, fn: Any, view_arg: int | None = None) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                key = name if view_arg is None else f"{name}:{args[view_arg].name}"
                phases[key] = phases.get(key, 0.0) + time.perf_counter() - t
        return wrapper

    methods: dict[str, list[str]] = {}
    choose = training._windowed_method

    def recorded(conn: Any, view: Any, *args: Any) -> str:
        method = choose(conn, view, *args)
        methods.setdefault(view.name, []).append(method)
        return method

    # wall time: spine load and checks, the views (in parallel for large spines: then "busy:<view>"
    # adds up each view's parts, which overlap), and the rest (the final query streamed as CSV)
    training._windowed_method = recorded
    training.load_spine = timed("load_spine", training.load_spine)
    training._check_spine = timed("check_spine", training._check_spine)
    training._evaluate_shared = timed("views", training._evaluate_shared)
    training._evaluate_view = timed("views", training._evaluate_view)
    training._evaluate_points = timed("busy", training._evaluate_points, view_arg=2)
    t0 = time.perf_counter()
    rows = training.write_csv(project, Path(job["spine"]), job.get("features") or FEATURES, out=Path(job["out"]))
    wall = time.perf_counter() - t0
    phases["stream_csv"] = wall - sum(v for k, v in phases.items() if ":" not in k)
    pg = proc_status(backend)
    project.close()
    return {"rows": rows, "wall_s": wall, "phases_s": phases, "windowed_method": methods, "peak_rss_mb": peak_rss_mb(),
            "pg_backend_pid": backend, "pg_backend_mb": pg}


def worker_duckdb(job: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect()
    con.execute(f"set threads = {int(job.get('threads') or os.cpu_count() or 1)}")
    con.execute("set timezone = 'UTC'")
    sql = DUCKDB_SQL.format(spine=job["spine"], events=job["events"])
    t0 = time.perf_counter()
    con.execute(f"copy ({sql}) to '{job['out']}' (header, delimiter ',')")
    wall = time.perf_counter() - t0
    rows = con.execute(f"select count(*) from read_csv('{job['out']}', all_varchar = true)").fetchone()[0]
    return {"rows": rows, "wall_s": wall, "peak_rss_mb": peak_rss_mb(), "duckdb": duckdb.__version__}


FEAST_REPO_PY = '''
from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, String

card = Entity(name="card", join_keys=["cc_num"], value_type=ValueType.STRING)
{source}
card_last_tx = FeatureView(
    name="card_last_tx",
    entities=[card],
    ttl=timedelta(days=7),
    schema=[Field(name="amount", dtype=Float64), Field(name="merchant", dtype=String)],
    source=transactions,
    online=False,
)
'''


def worker_feast(job: dict[str, Any]) -> dict[str, Any]:
    import feast
    import pandas as pd
    from feast import FeatureStore

    repo = Path(job["repo"])
    repo.mkdir(parents=True, exist_ok=True)
    if job["store"] == "postgres":
        # the same transactions table in the bench's embedded PostgreSQL, over its unix socket;
        # amount as double, like the Parquet file the other stores read
        pg = job["pg"]
        offline = ("{type: postgres, host: %s, port: %d, database: %s, db_schema: public, user: %s, "
                   "password: '', sslmode: disable}" % (pg["host"], pg["port"], pg["database"], pg["user"]))
        source = ("from feast.infra.offline_stores.contrib.postgres_offline_store.postgres_source import "
                  "PostgreSQLSource\n"
                  "transactions = PostgreSQLSource(name='transactions', timestamp_field='ts', query="
                  "'select cc_num, ts, cast(amount as double precision) as amount, merchant from transactions')")
    else:
        offline = f"{{type: {job['store']}}}"
        source = f"transactions = FileSource(name='transactions', path={job['events']!r}, timestamp_field='ts')"
    (repo / "feature_store.yaml").write_text(
        "project: bench_training_set\n"
        "provider: local\n"
        f"registry: {repo / 'registry.db'}\n"
        f"online_store: {{type: sqlite, path: {repo / 'online.db'}}}\n"
        f"offline_store: {offline}\n"
        "entity_key_serialization_version: 3\n", encoding="utf-8")
    (repo / "definitions.py").write_text(FEAST_REPO_PY.format(source=source), encoding="utf-8")
    sys.path.insert(0, str(repo))
    import definitions

    store = FeatureStore(repo_path=str(repo))
    store.apply([definitions.card, definitions.card_last_tx])
    refs = ["card_last_tx:amount", "card_last_tx:merchant"]
    t0 = time.perf_counter()
    entity_df = pd.read_parquet(job["spine"])
    # Feast's PostgreSQL store creates the entity table with "tinyint" for an int8 column, a type
    # PostgreSQL lacks: the label goes in as int32 (every store gets the same frame)
    entity_df["label"] = entity_df["label"].astype("int32")
    frame = store.get_historical_features(entity_df=entity_df, features=refs, full_feature_names=True).to_df()
    wall = time.perf_counter() - t0
    rss = peak_rss_mb()
    frame[["spine_id", "card_last_tx__amount", "card_last_tx__merchant"]].to_parquet(job["out"], index=False)
    return {"rows": len(frame), "wall_s": wall, "peak_rss_mb": rss, "feast": feast.__version__,
            "pandas": pd.__version__, "entity_ts_dtype": str(entity_df["event_timestamp"].dtype)}


WORKERS = {"materializer": worker_materializer, "duckdb": worker_duckdb, "feast": worker_feast}


def worker_main(kind: str, job_json: str) -> int:
    job = json.loads(job_json)
    result = WORKERS[kind](job)
    print("RESULT " + json.dumps(result, default=str), flush=True)
    return 0


# --------------------------------------------------------------------------- running workers


def run_worker(python: str, kind: str, job: dict[str, Any], timeout: float, mem_limit_mb: float) -> dict[str, Any]:
    """Run one worker process; watch its process tree's RSS; kill it beyond the limits."""
    import psutil

    cmd = [python, str(Path(__file__).resolve()), "--worker", kind, "--job", json.dumps(job)]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0.0
    killed = None
    while proc.poll() is None:
        try:
            rss = sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]) / 2**20
            peak = max(peak, rss)
        except psutil.Error:
            pass
        elapsed = time.perf_counter() - t0
        if peak > mem_limit_mb or elapsed > timeout:
            killed = f"memory {peak:.0f} MB > {mem_limit_mb:.0f} MB" if peak > mem_limit_mb else f"timeout {timeout:.0f}s"
            for p in [*ps.children(recursive=True), ps]:
                try:
                    p.kill()
                except psutil.Error:
                    pass
            break
        time.sleep(0.1)
    out, err = proc.communicate()
    process_s = time.perf_counter() - t0
    result: dict[str, Any] = {"process_s": process_s, "sampled_peak_rss_mb": peak, "returncode": proc.returncode,
                              "loadavg_before": load_before}
    line = next((x for x in reversed(out.splitlines()) if x.startswith("RESULT ")), None)
    if killed or line is None:
        result["error"] = killed or f"exit {proc.returncode}: {err.strip()[-1500:]}"
        print(f"  {kind}: FAILED ({result['error'][:300]})", file=sys.stderr)
        return result
    result.update(json.loads(line[len("RESULT "):]))
    return result


# --------------------------------------------------------------------------- setup


def machine_info(conn: Any) -> dict[str, object]:
    machine = harness.machine_info(conn, settings=("shared_buffers", "work_mem", "maintenance_work_mem",
                                                   "max_parallel_workers_per_gather", "lc_collate"))
    machine["settings"]["datcollate"] = conn.execute(  # type: ignore[index]
        "select datcollate from pg_database where datname = current_database()").fetchone()[0]
    return machine


def load_events(project: Any, conn: Any, events: int, entities: int) -> dict[str, object]:
    from materializer.sql.compile import compile_project

    index = next(o for o in compile_project(project.spec) if o.kind == "index")
    t0 = time.perf_counter()
    conn.execute("truncate transactions")
    conn.execute(f"drop index if exists {index.name}")
    conn.execute("select setseed(0.42)")
    conn.execute(LOAD_SQL % {"events": int(events), "entities": int(entities)})
    insert_s = time.perf_counter() - t0
    conn.execute(index.sql)
    index_s = time.perf_counter() - t0 - insert_s
    conn.execute("vacuum (analyze) transactions")
    total = time.perf_counter() - t0
    rows, ents, size = conn.execute(
        "select count(*), count(distinct cc_num), pg_total_relation_size('transactions') from transactions").fetchone()
    return {"load_s": round(total, 1), "insert_s": round(insert_s, 1), "index_s": round(index_s, 1),
            "rows": rows, "entities": ents, "events_per_entity": rows / max(ents, 1),
            "table_and_indexes_mb": round(size / 2**20, 1)}


def export_events(conn: Any, root: Path) -> tuple[Path, dict[str, float]]:
    """transactions -> CSV (COPY) -> Parquet (DuckDB), amount as double."""
    import duckdb

    csv_path, parquet = root / "events.csv", root / "events.parquet"
    t0 = time.perf_counter()
    with conn.cursor() as cur, csv_path.open("wb") as fh, cur.copy(
            "copy (select tx_id, cc_num, merchant, amount, status, ts from transactions) to stdout "
            "(format csv, header true)") as copy:
        for chunk in copy:
            fh.write(chunk)
    copy_s = time.perf_counter() - t0
    con = duckdb.connect()
    con.execute("set timezone = 'UTC'")
    con.execute(f"""copy (select * from read_csv('{csv_path}', header = true, columns = {{
        'tx_id': 'varchar', 'cc_num': 'varchar', 'merchant': 'varchar', 'amount': 'double',
        'status': 'varchar', 'ts': 'timestamptz'}})) to '{parquet}' (format parquet)""")
    con.close()
    csv_path.unlink()
    return parquet, {"copy_out_s": round(copy_s, 1), "to_parquet_s": round(time.perf_counter() - t0 - copy_s, 1),
                     "parquet_mb": round(parquet.stat().st_size / 2**20, 1)}


def write_spine(root: Path, rows: int, entities: int, seed: int) -> tuple[Path, Path]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    span_us = DAYS * 86400 * 10**6
    base_us = int(T0.timestamp()) * 10**6
    table = pa.table({
        "spine_id": pa.array(np.arange(rows, dtype=np.int64)),
        "cc_num": pa.array([key_of(int(i)) for i in rng.integers(0, entities, rows)], pa.string()),
        "event_timestamp": pa.array(base_us + rng.integers(0, span_us, rows), pa.timestamp("us", tz="UTC")),
        "label": pa.array((rng.random(rows) < 0.1).astype(np.int8)),
    })
    csv_path, parquet = root / f"spine_{rows}.csv", root / f"spine_{rows}.parquet"
    pq.write_table(table, parquet)
    pacsv.write_csv(table, csv_path, pacsv.WriteOptions(quoting_style="none"))
    return csv_path, parquet


# --------------------------------------------------------------------------- checks


def compare_outputs(reference_csv: Path, other: Path, columns: list[str]) -> dict[str, Any]:
    """Row-by-row comparison of two outputs by spine_id: numbers within 1e-9 relative, text equal."""
    import duckdb

    con = duckdb.connect()

    def rel(path: Path, name: str) -> str:
        if path.suffix == ".parquet":
            return f"(select * from read_parquet('{path}')) as {name}"
        return f"(select * from read_csv('{path}', all_varchar = true)) as {name}"

    conds = []
    for c in columns:
        if c in TEXT_FEATURES:
            a, b = f"nullif(cast(m0.{c} as varchar), '')", f"nullif(cast(o0.{c} as varchar), '')"
            conds.append(f"count(*) filter (where {a} is distinct from {b}) as {c}")
        else:
            a = f"try_cast(nullif(cast(m0.{c} as varchar), '') as double)"
            b = f"try_cast(nullif(cast(o0.{c} as varchar), '') as double)"
            conds.append(f"count(*) filter (where ({a} is null) <> ({b} is null) or abs({a} - {b}) > "
                         f"1e-9 * greatest(1, abs({a}))) as {c}")
    other_rel = rel(other, "o0")
    if other.suffix == ".parquet":  # Feast's names: card_last_tx__amount, card_last_tx__merchant
        feast_names = {"card_last_tx__last_amount": "card_last_tx__amount",
                       "card_last_tx__last_merchant": "card_last_tx__merchant"}
        renames = ", ".join(f"{feast_names[c]} as {c}" for c in columns)
        other_rel = f"(select spine_id, {renames} from read_parquet('{other}')) as o0"
    sql = (f"select count(*) as joined, {', '.join(conds)} from {rel(reference_csv, 'm0')} "
           f"join {other_rel} on cast(m0.spine_id as bigint) = cast(o0.spine_id as bigint)")
    row = con.execute(sql).fetchone()
    names = ["joined", *columns]
    result = dict(zip(names, row))
    result["mismatches"] = sum(v for k, v in result.items() if k != "joined")
    # spine rows absent from the other output, and how many of them have no value within the
    # lookback in the reference (Feast's dask store drops such rows, see the report)
    first = columns[-1]
    missing = con.execute(
        f"select count(*), count(*) filter (where nullif(cast(m0.{first} as varchar), '') is null) "
        f"from {rel(reference_csv, 'm0')} anti join {other_rel} "
        f"on cast(m0.spine_id as bigint) = cast(o0.spine_id as bigint)").fetchone()
    result["missing_rows"], result["missing_rows_null_in_reference"] = missing
    result["null_rows_in_reference"] = con.execute(
        f"select count(*) from {rel(reference_csv, 'm0')} "
        f"where nullif(cast(m0.{first} as varchar), '') is null").fetchone()[0]
    return result


def online_spot_check(project: Any, out_csv: Path, n: int, seed: int) -> dict[str, Any]:
    """~n random rows of materializer's output against online lookups at the row's own time."""
    import duckdb

    con = duckdb.connect()
    total = con.execute(f"select count(*) from read_csv('{out_csv}', all_varchar = true)").fetchone()[0]
    rows = con.execute(f"select * from read_csv('{out_csv}', all_varchar = true) "
                       f"using sample reservoir({n} rows) repeatable ({seed})").fetchall()
    names = [d[0] for d in con.description]
    checked, mismatches = 0, []
    for values in rows:
        row = dict(zip(names, values))
        at = datetime.fromisoformat(row["event_timestamp"].replace("Z", "+00:00"))
        online: dict[str, Any] = {}
        for view in ("card_activity", "card_last_tx"):
            res = project.online_features(view, {"cc_num": row["cc_num"]}, as_of=at)
            online.update({f"{view}__{k}": v for k, v in res.features.items()})
        for col in OUT_COLUMNS:
            off = row[col] if row[col] not in (None, "") else None
            on = online[col]
            if col in TEXT_FEATURES:
                ok = off == on
            elif off is None or on is None:
                ok = off is None and on is None
            else:
                ok = abs(float(off) - float(on)) <= 1e-9 * max(1.0, abs(float(on)))
            checked += 1
            if not ok:
                mismatches.append({"spine_id": row["spine_id"], "feature": col, "offline": off, "online": on})
    return {"rows": len(rows), "values": checked, "mismatches": mismatches, "output_rows": total}


def diagnostics(project: Any, spine_csv: Path) -> dict[str, Any]:
    """At one spine size: the windowed form materializer picks (and its estimate), explain (analyze,
    buffers) of that query, and timings of both windowed forms and of the latest view, set up as
    training.build does (points sorted by entity and time, only the requested features)."""
    from materializer.features import training

    conn = project.db.conn
    views = {name: project.spec.feature_views[name] for name in ("card_activity", "card_last_tx")}
    header = training.load_spine(project, spine_csv)
    position = training._check_spine(project, header, list(views.values()), training.TIMESTAMP_COLUMN)
    wanted = training.resolve_features(project, FEATURES)
    points = {}
    for view in views.values():
        points[view.name] = name = f"_materializer_points_{view.name}"
        conn.execute(f"drop table if exists {name}")
        conn.execute(f"create temporary table {name} as select _row, cast(c{position['event_timestamp']} as "
                     f"timestamptz) as _ts, cast(c{position['cc_num']} as text) as cc_num from {training.SPINE} "
                     "order by cc_num, _ts")
        conn.execute(f"analyze {name}")
    activity = views["card_activity"]
    t0 = time.perf_counter()
    chosen = training._windowed_method(conn, activity, points["card_activity"], wanted["card_activity"])
    estimate_s = time.perf_counter() - t0
    sqls = {method: training._view_sql(activity, points["card_activity"], "postgres", wanted["card_activity"],
                                       method) for method in ("frames", "probes")}
    sqls["latest"] = training._view_sql(views["card_last_tx"], points["card_last_tx"], "postgres",
                                        wanted["card_last_tx"])
    t0 = time.perf_counter()
    plan = "\n".join(r[0] for r in conn.execute(f"explain (analyze, buffers, settings) {sqls[chosen]}"))
    explain_s = time.perf_counter() - t0
    timings = {}
    for name, sql in sqls.items():
        t = time.perf_counter()
        conn.execute(f"create temporary table _what_if as {sql}")
        timings[name] = time.perf_counter() - t
        conn.execute("drop table _what_if")
        print(f"    {name}: {timings[name]:.1f}s", file=sys.stderr)
    return {"chosen_windowed_method": chosen, "estimate_seconds": estimate_s, "explain_seconds": explain_s,
            "plan": plan, "seconds": timings}


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=10_000_000, help="transactions to load (default 10,000,000)")
    ap.add_argument("--entities", type=int, default=100_000, help="distinct cc_num values (default 100,000)")
    ap.add_argument("--spines", default="100000,1000000,5000000", help="spine sizes (default 100000,1000000,5000000)")
    ap.add_argument("--feast-spines", default="100000,1000000",
                    help="spine sizes Feast runs at (default 100000,1000000; it is skipped above them)")
    ap.add_argument("--feast-stores", default="postgres,dask,duckdb",
                    help="Feast offline stores to run (default postgres,dask,duckdb)")
    ap.add_argument("--feast-python", default=FEAST_PYTHON, help=f"python of the Feast venv (default {FEAST_PYTHON})")
    ap.add_argument("--skip-feast", action="store_true")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--no-explain", action="store_true", help="skip explain (analyze) and the what-if timings")
    ap.add_argument("--spot-checks", type=int, default=20, help="rows per spine size checked against online lookups")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="seconds before a materializer or DuckDB worker is killed (default 1800)")
    ap.add_argument("--feast-timeout", type=float, default=600,
                    help="seconds before a Feast worker is killed (default 600)")
    ap.add_argument("--mem-limit-gb", type=float, default=12, help="RSS before a worker is killed (default 12)")
    ap.add_argument("--reuse-data", action="store_true",
                    help="keep the events already loaded in --dir when their count matches --events")
    ap.add_argument("--seed", type=int, default=1)
    harness.add_common_args(ap, "training_set")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker_main(args.worker, args.job)
    if args.entities < 1 or args.events < args.entities:
        ap.error("need --events >= --entities >= 1")

    def remove_outputs(root: Path) -> None:
        for p in root.glob("out_*"):
            p.unlink()

    with harness.embedded_project(PROJECT_YML, args.dir, args.keep, cleanup=remove_outputs) as (root, uri):
        return run(args, root, uri)


def pg_params(uri: str) -> dict[str, Any]:
    """host (the unix socket's folder), port, database and user of the bench's embedded server."""
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(uri)
    return {"host": params.get("host") or "localhost", "port": int(params.get("port") or 5432),
            "database": params.get("dbname") or "postgres", "user": params.get("user") or "postgres"}


def feast_available(python: str) -> str | None:
    """None when the Feast venv imports feast, else why not."""
    if not Path(python).exists():
        return (f"{python} does not exist; create it with: python3 -m venv /tmp/feast-venv && "
                "/tmp/feast-venv/bin/pip install 'feast[postgres,duckdb]' psutil")
    probe = subprocess.run([python, "-c", "import feast; print(feast.__version__)"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"import feast failed: {probe.stderr.strip()[-300:]}"


def run(args: argparse.Namespace, root: Path, uri: str) -> int:
    import psycopg

    from materializer.project import Project

    project = Project.load(root, dsn=uri)
    project.apply()
    conn = psycopg.connect(uri, autocommit=True)
    conn.execute("set timezone to 'UTC'")
    machine = machine_info(conn)
    sizes = [int(s) for s in args.spines.split(",") if s.strip()]
    feast_sizes = {int(s) for s in args.feast_spines.split(",") if s.strip()}
    mem_limit = args.mem_limit_gb * 1024

    existing = conn.execute("select count(*) from transactions").fetchone()[0]
    events_parquet = root / "events.parquet"
    need_parquet = not (args.skip_duckdb and args.skip_feast)
    if args.reuse_data and existing == args.events and (events_parquet.exists() or not need_parquet):
        print(f"reusing {existing:,} loaded events", file=sys.stderr)
        data: dict[str, Any] = {"reused": True, "rows": existing}
        export: dict[str, Any] = {"reused": True}
    else:
        print(f"loading {args.events:,} events for {args.entities:,} entities ...", file=sys.stderr)
        data = load_events(project, conn, args.events, args.entities)
        print(f"loaded in {data['load_s']}s (insert {data['insert_s']}s, index {data['index_s']}s): "
              f"{data['table_and_indexes_mb']} MB", file=sys.stderr)
        export = {}
        if need_parquet:
            events_parquet, export = export_events(conn, root)
            print(f"exported to Parquet: {export}", file=sys.stderr)

    feast_reason = None if args.skip_feast else feast_available(args.feast_python)
    if feast_reason:
        print(f"Feast skipped: {feast_reason}", file=sys.stderr)
    stores = [] if args.skip_feast or feast_reason else [s for s in args.feast_stores.split(",") if s]

    results: list[dict[str, Any]] = []
    checks: dict[str, Any] = {}
    explain: dict[str, Any] = {}
    explain_size = max([s for s in sizes if s <= 1_000_000] or [min(sizes)])
    for i, n in enumerate(sizes):
        spine_csv, spine_parquet = write_spine(root, n, args.entities, args.seed + i)
        print(f"spine {n:,}: {spine_csv.stat().st_size / 2**20:.1f} MB CSV", file=sys.stderr)
        row: dict[str, Any] = {"spine_rows": n}
        temp_before = conn.execute("select temp_bytes, temp_files from pg_stat_database "
                                   "where datname = current_database()").fetchone()
        out_m = root / f"out_materializer_{n}.csv"
        print(f"  materializer {n:,} ...", file=sys.stderr)
        row["materializer"] = r = run_worker(sys.executable, "materializer",
                                             {"dir": str(root), "dsn": uri, "spine": str(spine_csv), "out": str(out_m)},
                                             args.timeout, mem_limit)
        time.sleep(1.0)  # the backend's statistics reach pg_stat_database when it exits
        temp_after = conn.execute("select temp_bytes, temp_files from pg_stat_database "
                                  "where datname = current_database()").fetchone()
        r["pg_temp_mb"] = round((temp_after[0] - temp_before[0]) / 2**20, 1)
        r["pg_temp_files"] = temp_after[1] - temp_before[1]
        r["output_mb"] = round(out_m.stat().st_size / 2**20, 1) if out_m.exists() else None
        print(f"  materializer {n:,}: {r.get('wall_s', float('nan')):.1f}s, peak RSS "
              f"{r.get('peak_rss_mb', float('nan')):.0f} MB, phases {r.get('phases_s')}", file=sys.stderr)
        size_checks: dict[str, Any] = {}
        if "error" not in r:
            size_checks["materializer_rows_ok"] = r["rows"] == n
            size_checks["online"] = online_spot_check(project, out_m, args.spot_checks, args.seed + i)
            print(f"  online spot check: {len(size_checks['online']['mismatches'])} mismatches in "
                  f"{size_checks['online']['values']} values", file=sys.stderr)
        if not args.skip_duckdb:
            out_d = root / f"out_duckdb_{n}.csv"
            print(f"  duckdb {n:,} ...", file=sys.stderr)
            row["duckdb"] = d = run_worker(sys.executable, "duckdb", {"spine": str(spine_parquet),
                                           "events": str(events_parquet), "out": str(out_d)}, args.timeout, mem_limit)
            print(f"  duckdb {n:,}: {d.get('wall_s', float('nan')):.1f}s, peak RSS "
                  f"{d.get('peak_rss_mb', float('nan')):.0f} MB", file=sys.stderr)
            if "error" not in d and "error" not in r:
                size_checks["duckdb_rows_ok"] = d["rows"] == n
                size_checks["duckdb_vs_materializer"] = compare_outputs(out_m, out_d, OUT_COLUMNS)
                print(f"  duckdb vs materializer: {size_checks['duckdb_vs_materializer']}", file=sys.stderr)
            out_d.unlink(missing_ok=True)
        if stores and n in feast_sizes:
            # like for like with Feast: a training set of the 2 latest values only
            out_l = root / f"out_materializer_latest_{n}.csv"
            print(f"  materializer_latest {n:,} ...", file=sys.stderr)
            row["materializer_latest"] = ml = run_worker(
                sys.executable, "materializer", {"dir": str(root), "dsn": uri, "spine": str(spine_csv),
                                                 "out": str(out_l), "features": LATEST_FEATURES}, args.timeout, mem_limit)
            print(f"  materializer_latest {n:,}: {ml.get('wall_s', float('nan')):.1f}s, peak RSS "
                  f"{ml.get('peak_rss_mb', float('nan')):.0f} MB, phases {ml.get('phases_s')}", file=sys.stderr)
            if "error" not in ml:
                size_checks["materializer_latest_rows_ok"] = ml["rows"] == n
            out_l.unlink(missing_ok=True)
        for store in stores:
            name = f"feast_{store}"
            if n not in feast_sizes:
                row[name] = {"skipped": f"spine of {n:,} rows is above --feast-spines"}
                continue
            out_f = root / f"out_{name}_{n}.parquet"
            print(f"  {name} {n:,} ...", file=sys.stderr)
            row[name] = f = run_worker(args.feast_python, "feast", {
                "repo": str(root / f"feast_{store}"), "store": store, "events": str(events_parquet),
                "spine": str(spine_parquet), "out": str(out_f), "pg": pg_params(uri)},
                args.feast_timeout, mem_limit)
            print(f"  {name} {n:,}: {f.get('wall_s', float('nan')):.1f}s, peak RSS "
                  f"{f.get('peak_rss_mb', float('nan')):.0f} MB", file=sys.stderr)
            if "error" not in f and "error" not in r:
                size_checks[f"{name}_rows_ok"] = f["rows"] == n
                size_checks[f"{name}_vs_materializer"] = compare_outputs(
                    out_m, out_f, ["card_last_tx__last_amount", "card_last_tx__last_merchant"])
                print(f"  {name} vs materializer: {size_checks[f'{name}_vs_materializer']}", file=sys.stderr)
            out_f.unlink(missing_ok=True)
        checks[str(n)] = size_checks
        if n == explain_size and not args.no_explain:
            print(f"  explain (analyze) of the windowed view, both windowed forms at {n:,} ...", file=sys.stderr)
            explain = {"spine_rows": n, **diagnostics(project, spine_csv)}
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.with_name("training_set_explain.txt").write_text(explain["plan"] + "\n", encoding="utf-8")
        out_m.unlink(missing_ok=True)
        spine_csv.unlink()
        spine_parquet.unlink()
        results.append(row)
        write_results(args, machine, data, export, feast_reason, results, checks, explain, final=False)
    machine["loadavg_end"] = harness.loadavg()
    summary = write_results(args, machine, data, export, feast_reason, results, checks, explain, final=True)
    print_table(results, summary)
    print(f"results: {args.out}", file=sys.stderr)
    project.close()
    conn.close()
    return 0


def write_results(args: argparse.Namespace, machine: dict[str, Any], data: dict[str, Any], export: dict[str, Any],
                  feast_reason: str | None, results: list[dict[str, Any]], checks: dict[str, Any],
                  explain: dict[str, Any], final: bool) -> dict[str, Any]:
    """Write the JSON results (after every spine size, so a late failure keeps the earlier ones)."""
    summary = summarize(results)
    config = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in ("worker", "job")})
    out = {
        **harness.header("training_set", config, machine),
        "complete": final,
        "data": data,
        "export": export,
        "features": FEATURES,
        "feast": feast_reason or "ran",
        "results": results,
        "checks": checks,
        "summary": summary,
        "explain": explain,
    }
    harness.write_results(args.out, out)
    return summary


FEAST_SYSTEMS = ("feast_postgres", "feast_dask", "feast_duckdb")
SYSTEMS = ["materializer", "duckdb", "materializer_latest", *FEAST_SYSTEMS]


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"ratios": {}, "materializer_peak_rss_mb": {}}
    for row in results:
        n, m = row["spine_rows"], row.get("materializer", {})
        if "wall_s" not in m:
            continue
        summary["materializer_peak_rss_mb"][n] = m["peak_rss_mb"]
        ratios: dict[str, Any] = {}
        for other in ("duckdb", *FEAST_SYSTEMS):
            o = row.get(other, {})
            if "wall_s" in o:
                ratios[f"{other}_over_materializer"] = o["wall_s"] / m["wall_s"]
        ml = row.get("materializer_latest", {})
        for other in FEAST_SYSTEMS:
            o = row.get(other, {})
            if "wall_s" in o and "wall_s" in ml:
                ratios[f"{other}_over_materializer_latest"] = o["wall_s"] / ml["wall_s"]
        summary["ratios"][n] = ratios
    rss = list(summary["materializer_peak_rss_mb"].values())
    if rss:
        summary["materializer_rss_spread"] = max(rss) / min(rss)
    return summary


def print_table(results: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    print()
    print(f"| {'spine rows':>10} | {'system':<19} | {'wall s':>8} | {'peak RSS MB':>11} | {'rows/s':>11} | note")
    print(f"|{'-' * 12}|{'-' * 21}|{'-' * 10}|{'-' * 13}|{'-' * 13}|------")
    for row in results:
        n = row["spine_rows"]
        for system in SYSTEMS:
            r = row.get(system)
            if r is None:
                continue
            if "wall_s" in r:
                print(f"| {n:>10,} | {system:<19} | {r['wall_s']:8.1f} | {r['peak_rss_mb']:11.0f} | "
                      f"{n / r['wall_s']:11,.0f} |")
            else:
                print(f"| {n:>10,} | {system:<19} | {'—':>8} | {'—':>11} | {'—':>11} | "
                      f"{r.get('error') or r.get('skipped')}")
    print()
    for n, ratios in summary["ratios"].items():
        print(f"spine {n:,}: " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios.items()))
    if "materializer_rss_spread" in summary:
        print(f"materializer peak RSS by spine size: {summary['materializer_peak_rss_mb']} "
              f"(max/min {summary['materializer_rss_spread']:.2f})")


if __name__ == "__main__":
    sys.exit(main())

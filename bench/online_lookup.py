#!/usr/bin/env python
"""Online lookup latency: ``project.online_features`` against the raw psycopg query.

A standalone script (not a pytest test)::

    python bench/online_lookup.py                       # 1M events, 100k entities, 20k lookups
    python bench/online_lookup.py --events 100000 --entities 10000 --lookups 2000   # quick
    python bench/online_lookup.py --profile             # also cProfile the API path

What it does:

1. writes a project (``materializer.yml``: one windowed view ``card_activity``,
   windows 10m/1h/1d x count, sum, max, avg, count_distinct = 15 features) into
   ``--dir`` (default: a fresh temporary folder under /tmp), starts the
   project's embedded PostgreSQL (``materializer.db.embedded.start``) and applies it;
2. loads ``--events`` transactions in one ``insert ... select generate_series``:
   event ``g`` belongs to entity ``g mod --entities`` (exactly events/entities
   events each, 10 by default), timestamps uniform over the last 7 days before
   ``now()`` (so ~1.4 events per entity in the 1-day window); then ``analyze``;
3. warms up, then times single lookups of random existing entities through the
   Python API (``project.online_features``) and through one sync psycopg 3
   connection (unix socket, ``prepare=True``) running
   ``select * from card_activity where cc_num = %s``. Both run on the same keys,
   in alternating blocks whose order flips every block (ABBA), so both see the
   same machine conditions;
4. context lines: the API's own SQL through raw psycopg (separates SQL cost from
   Python cost), an entity with no events (NOT_FOUND) through both paths, and a
   raw batch of 100 entities (``= any(%s)``; the API has no batch call);
5. prints a table and writes ``bench/results/online_lookup.json``.

The embedded server is stopped at the end (and the temporary folder removed)
unless ``--keep``.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import harness
import psycopg

from materializer.project import Project

VIEW = "card_activity"
TARGET_RATIO = 1.5

PROJECT_YML = """\
name: bench_online_lookup
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
    windows: [10m, 1h, 1d]
    features:
      tx_count:    {agg: count}
      amount_sum:  {agg: sum, column: amount}
      amount_max:  {agg: max, column: amount}
      amount_avg:  {agg: avg, column: amount}
      merchants:   {agg: count_distinct, column: merchant}
"""

RAW_SQL = f"select * from {VIEW} where cc_num = %s"
RAW_BATCH_SQL = f"select * from {VIEW} where cc_num = any(%s)"

# Entity keys: fixed width so they sort and look like card numbers.
KEY_WIDTH = 9


def key_of(i: int) -> str:
    return f"c{i:0{KEY_WIDTH}d}"


LOAD_SQL = f"""
insert into transactions (tx_id, cc_num, merchant, amount, status, ts)
select 'tx' || g,
       'c' || lpad(mod(g, %(entities)s)::text, {KEY_WIDTH}, '0'),
       'm' || (random() * 2000)::int,
       round((random() * 500)::numeric, 2),
       case when random() < 0.05 then 'failed' else 'ok' end,
       now() - random() * interval '%(days)s days'
from generate_series(1, %(events)s) as g
"""


# --------------------------------------------------------------------------- measurement


def summarize(samples_ns: list[int]) -> dict[str, float]:
    """Latency statistics in milliseconds; req/s is 1 / mean (closed loop, one client)."""
    ms = sorted(s / 1e6 for s in samples_ns)
    cuts = statistics.quantiles(ms, n=1000, method="inclusive")  # 999 cut points
    mean = statistics.fmean(ms)
    return {
        "n": len(ms),
        "p50_ms": cuts[499],
        "p90_ms": cuts[899],
        "p99_ms": cuts[989],
        "p999_ms": cuts[998],
        "max_ms": ms[-1],
        "mean_ms": mean,
        "req_per_s": 1000.0 / mean,
    }


def timed(fn: Callable[[str], object], keys: list[str], out: list[int]) -> None:
    clock = time.perf_counter_ns
    for key in keys:
        t0 = clock()
        fn(key)
        out.append(clock() - t0)


def interleaved(fns: dict[str, Callable[[str], object]], keys: list[str], block: int) -> dict[str, list[int]]:
    """Run every function over the same keys in blocks; the order of the functions rotates each block."""
    samples: dict[str, list[int]] = {name: [] for name in fns}
    names = list(fns)
    for b, start in enumerate(range(0, len(keys), block)):
        chunk = keys[start : start + block]
        order = names if b % 2 == 0 else names[::-1]
        for name in order:
            timed(fns[name], chunk, samples[name])
    return samples


# --------------------------------------------------------------------------- setup


def load_data(conn: psycopg.Connection, events: int, entities: int, days: int) -> dict[str, object]:
    t0 = time.perf_counter()
    conn.execute("truncate transactions")
    conn.execute("select setseed(0.42)")
    conn.execute(LOAD_SQL % {"events": int(events), "entities": int(entities), "days": int(days)})
    conn.execute("analyze transactions")
    load_s = time.perf_counter() - t0
    stats = conn.execute(
        "select count(*), count(distinct cc_num), count(*) filter (where ts >= now() - interval '1 day'),"
        " count(*) filter (where ts >= now() - interval '1 hour'),"
        " count(*) filter (where ts >= now() - interval '10 minutes'),"
        " pg_total_relation_size('transactions') from transactions"
    ).fetchone()
    rows, ents, last_day, last_hour, last_10m, size = stats
    return {
        "load_s": round(load_s, 1),
        "rows": rows,
        "entities": ents,
        "events_per_entity": rows / ents,
        "events_last_1d": last_day,
        "per_entity_last_1d": last_day / ents,
        "events_last_1h": last_hour,
        "events_last_10m": last_10m,
        "table_and_indexes_mb": round(size / 1024 / 1024, 1),
    }


def fmt_row(name: str, s: dict[str, float], base: dict[str, float] | None) -> str:
    ratio = f"{s['p50_ms'] / base['p50_ms']:.2f}x / {s['p99_ms'] / base['p99_ms']:.2f}x" if base else "1.00x"
    return (f"| {name:<44} | {s['p50_ms']:7.3f} | {s['p99_ms']:7.3f} | {s['mean_ms']:7.3f} "
            f"| {s['req_per_s']:8,.0f} | {ratio:<15} |")


def print_table(rows: list[tuple[str, dict[str, float], dict[str, float] | None]]) -> None:
    print(f"| {'lookup':<44} | p50 ms  | p99 ms  | mean ms | req/s    | vs raw p50/p99  |")
    print(f"|{'-' * 46}|---------|---------|---------|----------|-----------------|")
    for name, s, base in rows:
        print(fmt_row(name, s, base))


def profile_api(project: Project, keys: list[str], top: int = 25) -> str:
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for key in keys:
        project.online_features(VIEW, {"cc_num": key})
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime")
    stats.print_stats(top)
    return buf.getvalue()


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="transactions to load (default 1,000,000)")
    ap.add_argument("--entities", type=int, default=100_000, help="distinct cc_num values (default 100,000)")
    ap.add_argument("--lookups", type=int, default=20_000, help="timed lookups per path (default 20,000)")
    ap.add_argument("--warmup", type=int, default=2_000, help="untimed lookups per path first (default 2,000)")
    ap.add_argument("--block", type=int, default=200, help="lookups per interleaved block (default 200)")
    ap.add_argument("--days", type=int, default=7, help="events are spread over the last N days (default 7)")
    ap.add_argument("--profile", action="store_true", help="also cProfile the API path and print its hot spots")
    ap.add_argument("--seed", type=int, default=1, help="random seed of the lookup keys")
    harness.add_common_args(ap, "online_lookup")
    args = ap.parse_args(argv)
    if args.entities < 1 or args.events < args.entities:
        ap.error("need --events >= --entities >= 1")

    with harness.embedded_project(PROJECT_YML, args.dir, args.keep) as (root, uri):
        return run(args, root, uri)


def run(args: argparse.Namespace, root: Path, uri: str) -> int:
    project = Project.load(root, dsn=uri)
    project.apply()

    raw = psycopg.connect(uri, autocommit=True)
    raw.execute("set timezone to 'UTC'")
    machine = harness.machine_info(raw)
    harness.warn_if_tcp(raw)

    print(f"loading {args.events:,} events for {args.entities:,} entities ...", file=sys.stderr)
    data = load_data(raw, args.events, args.entities, args.days)
    print(f"loaded in {data['load_s']}s: {data['events_per_entity']:.1f} events/entity, "
          f"{data['per_entity_last_1d']:.2f} in the last day, {data['table_and_indexes_mb']} MB", file=sys.stderr)

    rng = random.Random(args.seed)
    keys = [key_of(rng.randrange(args.entities)) for _ in range(args.lookups)]
    warm = [key_of(rng.randrange(args.entities)) for _ in range(args.warmup)]
    missing = [f"x{rng.randrange(10**9):0{KEY_WIDTH}d}" for _ in range(max(args.lookups // 4, 100))]
    batches = [[key_of(rng.randrange(args.entities)) for _ in range(100)] for _ in range(max(args.lookups // 100, 50))]

    api_sql = ""  # the API's lookup SQL, read from its cache after the first lookup below

    def api(key: str) -> object:
        return project.online_features(VIEW, {"cc_num": key})

    def raw_one(key: str) -> object:
        return raw.execute(RAW_SQL, [key], prepare=True).fetchall()

    def raw_api_sql(key: str) -> object:
        return raw.execute(api_sql, [key], prepare=True).fetchall()

    def raw_batch(batch: list[str]) -> object:
        return raw.execute(RAW_BATCH_SQL, [batch], prepare=True).fetchall()

    # Correctness: both paths see the same row.
    # Entities without an event in the 1d lookback have no row (about (1 - 1/days)^(events/entities)
    # of them, ~21% by default): they stay in the random mix, as in production.
    hits = sum(1 for k in keys if raw.execute(RAW_SQL, [k]).fetchone() is not None)
    data["lookup_keys_with_row"] = hits / len(keys)
    probe = next(k for k in keys if raw.execute(RAW_SQL, [k]).fetchone() is not None)
    res = api(probe)
    api_sql = project._cache[("lookup", VIEW)]
    cur = raw.execute(RAW_SQL, [probe])
    row = cur.fetchone()
    names = [d.name for d in cur.description]
    raw_row = dict(zip(names, row))
    for name, value in res.features.items():
        rv = raw_row[name]
        rv = float(rv) if rv is not None and not isinstance(rv, int) else rv
        assert value == rv or (value is not None and rv is not None and abs(value - rv) < 1e-9), (name, value, rv)
    assert all(s == "PRESENT" or res.features[n] is None for n, s in res.statuses.items())
    nf = api(missing[0])
    assert all(s in ("NOT_FOUND", "PRESENT") for s in nf.statuses.values()), nf.statuses
    assert set(nf.statuses.values()) >= {"NOT_FOUND"}

    # The plans prepared statements settle on after five executions (generic plans).
    plans = {
        name: [r[0] for r in raw.execute(f"explain (generic_plan, costs off) {sql.replace('%s', '$1')}")]
        for name, sql in (("raw", RAW_SQL), ("api", api_sql))
    }
    if not all(any("Index" in line for line in plan) for plan in plans.values()):
        print(f"warning: a lookup plan has no index scan: {plans}", file=sys.stderr)

    print(f"warm-up: {args.warmup:,} lookups per path ...", file=sys.stderr)
    interleaved({"api": api, "raw": raw_one, "raw_api_sql": raw_api_sql}, warm, args.block)
    interleaved({"api": api, "raw": raw_one}, missing[: min(len(missing), 500)], args.block)
    for b in batches[:10]:
        raw_batch(b)

    load_before = os.getloadavg()
    print(f"timing: {args.lookups:,} lookups per path, blocks of {args.block}, alternating order ...", file=sys.stderr)
    gc.collect()
    t_run = time.perf_counter()
    main_s = interleaved({"api": api, "raw": raw_one, "raw_api_sql": raw_api_sql}, keys, args.block)
    nf_s = interleaved({"api": api, "raw": raw_one}, missing, args.block)
    batch_s: list[int] = []
    timed(raw_batch, batches, batch_s)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - t_run
    machine["loadavg_end"] = os.getloadavg()

    results = {
        "api": summarize(main_s["api"]),
        "raw": summarize(main_s["raw"]),
        "raw_api_sql": summarize(main_s["raw_api_sql"]),
        "not_found_api": summarize(nf_s["api"]),
        "not_found_raw": summarize(nf_s["raw"]),
        "batch100_raw": summarize(batch_s),
    }
    r_api, r_raw = results["api"], results["raw"]
    ratios = {
        "p50": r_api["p50_ms"] / r_raw["p50_ms"],
        "p99": r_api["p99_ms"] / r_raw["p99_ms"],
        "mean": r_api["mean_ms"] / r_raw["mean_ms"],
    }
    verdict = "PASS" if ratios["p50"] <= TARGET_RATIO and ratios["mean"] <= TARGET_RATIO else "FAIL"

    print()
    print(f"{VIEW}: {data['rows']:,} events, {data['entities']:,} entities, "
          f"{data['events_per_entity']:.1f} events/entity ({data['per_entity_last_1d']:.2f} in the 1d window, "
          f"{data['lookup_keys_with_row']:.0%} of looked-up keys have a row); "
          f"{args.lookups:,} random lookups per path, interleaved; {elapsed:.0f}s timed")
    print(f"{machine['nproc']} cores, {machine['mem_gib']} GiB, Python {machine['python']}, "
          f"psycopg {machine['psycopg']} ({machine['psycopg_impl']}), {machine['postgres'].split(' on ')[0]}; "
          f"load avg {load_before[0]:.2f} -> {machine['loadavg_end'][0]:.2f}")
    print()
    print_table([
        ("API project.online_features", r_api, r_raw),
        ("raw psycopg, select * ... where cc_num = %s", r_raw, None),
        ("raw psycopg, the API's own SQL", results["raw_api_sql"], r_raw),
        ("NOT_FOUND: API", results["not_found_api"], results["not_found_raw"]),
        ("NOT_FOUND: raw", results["not_found_raw"], None),
        ("batch of 100: raw = any(%s) (no API call)", results["batch100_raw"], None),
    ])
    print()
    print(f"API/raw: p50 {ratios['p50']:.2f}x, p99 {ratios['p99']:.2f}x, mean {ratios['mean']:.2f}x "
          f"(target <= {TARGET_RATIO}x): {verdict}; raw p99 {r_raw['p99_ms']:.3f} ms")

    profile = None
    if args.profile:
        n = min(args.lookups, 5000)
        profile = profile_api(project, keys[:n])
        print(f"\ncProfile of {n:,} API lookups (sorted by own time):\n{profile}")

    out = {
        **harness.header("online_lookup", args, machine),
        "data": data,
        "raw_sql": RAW_SQL,
        "api_sql": api_sql,
        "generic_plans": plans,
        "results": results,
        "ratio_api_over_raw": ratios,
        "target_ratio": TARGET_RATIO,
        "verdict": verdict,
        "timed_seconds": elapsed,
        "profile": profile,
    }
    harness.write_results(args.out, out)
    print(f"results: {args.out}", file=sys.stderr)
    project.close()
    raw.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

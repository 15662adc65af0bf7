#!/usr/bin/env python
"""Monitor metrics: reading ``<monitor>__metrics`` against pandas + scikit-learn and Evidently.

A standalone script (not a pytest test)::

    python bench/monitor_metrics.py                                  # 100k, 1M, 5M predictions
    python bench/monitor_metrics.py --sizes 100000,1000000 --runs 5   # quicker
    python bench/monitor_metrics.py --evidently-python /path/to/venv/bin/python

What it does, for every size N of ``--sizes``:

1. writes a project (``materializer.yml``: managed sources ``predictions`` and
   ``outcomes`` and one binary monitor ``fraud_model`` as in DESIGN §4:
   version ``model_version``, segment ``channel``, ``implicit_negative``,
   maturity 7d, windows 1d and 7d, bucket 1h, costs fp 5 / fn 120) into
   ``--dir`` (default: a fresh temporary folder under /tmp), starts the
   project's embedded PostgreSQL (``materializer.db.embedded.start``) and applies it;
2. pins the clock at t (this hour + 37m 12.345678s, through ``materializer.as_of``, which
   every path reads) and loads N predictions (distinct ids) with
   ``insert ... select generate_series``: ``predicted_at`` uniform over the 24 hours
   from ``t - 8d`` to ``t - 7d``, so every prediction is mature and in the 1d (and 7d)
   cohort, whose ends fall inside buckets (the rows of the two partial buckets, about
   an hour's worth, are read from the rows); about 15% true positives whose chargeback
   arrives 1-7 days later (before the maturity deadline), scores
   ``sigmoid(-2 + d*y + N(0,1))`` (d = 1.1 for v1, 1.35 for v2: AUC about 0.8),
   60/40 between versions v1/v2, 50/50 between channels web/app; 1% of ids get
   a second prediction row (half later, half at the same time with another score:
   the greater score wins); 2% of positives have an earlier 0 outcome corrected
   to 1, 1% of negatives a 1 corrected to 0 before the deadline, 1% of
   negatives a chargeback after the deadline (ignored) and 0.1% of outcomes
   have unknown ids. Then ``vacuum analyze``. The load runs twice: once with the
   monitor's triggers disabled (a plain load, then one ``rebuild()`` of the maintained
   tables, as ``apply`` does on existing rows) and once with them (the maintained load);
3. times, after an untimed warm-up (the view at every size; the API and the
   pandas paths at the first size), ``--runs`` rounds (the order of the paths
   rotates every round) of:

   - view: ``select * from fraud_model__metrics where window_name = '1d'``
     through one psycopg connection (all slices: overall, by version, by channel);
   - API: ``project.metrics('fraud_model', window='1d')`` and the same ``by='version'``
     and ``by='channel'`` (three calls, the same 5 groups);
   - pandas: the rows selected into DataFrames (``cursor.fetchall()`` into
     ``pandas.DataFrame``, predictions and outcomes), the DESIGN §5 semantics in
     pandas (dedup earliest per id, tie -> greater score; label = latest outcome
     <= predicted_at + maturity, else 0; cohort by maturity time) and the metrics
     with scikit-learn (+ numpy for ece and cost) overall, by version and by channel;
     fetch, preparation and metrics timed separately;
   - context: the same fetch through ``COPY ... TO STDOUT (FORMAT csv)`` and
     ``pandas.read_csv`` (the fastest way a careful user would get the rows);

4. checks that the view, the API and pandas agree (counts equal; ratios,
   log_loss, brier, ece, cost within 1e-9; roc_auc within 0.01: the view's AUC
   is binned over 100 score bins);
   Above ``--full-max`` (default 1,000,000) the API path and the COPY fetch run in
   the first round only, so that 5M stays within a few minutes;
5. runs Evidently's ``ClassificationPreset`` on the same cohort in a subprocess
   (``--evidently-python``: Evidently 0.7 needs pandas < 3, so it may live in
   another virtualenv): ``--runs`` times overall and once on every slice up to
   ``--full-max``, once overall above it;
6. at ``--explain-size`` (default 1,000,000) runs ``explain (analyze, buffers)``
   of the view query once;
7. measures the price of maintenance on writes: ``--writes`` single-row INSERT statements of
   new predictions, and of outcomes for existing ids, into the maintained tables and into
   plain copies of them (median and p99 latency);
8. prints a table and writes ``bench/results/monitor_metrics.json`` (after every size).

The embedded server is stopped at the end (and the temporary folder removed)
unless ``--keep``.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import harness
import numpy as np

MONITOR = "fraud_model"
WINDOW = "1d"
WINDOW_DELTA = timedelta(days=1)
MATURITY = timedelta(days=7)
THRESHOLD = 0.5
COST_FP, COST_FN = 5, 120
TARGET_RATIO = 10.0
SLICES = (("version", "model_version"), ("channel", "channel"))

PROJECT_YML = """\
name: bench_monitor_metrics
engine: postgres

sources:
  predictions:
    columns: {tx_id: text, predicted_at: timestamptz, score: double precision,
              model_version: text, channel: text}
    timestamp: predicted_at
  outcomes:
    columns: {tx_id: text, reported_at: timestamptz, is_fraud: integer}
    timestamp: reported_at

monitors:
  fraud_model:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at,
                  score: score, version: model_version, segments: [channel]}
    outcomes:    {source: outcomes, id: tx_id, timestamp: reported_at, label: is_fraud}
    threshold: 0.5
    maturity: 7d
    label_policy: implicit_negative
    windows: [1d, 7d]
    bucket: 1h
    costs: {fp: 5, fn: 120}
"""

VIEW_SQL = f"select * from {MONITOR}__metrics where window_name = '{WINDOW}'"

# Ids are fixed width, so insertion order is key order (cheap btree appends).
LOAD_SQL = [
    "truncate predictions, outcomes",
    "select setseed({seed})",
    "drop table if exists pg_temp.base",
    """
create temp table base as
select g,
       'tx' || lpad(g::text, 10, '0') as tx_id,
       timestamptz '{t}' - interval '7 days' - random() * interval '24 hours' as predicted_at,
       (random() < 0.15)::int as y,
       case when random() < 0.6 then 'v1' else 'v2' end as model_version,
       case when random() < 0.5 then 'web' else 'app' end as channel,
       random_normal() as z
from generate_series(1, {n}) as g
""",
    """
insert into predictions (tx_id, predicted_at, score, model_version, channel)
select tx_id, predicted_at,
       1 / (1 + exp(-(-2.0 + case model_version when 'v1' then 1.1 else 1.35 end * y + z))),
       model_version, channel
from base order by g
""",
    # 1% duplicated ids: half a later copy (ignored), half a copy at the same time (greater score wins)
    """
insert into predictions (tx_id, predicted_at, score, model_version, channel)
select tx_id,
       case when mod(g, 200) = 7 then predicted_at else predicted_at + random() * interval '2 hours' end,
       random(),
       case when random() < 0.5 then 'v1' else 'v2' end,
       case when random() < 0.5 then 'web' else 'app' end
from base where mod(g, 100) = 7 order by g
""",
    """
insert into outcomes (tx_id, reported_at, is_fraud)
select tx_id, ts, lbl from (
    -- positives: a chargeback 1-7 days after the prediction, before the 7-day deadline
    select tx_id, predicted_at + interval '1 day' + random() * interval '5 days 23 hours' as ts, 1 as lbl
    from base where y = 1
    union all  -- 2% of positives: an earlier 0, corrected by the later 1
    select tx_id, predicted_at + random() * interval '1 day', 0 from base where y = 1 and mod(g, 50) = 1
    union all  -- 1% of negatives: a 1 corrected to 0 before the deadline (labelled, label 0)
    select tx_id, predicted_at + random() * interval '1 day', 1 from base where y = 0 and mod(g, 100) = 11
    union all
    select tx_id, predicted_at + interval '2 days' + random() * interval '4 days', 0
    from base where y = 0 and mod(g, 100) = 11
    union all  -- 1% of negatives: a chargeback after the deadline (ignored: the label stays 0)
    select tx_id, predicted_at + interval '7 days' + random() * interval '50 minutes', 1
    from base where y = 0 and mod(g, 100) = 3
    union all  -- 0.1%: outcomes of ids that were never predicted
    select 'zz' || lpad(g::text, 10, '0'), predicted_at + interval '1 day', 1 from base where mod(g, 1000) = 5
) as o order by tx_id, ts
""",
    "drop table pg_temp.base",
]

PRED_SQL = "select tx_id, predicted_at, score, model_version, channel from predictions where predicted_at <= %s"
OUT_SQL = "select tx_id, reported_at, is_fraud from outcomes where reported_at <= %s"
PRED_COLS = ["tx_id", "predicted_at", "score", "model_version", "channel"]
OUT_COLS = ["tx_id", "reported_at", "is_fraud"]

COUNT_KEYS = ("n", "n_labelled", "pending", "n_invalid", "tp", "fp", "tn", "fn")
FLOAT_KEYS = ("coverage", "accuracy", "precision", "recall", "f1", "specificity", "positive_rate",
              "predicted_positive_rate", "log_loss", "brier", "ece", "cost")
AUC_TOLERANCE = 0.01
FLOAT_TOLERANCE = 1e-9


# --------------------------------------------------------------------------- helpers


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def secs(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.2f}"


def machine_info(conn: Any) -> dict[str, object]:
    return harness.machine_info(conn, settings=("shared_buffers", "work_mem", "max_parallel_workers_per_gather", "jit"),
                                packages=("pandas", "numpy", "sklearn"))


# The evaluation time of every path: set by pin_clock() before each size's load.
CLOCK: datetime | None = None
TRIGGERS = ("predictions", "outcomes")


def pin_clock(conn: Any) -> datetime:
    """t = this hour + 37m 12.345678s, read by the views (materializer.as_of) and by the pandas paths."""
    global CLOCK
    CLOCK = conn.execute("select date_trunc('hour', now()) + interval '37 minutes 12.345678 seconds'").fetchone()[0]
    conn.execute("select set_config('materializer.as_of', %s, false)", [CLOCK.isoformat()])
    return CLOCK


def run_load(conn: Any, n: int, seed: float) -> float:
    t0 = time.perf_counter()
    for sql in LOAD_SQL:
        conn.execute(sql.replace("{n}", str(int(n))).replace("{seed}", repr(float(seed)))
                     .replace("{t}", CLOCK.isoformat()))
    return time.perf_counter() - t0


def load_data(conn: Any, n: int, seed: float) -> dict[str, object]:
    """Load twice: plain (the monitor's triggers disabled) plus one rebuild, then maintained."""
    pin_clock(conn)
    for table in TRIGGERS:
        conn.execute(f"alter table {table} disable trigger user")
    plain_s = run_load(conn, n, seed)
    t0 = time.perf_counter()
    conn.execute(f"select materializer.{MONITOR}__rebuild()")
    rebuild_s = time.perf_counter() - t0
    for table in TRIGGERS:
        conn.execute(f"alter table {table} enable trigger user")
    t0 = time.perf_counter()
    t_insert = run_load(conn, n, seed)
    conn.execute("vacuum analyze predictions")
    conn.execute("vacuum analyze outcomes")
    conn.execute(f"vacuum analyze materializer.{MONITOR}__state")
    conn.execute(f"vacuum analyze materializer.{MONITOR}__cells")
    load_s = time.perf_counter() - t0
    cells = conn.execute(f"select count(*) from materializer.{MONITOR}__cells").fetchone()[0]
    derived = conn.execute(f"select pg_total_relation_size('materializer.{MONITOR}__state') + "
                           f"pg_total_relation_size('materializer.{MONITOR}__cells')").fetchone()[0]
    rows, ids, lo, hi = conn.execute(
        "select count(*), count(distinct tx_id), min(predicted_at), max(predicted_at) from predictions").fetchone()
    outcomes = conn.execute("select count(*) from outcomes").fetchone()[0]
    size = conn.execute("select pg_total_relation_size('predictions') + pg_total_relation_size('outcomes')"
                        ).fetchone()[0]
    return {
        "predictions": n,
        "prediction_rows": rows,
        "distinct_ids": ids,
        "outcome_rows": outcomes,
        "predicted_at_min": lo.isoformat(),
        "predicted_at_max": hi.isoformat(),
        "clock": CLOCK.isoformat(),
        "plain_insert_s": round(plain_s, 2),
        "rebuild_s": round(rebuild_s, 2),
        "maintained_insert_s": round(t_insert, 2),
        "insert_s": round(t_insert, 1),
        "load_s": round(load_s, 1),
        "tables_and_indexes_mb": round(size / 1024 / 1024, 1),
        "maintained_tables_mb": round(derived / 1024 / 1024, 1),
        "cells": cells,
    }


def write_latency(conn: Any, count: int) -> dict[str, Any]:
    """Single-row INSERTs into the maintained sources and into plain copies (no triggers): ms."""
    conn.execute("drop table if exists plain_predictions, plain_outcomes")
    conn.execute("create table plain_predictions (like predictions including all)")
    conn.execute("create table plain_outcomes (like outcomes including all)")
    ids = [r[0] for r in conn.execute("select tx_id from predictions order by tx_id limit %s", [count])]
    statements = {
        "prediction": ("insert into {table} (tx_id, predicted_at, score, model_version, channel) "
                       "values (%s, %s, 0.7, 'v1', 'web')", lambda i: [f"new{i:010d}", CLOCK]),
        "outcome": ("insert into {table} (tx_id, reported_at, is_fraud) values (%s, %s, 1)",
                    lambda i: [ids[i % len(ids)], CLOCK - timedelta(days=6)]),
    }
    out: dict[str, Any] = {"statements": count}
    for kind, (sql, args) in statements.items():
        for table in (f"plain_{kind}s", f"{kind}s"):
            samples = []
            for i in range(count):
                t0 = time.perf_counter()
                conn.execute(sql.replace("{table}", table), args(i), prepare=True)
                samples.append(time.perf_counter() - t0)
            samples.sort()
            out[f"{'plain' if table.startswith('plain') else 'maintained'}_{kind}"] = {
                "p50_ms": round(samples[len(samples) // 2] * 1000, 3),
                "p99_ms": round(samples[int(len(samples) * 0.99)] * 1000, 3)}
    conn.execute("drop table plain_predictions, plain_outcomes")
    return out


# --------------------------------------------------------------------------- the pandas path


def fetch_cursor(conn: Any) -> tuple[Any, Any, datetime]:
    """Predictions and outcomes selected through psycopg and ``cursor.fetchall()`` into DataFrames."""
    import pandas as pd

    t = CLOCK
    with conn.cursor() as cur:
        cur.execute(PRED_SQL, [t])
        preds = pd.DataFrame(cur.fetchall(), columns=PRED_COLS)
        cur.execute(OUT_SQL, [t])
        outs = pd.DataFrame(cur.fetchall(), columns=OUT_COLS)
    return preds, outs, t


def _copy_csv(conn: Any, sql: str, t: datetime) -> io.BytesIO:
    buf = io.BytesIO()
    query = sql.replace("%s", "'" + t.isoformat() + "'::timestamptz")
    with conn.cursor() as cur, cur.copy(f"copy ({query}) to stdout (format csv)") as copy:
        for block in copy:
            buf.write(block)
    buf.seek(0)
    return buf


def fetch_copy(conn: Any) -> tuple[Any, Any, datetime]:
    """The same rows through ``COPY ... TO STDOUT (FORMAT csv)`` and ``pandas.read_csv``."""
    import pandas as pd

    t = CLOCK
    preds = pd.read_csv(_copy_csv(conn, PRED_SQL, t), names=PRED_COLS, header=None,
                        dtype={"tx_id": str, "model_version": str, "channel": str, "score": "float64"})
    preds["predicted_at"] = pd.to_datetime(preds["predicted_at"], format="ISO8601", utc=True)
    outs = pd.read_csv(_copy_csv(conn, OUT_SQL, t), names=OUT_COLS, header=None, dtype={"tx_id": str})
    outs["reported_at"] = pd.to_datetime(outs["reported_at"], format="ISO8601", utc=True)
    return preds, outs, t


def prepare(preds: Any, outs: Any, t: datetime) -> tuple[Any, dict[str, int]]:
    """DESIGN §5 in pandas: one row per prediction id with its label, and the window's cohort."""
    import pandas as pd

    t = pd.Timestamp(t)
    maturity = pd.Timedelta(MATURITY)
    # predictions: the earliest per id wins; ties go to the non-null, greater score
    p = preds.sort_values(["tx_id", "predicted_at", "score"], ascending=[True, True, False], na_position="last")
    p = p.drop_duplicates("tx_id", keep="first")
    # outcomes: the latest per id with reported_at <= predicted_at + maturity (ties: greater label)
    o = outs[outs["is_fraud"].notna()].merge(p[["tx_id", "predicted_at"]], on="tx_id", how="inner")
    o = o[o["reported_at"] <= o["predicted_at"] + maturity]
    o = o.sort_values(["tx_id", "reported_at", "is_fraud"], ascending=[True, False, False])
    o = o.drop_duplicates("tx_id", keep="first")
    s = p.merge(o[["tx_id", "is_fraud"]], on="tx_id", how="left")
    s["labelled"] = s["is_fraud"].notna()
    s["label"] = s["is_fraud"].fillna(0).astype("int64")
    s["valid"] = s["score"].notna() & (s["score"] >= 0) & (s["score"] <= 1)
    cohort_at = s["predicted_at"] + maturity
    in_cohort = (cohort_at >= t - pd.Timedelta(WINDOW_DELTA)) & (cohort_at <= t)
    s["pending"] = s["valid"] & (s["predicted_at"] <= t) & (cohort_at - pd.Timedelta(microseconds=1) >= t)
    s["invalid"] = in_cohort & ~s["valid"]
    # pending and invalid predictions are counted, not scored (none of either in this data set)
    others = s[s["pending"] | s["invalid"]][["pending", "invalid", "model_version", "channel"]]
    cohort = s[in_cohort & s["valid"]][["label", "score", "labelled", "model_version", "channel"]]
    return cohort.reset_index(drop=True), others


def sklearn_metrics(y: np.ndarray, score: np.ndarray, labelled: np.ndarray) -> dict[str, Any]:
    from sklearn.metrics import (
        accuracy_score,
        brier_score_loss,
        confusion_matrix,
        f1_score,
        log_loss,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    pred = (score >= THRESHOLD).astype("int64")
    n = len(y)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(y, pred, labels=[0, 1]).ravel())
    # ece over 10 equal-width bins (bin 9 holds score 1.0), as the view: floor(min(floor(100p), 99) / 10)
    b = (np.minimum(np.floor(score * 100), 99) // 10).astype("int64")
    gap = np.abs(np.bincount(b, weights=score, minlength=10) - np.bincount(b, weights=y, minlength=10)).sum()
    return {
        "n": n, "n_labelled": int(labelled.sum()), "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "coverage": float(labelled.sum()) / n,
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred, zero_division=np.nan),
        "recall": recall_score(y, pred, zero_division=np.nan),
        "f1": f1_score(y, pred, zero_division=np.nan),
        "specificity": tn / (tn + fp) if tn + fp else None,
        "positive_rate": (tp + fn) / n,
        "predicted_positive_rate": (tp + fp) / n,
        "log_loss": log_loss(y, score, labels=[0, 1]),
        "brier": brier_score_loss(y, score),
        "roc_auc": roc_auc_score(y, score),
        "ece": gap / n,
        "cost": float(fp * COST_FP + fn * COST_FN),
    }


def pandas_metrics(cohort: Any, others: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """The metrics overall, by version and by channel (5 groups), keyed like the view's rows."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    groups: list[tuple[str, str, Any, Any]] = [("all", "all", cohort, others)]
    for name, column in SLICES:
        groups += [(name, str(value), g, others[others[column] == value])
                   for value, g in cohort.groupby(column, sort=True)]
    for name, value, g, o in groups:
        m = sklearn_metrics(g["label"].to_numpy(), g["score"].to_numpy(), g["labelled"].to_numpy())
        m["pending"] = int(o["pending"].sum())
        m["n_invalid"] = int(o["invalid"].sum())
        out[(name, value)] = m
    return out


def run_pandas(conn: Any, fetch: Any) -> tuple[dict[str, float], Any, dict]:
    t0 = time.perf_counter()
    preds, outs, t = fetch(conn)
    t1 = time.perf_counter()
    cohort, others = prepare(preds, outs, t)
    t2 = time.perf_counter()
    metrics = pandas_metrics(cohort, others)
    t3 = time.perf_counter()
    del preds, outs
    return {"fetch": t1 - t0, "prepare": t2 - t1, "metrics": t3 - t2, "total": t3 - t0}, cohort, metrics


# --------------------------------------------------------------------------- materializer paths


def run_view(conn: Any) -> tuple[float, dict[tuple[str, str], dict[str, Any]]]:
    t0 = time.perf_counter()
    cur = conn.execute(VIEW_SQL)
    rows = cur.fetchall()
    elapsed = time.perf_counter() - t0
    names = [d.name for d in cur.description]
    out = {}
    for row in rows:
        r = dict(zip(names, row))
        out[(r["slice"], r["slice_value"])] = r
    return elapsed, out


def run_api(project: Any) -> tuple[float, dict[tuple[str, str], dict[str, Any]]]:
    t0 = time.perf_counter()
    results = [project.metrics(MONITOR, window=WINDOW, as_of=CLOCK)]
    results += [project.metrics(MONITOR, window=WINDOW, by=name, as_of=CLOCK) for name, _ in SLICES]
    elapsed = time.perf_counter() - t0
    out = {}
    for res in results:
        for g in res.groups:
            key = ("all", "all") if not g["by"] else next(
                (name, str(v)) for name, col in SLICES for k, v in g["by"].items() if k in (name, col))
            out[key] = g["metrics"]
    return elapsed, out


def compare(ref: dict[tuple[str, str], dict[str, Any]], other: dict[tuple[str, str], dict[str, Any]],
            keys: tuple[str, ...] = COUNT_KEYS + FLOAT_KEYS + ("roc_auc",)) -> dict[str, Any]:
    """Differences of `other` against the view's rows `ref`; ok when all are within tolerance."""
    problems: list[str] = []
    max_diff = {"float": 0.0, "roc_auc": 0.0}
    if set(ref) != set(other):
        problems.append(f"groups differ: {sorted(ref)} vs {sorted(other)}")
    for key in sorted(set(ref) & set(other)):
        a, b = ref[key], other[key]
        for k in keys:
            if k not in b:
                continue
            va, vb = a.get(k), b.get(k)
            if va is None or vb is None or (isinstance(vb, float) and np.isnan(vb)):
                if not (va is None and (vb is None or np.isnan(vb))):
                    problems.append(f"{key} {k}: {va} vs {vb}")
                continue
            if k in COUNT_KEYS:
                if int(va) != int(vb):
                    problems.append(f"{key} {k}: {va} != {vb}")
                continue
            d = abs(float(va) - float(vb))
            kind = "roc_auc" if k == "roc_auc" else "float"
            max_diff[kind] = max(max_diff[kind], d)
            if d > (AUC_TOLERANCE if kind == "roc_auc" else FLOAT_TOLERANCE * max(1.0, abs(float(va)))):
                problems.append(f"{key} {k}: {va} vs {vb} (diff {d:.3g})")
    return {"ok": not problems, "problems": problems[:20], "max_abs_diff": max_diff}


# --------------------------------------------------------------------------- explain


def explain(conn: Any) -> dict[str, Any]:
    """``explain (analyze, buffers)`` of the view query: the plan text and the nodes by own time."""
    text = [r[0] for r in conn.execute(f"explain (analyze, buffers) {VIEW_SQL}")]
    plan = conn.execute(f"explain (analyze, buffers, format json) {VIEW_SQL}").fetchone()[0][0]
    nodes: list[dict[str, Any]] = []

    def walk(node: dict[str, Any], depth: int) -> float:
        total = node.get("Actual Total Time", 0.0) * node.get("Actual Loops", 1)
        children = sum(walk(c, depth + 1) for c in node.get("Plans", []))
        label = node["Node Type"]
        for k in ("CTE Name", "Relation Name", "Subplan Name"):
            if k in node:
                label += f" ({node[k]})"
        if "Sort Key" in node:
            label += " by " + ", ".join(node["Sort Key"])
        if "Group Key" in node:
            label += " group " + ", ".join(node["Group Key"])
        entry = {"node": label, "depth": depth, "rows": node.get("Actual Rows"),
                 "loops": node.get("Actual Loops"), "total_ms": round(total, 1),
                 "self_ms": round(total - children, 1)}
        if node.get("Subplan Name", "").startswith("CTE "):
            entry["cte_plan"] = node["Subplan Name"][4:]
        if node["Node Type"] == "CTE Scan":
            entry["cte_scan"] = node.get("CTE Name")
        nodes.append(entry)
        return total

    walk(plan["Plan"], 0)
    # A CTE's plan hangs under the node that reads it, but its time is also inside the total of the
    # CTE Scan that first pulled rows from it (taken to be the slowest scan): subtract it there once.
    cte_ms: dict[str, float] = {}
    for n in nodes:
        if n.get("cte_plan"):
            cte_ms[n["cte_plan"]] = max(cte_ms.get(n["cte_plan"], 0.0), n["total_ms"])
    first_scan: dict[str, dict[str, Any]] = {}
    for n in nodes:
        if n.get("cte_scan") and n["total_ms"] > first_scan.get(n["cte_scan"], {"total_ms": -1})["total_ms"]:
            first_scan[n["cte_scan"]] = n
    for name, n in first_scan.items():
        n["self_ms"] = round(max(0.0, n["self_ms"] - cte_ms.get(name, 0.0)), 1)
    for n in nodes:
        n.pop("cte_plan", None)
        n.pop("cte_scan", None)
    nodes.sort(key=lambda x: -x["self_ms"])
    return {"execution_ms": plan.get("Execution Time"), "planning_ms": plan.get("Planning Time"),
            "top_nodes_by_self_time": nodes[:12], "text": text}


# --------------------------------------------------------------------------- Evidently


def evidently_worker(path: Path, runs: int, slices: bool) -> int:
    """Run in the Evidently interpreter: time ClassificationPreset on the cohort; JSON to stdout."""
    os.environ.setdefault("DO_NOT_TRACK", "1")
    out: dict[str, Any] = {"python": platform.python_version()}
    try:
        import warnings

        warnings.simplefilter("ignore")
        import pandas as pd

        t0 = time.perf_counter()
        import evidently
        from evidently import BinaryClassification, DataDefinition, Dataset, Report
        from evidently.presets import ClassificationPreset

        out["import_s"] = time.perf_counter() - t0
        out["evidently"] = evidently.__version__
        out["pandas"] = pd.__version__
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out["error"] = f"{type(exc).__name__}: {exc}"
        print(json.dumps(out))
        return 0

    data = np.load(path, allow_pickle=False)
    frame = pd.DataFrame({"label": data["label"].astype("int64"), "score": data["score"]})
    columns = {"version": (data["version"], [str(x) for x in data["version_names"]]),
               "channel": (data["channel"], [str(x) for x in data["channel_names"]])}
    definition = DataDefinition(classification=[BinaryClassification(target="label", prediction_probas="score",
                                                                     pos_label=1)])

    def report(df: pd.DataFrame) -> dict[str, float]:
        snapshot = Report([ClassificationPreset(probas_threshold=THRESHOLD)]).run(
            Dataset.from_pandas(df, data_definition=definition), None)
        values: dict[str, float] = {}
        names = {"Accuracy(": "accuracy", "Precision(": "precision", "Recall(": "recall", "F1Score(": "f1",
                 "RocAuc(": "roc_auc", "LogLoss(": "log_loss"}
        for m in snapshot.dict()["metrics"]:
            for prefix, key in names.items():
                if m["metric_name"].startswith(prefix) and isinstance(m.get("value"), (int, float)):
                    values.setdefault(key, float(m["value"]))
        return values

    t0 = time.perf_counter()
    report(frame.iloc[: min(len(frame), 20_000)])  # warm-up: Evidently imports most of itself lazily
    out["warmup_s"] = time.perf_counter() - t0
    overall: list[float] = []
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        values = report(frame)
        overall.append(time.perf_counter() - t0)
    out["overall_s"] = overall
    out["values"] = {"all/all": values}
    if slices:
        gc.collect()
        t0 = time.perf_counter()
        for name, (codes, labels) in columns.items():
            for i, label in enumerate(labels):
                out["values"][f"{name}/{label}"] = report(frame[codes == i].reset_index(drop=True))
        out["slices_s"] = time.perf_counter() - t0  # overall excluded: 2 versions + 2 channels
    print(json.dumps(out))
    return 0


def run_evidently(python: str, cohort: Any, runs: int, slices: bool, workdir: Path) -> dict[str, Any]:
    path = workdir / "evidently_cohort.npz"
    version_names, version_codes = np.unique(cohort["model_version"].to_numpy(dtype=str), return_inverse=True)
    channel_names, channel_codes = np.unique(cohort["channel"].to_numpy(dtype=str), return_inverse=True)
    np.savez(path, label=cohort["label"].to_numpy(dtype=np.int8), score=cohort["score"].to_numpy(dtype=np.float64),
             version=version_codes.astype(np.int8), version_names=version_names,
             channel=channel_codes.astype(np.int8), channel_names=channel_names)
    cmd = [python, str(Path(__file__).resolve()), "--evidently-worker", str(path), "--runs", str(runs)]
    if slices:
        cmd.append("--evidently-slices")
    env = dict(os.environ, DO_NOT_TRACK="1")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600, check=False)
    finally:
        path.unlink(missing_ok=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])
        return {"error": f"the worker exited with {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- one size


def bench_size(args: argparse.Namespace, raw: Any, project: Any, n: int, workdir: Path,
               first: bool) -> dict[str, Any]:
    print(f"\n== {n:,} predictions: loading ...", file=sys.stderr)
    data = load_data(raw, n, args.seed)
    print(f"plain load {data['plain_insert_s']}s + rebuild {data['rebuild_s']}s; maintained load "
          f"{data['maintained_insert_s']}s; {data['cells']:,} cells, {data['maintained_tables_mb']} MB maintained",
          file=sys.stderr)
    print(f"loaded in {data['load_s']}s ({data['prediction_rows']:,} prediction rows, {data['outcome_rows']:,} "
          f"outcomes, {data['tables_and_indexes_mb']} MB)", file=sys.stderr)
    result: dict[str, Any] = {"size": n, "data": data, "loadavg_before": harness.loadavg()}

    # warm-up (untimed): the view once per size (its answer is the reference of the checks; it also
    # warms the buffer cache for every path); the API and the pandas paths once, at the first size
    t0 = time.perf_counter()
    _, view_rows = run_view(raw)
    result["warmup_view_s"] = time.perf_counter() - t0
    if first:
        run_api(project)
        run_pandas(raw, fetch_cursor)
        run_pandas(raw, fetch_copy)
    gc.collect()

    paths = ["view", "api", "pandas", "pandas_copy"]
    samples: dict[str, list[Any]] = {p: [] for p in paths}
    last: dict[str, Any] = {}
    full = n <= args.full_max
    for r in range(args.runs):
        order = paths[r % len(paths):] + paths[: r % len(paths)]
        for p in order:
            if r > 0 and not full and p in ("api", "pandas_copy"):
                continue  # above --full-max: once (the API path costs about three view reads)
            gc.collect()
            if p == "view":
                elapsed, last["view"] = run_view(raw)
                samples[p].append(elapsed)
            elif p == "api":
                elapsed, last["api"] = run_api(project)
                samples[p].append(elapsed)
            elif p == "pandas":
                times, cohort, last["pandas"] = run_pandas(raw, fetch_cursor)
                samples[p].append(times)
            else:
                times, _, last["pandas_copy"] = run_pandas(raw, fetch_copy)
                samples[p].append(times)
        print(f"round {r + 1}/{args.runs}: view {samples['view'][-1]:.3f}s, API {samples['api'][-1]:.3f}s, "
              f"pandas {samples['pandas'][-1]['total']:.3f}s, pandas (COPY) {samples['pandas_copy'][-1]['total']:.3f}s",
              file=sys.stderr)

    timings: dict[str, Any] = {
        "view_s": samples["view"], "view_median_s": median(samples["view"]),
        "api_s": samples["api"], "api_median_s": median(samples["api"]),
    }
    for p in ("pandas", "pandas_copy"):
        timings[p] = {part: {"runs": [s[part] for s in samples[p]], "median": median([s[part] for s in samples[p]])}
                      for part in ("fetch", "prepare", "metrics", "total")}
    result["timings"] = timings
    result["checks"] = {
        "view_vs_warmup": compare(view_rows, last["view"]),
        "api_vs_view": compare(view_rows, last["api"]),
        "pandas_vs_view": compare(view_rows, last["pandas"]),
        "pandas_copy_vs_view": compare(view_rows, last["pandas_copy"]),
    }
    result["view_rows"] = {f"{k[0]}/{k[1]}": {m: (float(v) if isinstance(v, float) else v) for m, v in row.items()}
                           for k, row in sorted(view_rows.items())}
    result["pandas_values"] = {f"{k[0]}/{k[1]}": v for k, v in sorted(last["pandas"].items())}

    view_s = timings["view_median_s"]
    pd_ = timings["pandas"]
    ratios = {
        "pandas_over_view": pd_["total"]["median"] / view_s,
        "pandas_over_api": pd_["total"]["median"] / timings["api_median_s"],
        "pandas_copy_over_view": timings["pandas_copy"]["total"]["median"] / view_s,
        "pandas_fetch_over_view": pd_["fetch"]["median"] / view_s,
        "pandas_compute_over_view": (pd_["prepare"]["median"] + pd_["metrics"]["median"]) / view_s,
        "api_over_view": timings["api_median_s"] / view_s,
    }

    if n == args.explain_size:
        print("explain (analyze, buffers) ...", file=sys.stderr)
        result["explain"] = explain(raw)

    if args.skip_evidently:
        result["evidently"] = {"skipped": "--skip-evidently"}
    else:
        ev_runs = args.runs if full else 1
        ev_slices = full
        print(f"Evidently ({ev_runs} run(s){', and every slice' if ev_slices else ''}) ...", file=sys.stderr)
        ev = run_evidently(args.evidently_python, cohort, ev_runs, ev_slices, workdir)
        if "overall_s" in ev:
            ev["overall_median_s"] = median(ev["overall_s"])
            prep = pd_["fetch"]["median"] + pd_["prepare"]["median"]
            ev["path_total_s"] = prep + ev["overall_median_s"]  # fetch + the pandas semantics + the preset
            ratios["evidently_over_view"] = ev["path_total_s"] / view_s
            ratios["evidently_preset_only_over_view"] = ev["overall_median_s"] / view_s
            if "slices_s" in ev:
                ev["all_slices_path_total_s"] = prep + ev["overall_median_s"] + ev["slices_s"]
                ratios["evidently_all_slices_over_view"] = ev["all_slices_path_total_s"] / view_s
            ref = {k: v for k, v in view_rows.items()}
            got = {tuple(k.split("/", 1)): v for k, v in ev["values"].items()}
            ev["check_vs_view"] = compare({k: ref[k] for k in got if k in ref}, got,
                                          ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"))
        result["evidently"] = ev
    result["ratios"] = ratios
    print(f"write latency ({args.writes} single-row inserts per path) ...", file=sys.stderr)
    result["writes"] = write_latency(raw, args.writes)
    result["loadavg_after"] = harness.loadavg()
    return result


# --------------------------------------------------------------------------- report


def print_summary(results: list[dict[str, Any]]) -> None:
    print()
    print("| N | view select * | API 3 calls | pandas fetch | pandas prep | sklearn | pandas total "
          "| pandas (COPY) total | Evidently preset | Evidently path | pandas/view | Evidently/view |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        t = r["timings"]
        ev = r.get("evidently", {})
        ra = r["ratios"]
        ev_preset = secs(ev["overall_median_s"]) if "overall_median_s" in ev else "—"
        ev_total = secs(ev["path_total_s"]) if "path_total_s" in ev else "—"
        ev_ratio = f"{ra['evidently_over_view']:.2f}x" if "evidently_over_view" in ra else "—"
        print(f"| {r['size']:,} | {secs(t['view_median_s'])} | {secs(t['api_median_s'])} "
              f"| {secs(t['pandas']['fetch']['median'])} | {secs(t['pandas']['prepare']['median'])} "
              f"| {secs(t['pandas']['metrics']['median'])} | {secs(t['pandas']['total']['median'])} "
              f"| {secs(t['pandas_copy']['total']['median'])} | {ev_preset} | {ev_total} "
              f"| {ra['pandas_over_view']:.2f}x | {ev_ratio} |")
    print("(seconds, medians)")
    print()
    print("| N | plain load | rebuild | maintained load | insert prediction p50 · p99 ms (plain → maintained) "
          "| insert outcome p50 · p99 ms (plain → maintained) |")
    print("|---|---|---|---|---|---|")
    for r in results:
        d, w = r["data"], r["writes"]
        cell = lambda k: (f"{w['plain_' + k]['p50_ms']} · {w['plain_' + k]['p99_ms']} → "
                          f"{w['maintained_' + k]['p50_ms']} · {w['maintained_' + k]['p99_ms']}")
        print(f"| {r['size']:,} | {d['plain_insert_s']} | {d['rebuild_s']} | {d['maintained_insert_s']} "
              f"| {cell('prediction')} | {cell('outcome')} |")
    for r in results:
        bad = {k: c["problems"] for k, c in r["checks"].items() if not c["ok"]}
        ev = r.get("evidently", {})
        if "check_vs_view" in ev and not ev["check_vs_view"]["ok"]:
            bad["evidently_vs_view"] = ev["check_vs_view"]["problems"]
        print(f"{r['size']:,}: checks {'OK' if not bad else bad}; "
              f"max |diff| pandas vs view: {r['checks']['pandas_vs_view']['max_abs_diff']}; "
              f"load avg {r['loadavg_before'][0]} -> {r['loadavg_after'][0]}")
        if "error" in ev:
            print(f"  Evidently: {ev['error']}")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000,5000000",
                    help="comma-separated numbers of predictions (default 100000,1000000,5000000)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per path after one warm-up (default 3)")
    ap.add_argument("--skip-evidently", action="store_true", help="do not run Evidently")
    ap.add_argument("--evidently-python", default=sys.executable,
                    help="interpreter with Evidently installed (default: this one)")
    ap.add_argument("--full-max", type=int, default=1_000_000,
                    help="above this size the API path, the COPY fetch and Evidently (overall only) run once "
                         "(default 1,000,000)")
    ap.add_argument("--explain-size", type=int, default=1_000_000,
                    help="size at which to run explain (analyze, buffers) (default 1,000,000)")
    ap.add_argument("--seed", type=float, default=0.42, help="setseed() of the data (default 0.42)")
    ap.add_argument("--writes", type=int, default=2000,
                    help="single-row inserts timed per path for the write latency (default 2000)")
    harness.add_common_args(ap, "monitor_metrics")
    ap.add_argument("--evidently-worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--evidently-slices", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.evidently_worker:
        return evidently_worker(args.evidently_worker, args.runs, args.evidently_slices)
    try:
        args.sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        ap.error("--sizes: comma-separated integers, e.g. 100000,1000000")
    if not args.sizes or min(args.sizes) < 1000 or args.runs < 1:
        ap.error("need sizes >= 1000 and --runs >= 1")

    with harness.embedded_project(PROJECT_YML, args.dir, args.keep) as (root, uri):
        return run(args, root, uri)


def run(args: argparse.Namespace, root: Path, uri: str) -> int:
    import psycopg

    from materializer.project import Project

    project = Project.load(root, dsn=uri)
    project.apply()
    raw = psycopg.connect(uri, autocommit=True)
    raw.execute("set timezone to 'UTC'")
    machine = machine_info(raw)
    harness.warn_if_tcp(raw)

    started = time.perf_counter()
    out: dict[str, Any] = {
        **harness.header("monitor_metrics", args, machine),
        "view_sql": VIEW_SQL,
        "pandas_sql": [PRED_SQL, OUT_SQL],
        "target_ratio": TARGET_RATIO,
        "results": [],
    }
    for i, n in enumerate(args.sizes):
        out["results"].append(bench_size(args, raw, project, n, root, first=i == 0))
        out["elapsed_s"] = round(time.perf_counter() - started, 1)
        harness.write_results(args.out, out)
        gc.collect()
    machine["loadavg_end"] = harness.loadavg()
    at_1m = next((r for r in out["results"] if r["size"] == 1_000_000), None)
    if at_1m:
        out["target_met_at_1m"] = {
            "pandas_over_view": at_1m["ratios"]["pandas_over_view"] >= TARGET_RATIO,
            "evidently_over_view": (at_1m["ratios"]["evidently_over_view"] >= TARGET_RATIO
                                    if "evidently_over_view" in at_1m["ratios"] else None),
        }
    harness.write_results(args.out, out)

    print_summary(out["results"])
    for r in out["results"]:
        if "explain" in r:
            e = r["explain"]
            print(f"\nexplain (analyze, buffers) at {r['size']:,}: execution {e['execution_ms']:.0f} ms; "
                  "nodes by own time (ms):")
            for node in e["top_nodes_by_self_time"][:8]:
                print(f"  {node['self_ms']:>9.1f}  {node['node'][:110]}  rows={node['rows']}")
    if at_1m:
        ev = at_1m["ratios"].get("evidently_over_view")
        met = out["target_met_at_1m"]["pandas_over_view"] and (ev is None or ev >= TARGET_RATIO)
        print(f"\ntarget at 1M (materializer >= {TARGET_RATIO:.0f}x faster): pandas/view "
              f"{at_1m['ratios']['pandas_over_view']:.2f}x, Evidently/view "
              f"{'not run' if ev is None else f'{ev:.2f}x'}: {'met' if met else 'NOT met'}")
    print(f"elapsed {out['elapsed_s']:.0f}s; load avg {machine['loadavg_start']} -> {machine['loadavg_end']}")
    print(f"results: {args.out}", file=sys.stderr)
    project.close()
    raw.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

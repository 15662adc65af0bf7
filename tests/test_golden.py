"""Golden files: every public macro, per case, per engine: tests/golden/<macro>/<case>.<engine>.sql.

They are the review surface of the SQL. Regenerate after an intended change with
``pytest tests/test_golden.py --update-golden`` and read the diff.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from materializer.definitions.validate import parse_project
from materializer.sql.compile import compile_sql
from materializer.sql.render import renderer

GOLDEN = Path(__file__).parent / "golden"
ENGINES = ("postgres", "materialize", "risingwave")

# The project of DESIGN §4, with the predictions source its monitor reads.
DESIGN_EXAMPLE = """
name: fraud
engine: postgres
sources:
  transactions:
    columns: {tx_id: text, cc_num: text, merchant: text, amount: numeric, status: text, ts: timestamptz}
    timestamp: ts
  predictions:
    columns: {tx_id: text, predicted_at: timestamptz, score: double precision, model_version: text,
              channel: text}
    timestamp: predicted_at
  chargebacks:
    relation: raw.chargebacks
    timestamp: reported_at
  training_scores:
    relation: training_scores
    timestamp: trained_at
feature_views:
  card_activity:
    source: transactions
    entity: [cc_num]
    windows: [10m, 1h, 1d]
    features:
      tx_count:     {agg: count}
      amount_max:   {agg: max, column: amount}
      amount_avg:   {agg: avg, column: amount}
      merchants:    {agg: count_distinct, column: merchant}
      failed_count: {agg: count, filter: "status = 'failed'"}
  card_last_tx:
    source: transactions
    entity: [cc_num]
    max_age: 7d
    features:
      last_amount:   {agg: latest, column: amount}
      last_merchant: {agg: latest, column: merchant}
monitors:
  fraud_model:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at,
                  score: score, version: model_version, segments: [channel]}
    outcomes:    {source: chargebacks, id: tx_id, timestamp: reported_at,
                  label: is_fraud}
    threshold: 0.5
    maturity: 7d
    label_policy: implicit_negative
    windows: [1h, 1d]
    bucket: 1h
    costs: {fp: 5, fn: 120}
    reference: {relation: training_scores, column: score}
"""

W = {
    "10m": {"name": "10m", "interval": "interval '10 minutes'", "seconds": 600},
    "1h": {"name": "1h", "interval": "interval '1 hour'", "seconds": 3600},
    "1d": {"name": "1d", "interval": "interval '24 hours'", "seconds": 86400},
    "7d": {"name": "7d", "interval": "interval '168 hours'", "seconds": 604800},
}

# one column of every type a JSON document is cast to
STREAM_COLUMNS = [{"name": "tx_id", "type": "uuid"}, {"name": "ts", "type": "timestamptz"},
                  {"name": "cc_num", "type": "text"}, {"name": "amount", "type": "numeric(12,2)"},
                  {"name": "n", "type": "integer"}, {"name": "big", "type": "bigint"},
                  {"name": "x", "type": "double precision"}, {"name": "ok", "type": "boolean"},
                  {"name": "meta", "type": "jsonb"}, {"name": "day", "type": "date"}]

CASES: dict[str, dict[str, dict]] = {
    "clock": {"default": {}},
    "clock_function": {"default": {}},
    "temporal_filter": {
        "upper_bound_only": {"timestamp": "ts"},
        "trailing_hour": {"timestamp": "ts", "lookback": "interval '1 hour'"},
    },
    "source_table": {
        "transactions": {"relation": "transactions", "columns": [
            {"name": "tx_id", "type": "uuid"}, {"name": "cc_num", "type": "text"},
            {"name": "amount", "type": "numeric(12,2)"}, {"name": "ts", "type": "timestamptz"}]},
    },
    "kafka_connection": {"plaintext": {"name": "fraud__kafka__redpanda_9092", "broker": "redpanda:9092"}},
    "stream_source": {
        "kafka_earliest": {"relation": "transactions__raw", "columns": STREAM_COLUMNS, "cluster": "quickstart",
                           "stream": {"kind": "kafka", "connection": "fraud__kafka__redpanda_9092",
                                      "broker": "redpanda:9092", "topic": "transactions", "start": "earliest"}},
        "kafka_latest": {"relation": "transactions__raw", "columns": STREAM_COLUMNS, "cluster": "quickstart",
                         "stream": {"kind": "kafka", "connection": "fraud__kafka__redpanda_9092",
                                    "broker": "redpanda:9092", "topic": "tx.events-v2", "start": "latest"}},
        "webhook": {"relation": "clicks__raw", "columns": STREAM_COLUMNS, "cluster": "quickstart",
                    "stream": {"kind": "webhook"}},
    },
    "stream_view": {
        "every_type": {"relation": "transactions", "raw": "transactions__raw", "document": "data",
                       "columns": STREAM_COLUMNS},
        "webhook": {"relation": "clicks", "raw": "clicks__raw", "document": "body",
                    "columns": STREAM_COLUMNS[:2]},
    },
    "source_backfill": {
        "transactions": {"relation": "transactions__all", "history": "raw.transactions_history",
                         "live": "transactions", "columns": ["tx_id", "cc_num", "amount", "ts"], "timestamp": "ts",
                         "until": "2026-11-01T00:00:00+00:00"},
    },
    "source_index": {
        "entity_ts": {"relation": "transactions", "name": "transactions__cc_num_ts__idx",
                      "columns": ["cc_num", "ts"]},
    },
    "aggregate": {
        "count_rows_filtered": {"feature": {"name": "failed", "agg": "count", "column": None,
                                            "filter": "status = 'failed'"}, "condition": "ts >= x"},
        "stddev": {"feature": {"name": "sd", "agg": "stddev", "column": "amount", "filter": None}},
        "count_distinct": {"feature": {"name": "m", "agg": "count_distinct", "column": "merchant", "filter": None}},
    },
    "select_columns": {"listed": {"columns": ["cc_num", "ts"]}, "all": {"columns": None}},
    "windowed_features": {
        "card_activity": {
            "relation": "transactions", "entity": ["cc_num"], "timestamp": "ts",
            "windows": [W["10m"], W["1h"], W["1d"]],
            "features": [
                {"name": "tx_count", "agg": "count", "column": None, "filter": None},
                {"name": "amount_sum", "agg": "sum", "column": "amount", "filter": None},
                {"name": "amount_max", "agg": "max", "column": "amount", "filter": None},
                {"name": "merchants", "agg": "count_distinct", "column": "merchant", "filter": None},
                {"name": "failed_count", "agg": "count", "column": None, "filter": "status = 'failed'"},
            ],
            "columns": ["cc_num", "ts", "amount", "merchant", "status"],
        },
        "composite_key_one_window": {
            "relation": "raw.events", "entity": ["user_id", "device"], "timestamp": "event_time",
            "windows": [W["1h"]],
            "features": [{"name": "events", "agg": "count", "column": None, "filter": None},
                         {"name": "spend_sd", "agg": "stddev", "column": "spend", "filter": None}],
            "columns": None,
        },
    },
    "latest_features": {
        "max_age": {"relation": "transactions", "entity": ["cc_num"], "timestamp": "ts",
                    "features": [{"name": "last_amount", "agg": "latest", "column": "amount", "filter": None},
                                 {"name": "last_merchant", "agg": "latest", "column": "merchant", "filter": None}],
                    "max_age": "interval '168 hours'", "tie_break": None,
                    "columns": ["cc_num", "ts", "amount", "merchant"]},
        "tie_break": {"relation": "transactions", "entity": ["cc_num"], "timestamp": "ts",
                      "features": [{"name": "last_amount", "agg": "latest", "column": "amount", "filter": None}],
                      "max_age": "interval '720 hours'", "tie_break": "tx_id",
                      "columns": ["cc_num", "ts", "amount", "tx_id"]},
    },
}


PREDICTIONS = {"relation": "predictions", "id": "tx_id", "timestamp": "predicted_at", "score": "score",
               "columns": ["model_version", "channel", "amount"]}
OUTCOMES = {"relation": "chargebacks", "id": "tx_id", "timestamp": "reported_at", "label": "is_fraud"}
SLICES = [{"name": "version", "column": "model_version"}, {"name": "channel", "column": "channel"}]
MW = [W["1h"], W["1d"]]
HOURLY = {"interval": "interval '1 hour'", "seconds": 3600}
MAINTAINED_PREDICTIONS = {**PREDICTIONS, "id_type": "text",
                          "column_types": {"model_version": "text", "channel": "text", "amount": "numeric"}}
MAINTAINED_OUTCOMES = {**OUTCOMES, "id_type": "text"}
MAINTAINED = {"state": "materializer.fraud_model__state", "cells": "materializer.fraud_model__cells",
              "drift_cells": "materializer.fraud_model__drift_cells", "outcomes": OUTCOMES, "bucket": HOURLY,
              "columns": ["model_version", "channel", "amount"]}

CASES.update({
    "monitor_scored": {
        "binary_implicit_negative": {"predictions": PREDICTIONS, "outcomes": OUTCOMES,
                                     "task": "binary_classification", "label_policy": "implicit_negative",
                                     "maturity": "interval '168 hours'", "threshold": 0.5,
                                     "retention": "interval '192 hours'"},
        "binary_explicit": {"predictions": {**PREDICTIONS, "columns": []}, "outcomes": OUTCOMES,
                            "task": "binary_classification", "label_policy": "explicit", "threshold": 0.7,
                            "retention": "interval '24 hours'"},
        "regression": {"predictions": {**PREDICTIONS, "score": "predicted_eta", "columns": ["model_version"]},
                       "outcomes": {**OUTCOMES, "label": "actual_eta"}, "task": "regression",
                       "label_policy": "explicit", "retention": "interval '168 hours'"},
        "maintained_explicit": {"predictions": PREDICTIONS, "outcomes": OUTCOMES, "task": "binary_classification",
                                "label_policy": "explicit", "threshold": 0.5,
                                "maintained": MAINTAINED, "retention": "interval '24 hours'"},
    },
    "monitor_maintenance": {
        "binary_implicit_negative": {
            "monitor": "fraud_model", "state": "materializer.fraud_model__state",
            "cells": "materializer.fraud_model__cells", "predictions": MAINTAINED_PREDICTIONS,
            "outcomes": MAINTAINED_OUTCOMES, "task": "binary_classification", "label_policy": "implicit_negative",
            "maturity": "interval '168 hours'", "threshold": 0.5, "bucket": HOURLY, "slices": SLICES,
            "drift": {"cells": "materializer.fraud_model__drift_cells", "reference": "fraud_model__reference",
                      "columns": [{"name": "score", "column": "score"}, {"name": "amount", "column": "amount"}]}},
        "regression_explicit": {
            "monitor": "eta_model", "state": "materializer.eta_model__state", "cells": "materializer.eta_model__cells",
            "predictions": {**MAINTAINED_PREDICTIONS, "score": "predicted_eta", "columns": ["model_version"],
                            "column_types": {"model_version": "text"}},
            "outcomes": {**MAINTAINED_OUTCOMES, "label": "actual_eta"}, "task": "regression",
            "label_policy": "explicit", "maturity": None, "threshold": 0.5, "bucket": HOURLY, "slices": SLICES[:1]},
    },
    "monitor_pairs_above": {
        "by_bucket": {"group_by": ["bucket_start", "slice", "slice_value"]},
    },
    "monitor_rollup": {
        "binary_by_window": {"group_by": ["window_name", "slice", "slice_value"], "task": "binary_classification",
                             "label_policy": "explicit", "cost_fp": 5, "cost_fn": 120},
        "regression_by_bucket": {"group_by": ["bucket_start", "slice", "slice_value"], "task": "regression",
                                 "label_policy": "explicit"},
    },
    "monitor_metrics": {
        "binary_implicit_negative": {"scored": "fraud_model__scored", "task": "binary_classification",
                                     "label_policy": "implicit_negative", "windows": MW, "slices": SLICES,
                                     "cost_fp": 5, "cost_fn": 120, "maturity": "interval '168 hours'"},
        "regression_explicit": {"scored": "eta_model__scored", "task": "regression", "label_policy": "explicit",
                                "windows": [W["1h"]], "slices": SLICES[:1]},
        "maintained_binary_implicit_negative": {
            "scored": "fraud_model__scored", "task": "binary_classification", "label_policy": "implicit_negative",
            "windows": MW, "slices": SLICES, "cost_fp": 5, "cost_fn": 120, "maturity": "interval '168 hours'",
            "maintained": MAINTAINED},
        "maintained_regression_explicit": {
            "scored": "eta_model__scored", "task": "regression", "label_policy": "explicit", "windows": [W["1h"]],
            "slices": SLICES[:1], "maintained": {**MAINTAINED, "state": "materializer.eta_model__state",
                                                 "cells": "materializer.eta_model__cells",
                                                 "outcomes": {**OUTCOMES, "label": "actual_eta"},
                                                 "columns": ["model_version"]}},
    },
    "monitor_timeseries": {
        "binary_explicit": {"scored": "fraud_model__scored", "task": "binary_classification",
                            "label_policy": "explicit", "bucket": {"interval": "interval '1 hour'", "seconds": 3600},
                            "slices": SLICES[:1], "history": "interval '24 hours'"},
        "maintained_binary_explicit": {"scored": "fraud_model__scored", "task": "binary_classification",
                                       "label_policy": "explicit", "bucket": HOURLY, "slices": SLICES[:1],
                                       "maintained": MAINTAINED, "history": "interval '24 hours'"},
    },
    "monitor_versions": {
        "binary": {"metrics": "fraud_model__metrics", "task": "binary_classification"},
        "regression": {"metrics": "eta_model__metrics", "task": "regression"},
    },
    "monitor_drift": {
        "score_and_amount": {"scored": "fraud_model__scored", "reference": "fraud_model__reference", "windows": MW,
                             "columns": [{"name": "score", "column": "score"},
                                         {"name": "amount", "column": "amount"}]},
        "maintained": {"scored": "fraud_model__scored", "reference": "fraud_model__reference", "windows": MW,
                       "columns": [{"name": "score", "column": "score"}, {"name": "amount", "column": "amount"}],
                       "maintained": MAINTAINED},
    },
    "monitor_reference": {
        "score_and_amount": {"relation": "training_scores", "columns": [{"name": "score", "column": "score"},
                                                                       {"name": "amount", "column": "amount"}]},
    },
    "monitor_slices": {"binary": {"cells": "cells", "key": "window_name", "slices": SLICES,
                                  "task": "binary_classification"}},
    "clock_between": {"span": {"lower": "predicted_at + spans.opens", "upper": "predicted_at + spans.closes"}},
    "clock_until": {"retained": {"expression": "reported_at + interval '192 hours'"}},
    "training_windowed": {
        "card_activity": {"points": "points", "relation": "transactions", "entity": ["cc_num"], "timestamp": "ts",
                          "windows": [W["10m"], W["1d"]],
                          "features": [{"name": "tx_count", "agg": "count", "column": None, "filter": None},
                                       {"name": "amount_max", "agg": "max", "column": "amount", "filter": None},
                                       {"name": "merchants", "agg": "count_distinct", "column": "merchant",
                                        "filter": None},
                                       {"name": "failed_count", "agg": "count", "column": None,
                                        "filter": "status = 'failed'"}],
                          "columns": ["cc_num", "ts", "amount", "merchant", "status"]},
    },
    "training_latest": {
        "max_age": {"points": "points", "relation": "transactions", "entity": ["cc_num"], "timestamp": "ts",
                    "features": [{"name": "last_amount", "agg": "latest", "column": "amount", "filter": None}],
                    "max_age": "interval '168 hours'", "tie_break": None},
        "tie_break": {"points": "points", "relation": "transactions", "entity": ["cc_num"], "timestamp": "ts",
                      "features": [{"name": "last_amount", "agg": "latest", "column": "amount", "filter": None}],
                      "max_age": None, "tie_break": "tx_id"},
    },
    "time_bucket": {"hourly": {"timestamp": "cohort_at", "interval": "interval '1 hour'", "seconds": 3600}},
    # the project golden files hold every kind of row check (definitions/row_checks.py) as compiled
    "source_check": {
        "binary_label": {"relation": "chargebacks", "name": "chargebacks__is_fraud__binary",
                         "condition": "is_fraud in (0, 1)"},
        "finite": {"relation": "transactions", "name": "transactions__amount__finite",
                   "condition": "amount > '-Infinity' and amount < 'Infinity'"},
    },
})


#: (macro, case, engine) that the macro refuses with a compiler error (see test_refused_macro_cases)
REFUSED_CASES = {("stream_source", "webhook", "risingwave")}


def macro_cases(engine: str):
    """(macro, case, rendered SQL) for every golden case of one engine."""
    r = renderer(engine)
    for macro, cases in CASES.items():
        for case, kwargs in cases.items():
            if (macro, case, engine) not in REFUSED_CASES:
                yield macro, case, r.call(macro, **kwargs)


def test_refused_macro_cases():
    """A webhook source has no RisingWave DDL: the macro says so instead of rendering something else."""
    from materializer.sql.render import CompilerError

    for macro, case, engine in REFUSED_CASES:
        with pytest.raises(CompilerError, match="Kafka topic"):
            renderer(engine).call(macro, **CASES[macro][case])


def _check(path: Path, text: str, update: bool) -> None:
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing: run pytest tests/test_golden.py --update-golden"
    assert text == path.read_text(encoding="utf-8"), f"{path} differs: review, then --update-golden"


def test_every_public_macro_has_golden_cases():
    from materializer.sql.render import macros_dir

    files = {p.stem for p in macros_dir().glob("*.sql")}
    assert files == set(CASES), "one public macro per file, each with golden cases"


@pytest.mark.parametrize("engine", ENGINES)
def test_macro_golden_files(engine, request):
    update = request.config.getoption("--update-golden")
    for macro, case, sql in macro_cases(engine):
        _check(GOLDEN / macro / f"{case}.{engine}.sql", sql, update)


# A monitor whose sources are both managed: on PostgreSQL apply maintains its counters with triggers.
MANAGED_MONITOR = """
name: fraud
sources:
  predictions:
    columns: {tx_id: text, predicted_at: timestamptz, score: double precision, model_version: text,
              channel: text}
    timestamp: predicted_at
  chargebacks:
    columns: {tx_id: text, reported_at: timestamptz, is_fraud: integer}
    timestamp: reported_at
monitors:
  fraud_model:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at,
                  score: score, version: model_version, segments: [channel]}
    outcomes:    {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}
    threshold: 0.5
    maturity: 7d
    label_policy: implicit_negative
    windows: [1h, 1d]
    bucket: 1h
    costs: {fp: 5, fn: 120}
    reference: {relation: training_scores, column: score}
"""


# Streaming sources: Kafka topics (two on one broker, one starting at the latest offset), a managed
# table, and backfills with a cutover on a streamed source and on a managed one; a monitor reads both.
STREAMS = """
name: fraud
engine: materialize
sources:
  transactions:
    columns: {tx_id: uuid, cc_num: text, merchant: text, amount: "numeric(12,2)", ts: timestamptz}
    timestamp: ts
    kafka: {broker: "redpanda:9092", topic: transactions, start: earliest, client_broker: "localhost:19092"}
    backfill: {relation: raw.transactions_history, until: "2026-11-01T00:00:00Z"}
  predictions:
    columns: {tx_id: text, predicted_at: timestamptz, score: double precision, model_version: text,
              context: jsonb, flagged: boolean}
    timestamp: predicted_at
    kafka: {broker: "redpanda:9092", topic: model.predictions, start: latest}
  chargebacks:
    columns: {tx_id: text, reported_at: timestamptz, is_fraud: integer}
    timestamp: reported_at
    backfill: {relation: raw.chargebacks_history, until: "2026-11-01T01:00:00+01:00"}
feature_views:
  card_activity:
    source: transactions
    entity: [cc_num]
    windows: [1h, 1d]
    features:
      tx_count:   {agg: count}
      amount_sum: {agg: sum, column: amount}
monitors:
  fraud_model:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score, version: model_version}
    outcomes:    {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}
    windows: [1d]
    bucket: 1h
"""

# A webhook source (Materialize only; a managed table on PostgreSQL).
WEBHOOK = """
name: shop
engine: materialize
sources:
  clicks:
    columns: {click_id: text, user_id: text, price: "numeric(10,2)", ts: timestamptz}
    timestamp: ts
    webhook: {}
feature_views:
  user_clicks:
    source: clicks
    entity: [user_id]
    windows: [1h]
    features:
      clicks: {agg: count}
      spend:  {agg: sum, column: price}
"""

PROJECTS = {"design_example": DESIGN_EXAMPLE, "managed_monitor": MANAGED_MONITOR, "streams": STREAMS,
            "webhook": WEBHOOK}
#: (project, engine) pairs that compile refuses (a webhook on RisingWave)
REFUSED = {("webhook", "risingwave")}


#: every (engine, project) that compiles
COMPILED = [(e, p) for p in PROJECTS for e in ENGINES if (p, e) not in REFUSED]


@pytest.mark.parametrize("engine, project", COMPILED)
def test_project_golden_files(engine, project, request):
    """The DESIGN §4 project, a monitor of managed sources, and streaming sources, as
    `materializer compile --engine <engine>` prints them (REFUSED pairs: tests/test_streams.py)."""
    text = PROJECTS[project]
    spec = parse_project(yaml.safe_load(text))
    _check(GOLDEN / "project" / f"{project}.{engine}.sql", compile_sql(spec, engine),
           request.config.getoption("--update-golden"))


def test_dispatch_falls_back_like_dbt():
    """materialize/risingwave -> postgres -> default, as dbt's adapter inheritance does."""
    pg, mz, rw = (renderer(e) for e in ENGINES)
    # source_index: postgres__ exists; the streaming engines override it with an empty variant
    assert pg.call("source_index", relation="t", name="i", columns=["a"]).strip().startswith("create index")
    assert mz.call("source_index", relation="t", name="i", columns=["a"]).strip() == ""
    # aggregate has only default__: every engine falls back to it
    f = {"name": "x", "agg": "sum", "column": "a", "filter": None}
    assert pg.call("aggregate", feature=f) == mz.call("aggregate", feature=f) == rw.call("aggregate", feature=f)

"""``materializer init``: a working fraud-detection project with sample data."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

from materializer.demo.scenario import ModelScenario, Scenario
from materializer.errors import MaterializerError

PROJECT_YML = """\
# A fraud-detection feature store and model monitor. Docs: `materializer --help`.
name: fraud
engine: postgres                 # postgres | materialize | risingwave

sources:
  transactions:                  # managed: `materializer apply` creates the table
    columns:
      tx_id: text
      cc_num: text
      merchant: text
      amount: numeric
      status: text
      ts: timestamptz
    timestamp: ts
  predictions:                   # one row per scored transaction (duplicates are deduplicated)
    columns:
      tx_id: text
      predicted_at: timestamptz
      score: double precision
      model_version: text
      channel: text
    timestamp: predicted_at
  chargebacks:                   # ground truth, days later
    columns:
      tx_id: text
      reported_at: timestamptz
      is_fraud: integer
    timestamp: reported_at

feature_views:
  card_activity:                 # windowed aggregates, named <feature>_<window>
    source: transactions
    entity: [cc_num]
    windows: [10m, 1h, 1d]       # units s m h d w
    features:
      tx_count:     {agg: count}
      amount_sum:   {agg: sum, column: amount}
      amount_max:   {agg: max, column: amount}
      amount_avg:   {agg: avg, column: amount}
      merchants:    {agg: count_distinct, column: merchant}
      failed_count: {agg: count, filter: "status = 'failed'"}
  card_last_tx:                  # the latest value, null when older than max_age
    source: transactions
    entity: [cc_num]
    max_age: 7d
    features:
      last_amount:   {agg: latest, column: amount}
      last_merchant: {agg: latest, column: merchant}

monitors:
  fraud_model:                   # live model quality: `materializer metrics fraud_model --by version`
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score,
                  version: model_version, segments: [channel]}
    outcomes:    {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}
    threshold: 0.5
    maturity: 7d                 # a chargeback may take 7 days; after that, no chargeback = legitimate
    label_policy: implicit_negative
    windows: [1d, 7d]
    bucket: 1h
    costs: {fp: 5, fn: 120}      # a blocked good customer vs a missed fraud
"""

COLUMNS = ["tx_id", "cc_num", "merchant", "amount", "status", "ts"]


def write_csv(path: Path, rows: list[dict]) -> None:
    """Rows (dicts with the same keys) as a CSV file with a header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def scaffold(directory: Path, force: bool = False, now: datetime | None = None) -> list[Path]:
    """Write materializer.yml and sample data into ``directory``: the last 2 hours of transactions,
    16 days of model predictions and their chargebacks (those already reported)."""
    directory.mkdir(parents=True, exist_ok=True)
    project = directory / "materializer.yml"
    if project.exists() and not force:
        raise MaterializerError(f"{project} already exists; use --force to overwrite it")
    project.write_text(PROJECT_YML, encoding="utf-8")
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    data = directory / "data"
    write_csv(data / "transactions.csv", Scenario().history(2000, now, timedelta(hours=2)))
    predictions, chargebacks = ModelScenario().history(8000, now, timedelta(days=16))
    write_csv(data / "predictions.csv", predictions)
    write_csv(data / "chargebacks.csv",
              [c for c in chargebacks if datetime.fromisoformat(c["reported_at"]) <= now])
    return [project, data / "transactions.csv", data / "predictions.csv", data / "chargebacks.csv"]

"""``materializer init``: a working fraud-detection project with sample data."""

from __future__ import annotations

import csv
import os
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
  # an external source already exists: apply never creates, alters or drops it
  # refunds: {relation: billing.refunds, timestamp: refunded_at}
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
    windows: [10m, 1h, 1d]       # units s m h d w; exact (1d = 24 h)
    features:
      tx_count:     {agg: count}
      amount_sum:   {agg: sum, column: amount}
      amount_max:   {agg: max, column: amount}
      amount_avg:   {agg: avg, column: amount}
      merchants:    {agg: count_distinct, column: merchant}
      failed_count: {agg: count, filter: "status = 'failed'"}
  card_last_tx:                  # the latest value; null (OUTSIDE_MAX_AGE) when older than max_age
    source: transactions
    entity: [cc_num]
    max_age: 7d
    # tie_break: tx_id           # orders events with equal timestamps
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


def sample_time() -> datetime:
    """The end of the sample data: now, or ``SOURCE_DATE_EPOCH`` (seconds since 1970, UTC) when it is set,
    the reproducible-builds convention, so that a tutorial can be replayed with the same data."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch:
        return datetime.now(timezone.utc).replace(microsecond=0)
    try:
        return datetime.fromtimestamp(int(epoch), timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise MaterializerError(f"SOURCE_DATE_EPOCH={epoch!r} is not a time; give whole seconds since "
                                "1970-01-01 UTC (date +%s), or unset it") from None


def spine_rows(now: datetime) -> list[dict]:
    """A small training-set spine over the sample transactions: labelled card events of the last hour,
    on whole minutes, and one card that never transacted."""
    def at(minutes: int) -> str:
        return (now - timedelta(minutes=minutes)).replace(second=0).strftime("%Y-%m-%dT%H:%M:%SZ")

    return [
        {"cc_num": "4111-0000", "event_timestamp": at(60), "label": "1"},
        {"cc_num": "4111-0001", "event_timestamp": at(30), "label": ""},
        {"cc_num": "4111-0299", "event_timestamp": at(15), "label": "0"},
        {"cc_num": "nobody", "event_timestamp": at(60), "label": "0"},
    ]


def scaffold(directory: Path, force: bool = False, now: datetime | None = None) -> list[Path]:
    """Write materializer.yml and sample data into ``directory``: the last 2 hours of transactions,
    16 days of model predictions and their chargebacks (those already reported), and a training-set
    spine. The data ends at ``now`` (default: :func:`sample_time`)."""
    directory.mkdir(parents=True, exist_ok=True)
    project = directory / "materializer.yml"
    if project.exists() and not force:
        raise MaterializerError(f"{project} already exists; use --force to overwrite it")
    now = now or sample_time()
    project.write_text(PROJECT_YML, encoding="utf-8")
    data = directory / "data"
    write_csv(data / "transactions.csv", Scenario().history(2000, now, timedelta(hours=2)))
    predictions, chargebacks = ModelScenario().history(8000, now, timedelta(days=16))
    write_csv(data / "predictions.csv", predictions)
    write_csv(data / "chargebacks.csv",
              [c for c in chargebacks if datetime.fromisoformat(c["reported_at"]) <= now])
    write_csv(data / "spine.csv", spine_rows(now))
    return [project, data / "transactions.csv", data / "predictions.csv", data / "chargebacks.csv",
            data / "spine.csv"]

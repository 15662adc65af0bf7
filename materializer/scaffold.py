"""``materializer init``: a working fraud-detection project with sample data."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

from materializer.demo.scenario import Scenario
from materializer.errors import MaterializerError

PROJECT_YML = """\
# A fraud-detection feature store. Docs: `materializer --help`.
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
"""

COLUMNS = ["tx_id", "cc_num", "merchant", "amount", "status", "ts"]


def write_transactions(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def scaffold(directory: Path, force: bool = False, now: datetime | None = None) -> list[Path]:
    """Write materializer.yml and data/transactions.csv (the last 2 hours of activity) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    project = directory / "materializer.yml"
    if project.exists() and not force:
        raise MaterializerError(f"{project} already exists; use --force to overwrite it")
    project.write_text(PROJECT_YML, encoding="utf-8")
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    data = directory / "data" / "transactions.csv"
    write_transactions(data, Scenario().history(2000, now, timedelta(hours=2)))
    return [project, data]

"""Projects that `validate` accepts must apply and read without a raw SQL error (the hardening issue).

Each test here is a project shape that validation used to accept and PostgreSQL then rejected
(or silently answered wrongly): it now either works end to end on a real database or is
refused by validation with its key path.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from materializer.definitions.validate import parse_project
from materializer.errors import ProjectError

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_drift_of_a_score_column_not_named_score(make_project) -> None:
    """The score is the scored view's `score` column whatever its source name: a monitor with a
    reference and a score column called `probability` applies, and its drift counts the scores."""
    project = make_project("""
sources:
  preds: {columns: {tx_id: text, at: timestamptz, probability: double precision}, timestamp: at}
  labels: {columns: {tx_id: text, at: timestamptz, fraud: integer}, timestamp: at}
monitors:
  m:
    task: binary_classification
    predictions: {source: preds, id: tx_id, timestamp: at, score: probability}
    outcomes: {source: labels, id: tx_id, timestamp: at, label: fraud}
    windows: [1d]
    reference: {relation: training_scores}
""")
    project.apply()
    conn = project.db.conn
    conn.execute("create table training_scores as select g / 10.0 as probability from generate_series(0, 9) as g")
    project.store_reference("m")
    conn.execute("insert into preds values ('a', %s, 0.25), ('b', %s, 0.75)", [T0, T0])
    rows = project.drift("m", window="1d", as_of=T0 + timedelta(hours=1))
    assert [(r["column_name"], r["n"]) for r in rows] == [("probability", 2)]

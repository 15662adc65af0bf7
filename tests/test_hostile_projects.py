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


def test_realistic_filters_run_online_and_in_training_sets(make_project, pg_conn) -> None:
    """The filters validation accepts run in the view and in both forms of a training set, and agree."""
    import pandas as pd
    import yaml

    from materializer.features import training
    from tests.test_validate import REALISTIC_FILTERS

    features = {f"f{i}": {"agg": "count", "filter": condition} for i, condition in enumerate(REALISTIC_FILTERS)}
    raw = {
        "sources": {"transactions": {"columns": {"tx_id": "text", "cc_num": "text", "merchant": "text",
                                                 "amount": "numeric", "status": "text", "ts": "timestamptz"},
                                     "timestamp": "ts"}},
        "feature_views": {"activity": {"source": "transactions", "entity": ["cc_num"], "windows": ["1d"],
                                       "features": features}},
    }
    project = make_project(yaml.safe_dump(raw, sort_keys=False))
    project.apply()
    at = datetime(2026, 3, 2, 12, tzinfo=UTC)
    pg_conn.execute(
        "insert into transactions values ('1', 'c', 'acme', 150, 'failed', %s), ('2', 'c', 'abx', 0.7, 'ok', %s)",
        [at - timedelta(hours=1), at - timedelta(hours=2)])
    online = project.online_features("activity", {"cc_num": "c"}, as_of=at).features
    assert online["f0_1d"] == 1 and online["f1_1d"] == 2
    spine = pd.DataFrame({"cc_num": ["c"], "event_timestamp": [at.isoformat()]})
    for method in ("frames", "probes"):
        training.WINDOWED_METHOD = method
        try:
            frame = project.training_set(spine, ["activity:*"])
        finally:
            training.WINDOWED_METHOD = None
        assert {name: int(frame[f"activity__{name}"][0]) for name in online} == online, method


@pytest.mark.parametrize("maintained", [False, True])
def test_source_columns_named_like_the_scored_columns(make_project, pg_conn, maintained: bool) -> None:
    """A prediction id column called `score` (and an outcome id called `label`): DISTINCT ON (score) once
    read the output column `score`, merging two ids of equal score; every id now counts once."""
    if maintained:
        sources = """
  preds: {columns: {score: text, at: timestamptz, prob: double precision}, timestamp: at}
  outs: {columns: {label: text, at: timestamptz, y: integer}, timestamp: at}"""
    else:
        pg_conn.execute("create table ext_preds (score text, at timestamptz, prob double precision)")
        pg_conn.execute("create table ext_outs (label text, at timestamptz, y integer)")
        sources = """
  preds: {relation: ext_preds, timestamp: at}
  outs: {relation: ext_outs, timestamp: at}"""
    project = make_project(f"""
sources:{sources}
monitors:
  m:
    task: binary_classification
    predictions: {{source: preds, id: score, timestamp: at, score: prob}}
    outcomes: {{source: outs, id: label, timestamp: at, label: y}}
    windows: [1d]
""")
    project.apply()
    preds, outs = ("preds", "outs") if maintained else ("ext_preds", "ext_outs")
    pg_conn.execute(f"insert into {preds} values ('a', %s, 0.9), ('b', %s, 0.9), ('c', %s, 0.1)", [T0] * 3)
    pg_conn.execute(f"insert into {outs} values ('a', %s, 1), ('b', %s, 0), ('c', %s, 0)", [T0] * 3)
    metrics = project.metrics("m", window="1d", as_of=T0 + timedelta(hours=1)).groups[0]["metrics"]
    assert (metrics["n"], metrics["tp"], metrics["fp"], metrics["tn"]) == (3, 1, 1, 1)

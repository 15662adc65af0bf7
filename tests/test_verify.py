"""`materializer verify`: passes when online and offline agree, fails on a deliberately skewed view."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from materializer.cli import app
from tests.test_values import PROJECT, TIMES, generate, load


def test_verify_passes_then_catches_a_skewed_online_view(make_project, monkeypatch):
    project = make_project(PROJECT)
    load(project, generate(21))
    report = project_verify(project)
    assert report.ok and report.checked > 100 and report.entities >= 20

    # skew: someone edits the deployed view so that its 1h window excludes its lower edge
    conn = project.db.conn
    definition = conn.execute("select pg_get_viewdef('activity')").fetchone()[0]
    skewed = definition.replace("'01:00:00'::interval)", "'00:59:00'::interval)")
    assert skewed != definition
    conn.execute(f"create or replace view activity as {skewed}")
    report = project_verify(project)
    assert not report.ok
    assert {m.view for m in report.mismatches} == {"activity"}
    assert {m.feature for m in report.mismatches} <= {f"{f}_1h" for f in (
        "n", "n_amount", "total", "mean", "lo", "hi", "sd", "merchants", "top_merchant", "failed", "failed_sum")}

    monkeypatch.setenv("MATERIALIZER_DSN", project.db.dsn)
    result = CliRunner().invoke(app, ["-p", str(project.root / "materializer.yml"), "verify", "--entities", "10",
                                      "--as-of", TIMES[1].isoformat()])
    assert result.exit_code == 1
    assert "mismatch activity:" in result.output and "mismatches" in result.output


def project_verify(project):
    from materializer.features.verify import verify

    # a time where the 1h windows of the generated data hold events at their edges
    return verify(project, entities=20, as_of=TIMES[1])


TYPED = """
name: typed
sources:
  events:
    columns: {account: bigint, shop: uuid, amount: numeric, ts: timestamptz}
    timestamp: ts
feature_views:
  totals:
    source: events
    entity: [account]
    windows: [1h, 1d]
    features:
      n: {agg: count}
      total: {agg: sum, column: amount}
  by_shop:
    source: events
    entity: [shop]
    windows: [1d]
    features:
      top: {agg: max, column: amount}
  last:
    source: events
    entity: [account]
    max_age: 2h
    features:
      last_amount: {agg: latest, column: amount}
"""


def test_verify_on_typed_keys_without_pandas(cli_env, make_project, monkeypatch):
    """verify, recommended for CI, works on a bigint (and uuid) key and with the base install (no pandas)."""
    import sys

    project = make_project(TYPED)
    project.apply()
    project.db.conn.execute(
        "insert into events select i % 7, ('00000000-0000-0000-0000-00000000000' || (i % 3))::uuid, i * 1.5, "
        "timestamptz '2026-01-01T00:00:00Z' + i * interval '7 minutes' from generate_series(1, 40) as i")
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` fails, as on a base install
    with pytest.raises(ImportError):
        import pandas  # noqa: F401
    report = project.verify(entities=5, as_of="2026-01-01T03:00:00Z")
    assert report.ok, report.mismatches
    # 5 sampled accounts + one without events (two views), 3 shops + one without events
    assert report.entities == 2 * (5 + 1) + 3 + 1
    assert report.checked == (5 + 1) * (4 + 1) + (3 + 1) * 1

    result = CliRunner().invoke(app, ["-p", str(project.root / "materializer.yml"), "verify", "--entities", "3",
                                      "--as-of", "2026-01-01T03:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "0 mismatches" in result.output


def test_verify_and_training_sets_on_an_external_source_with_a_bigint_key(cli_env, make_project, tmp_path):
    """The spine's keys are cast to the external relation's own types (they were text: bigint = text)."""
    project = make_project("""
name: ext
sources:
  events: {relation: raw_events, timestamp: ts}
feature_views:
  totals: {source: events, entity: [account], windows: [1d], features: {n: {agg: count}}}
  last: {source: events, entity: [account], features: {amount: {agg: latest, column: amount}}}
""")
    project.db.conn.execute("create table raw_events (account bigint, amount numeric, ts timestamptz)")
    project.db.conn.execute("insert into raw_events values (1, 5, '2026-01-01T00:00:00Z'), "
                            "(1, 7, '2026-01-01T00:30:00Z'), (2, 1, '2026-01-01T00:10:00Z')")
    project.apply()
    (tmp_path / "spine.csv").write_text("account,event_timestamp\n1,2026-01-01T01:00:00Z\n3,2026-01-01T01:00:00Z\n",
                                        encoding="utf-8")
    out = tmp_path / "train.csv"
    assert project.write_training_set(tmp_path / "spine.csv", ["totals:n_1d", "last:amount"], out=out) == 2
    assert out.read_text().splitlines()[1:] == ["1,2026-01-01T01:00:00Z,2,7", "3,2026-01-01T01:00:00Z,0,"]
    report = project.verify(as_of="2026-01-01T01:00:00Z")
    assert report.ok and report.entities == 2 * (2 + 1)

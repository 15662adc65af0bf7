"""`materializer verify`: passes when online and offline agree, fails on a deliberately skewed view."""

from __future__ import annotations

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

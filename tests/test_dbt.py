"""dbt: the macro package, the example project of dbt_project/, and serving what dbt deployed.

One ``dbt deps && dbt build`` of a copy of dbt_project/ per session, on a database of the test server
(its models in schema ``analytics``), with ``dbt compile`` for the Materialize and RisingWave targets
beside it (both compile offline: ``--no-populate-cache`` keeps dbt from connecting). Then:

- the build's models and data tests pass, and every public macro of the package is documented with
  typed arguments that ``validate_macro_args`` accepts (an InvalidMacroAnnotation fails the build);
- each model's compiled SQL, for every target, equals ``materializer compile``'s rendering of the same
  definition written as a project file (relation names aside);
- the feature views and monitor found in the manifest give the same spec as that project file, and
  the same online features, metrics, time series, version comparisons, drift, reference bins and
  training set as the CLI's own views over the same rows (the CLI's results are the expected values,
  as the issue asks: "equal the CLI's on the same data").
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import conninfo
from pytest_postgresql.janitor import DatabaseJanitor
from typer.testing import CliRunner

from materializer.cli import app
from materializer.definitions.dbt_manifest import spec_from_manifest
from materializer.definitions.validate import parse_project
from materializer.errors import ProjectError
from materializer.project import Project
from materializer.sql.compile import compile_project

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "analytics"
AS_OF = "2026-01-01T00:00:00+00:00"  # the end of the example's seed data
TARGETS = ("postgres", "materialize", "risingwave")

# The example's definitions as a materializer.yml over the relations the seeds fill: what the CLI
# renders and computes, to be compared with what dbt builds from the models' meta.
FRAUD_YML = f"""
name: fraud
engine: postgres
sources:
  transactions: {{relation: {SCHEMA}.transactions, timestamp: ts}}
  predictions: {{relation: {SCHEMA}.predictions, timestamp: predicted_at}}
  chargebacks: {{relation: {SCHEMA}.chargebacks, timestamp: reported_at}}
feature_views:
  card_activity:
    source: transactions
    entity: [cc_num]
    windows: [10m, 1h, 1d]
    features:
      tx_count:     {{agg: count}}
      amount_sum:   {{agg: sum, column: amount}}
      amount_max:   {{agg: max, column: amount}}
      amount_avg:   {{agg: avg, column: amount}}
      merchants:    {{agg: count_distinct, column: merchant}}
      failed_count: {{agg: count, filter: "status = 'failed'"}}
  card_last_tx:
    source: transactions
    entity: [cc_num]
    max_age: 7d
    features:
      last_amount:   {{agg: latest, column: amount}}
      last_merchant: {{agg: latest, column: merchant}}
monitors:
  fraud_model:
    task: binary_classification
    predictions: {{source: predictions, id: tx_id, timestamp: predicted_at, score: score,
                  version: model_version, segments: [channel]}}
    outcomes:    {{source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}}
    threshold: 0.5
    maturity: 7d
    label_policy: implicit_negative
    windows: [1d, 7d]
    bucket: 1h
    costs: {{fp: 5, fn: 120}}
    reference: {{relation: {SCHEMA}.training_scores, column: score}}
"""


@dataclass(frozen=True)
class DbtBuild:
    project: Path  # the copy of dbt_project/
    dsn: str  # its database
    manifest: Path  # target/manifest.json of the postgres build
    results: dict  # target/run_results.json of the build
    compiled: dict[str, Path]  # target -> the folder of its compiled models


def _dbt() -> str:
    exe = Path(sys.executable).parent / "dbt"
    found = str(exe) if exe.exists() else shutil.which("dbt")
    assert found, "dbt is not installed: pip install -e '.[dev]' (the dev extra holds the dbt pins)"
    return found


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([_dbt(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _check(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, f"dbt {done.args[1]} failed:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def dbt_build(pg_noproc, tmp_path_factory) -> Iterator[DbtBuild]:
    """The example project built once: deps, then build on postgres beside compiles for the others."""
    server = {"host": pg_noproc.host, "port": pg_noproc.port, "user": pg_noproc.user,
              "password": pg_noproc.password}
    name = f"dbt_{os.getpid()}"
    base = tmp_path_factory.mktemp("dbt")
    project = base / "dbt_project"
    shutil.copytree(ROOT / "dbt_project", project,
                    ignore=shutil.ignore_patterns("target", "dbt_packages", "logs", ".materializer"))
    (base / "sql_macros").symlink_to(ROOT / "sql_macros")  # packages.yml: local: ../sql_macros
    env = {**os.environ, "PGHOST": str(server["host"]), "PGPORT": str(server["port"]),
           "PGUSER": str(server["user"]), "PGPASSWORD": str(server["password"] or ""), "PGDATABASE": name,
           "DBT_SCHEMA": SCHEMA, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_TARGET": "postgres"}
    with DatabaseJanitor(**server, dbname=name, template_dbname=pg_noproc.template_dbname,
                         maintenance_dbname=pg_noproc.maintenance_dbname):
        _check(_run(["deps", "--profiles-dir", "."], project, env))
        warn = ["--warn-error-options", '{"error": ["InvalidMacroAnnotation", "MacroNotFoundForPatch"]}']
        jobs = {"postgres": subprocess.Popen(
            [_dbt(), "build", "--profiles-dir", ".", *warn], cwd=project, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)}
        for target in ("materialize", "risingwave"):
            jobs[target] = subprocess.Popen(
                [_dbt(), "compile", "--profiles-dir", ".", "--target", target, "--no-populate-cache",
                 "--target-path", f"target-{target}", "--log-path", f"logs-{target}", *warn],
                cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for target, job in jobs.items():
            out, err = job.communicate(timeout=600)
            _check(subprocess.CompletedProcess([_dbt(), f"{target}: {job.args[1]}"], job.returncode, out, err))
        compiled = {"postgres": project / "target" / "compiled" / "fraud" / "models"}
        compiled |= {t: project / f"target-{t}" / "compiled" / "fraud" / "models" for t in TARGETS[1:]}
        yield DbtBuild(project, conninfo.make_conninfo(**{k: v for k, v in server.items() if v}, dbname=name),
                       project / "target" / "manifest.json",
                       json.loads((project / "target" / "run_results.json").read_text()), compiled)


@pytest.fixture(scope="module")
def projects(dbt_build: DbtBuild) -> Iterator[tuple[Project, Project]]:
    """(the dbt-deployed project from its manifest, the CLI's project applied to the same rows)."""
    folder = dbt_build.project.parent / "cli"
    folder.mkdir(exist_ok=True)
    (folder / "materializer.yml").write_text(FRAUD_YML, encoding="utf-8")
    cli = Project.load(folder, dsn=dbt_build.dsn)
    cli.apply()
    cli.store_reference("fraud_model")
    deployed = Project.from_dbt_manifest(dbt_build.manifest, dsn=dbt_build.dsn)
    yield deployed, cli
    deployed.close()
    cli.close()


def test_build_runs_every_model_and_data_test(dbt_build: DbtBuild) -> None:
    results = {r["unique_id"]: r["status"] for r in dbt_build.results["results"]}
    models = [u for u in results if u.startswith("model.")]
    tests = [u for u in results if u.startswith("test.")]
    assert len(models) == 8 and len(tests) >= 20
    assert {s for u, s in results.items() if not u.startswith("exposure.")} <= {"success", "pass"}, results
    names = {u.split(".")[2] for u in tests}
    assert any(n.startswith("between_fraud_model__metrics_coverage") for n in names)  # coverage within [0, 1]
    assert "unique_fraud_model__scored_prediction_id" in names  # no prediction id counted twice
    assert any(n.startswith("non_negative_fraud_model__metrics_") for n in names)  # counts never negative
    manifest = json.loads(dbt_build.manifest.read_text())
    exposed = {d for e in manifest["exposures"].values() for d in e["depends_on"]["nodes"]}
    assert {"model.fraud.card_activity", "model.fraud.card_last_tx", "model.fraud.fraud_model__metrics"} <= exposed


def test_every_public_macro_is_documented_with_typed_arguments(dbt_build: DbtBuild) -> None:
    """Public: every macro that dispatches, and the model macros. Parsed with validate_macro_args on, where
    a wrong name, count or type is an InvalidMacroAnnotation (an error in the build above)."""
    manifest = json.loads(dbt_build.manifest.read_text())
    assert yaml.safe_load((dbt_build.project / "dbt_project.yml").read_text())["flags"]["validate_macro_args"]
    macros = {m["name"]: m for m in manifest["macros"].values() if m["package_name"] == "materializer"}
    public = {n for n, m in macros.items() if "adapter.dispatch(" in m["macro_sql"] and "__" not in n}
    public |= {"feature_view", "monitor_view", "clock_setup", "select_columns"}
    assert len(public) >= 25
    for name in sorted(public):
        macro = macros[name]
        assert macro["patch_path"], f"macro {name} is not documented in sql_macros/macros/macros.yml"
        assert macro["description"], name
        signature = re.search(rf"macro {name}\(([^)]*)\)", macro["macro_sql"]).group(1)
        declared = [a.split("=")[0].strip() for a in signature.split(",") if a.strip()]
        assert [a["name"] for a in macro["arguments"]] == declared, name
        assert all(a["type"] and a["description"] for a in macro["arguments"]), name
    for name, macro in macros.items():
        if "adapter.dispatch(" in macro["macro_sql"] and "__" not in name:
            assert f"'{name}', 'materializer'" in macro["macro_sql"], f"{name} dispatches in its own namespace"


def _cli_bodies(engine: str) -> dict[str, str]:
    spec = parse_project(yaml.safe_load(FRAUD_YML))
    return {o.name: o.sql.split("\n", 1)[1] for o in compile_project(spec, engine) if o.kind == "view"}


def _normal(sql: str) -> str:
    """The SQL without the model file's leading comment, with bare relation names, tidied."""
    from materializer.sql.render import tidy

    lines = sql.strip().splitlines()
    while lines and lines[0].startswith("--"):
        lines.pop(0)
    text = "\n".join(lines)
    text = re.sub(r'"[^"]+"\."[^"]+"\."([^"]+)"', r"\1", text)  # dbt: "db"."schema"."name"
    return tidy(text.replace(f"{SCHEMA}.", ""))


@pytest.mark.parametrize("target", TARGETS)
def test_models_compile_to_the_clis_sql(dbt_build: DbtBuild, target: str) -> None:
    """One source of truth: dbt's compiled SQL of each model is the CLI's for the same definition."""
    bodies = _cli_bodies(target)
    compiled = {p.stem: p.read_text() for p in dbt_build.compiled[target].glob("*/*.sql")}
    assert set(bodies) == set(compiled) - {"fraud_model__reference"}
    for name, body in bodies.items():
        assert _normal(compiled[name]) == _normal(body), f"{name} ({target}) differs from materializer compile"
    # the reference bins: the macro the model calls (their values are compared with the CLI's below)
    assert "row_number() over (partition by column_name order by value)" in compiled["fraud_model__reference"]
    if target == "postgres":
        assert "materializer.clock()" in compiled["card_activity"]
    else:
        assert ("mz_now()" if target == "materialize" else "now()") in compiled["card_activity"]


def test_engine_configs(dbt_build: DbtBuild) -> None:
    """Views on PostgreSQL; materialized views on the streaming engines, in a cluster with lookup indexes on
    Materialize."""
    pg = json.loads(dbt_build.manifest.read_text())["nodes"]
    mz = json.loads((dbt_build.project / "target-materialize" / "manifest.json").read_text())["nodes"]
    rw = json.loads((dbt_build.project / "target-risingwave" / "manifest.json").read_text())["nodes"]
    for view in ("card_activity", "card_last_tx"):
        node = f"model.fraud.{view}"
        assert pg[node]["config"]["materialized"] == "view"
        assert mz[node]["config"]["materialized"] == rw[node]["config"]["materialized"] == "materialized_view"
        assert mz[node]["config"]["cluster"] == "quickstart"
        assert mz[node]["config"]["indexes"] == [{"columns": ["cc_num"]}]
        assert not rw[node]["config"].get("indexes") and not pg[node]["config"].get("indexes")
    assert mz["model.fraud.fraud_model__metrics"]["config"]["materialized"] == "materialized_view"


def test_discovered_spec_is_the_project_files(dbt_build: DbtBuild, projects) -> None:
    deployed, cli = projects
    a, b = deployed.spec, cli.spec
    assert (a.name, a.engine, a.cluster) == ("fraud", "postgres", "quickstart")
    assert set(a.feature_views) == set(b.feature_views) and set(a.monitors) == set(b.monitors) == {"fraud_model"}
    for name, view in a.feature_views.items():
        other = b.feature_views[name]
        assert (view.entity, view.features, view.windows, view.max_age, view.tie_break) == \
               (other.entity, other.features, other.windows, other.max_age, other.tie_break)
        assert view.source.relation == other.source.relation == f"{SCHEMA}.transactions"
        assert view.relation == f"{SCHEMA}.{name}" and other.relation == name
    m, n = a.monitors["fraud_model"], b.monitors["fraud_model"]
    for field in ("task", "windows", "bucket", "label_policy", "maturity", "threshold", "version", "segments",
                  "cost_fp", "cost_fn", "reference_column", "features", "reference_relation"):
        assert getattr(m, field) == getattr(n, field), field
    assert dict(m.served_from) == {k: f"{SCHEMA}.fraud_model__{k}" for k in
                                   ("scored", "metrics", "timeseries", "versions", "reference", "drift")}


CARDS = ["4111-0000", "4111-0001", "4111-0002", "4111-0150", "4111-0299", "nobody"]


def test_online_features_equal_the_clis(projects) -> None:
    deployed, cli = projects
    for view in ("card_activity", "card_last_tx"):
        for card in CARDS:
            for as_of in (AS_OF, "2025-12-31T23:30:00Z", "2026-01-09T00:00:00Z"):
                ours = deployed.online_features(view, {"cc_num": card}, as_of=as_of).to_dict()
                theirs = cli.online_features(view, {"cc_num": card}, as_of=as_of).to_dict()
                assert ours == theirs, (view, card, as_of)
    present = deployed.online_features("card_activity", {"cc_num": "4111-0001"}, as_of=AS_OF)
    assert present.features["tx_count_1d"] > 0 and present.statuses["tx_count_1d"] == "PRESENT"


def test_monitor_reads_equal_the_clis(projects) -> None:
    deployed, cli = projects
    for as_of in (AS_OF, "2025-12-25T12:00:00Z"):
        for window in ("1d", "7d"):
            for by in (None, "version", "channel"):
                ours = deployed.metrics("fraud_model", window=window, by=by, as_of=as_of).to_dict()
                assert ours == cli.metrics("fraud_model", window=window, by=by, as_of=as_of).to_dict()
            assert deployed.versions("fraud_model", window, as_of) == cli.versions("fraud_model", window, as_of)
            assert deployed.drift("fraud_model", window, as_of) == cli.drift("fraud_model", window, as_of)
        assert deployed.timeseries("fraud_model", by="version", as_of=as_of) == \
               cli.timeseries("fraud_model", by="version", as_of=as_of)
    overall = deployed.metrics("fraud_model", window="7d", as_of=AS_OF).groups[0]["metrics"]
    assert overall["n"] > 100 and overall["tp"] > 0
    assert deployed.drift("fraud_model", "7d", AS_OF)[0]["n"] > 0
    # the bins dbt computed in SQL are the ones `materializer reference` stored from Python, to the bit
    with psycopg.connect(deployed.db.dsn) as conn:
        query = "select column_name, bin, lower_bound, upper_bound, share from {} order by 1, 2"
        ours = conn.execute(query.format(f"{SCHEMA}.fraud_model__reference")).fetchall()
        assert len(ours) == 10 and ours == conn.execute(query.format("fraud_model__reference")).fetchall()


def test_training_set_equals_the_clis(projects, tmp_path: Path) -> None:
    deployed, cli = projects
    spine = tmp_path / "spine.csv"
    spine.write_text("cc_num,event_timestamp,label\n" + "".join(
        f"{card},{t},{i % 2}\n" for i, (card, t) in enumerate(
            (c, t) for c in CARDS for t in ("2025-12-31T22:30:00Z", "2025-12-31T23:59:00Z", AS_OF))))
    refs = ["card_activity:*", "card_last_tx:last_amount"]
    ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    assert deployed.write_training_set(spine, refs, out=ours) == len(CARDS) * 3
    cli.write_training_set(spine, refs, out=theirs)
    assert ours.read_text() == theirs.read_text()
    assert "card_activity__tx_count_1h" in ours.read_text().splitlines()[0]


def test_cli_reads_the_manifest(dbt_build: DbtBuild, projects, monkeypatch: pytest.MonkeyPatch,
                                tmp_path: Path) -> None:
    """`--dbt-manifest` on features, metrics, catalog and validate, with no materializer.yml anywhere."""
    deployed, cli = projects
    monkeypatch.setenv("MATERIALIZER_DSN", dbt_build.dsn)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    manifest = ["--dbt-manifest", str(dbt_build.manifest)]
    done = runner.invoke(app, ["features", "card_activity", "--key", "cc_num=4111-0001", "--as-of", AS_OF,
                               "--json", *manifest])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == cli.online_features("card_activity", {"cc_num": "4111-0001"},
                                                          as_of=AS_OF).to_dict()
    done = runner.invoke(app, ["metrics", "fraud_model", "--as-of", AS_OF, "--json", "--by", "channel", *manifest])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == cli.metrics("fraud_model", by="channel", as_of=AS_OF).to_dict()
    done = runner.invoke(app, ["catalog", "--json", *manifest])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert [v["name"] for v in doc["feature_views"]] == ["card_activity", "card_last_tx"]
    assert doc["monitors"][0]["views"]["metrics"] == f"{SCHEMA}.fraud_model__metrics"
    done = runner.invoke(app, ["validate", *manifest])
    assert done.exit_code == 0 and "2 feature views, 1 monitors, engine postgres" in done.stdout


def test_serve_answers_from_the_manifest(dbt_build: DbtBuild, projects) -> None:
    from starlette.testclient import TestClient

    from materializer.serve import ServeSettings, create_app

    deployed, cli = projects
    project = Project.from_dbt_manifest(dbt_build.manifest, dsn=dbt_build.dsn)
    with TestClient(create_app(project, ServeSettings(as_of=AS_OF), dsn=dbt_build.dsn)) as client:
        answer = client.post("/get-online-features", json={
            "features": ["card_activity:tx_count_1h", "card_last_tx:last_merchant"],
            "entities": {"cc_num": ["4111-0001", "nobody"]}})
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        expected = cli.online_features("card_activity", {"cc_num": "4111-0001"}, as_of=AS_OF)
        assert results[1]["values"][0] == expected.features["tx_count_1h"]
        assert results[2]["statuses"] == ["PRESENT", "NOT_FOUND"]
        metrics = client.get("/monitors/fraud_model/metrics", params={"window": "7d"})
        assert metrics.status_code == 200 and metrics.json()["groups"][0]["metrics"]["n"] > 100


# ---------------------------------------------------------------- discovery errors (no database)


def _manifest(models: dict[str, dict], adapter: str = "postgres") -> dict:
    """A minimal manifest: the seed `transactions` and `models` {name: {meta, depends_on}}."""
    seed = {"unique_id": "seed.fraud.transactions", "resource_type": "seed", "name": "transactions",
            "alias": "transactions", "schema": "public", "config": {}, "depends_on": {"nodes": []}}
    nodes = {"seed.fraud.transactions": seed}
    for name, body in models.items():
        nodes[f"model.fraud.{name}"] = {
            "unique_id": f"model.fraud.{name}", "resource_type": "model", "name": name, "alias": name,
            "schema": "public", "config": {"meta": {"materializer": body["meta"]}},
            "depends_on": {"nodes": body.get("depends_on", ["seed.fraud.transactions"])}}
    return {"metadata": {"adapter_type": adapter, "project_name": "fraud"}, "nodes": nodes, "sources": {}}


VIEW = {"kind": "feature_view", "entity": ["cc_num"], "timestamp": "ts", "windows": ["1h"],
        "features": {"tx_count": {"agg": "count"}}}


def test_discovery_errors_point_at_the_model_meta() -> None:
    with pytest.raises(ProjectError) as err:
        spec_from_manifest(_manifest({"card_activity": {"meta": {**VIEW, "windows": ["1h", "90x"]}}}), "m.json")
    assert str(err.value) == ("m.json: models.card_activity.meta.materializer.windows[1]: '90x' is not a duration; "
                              "use a number with s, m, h, d or w (for example 10m, 1h, 7d)")
    with pytest.raises(ProjectError, match=r"meta.materializer.kind: unknown kind 'feature'.*did you mean "
                                           r"'feature_view'.*use feature_view or monitor"):
        spec_from_manifest(_manifest({"v": {"meta": {**VIEW, "kind": "feature"}}}))
    with pytest.raises(ProjectError, match=r"models.v.meta.materializer.source: the model reads 2 nodes .*name its "
                                           r"source of events with `source:`"):
        spec_from_manifest(_manifest({"v": {"meta": VIEW, "depends_on": ["seed.fraud.transactions",
                                                                         "model.fraud.w"]},
                                      "w": {"meta": VIEW}}))
    with pytest.raises(ProjectError, match=r"models.v.meta.materializer.source: 'transaction' is not a node "
                                           r"this model reads \(did you mean 'transactions'\?\); it reads seed "
                                           r"transactions"):
        spec_from_manifest(_manifest({"v": {"meta": {**VIEW, "source": "transaction"}}}))
    with pytest.raises(ProjectError, match=r"monitor m has no scored model"):
        spec_from_manifest(_manifest({"m__metrics": {"meta": {"kind": "monitor", "monitor": "m", "view": "metrics"}}}))
    with pytest.raises(ProjectError, match=r"the dbt adapter is 'snowflake', not one of materializer's engines"):
        spec_from_manifest(_manifest({}, adapter="snowflake"))
    spec = spec_from_manifest(_manifest({"card_activity": {"meta": VIEW}}))
    assert spec.feature_views["card_activity"].relation == "public.card_activity"
    assert spec.sources["transactions"].relation == "public.transactions" and not spec.sources["transactions"].managed


def test_a_missing_manifest_is_one_line_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(app, ["features", "card_activity", "--key", "cc_num=1", "--dbt-manifest",
                                    "target/manifest.json"])
    assert done.exit_code == 1
    assert done.output.strip() == ("error: target/manifest.json: no such dbt manifest; run `dbt parse` (or `dbt "
                                   "build`) in the dbt project, then pass its target/manifest.json")
    (tmp_path / "m.json").write_text("{}")
    done = CliRunner().invoke(app, ["catalog", "--dbt-manifest", "m.json"])
    assert done.exit_code == 1 and "not a dbt manifest" in done.output and done.output.count("\n") == 1


# ---------------------------------------------------------------- db env


def test_db_env_prints_the_servers_libpq_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    monkeypatch.setenv("MATERIALIZER_DSN", "postgresql://ana@db.example:6543/app")
    done = runner.invoke(app, ["db", "env"])
    assert done.exit_code == 0
    assert done.stdout.splitlines() == ["export PGHOST=db.example", "export PGPORT=6543", "export PGUSER=ana",
                                        "export PGDATABASE=app"]
    # a password is printed only as PGPASSWORD, for eval, with a note on stderr; values are shell-quoted
    monkeypatch.setenv("MATERIALIZER_DSN", "host='/tmp/a b' user=ana password='it\\'s s3cret' dbname=app")
    done = runner.invoke(app, ["db", "env"])
    assert done.exit_code == 0
    assert "export PGHOST='/tmp/a b'" in done.stdout and "export PGPORT=5432" in done.stdout
    assert "export PGPASSWORD=" in done.stdout and "note: PGPASSWORD is the password" in done.stderr
    env = subprocess.run(["bash", "-c", f"{done.stdout}\nprintf %s \"$PGPASSWORD\""], capture_output=True, text=True)
    assert env.stdout == "it's s3cret"
    monkeypatch.setenv("MATERIALIZER_DSN", "postgresql://ana:pw@db:99999/app")
    done = runner.invoke(app, ["db", "env"])
    assert done.exit_code == 1 and done.output.startswith("error: the database connection string") and \
        "pw" not in done.output


@pytest.mark.parametrize("target", TARGETS)
def test_models_pass_lint(dbt_build: DbtBuild, target: str) -> None:
    """`materializer lint`'s rules on every compiled model (a view on PostgreSQL, a materialized view on
    the streaming engines); today's known findings are listed in tests/test_lint.py."""
    from materializer.sql.lint import Statement, lint
    from tests.test_lint import check_known

    models = sorted(dbt_build.compiled[target].glob("*/*.sql"))
    assert len(models) == 8
    statements = [Statement(p.stem, p.read_text(), maintained=True) for p in models]
    # the events of models/sources.yml and the scored model grow; training_scores is a fixed validation set
    growing = {"transactions", "predictions", "chargebacks", "fraud_model__scored"}
    check_known(target, "dbt", lint(statements, target, growing=growing))

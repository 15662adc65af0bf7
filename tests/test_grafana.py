"""`materializer dashboards grafana`: the provisioning files, and every panel query run on a real PostgreSQL.

The project is the one `materializer init` makes, with its data pushed, plus a drift reference
for `fraud_model` and a second monitor over the same data (`fraud_score`: regression, explicit
labels, no version column), so every kind of panel has rows to read. Each panel's SQL is expanded
exactly as Grafana expands it for its PostgreSQL datasource (tests/grafana_expand.py, read from
Grafana's source), then run. The Materialize and RisingWave texts cannot run here: they are parsed
with sqlglot in their dialects, their functions checked against the ones those engines document,
and, being portable, run on PostgreSQL too.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import sqlglot
import yaml
from psycopg import conninfo
from pytest_postgresql.janitor import DatabaseJanitor
from sqlglot import exp
from typer.testing import CliRunner

from materializer.cli import app as cli
from materializer.definitions.validate import parse_project
from materializer.demo.scaffold import scaffold
from materializer.monitoring import grafana
from materializer.monitoring.grafana_queries import DIALECTS
from materializer.project import Project
from tests.grafana_expand import ALL, Variable, expand, go_float, parse_interval, rfc3339

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("postgres", "materialize", "risingwave")
UTC = timezone.utc

SECOND_MONITOR = """
  fraud_score:                   # the same scores read as a regression, labels explicit, no version
    task: regression
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score}
    outcomes:    {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}
    windows: [1d, 7d]
    bucket: 1h
"""
REFERENCE = "    reference: {relation: training_scores, column: score}\n"


def _with_extras(text: str) -> str:
    text = text.replace("    costs: {fp: 5, fn: 120}      # a blocked good customer vs a missed fraud\n",
                        "    costs: {fp: 5, fn: 120}      # a blocked good customer vs a missed fraud\n" + REFERENCE)
    assert REFERENCE in text
    return text.rstrip("\n") + "\n" + SECOND_MONITOR


@pytest.fixture(scope="module")
def applied(pg_noproc, tmp_path_factory):
    """init's project with its data pushed, a stored drift reference and a second monitor, on a database of its own."""
    server = {"host": pg_noproc.host, "port": pg_noproc.port, "user": pg_noproc.user, "password": pg_noproc.password}
    name = f"test_{os.getpid()}_grafana"
    with DatabaseJanitor(**server, dbname=name, template_dbname=pg_noproc.template_dbname,
                         maintenance_dbname=pg_noproc.maintenance_dbname):
        dsn = conninfo.make_conninfo(**{k: v for k, v in server.items() if v}, dbname=name)
        folder = tmp_path_factory.mktemp("grafana") / "fraud"
        scaffold(folder, now=datetime.now(UTC).replace(microsecond=0))
        path = folder / "materializer.yml"
        path.write_text(_with_extras(path.read_text(encoding="utf-8")), encoding="utf-8")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create table training_scores (score double precision)")
            conn.execute("insert into training_scores select (i % 97) / 100.0 from generate_series(1, 970) as i")
        project = Project.load(folder, dsn=dsn)
        project.apply()
        for source in ("transactions", "predictions", "chargebacks"):
            project.push(source, folder / "data" / f"{source}.csv")
        project.store_reference("fraud_model")
        yield project
        project.close()


@pytest.fixture
def conn(applied):
    """A connection to the applied project's database, in UTC, as Grafana's would be (plus nothing)."""
    with psycopg.connect(applied.db.dsn, autocommit=True) as c:
        c.execute("set timezone to 'UTC'")
        yield c


def _panels(prov: grafana.Provisioning):
    """(dashboard file, panel, target) of every query."""
    for dash in prov.dashboards:
        for panel in dash.panels:
            for target in panel["targets"]:
                yield dash.file, panel, target


def _variables(version: object) -> dict[str, Variable]:
    return {"window": Variable("7d"), "version": Variable(version, multi=True, include_all=True, all_value="'*'")}


# (name, versions chosen, range, interval): the default view, one version at a coarser interval, a
# 30-day range at 30 days (Go prints its seconds as 2.592e+06), and a range before any data
SETTINGS = [
    ("all-7d-1h", ALL, timedelta(days=7), 3600),
    ("v2-7d-1d", ["v2"], timedelta(days=7), 86400),
    ("all-30d-30d", ALL, timedelta(days=30), 30 * 86400),
    ("empty", ALL, None, 3600),
]


def _expanded(sql: str, setting: tuple, now: datetime) -> str:
    _, version, span, interval = setting
    time_to = now if span else datetime(2001, 1, 2, tzinfo=UTC)
    time_from = time_to - (span or timedelta(days=1))
    return expand(sql, time_from=time_from, time_to=time_to, interval_seconds=interval, variables=_variables(version))


# The columns each panel returns (by title), independent of the generator.
STATS = {"Accuracy": "accuracy", "ROC AUC": "roc_auc", "Cost": "cost", "MAE": "mae", "RMSE": "rmse",
         "Label coverage": "coverage", "Pending labels": "pending", "Predictions counted": "n",
         "Invalid predictions": "n_invalid"}
SERIES = {"Accuracy per model version": ["metric", "accuracy"], "ROC AUC per model version": ["metric", "roc_auc"],
          "Cost per model version": ["metric", "cost"], "Label coverage per model version": ["metric", "coverage"],
          "Pending labels per model version": ["metric", "pending"], "MAE": ["mae"], "RMSE": ["rmse"],
          "Label coverage": ["coverage"], "Pending labels": ["pending"],
          "Predictions counted, labelled and invalid": ["n", "n_labelled", "n_invalid"],
          "Events per interval": ["transactions"]}
TABLES = {"Versions compared ($window)": ["metric", "version_a", "version_b", "n_a", "n_b", "value_a", "value_b",
                                          "difference", "statistic", "significant"],
          "Drift against the reference ($window)": ["column_name", "n", "psi", "js", "ks", "drifted"],
          "Newest event per feature view": ["feature_view", "source", "newest_event", "age_seconds",
                                            "stale_after_seconds", "status"],
          "Age of the newest event": ["feature_view", "source", "newest_event", "age_seconds",
                                      "stale_after_seconds", "status"]}


def expected_columns(panel: dict, monitor_has_version: bool) -> list[str]:
    title = panel["title"]
    if panel["type"] == "stat":
        column = STATS[re.sub(r" \((\$window|now)\)$", "", title)]
        return (["version"] if monitor_has_version else []) + [column]
    if panel["type"] == "timeseries":
        return ["time", *SERIES[title]]
    return TABLES[title]


def _run(conn: psycopg.Connection, sql: str) -> tuple[list[str], list[tuple]]:
    cur = conn.execute(sql)
    return [d.name for d in cur.description], cur.fetchall()


def _number(value: object) -> bool:
    return value is None or isinstance(value, (int, float, Decimal))


@pytest.mark.parametrize("engine", ENGINES)
def test_every_panel_runs_after_grafana_expands_it(applied, conn, engine):
    """Every panel query and the version variable, expanded as Grafana does, run on the applied project and
    return the panel's columns; with the data pushed, every panel has rows for the last 7 days. The
    Materialize and RisingWave texts are portable: they run here too (with nested loops off, which
    changes the plan, never the result: unfenced, PostgreSQL's plan of __timeseries is slow)."""
    if engine != "postgres":
        conn.execute("set enable_nestloop = off")
    now = datetime.now(UTC)
    prov = grafana.provisioning(applied.spec, engine)
    has_version = {d.file: d.file == "fraud_model.json" for d in prov.dashboards}
    ran = 0
    for setting in SETTINGS:
        for file, panel, target in _panels(prov):
            sql = _expanded(target["rawSql"], setting, now)
            assert "$" not in sql.replace("$__env", ""), sql  # nothing left unexpanded
            names, rows = _run(conn, sql)
            where = f"{file}: {panel['title']} ({setting[0]})"
            assert names == expected_columns(panel, has_version[file]), where
            ran += 1
            if target["format"] == "time_series":
                assert isinstance(rows[0][0] if rows else Decimal(0), Decimal), where  # epoch seconds
                assert [r[0] for r in rows] == sorted(r[0] for r in rows), f"{where}: not sorted by time"
                for row in rows:
                    assert all(_number(v) for n, v in zip(names, row, strict=True) if n != "metric"), where
            if setting[0] == "empty":
                if target["format"] == "time_series":
                    assert rows == [], where
                continue
            if setting[0] == "v2-7d-1d" and panel["title"].startswith("Versions compared"):
                assert rows == [], where  # a comparison needs both of its versions chosen
                continue
            assert rows, f"{where}: no rows"
    assert ran == 4 * sum(1 for _ in _panels(prov))

    (variable,) = [v for v in prov.dashboards[0].model["templating"]["list"] if v["name"] == "version"]
    names, rows = _run(conn, _expanded(variable["query"], SETTINGS[0], now))
    assert rows == [("v1",), ("v2",)]


def _series(rows: list[tuple]) -> dict[tuple, float]:
    return {(int(r[0]), r[1]): r[2] for r in rows}


def test_panels_agree_with_the_monitor_reads(applied, conn):
    """Panel values equal what the CLI and the API read from the same views at the same time (the views'
    clock pinned with materializer.as_of, as --as-of does); rolled-up intervals equal sums of buckets."""
    t = datetime.now(UTC).replace(microsecond=0)
    conn.execute("select set_config('materializer.as_of', %s, false)", [t.isoformat()])
    prov = grafana.provisioning(applied.spec, "postgres")
    panels = {(dash.file, p["title"]): p["targets"][0]["rawSql"] for dash in prov.dashboards for p in dash.panels}

    def run(title: str, setting: tuple = ("all", ALL, timedelta(days=7), 3600), file: str = "fraud_model.json"):
        return _run(conn, _expanded(panels[(file, title)], setting, t))[1]

    groups = applied.metrics("fraud_model", "7d", "version", as_of=t).groups
    by_version = {g["by"]["version"]: g["metrics"] for g in groups}
    assert {v: a for v, a in run("Accuracy ($window)")} == {v: m["accuracy"] for v, m in by_version.items()}
    assert {v: p for v, p in run("Pending labels (now)")} == {v: m["pending"] for v, m in by_version.items()}

    buckets = [b for b in applied.timeseries("fraud_model", by="version", as_of=t)
               if t - timedelta(days=7) <= datetime.fromisoformat(b["bucket_start"]) <= t]
    hourly = {(int(datetime.fromisoformat(b["bucket_start"]).timestamp()), b["by"]["version"]): b["metrics"]
              for b in buckets}
    assert hourly
    for title, metric in (("Accuracy per model version", "accuracy"), ("ROC AUC per model version", "roc_auc"),
                          ("Label coverage per model version", "coverage"), ("Cost per model version", "cost")):
        got = _series(run(title))
        assert got.keys() == hourly.keys(), title
        for key, value in got.items():
            want = hourly[key][metric]
            assert (value is None) == (want is None), (title, key)
            assert value is None or value == pytest.approx(want, rel=1e-12, abs=1e-12), (title, key)

    daily = _series(run("Accuracy per model version", ("all", ALL, timedelta(days=7), 86400)))
    sums: dict[tuple, list[int]] = {}
    for (epoch, version), m in hourly.items():
        acc = sums.setdefault((epoch // 86400 * 86400, version), [0, 0])
        acc[0] += m["tp"] + m["tn"]
        acc[1] += m["n"]
    assert daily.keys() == sums.keys()
    for key, (correct, n) in sums.items():
        assert (daily[key] is None) == (n == 0)
        assert daily[key] is None or daily[key] == pytest.approx(correct / n, rel=1e-12)

    # pending over time ends, at the range's end, with the metrics' pending (implicit_negative: any window)
    pending = {version: value for _, version, value in run("Pending labels per model version")}
    assert pending == {v: m["pending"] for v, m in by_version.items()}

    compared = applied.versions("fraud_model", "7d", as_of=t)
    table = run("Versions compared ($window)")
    assert [(r[0], r[1], r[2], r[9]) for r in table] == [(c["metric"], c["version_a"], c["version_b"],
                                                         c["significant"]) for c in compared]
    assert [r[6] for r in table] == pytest.approx([c["value_b"] for c in compared], rel=1e-12)
    drift = applied.drift("fraud_model", "7d", as_of=t)
    assert drift and [(r[0], r[1], r[5]) for r in run("Drift against the reference ($window)")] == [
        (c["column_name"], c["n"], c["psi"] > 0.2) for c in drift]

    from materializer.features.catalog import catalog

    doc = catalog(applied)
    fresh = run("Newest event per feature view", file="feature-freshness.json")
    newest = {v["name"]: v["newest_event"] for v in doc["feature_views"]}
    assert {r[0]: r[2].isoformat() for r in fresh} == newest
    assert {r[0]: r[5] for r in fresh} == {"card_activity": "fresh", "card_last_tx": "fresh"}
    events = run("Events per interval", ("all", ALL, timedelta(days=7), 3600), file="feature-freshness.json")
    assert sum(r[1] for r in events) == 2000


# ---------------------------------------------------------------- the files are Grafana's provisioning


MACROS = {"__timeFilter", "__timeFrom", "__timeTo", "__timeGroupAlias"}


def _grid_cells(panel: dict) -> set[tuple[int, int]]:
    g = panel["gridPos"]
    return {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}


@pytest.mark.parametrize("engine", ENGINES)
def test_files_are_grafana_provisioning(applied, engine, tmp_path):
    prov = grafana.provisioning(applied.spec, engine)
    written, removed = grafana.write(prov, tmp_path)
    assert removed == [] and {p.relative_to(tmp_path).as_posix() for p in written} == {
        "datasources/materializer-fraud.yaml", "dashboards/materializer-fraud.yaml",
        "dashboards/materializer-fraud/fraud_model.json", "dashboards/materializer-fraud/fraud_score.json",
        "dashboards/materializer-fraud/feature-freshness.json"}

    (ds,) = yaml.safe_load((tmp_path / "datasources/materializer-fraud.yaml").read_text())["datasources"]
    assert ds["type"] == "grafana-postgresql-datasource" and ds["access"] == "proxy"
    host, port = {"postgres": ("host.docker.internal", "5432"), "materialize": ("materialize", "6875"),
                  "risingwave": ("risingwave", "4566")}[engine]
    assert ds["url"] == f"{host}:{port}"
    assert ds["jsonData"]["database"] == {"postgres": "postgres", "materialize": "materialize",
                                          "risingwave": "dev"}[engine]
    assert ds["secureJsonData"] == {"password": "$__env{MATERIALIZER_GRAFANA_PASSWORD}"}
    (provider,) = yaml.safe_load((tmp_path / "dashboards/materializer-fraud.yaml").read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/etc/grafana/provisioning/dashboards/materializer-fraud"

    uids = set()
    for path in sorted((tmp_path / "dashboards/materializer-fraud").glob("*.json")):
        model = json.loads(path.read_text())
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", model["uid"]) and model["uid"] not in uids
        uids.add(model["uid"])
        assert isinstance(model["schemaVersion"], int) and model["schemaVersion"] >= 36
        assert "id" not in model and model["title"] and model["time"]["to"] == "now"
        variables = {v["name"]: v for v in model["templating"]["list"]}
        ids, cells = set(), set()
        for panel in model["panels"]:
            assert panel["type"] in {"stat", "timeseries", "table", "bargauge"}
            assert isinstance(panel["id"], int) and panel["id"] not in ids
            ids.add(panel["id"])
            g = panel["gridPos"]
            assert set(g) == {"x", "y", "w", "h"} and all(isinstance(v, int) for v in g.values())
            assert 0 <= g["x"] and 1 <= g["w"] and g["x"] + g["w"] <= 24 and g["y"] >= 0 and g["h"] >= 1
            assert not cells & _grid_cells(panel), f"{panel['title']} overlaps another panel"
            cells |= _grid_cells(panel)
            assert panel["datasource"] == {"type": ds["type"], "uid": ds["uid"]}
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(set(refs)) == len(refs)
            for target in panel["targets"]:
                assert target["datasource"] == panel["datasource"]
                assert target["format"] in ("table", "time_series") and target["rawQuery"] is True
                sql = target["rawSql"]
                assert set(re.findall(r"\$(__\w+)\(", sql)) <= MACROS, sql
                used = set(re.findall(r"\$\{(\w+)[:}]", sql)) | set(re.findall(r"\$([a-z]\w*)", sql))
                assert used <= set(variables), f"{panel['title']}: undefined variables {used - set(variables)}"
            assert set(re.findall(r"\$\{?(\w+)", panel["title"])) <= set(variables)
        for variable in variables.values():
            if variable["type"] == "query":
                assert variable["datasource"]["uid"] == ds["uid"] and variable["refresh"] == 2
                assert variable["includeAll"] and variable["allValue"] == "'*'"
            else:
                assert variable["current"]["value"] in variable["query"].split(",")


# ---------------------------------------------------------------- the SQL of each engine


# Functions the panels may call: documented by all three engines for one-off queries (Materialize
# doc/user/content/sql/functions, RisingWave sql/functions/*.mdx, PostgreSQL's manual), Grafana's
# expansions included (extract, floor). sqlglot reads now() as current_timestamp and CASE as case/if.
DOCUMENTED = {"extract", "floor", "sqrt", "cast", "nullif", "coalesce", "sum", "count", "max", "current_timestamp",
              "case", "if"}


def _functions(tree: exp.Expression) -> set[str]:
    names = set()
    for node in tree.walk():
        if isinstance(node, exp.Anonymous):
            names.add(node.name.lower())
        elif isinstance(node, exp.Func) and not isinstance(node, (exp.Connector, exp.Binary, exp.Predicate)):
            names.add(node.sql_name().lower())
    return names


@pytest.mark.parametrize("engine", ENGINES)
def test_sql_of_each_engine_is_checked_statically(applied, engine):
    """Each engine's text, expanded, parses in its sqlglot dialect and calls only documented functions;
    the streaming engines read the views directly (no `as materialized`, PostgreSQL syntax), and
    their text is PostgreSQL's without the fence, so running it on PostgreSQL (above) tests it."""
    prov = grafana.provisioning(applied.spec, engine)
    pg = {(f, p["title"], t["refId"]): t["rawSql"] for f, p, t in _panels(grafana.provisioning(applied.spec))}
    fence = DIALECTS["postgres"]
    for file, panel, target in _panels(prov):
        sql = target["rawSql"]
        expanded = _expanded(sql, SETTINGS[0], datetime.now(UTC))
        tree = sqlglot.parse_one(expanded, read=engine)
        assert _functions(tree) <= DOCUMENTED, f"{panel['title']}: {_functions(tree) - DOCUMENTED}"
        if engine == "postgres":
            continue
        assert "materialized" not in sql.lower()
        portable = pg[(file, panel["title"], target["refId"])].replace(
            f" as{fence.view_fence} (\n    {fence.fence_comment}\n", " as (\n")
        assert sql == portable, panel["title"]


def test_grafana_expansion_follows_grafanas_source():
    """The expansion used above, on the cases Grafana's own tests and source spell out."""
    t0, t1 = datetime(2026, 12, 1, 15, 0, tzinfo=UTC), datetime(2026, 12, 1, 16, 30, 0, 250000, tzinfo=UTC)
    assert rfc3339(t0) == "2026-12-01T15:00:00Z" and rfc3339(t1) == "2026-12-01T16:30:00.25Z"
    assert expand("where $__timeFilter(ts)", time_from=t0, time_to=t1, interval_seconds=60) == (
        "where ts BETWEEN '2026-12-01T15:00:00Z' AND '2026-12-01T16:30:00.25Z'")
    assert expand("$__timeGroupAlias(ts, $__interval)", time_from=t0, time_to=t1, interval_seconds=300) == (
        'floor(extract(epoch from ts)/300)*300 AS "time"')
    # pre-5.3 compatibility: $__timeGroup directly followed by a comma is the alias form
    assert expand("select $__timeGroup(ts, 1h), v", time_from=t0, time_to=t1, interval_seconds=1).startswith(
        'select floor(extract(epoch from ts)/3600)*3600 AS "time", v')
    assert go_float(14 * 86400) == "1.2096e+06" and go_float(604800) == "604800" and go_float(0.5) == "0.5"
    assert parse_interval("1w", t0) == 604800 and parse_interval("1h30m", t0) == 5400
    variables = {"v": Variable(["a", "it's"], multi=True, include_all=True, all_value="'*'"), "w": Variable("7d")}
    assert expand("x in (${v:sqlstring}) and w = ${w:sqlstring} and y in ($v)", time_from=t0, time_to=t1,
                  interval_seconds=1, variables=variables) == "x in ('a','it''s') and w = '7d' and y in ('a','it''s')"
    variables["v"] = Variable(ALL, multi=True, include_all=True, all_value="'*'")
    assert expand("'*' in (${v:sqlstring})", time_from=t0, time_to=t1, interval_seconds=1,
                  variables=variables) == "'*' in ('*')"


# ---------------------------------------------------------------- the command


def test_a_new_monitor_gets_its_dashboard_and_a_removed_one_loses_it(tmp_path):
    scaffold(tmp_path / "p", now=datetime(2026, 12, 1, tzinfo=UTC))
    text = (tmp_path / "p" / "materializer.yml").read_text()
    one = parse_project(yaml.safe_load(text))
    two = parse_project(yaml.safe_load(_with_extras(text)))
    out = tmp_path / "grafana"
    assert {d.file for d in grafana.provisioning(two).dashboards} == {"fraud_model.json", "fraud_score.json",
                                                                     "feature-freshness.json"}
    grafana.write(grafana.provisioning(two), out)
    (out / "dashboards" / "materializer-fraud" / "mine.json").write_text('{"uid": "mine", "tags": []}')
    _, removed = grafana.write(grafana.provisioning(one), out)
    assert [p.name for p in removed] == ["fraud_score.json"]
    assert sorted(p.name for p in (out / "dashboards" / "materializer-fraud").iterdir()) == [
        "feature-freshness.json", "fraud_model.json", "mine.json"]


def test_the_command_writes_the_files_and_says_so(cli_env):
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "fraud"]).exit_code == 0
    result = runner.invoke(cli, ["--project", "fraud", "dashboards", "grafana", "--out", "grafana",
                                 "--engine", "risingwave"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        ("wrote grafana/datasources/materializer-fraud.yaml (risingwave at risingwave:4566/dev as root; password "
         "from MATERIALIZER_GRAFANA_PASSWORD)"),
        "wrote grafana/dashboards/materializer-fraud.yaml",
        "wrote grafana/dashboards/materializer-fraud/fraud_model.json (14 panels)",
        "wrote grafana/dashboards/materializer-fraud/feature-freshness.json (3 panels)",
    ]
    result = runner.invoke(cli, ["--project", "fraud", "dashboards", "grafana", "--out", "g2", "--dsn",
                                 "postgresql://grafana@db.internal:5433/features?sslmode=require"])
    assert result.exit_code == 0, result.output
    (ds,) = yaml.safe_load((cli_env / "g2/datasources/materializer-fraud.yaml").read_text())["datasources"]
    assert (ds["url"], ds["user"], ds["jsonData"]["database"], ds["jsonData"]["sslmode"]) == (
        "db.internal:5433", "grafana", "features", "require")


BAD_INPUT = [
    (["--out", "fraud/materializer.yml"],
     "error: --out fraud/materializer.yml is a file; give a folder (created if missing), for example --out grafana"),
    (["--out", "g", "--engine", "materialise"],
     "error: unknown engine 'materialise' (did you mean 'materialize'?); use one of postgres, materialize, risingwave"),
    (["--out", "g", "--dsn", "postgresql://u:secret@h/db"],
     ("error: --dsn: leave the password out (it would be written to the provisioning file); Grafana reads it from "
      "MATERIALIZER_GRAFANA_PASSWORD in its environment")),
    (["--out", "g", "--dsn", "host=h port=x"],
     "error: --dsn: port 'x' is not a number; give one such as postgresql://materialize@materialize:6875/materialize"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_is_one_line(cli_env, args, message):
    runner = CliRunner()
    assert runner.invoke(cli, ["init", "fraud"]).exit_code == 0
    result = runner.invoke(cli, ["--project", "fraud", "dashboards", "grafana", *args])
    assert result.exit_code == 1
    assert result.stderr.strip() == message
    assert "secret" not in result.output


# ---------------------------------------------------------------- docker-compose.yml


def test_compose_runs_grafana_on_the_generated_folder():
    """Each profile's Grafana reads, read-only, the two volumes its one-shot dashboards service fills
    with `dashboards grafana --out`, at the paths the provider files name."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for engine in ("materialize", "risingwave"):
        service = compose["services"][f"grafana-{engine}"]
        image, tag = service["image"].rsplit(":", 1)
        assert image == "grafana/grafana" and re.fullmatch(r"\d+\.\d+\.\d+", tag)
        mounts = {target: (source, mode) for source, target, mode in (v.split(":") for v in service["volumes"])}
        assert mounts == {f"{grafana.PROVISIONING}/datasources": ("grafana-datasources", "ro"),
                          f"{grafana.PROVISIONING}/dashboards": ("grafana-dashboards", "ro")}
        writer = compose["services"][f"dashboards-{engine}"]
        out = writer["command"][writer["command"].index("--out") + 1]
        written = {v.split(":")[0]: v.split(":")[1] for v in writer["volumes"] if v.startswith("grafana-")}
        assert written == {"grafana-datasources": f"{out}/datasources", "grafana-dashboards": f"{out}/dashboards"}
        assert service["depends_on"][f"dashboards-{engine}"] == {"condition": "service_completed_successfully"}
        assert "api/health" in " ".join(service["healthcheck"]["test"])
        assert grafana.PASSWORD_ENV in service["environment"]

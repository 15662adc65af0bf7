"""The catalog (``materializer catalog``, ``GET /catalog``) shows each source's stream and backfill."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from starlette.testclient import TestClient
from typer.testing import CliRunner

from materializer.cli import app as cli
from materializer.definitions.validate import parse_project
from materializer.features.catalog import describe
from materializer.serve import ServeSettings, create_app
from materializer.serve.openapi import SOURCE

PROJECT = """
name: streams
engine: {engine}
sources:
  transactions:
    columns: {{tx_id: text, cc_num: text, amount: numeric, ts: timestamptz}}
    timestamp: ts
    kafka: {{broker: 'redpanda:9092', topic: tx.events, start: latest, client_broker: 'localhost:19092'}}
    backfill: {{relation: transactions_history, until: "2026-11-01T00:00:00Z"}}
  clicks:
    columns: {{cc_num: text, ts: timestamptz}}
    timestamp: ts
    webhook: {{}}
  labels:
    columns: {{cc_num: text, ts: timestamptz}}
    timestamp: ts
feature_views:
  activity:
    source: transactions
    entity: [cc_num]
    windows: [1d]
    features: {{n: {{agg: count}}}}
"""

EXPECTED = {  # written from the project above
    "transactions": ({"kind": "kafka", "topic": "tx.events", "start": "latest", "broker": "redpanda:9092"},
                     # until as validated: ISO 8601 with its UTC offset
                     {"relation": "transactions_history", "until": "2026-11-01T00:00:00+00:00"}),
    "clicks": ({"kind": "webhook"}, None),
    "labels": (None, None),
}


@pytest.mark.parametrize("engine", ["postgres", "materialize"])
def test_describe_lists_stream_and_backfill_per_source(engine):
    class Stub:  # describe needs the spec only
        spec = parse_project(yaml.safe_load(PROJECT.format(engine=engine)))

    doc = describe(Stub())  # type: ignore[arg-type]
    assert {s["name"]: (s["stream"], s["backfill"]) for s in doc["sources"]} == EXPECTED
    for source in doc["sources"]:
        jsonschema.validate(source, SOURCE)
        assert "localhost:19092" not in json.dumps(source)  # push's own broker is not the engine's


def test_catalog_cli_and_serve_show_streams(cli_env, pg_dsn, pg_conn):
    (cli_env / "materializer.yml").write_text(PROJECT.format(engine="postgres"), encoding="utf-8")
    pg_conn.execute("create table transactions_history (tx_id text, cc_num text, amount numeric, ts timestamptz)")
    runner = CliRunner()
    assert runner.invoke(cli, ["apply"]).exit_code == 0
    result = runner.invoke(cli, ["catalog", "--json"])
    assert result.exit_code == 0, result.output
    cli_doc = json.loads(result.stdout)
    assert {s["name"]: (s["stream"], s["backfill"]) for s in cli_doc["sources"]} == EXPECTED
    text = runner.invoke(cli, ["catalog"]).stdout
    assert ("source transactions: kafka topic tx.events at redpanda:9092 (start latest); backfill from "
            "transactions_history until 2026-11-01T00:00:00+00:00") in " ".join(text.split())
    assert "source clicks: webhook" in text
    assert "source labels" not in text  # neither a stream nor a backfill: not listed
    from materializer.project import Project

    project = Project.load(cli_env / "materializer.yml", dsn=pg_dsn)
    try:
        with TestClient(create_app(project, ServeSettings(), dsn=pg_dsn)) as client:
            doc = client.get("/catalog").json()
            schema = client.get("/openapi.json").json()
    finally:
        project.close()
    for item in (doc, cli_doc):
        item.pop("as_of")
        for section in ("sources", "feature_views"):
            for entry in item[section]:
                entry.pop("age_seconds", None)
    assert doc == cli_doc
    catalog_schema = schema["paths"]["/catalog"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(doc, catalog_schema)
    bad = {**doc, "sources": [{**doc["sources"][0], "stream": {"kind": "kafka", "topic": "t"}}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, catalog_schema)

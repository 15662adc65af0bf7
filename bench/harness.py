"""What every benchmark here shares: a project folder with its embedded PostgreSQL, a description of
the machine and of the source the views came from, and the JSON results file.

The scripts run as ``python bench/<name>.py``, so this folder is on ``sys.path`` and they
``import harness``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def results_path(name: str) -> Path:
    """The default JSON results file of benchmark ``name`` (``bench/results/<name>.json``, not committed)."""
    return HERE / "results" / f"{name}.json"


def add_common_args(ap: argparse.ArgumentParser, name: str) -> None:
    """``--dir``, ``--keep`` and ``--out``, the same in every benchmark."""
    default = results_path(name)
    ap.add_argument("--dir", type=Path, help="project folder (default: a new temporary folder under /tmp)")
    ap.add_argument("--keep", action="store_true", help="leave the embedded server running and the folder in place")
    ap.add_argument("--out", type=Path, default=default,
                    help=f"JSON results (default {default.relative_to(ROOT)})")


@contextmanager
def embedded_project(project_yml: str, folder: Path | None, keep: bool,
                     cleanup: Callable[[Path], None] | None = None) -> Iterator[tuple[Path, str]]:
    """Write ``materializer.yml`` into ``folder`` (default: a new temporary folder), start the project's
    embedded PostgreSQL there and yield ``(folder, admin DSN)``. Afterwards the server is stopped and a
    temporary folder removed (``cleanup(folder)`` runs for a given one), unless ``keep``."""
    from materializer.db import embedded

    temporary = folder is None
    root = Path(tempfile.mkdtemp(prefix="materializer-bench-")) if temporary else folder.resolve()
    root.mkdir(parents=True, exist_ok=True)
    (root / "materializer.yml").write_text(project_yml, encoding="utf-8")
    print(f"project folder: {root}", file=sys.stderr)
    t0 = time.perf_counter()
    status = embedded.start(root)
    assert status.uri
    print(f"embedded PostgreSQL up in {time.perf_counter() - t0:.1f}s: {status.uri}", file=sys.stderr)
    try:
        yield root, status.uri
    finally:
        if keep:
            print(f"kept: {root} (stop with: python -c \"from materializer.db import embedded; "
                  f"embedded.stop('{root}')\")", file=sys.stderr)
        else:
            embedded.stop(root)
            if temporary:
                shutil.rmtree(root, ignore_errors=True)
            elif cleanup is not None:
                cleanup(root)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_info(conn: Any, settings: Iterable[str] = ("shared_buffers",),
                 packages: Iterable[str] = ()) -> dict[str, object]:
    """Cores, CPU model, memory, Python, psycopg, PostgreSQL and the given server ``settings`` (those the
    server knows), the versions of the given Python ``packages``, and the load average now."""
    import psycopg

    mem_kib = cpu = None
    try:
        mem_kib = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines()
                       if x.startswith("MemTotal:"))
        cpu = next(x.split(":", 1)[1].strip() for x in Path("/proc/cpuinfo").read_text().splitlines()
                   if x.startswith("model name"))
    except (OSError, StopIteration):
        pass
    known = {row[0] for row in conn.execute("select name from pg_settings").fetchall()}
    versions = {}
    for package in packages:
        try:
            versions[package] = getattr(importlib.import_module(package), "__version__", "?")
        except ImportError:
            versions[package] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kib / 2**20, 1) if mem_kib else None,
        "python": platform.python_version(),
        "psycopg": psycopg.__version__,
        "psycopg_impl": psycopg.pq.__impl__,
        "packages": versions,
        "postgres": conn.execute("select version()").fetchone()[0],
        "settings": {name: conn.execute(f"show {name}").fetchone()[0] for name in settings if name in known},
        "loadavg_start": loadavg(),
    }


def source_version() -> dict[str, object]:
    """The commit the views were rendered from, and whether materializer/ or sql_macros/ had local changes."""
    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10, check=False).stdout.strip()
        except OSError:
            return ""
    return {"commit": git("rev-parse", "--short", "HEAD") or None,
            "local_changes": git("status", "--porcelain", "--", "materializer", "sql_macros").splitlines()}


def header(name: str, config: argparse.Namespace, machine: dict[str, object]) -> dict[str, Any]:
    """The first keys of every results file: what ran, when, with which options, where, from which source."""
    return {
        "benchmark": name,
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": f"python bench/{name}.py " + " ".join(sys.argv[1:]),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(config).items()},
        "machine": machine,
        "source": source_version(),
    }


def write_results(path: Path, out: dict[str, Any]) -> None:
    """Write the results as indented JSON (called after every step, so a stopped run keeps what it measured)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=str) + "\n", encoding="utf-8")


def warn_if_tcp(conn: Any) -> None:
    if conn.info.host and not conn.info.host.startswith("/"):
        print(f"warning: connected over TCP ({conn.info.host}), not a unix socket", file=sys.stderr)

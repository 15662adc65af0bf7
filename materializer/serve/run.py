"""Start uvicorn for ``materializer serve``: one process, or ``--workers N`` processes sharing the port.

With several workers uvicorn imports the app in each process, so the app is built by the
factory ``from_environment`` from ``MATERIALIZER_SERVE`` (the project file, the DSN and the
settings, as JSON in the environment of the worker processes only), and Prometheus runs in
multiprocess mode over a temporary folder removed at exit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

ENV = "MATERIALIZER_SERVE"


def _fast_options() -> dict[str, Any]:
    """uvloop and httptools where they are installed (they are dependencies on Linux and macOS)."""
    options: dict[str, Any] = {}
    try:
        import uvloop  # noqa: F401

        options["loop"] = "uvloop"
    except ImportError:
        options["loop"] = "asyncio"
    try:
        import httptools  # noqa: F401

        options["http"] = "httptools"
    except ImportError:
        options["http"] = "h11"
    return options


def from_environment() -> Any:
    """The app factory of worker processes (``uvicorn --factory``)."""
    from materializer.project import load_project
    from materializer.serve.app import ServeSettings, create_app

    config = json.loads(os.environ[ENV])
    manifest = config.get("dbt_manifest")
    project = load_project(Path(config["project"]), Path(manifest) if manifest else None, dsn=config["dsn"])
    return create_app(project, ServeSettings(**config["settings"]), dsn=config["dsn"])


def _server_class() -> Any:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, ending the event streams as soon as it is told to stop: uvicorn waits for
        open responses before it shuts down, and a stream never ends by itself."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            from materializer.serve.stream import shutdown_streams

            shutdown_streams()
            super().handle_exit(sig, frame)

    return Server


def serve(project_file: Path, dsn: str, host: str, port: int, workers: int, settings: Any,
          log_level: str = "info", access_log: bool = False, dbt_manifest: Path | None = None) -> None:
    """Run the server until interrupted (the project of ``project_file``, or of ``dbt_manifest``)."""
    import uvicorn

    options = dict(host=host, port=port, log_level=log_level, access_log=access_log, proxy_headers=False,
                   server_header=False, timeout_graceful_shutdown=5, **_fast_options())
    if workers <= 1:
        from materializer.project import load_project
        from materializer.serve.app import create_app

        project = load_project(project_file, dbt_manifest, dsn=dsn)
        config = uvicorn.Config(create_app(project, settings, dsn=dsn), **options)
        _server_class()(config).run()
        return
    metrics_dir = tempfile.mkdtemp(prefix="materializer-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[ENV] = json.dumps({"project": str(project_file.resolve()), "dsn": dsn,
                                  "dbt_manifest": str(dbt_manifest.resolve()) if dbt_manifest else None,
                                  "settings": dataclasses.asdict(settings)})
    try:
        # worker processes make uvicorn's own server: their open streams end at the graceful timeout
        uvicorn.run("materializer.serve.run:from_environment", factory=True, workers=workers, **options)
    finally:
        os.environ.pop(ENV, None)
        shutil.rmtree(metrics_dir, ignore_errors=True)

"""Monitor reads over HTTP: the same functions and JSON as ``materializer metrics --json``.

The monitor views are read by the project's own (synchronous) functions, in a worker thread
so the event loop keeps serving lookups while a large window is summed. One connection per
server process serves them, one read at a time; a broken connection is dropped and opened
again by the next read, so the server recovers by itself when the database comes back.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from materializer.errors import DatabaseError, DatabaseUnavailable
from materializer.project import Project
from materializer.serve.database import translate

T = TypeVar("T")


class MonitorReader:
    """A private copy of the project with its own connection, used from worker threads."""

    def __init__(self, project: Project, dsn: str) -> None:
        self.project = Project(project.spec, project.root, dsn)
        self.dsn = dsn
        self._lock = threading.Lock()

    def _call(self, fn: Callable[[Project], T]) -> T:
        with self._lock:
            try:
                return fn(self.project)
            except psycopg.Error as exc:
                broken = self.project._db is not None and self.project._db.conn.closed
                if broken or isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
                    self.project.close()
                raise translate(exc, self.dsn) from None
            except DatabaseUnavailable:
                self.project.close()
                raise
            except DatabaseError as exc:
                if self.project._db is None:  # the connection could not be opened
                    raise DatabaseUnavailable(str(exc)) from None
                raise

    async def run(self, fn: Callable[[Project], T]) -> T:
        """``fn(project)`` in a worker thread."""
        return await asyncio.to_thread(self._call, fn)

    def close(self) -> None:
        with self._lock:
            self.project.close()


def monitor_list(project: Project) -> list[dict[str, Any]]:
    from materializer.features.catalog import describe

    return describe(project)["monitors"]

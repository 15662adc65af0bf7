"""The server's database connections: a few async connections per worker process.

Connections are opened on first use (a server starts while its database is down and
answers 503 until it is back), kept open, and handed out one request at a time. A
connection that breaks is closed and replaced by the next request's; after a failed
connect, requests fail fast for a short while instead of each waiting for a timeout.
Every connection gets the engine's session settings and, on PostgreSQL, a
``statement_timeout``. Errors become ours: unreachable -> DatabaseUnavailable (HTTP 503),
a missing relation -> a DatabaseError saying to run ``materializer apply``; messages name the
server as ``host:port/dbname``, never with its password.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.numeric import FloatLoader

from materializer.db.connection import MISSING_RELATION, describe_dsn, server_message, translate_error
from materializer.engines import Engine
from materializer.errors import DatabaseUnavailable, MaterializerError

#: After a failed connect, requests fail at once for this long (seconds) before trying again.
RETRY_AFTER = 1.0


def translate(exc: psycopg.Error, dsn: str) -> MaterializerError:
    """One of our errors for a psycopg error (no password in it): ``db.connection.translate_error``, and a
    missing view or function (the project is not applied there) is DatabaseUnavailable saying to apply."""
    if isinstance(exc, (pg_errors.UndefinedTable, pg_errors.UndefinedFunction, pg_errors.InvalidSchemaName)) or \
            MISSING_RELATION.search(str(exc)):
        return DatabaseUnavailable(f"the project's views are missing at {describe_dsn(dsn)} "
                                   f"({server_message(exc, dsn)}); run `materializer apply`")
    if isinstance(exc, pg_errors.QueryCanceled):  # over the statement timeout: busy, try again
        return DatabaseUnavailable(f"the database at {describe_dsn(dsn)} did not answer within the statement "
                                   f"timeout ({server_message(exc, dsn)})")
    return translate_error(exc, dsn)


class ConnectionPool:
    """Up to ``size`` async connections to ``dsn``, opened on demand and reused."""

    def __init__(self, dsn: str, engine: Engine, cluster: str = "quickstart", size: int = 4,
                 statement_timeout: float | None = 5.0, connect_timeout: float = 5.0,
                 acquire_timeout: float = 5.0, as_of: str | None = None) -> None:
        self.dsn = dsn
        self.where = describe_dsn(dsn)
        self.engine = engine
        self.cluster = cluster
        self.size = max(1, size)
        self.statement_timeout = statement_timeout
        self.connect_timeout = connect_timeout
        self.acquire_timeout = acquire_timeout
        self.as_of = as_of
        self._idle: asyncio.LifoQueue[psycopg.AsyncConnection] = asyncio.LifoQueue()
        self._open = 0  # connections open or being opened
        self._waiters = 0
        self._freed: asyncio.Condition | None = None
        self._down_until = 0.0
        self._closed = False
        self.in_use = 0

    async def _connect(self) -> psycopg.AsyncConnection:
        if time.monotonic() < self._down_until:
            raise DatabaseUnavailable(f"the database at {self.where} is unreachable (retrying shortly)")
        try:
            conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True,
                                                         connect_timeout=max(1, int(self.connect_timeout)))
            # numeric values become JSON numbers anyway: load them as floats in C, not as Decimals
            conn.adapters.register_loader("numeric", FloatLoader)
            for statement in self.engine.session_setup(self.cluster):
                await conn.execute(statement)
            if self.statement_timeout and self.engine.name == "postgres":
                await conn.execute(f"set statement_timeout = {int(self.statement_timeout * 1000)}")
            if self.as_of is not None:  # the views read the clock through materializer.clock()
                await conn.execute("select set_config('materializer.as_of', %s, false)", [self.as_of])
        except psycopg.Error as exc:
            self._down_until = time.monotonic() + RETRY_AFTER
            raise translate(exc, self.dsn) from None
        return conn

    async def _acquire(self) -> psycopg.AsyncConnection:
        if self._closed:
            raise DatabaseUnavailable("the server is shutting down")
        if self._freed is None:
            self._freed = asyncio.Condition()
        while True:
            while not self._idle.empty():
                conn = self._idle.get_nowait()
                if not conn.closed:
                    return conn
                self._open -= 1
            if self._open < self.size:
                self._open += 1
                try:
                    return await self._connect()
                except BaseException:
                    self._open -= 1
                    raise
            async with self._freed:
                self._waiters += 1
                try:
                    await asyncio.wait_for(self._freed.wait(), self.acquire_timeout)
                except asyncio.TimeoutError:
                    raise DatabaseUnavailable(
                        f"all {self.size} database connections of this worker stayed busy for "
                        f"{self.acquire_timeout:g} s") from None
                finally:
                    self._waiters -= 1

    async def _release(self, conn: psycopg.AsyncConnection, broken: bool) -> None:
        if broken or conn.closed or self._closed or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self._open -= 1
            try:
                await conn.close()
            except psycopg.Error:
                pass
        else:
            self._idle.put_nowait(conn)
        if self._waiters and self._freed is not None:
            async with self._freed:
                self._freed.notify()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A connection for one request; psycopg errors inside become ours."""
        conn = await self._acquire()
        self.in_use += 1
        broken = False
        try:
            yield conn
        except psycopg.Error as exc:
            broken = isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and not isinstance(
                exc, pg_errors.QueryCanceled)
            raise translate(exc, self.dsn) from None
        except asyncio.CancelledError:
            broken = True  # cancelled mid-query (client gone, shutdown): the connection's state is unknown
            raise
        finally:
            self.in_use -= 1
            await self._release(conn, broken)

    async def check(self) -> None:
        """Raise DatabaseUnavailable unless a connection answers ``select 1``."""
        async with self.connection() as conn:
            await conn.execute("select 1")

    async def close(self) -> None:
        self._closed = True
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            try:
                await conn.close()
            except psycopg.Error:
                pass

"""Change feeds: the engine tells the server when a monitor's numbers changed (the live dashboard's stream).

A feed follows one monitor on one database connection of its own and yields a :class:`Batch` each
time a set of changes is complete; the stream (``serve/stream.py``) then reads the monitor's summary
again and sends it if its numbers changed. Nothing is read on a timer while a feed is connected, but
a slow fallback (``--stream-fallback``) still re-reads now and then: the windows slide with the clock,
and what a feed does not follow (the freshness of the feature views) changes too.

- PostgreSQL: ``LISTEN materializer_changes``. The triggers that maintain a monitor's counters (its two
  managed source tables and its reference bins, ``monitor_maintenance`` macro) end with
  ``pg_notify('materializer_changes', '<monitor>')``. A notification is delivered when the writing
  transaction commits, once per transaction and payload, so a reader woken by it sees every row of
  that transaction (https://www.postgresql.org/docs/current/sql-notify.html). Notifications that
  arrive within ``DEBOUNCE`` seconds of each other are one batch. A monitor over an external relation
  has no triggers (apply never touches what it does not own): it has no feed and its stream reads
  the views every ``--stream-interval`` seconds.
- Materialize: ``SUBSCRIBE (SELECT * FROM <monitor>__metrics) ENVELOPE UPSERT (KEY (window_name, slice,
  slice_value)) WITH (PROGRESS)`` in a cursor, ``DECLARE`` then ``FETCH ALL ... WITH (timeout = '1s')``
  in one read-only transaction (doc/user/content/sql/subscribe.md "Subscribing with FETCH",
  doc/user/content/sql/fetch.md; psycopg's ``cursor.stream("SUBSCRIBE ...")`` of
  doc/user/content/integrations/client-libraries/python.md would work too, but a FETCH with a timeout
  returns every second, so a feed whose client left is closed within a second). Rows are ``mz_timestamp, mz_progressed, mz_state, key..., value...``
  ("ENVELOPE UPSERT": key columns first; ``mz_state`` is ``upsert``, ``delete`` or ``key_violation``);
  timestamps never decrease and a progress row at ``t`` says no more updates come at times before
  ``t`` ("PROGRESS"), so the updates of a timestamp are applied and sent only once a progress row (or
  an update at a later time) shows it complete: never half a timestamp.
- RisingWave: ``CREATE SUBSCRIPTION IF NOT EXISTS <monitor>__subscription FROM <monitor>__metrics WITH
  (retention = '1h')``, ``DECLARE ... SUBSCRIPTION CURSOR FOR ... FULL`` and ``FETCH n FROM ... WITH
  (timeout = '1s')`` (risingwave-docs serve/subscription.mdx, sql/commands/sql-create-subscription.mdx).
  Rows are the view's columns then ``op`` (``Insert``, ``Delete``, ``UpdateDelete``, ``UpdateInsert``;
  older versions send 1, 2, 4, 3: risingwave e2e_test/subscription/main.py) and ``rw_timestamp`` (ms;
  empty for the rows of the ``FULL`` snapshot). Changes come in the order of their timestamps; a
  timestamp is complete when a later one arrives or when a non-blocking ``FETCH`` returns fewer rows
  than it asked for (every committed change has been read). The subscription is created by the server
  when its feed opens, not by ``apply``: it holds no data of its own (a log of the view's changes for
  ``retention``), and it goes with the view when ``apply`` recreates the view (``drop materialized
  view ... cascade``), so the next feed creates it again.

The parsers (:class:`UpsertParser`, :class:`ChangelogParser`) keep a snapshot of the subscribed view
(key -> values) that each complete timestamp updates; they take rows exactly as the engines send them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

if TYPE_CHECKING:
    from materializer.definitions.spec import Monitor
    from materializer.engines import Engine

log = logging.getLogger("materializer.serve")

#: the LISTEN/NOTIFY channel of PostgreSQL (payload: the monitor's name)
CHANNEL = "materializer_changes"
#: the name of the cursor a feed fetches from (one per connection)
CURSOR = "materializer_changes"
#: the key of a monitor's metrics view: one row per window and slice
METRICS_KEY = ("window_name", "slice", "slice_value")
#: seconds a FETCH waits for rows before it returns (the feed checks it is still wanted in between)
FETCH_TIMEOUT = "1s"
#: rows a RisingWave FETCH asks for
FETCH_ROWS = 100
#: how long a RisingWave subscription keeps the view's changes
RETENTION = "1h"
#: PostgreSQL notifications this close together are one batch (seconds)
DEBOUNCE = 0.05
#: application_name of a feed's connection (it shows in pg_stat_activity)
APPLICATION = "materializer serve: changes"

Key = tuple[Any, ...]
Values = dict[str, Any]


@dataclass
class Batch:
    """The changes of one complete timestamp (or of several: a PostgreSQL batch is a debounce window)."""

    timestamp: Any  # mz_timestamp, rw_timestamp (ms; None for RisingWave's snapshot) or PostgreSQL's receipt time
    changes: list[tuple[Key, Values | None]] = field(default_factory=list)  # (key, values), None: deleted
    snapshot: dict[Key, Values] | None = None  # the view after this timestamp (Materialize, RisingWave)


class FeedError(Exception):
    """The engine sent something a feed cannot read (the feed reconnects)."""


def _column(name: str) -> str:
    """A column name as RisingWave may qualify it in a FETCH (``t1.v1`` -> ``v1``)."""
    return name.rsplit(".", 1)[-1]


class UpsertParser:
    """Materialize ``SUBSCRIBE ... ENVELOPE UPSERT (KEY (...)) WITH (PROGRESS)`` rows -> complete timestamps."""

    def __init__(self, columns: Sequence[str], key: Sequence[str]) -> None:
        columns = [_column(c) for c in columns]
        if columns[:3] != ["mz_timestamp", "mz_progressed", "mz_state"]:
            raise FeedError(f"a SUBSCRIBE with ENVELOPE UPSERT and PROGRESS starts with mz_timestamp, mz_progressed, "
                            f"mz_state; got {', '.join(columns[:3])}")
        self.key = list(key)
        if columns[3:3 + len(self.key)] != self.key:
            raise FeedError(f"the key columns {', '.join(self.key)} do not follow mz_state")
        self.values = columns[3 + len(self.key):]
        self.snapshot: dict[Key, Values] = {}
        self.pending: list[tuple[Any, Key, Values | None]] = []  # updates at times not yet complete
        self.frontier: Any = None  # every time below it is complete

    def _complete(self, upto: Any) -> list[Batch]:
        """Apply and return the pending updates at times < ``upto``, one batch per timestamp (each with the
        snapshot after its own changes)."""
        done = [u for u in self.pending if u[0] < upto]
        self.pending = [u for u in self.pending if u[0] >= upto]
        batches: list[Batch] = []
        for ts, key, values in done:
            if batches and batches[-1].timestamp != ts:
                batches[-1].snapshot = dict(self.snapshot)
            if not batches or batches[-1].timestamp != ts:
                batches.append(Batch(ts))
            batches[-1].changes.append((key, values))
            if values is None:
                self.snapshot.pop(key, None)
            else:
                self.snapshot[key] = values
        if batches:
            batches[-1].snapshot = dict(self.snapshot)
        self.frontier = upto if self.frontier is None else max(self.frontier, upto)
        return batches

    def feed(self, rows: Iterable[Sequence[Any]]) -> list[Batch]:
        """The timestamps these rows complete, in order (their updates applied to the snapshot)."""
        out: list[Batch] = []
        width = len(self.key)
        for row in rows:
            ts, progressed, state = row[0], row[1], row[2]
            if self.frontier is not None and ts < self.frontier:
                raise FeedError(f"an update at {ts}, before the complete time {self.frontier}")
            if progressed:  # nothing more before ts
                out += self._complete(ts)
                continue
            if self.pending and ts > self.pending[-1][0]:  # a later time: the earlier ones are complete
                out += self._complete(ts)
            key = tuple(row[3:3 + width])
            if state == "upsert":
                values: Values | None = dict(zip(self.values, row[3 + width:]))
            elif state == "delete":
                values = None
            elif state == "key_violation":
                raise FeedError(f"the SUBSCRIBE reports more than one row for the key {key}")
            else:
                raise FeedError(f"unknown mz_state {state!r}")
            self.pending.append((ts, key, values))
        return out


#: RisingWave's op column, by name and by the number older versions send
_OPS = {"insert": "upsert", "updateinsert": "upsert", "delete": "delete", "updatedelete": "delete",
        1: "upsert", 3: "upsert", 2: "delete", 4: "delete"}


class ChangelogParser:
    """RisingWave subscription cursor rows (``columns..., op, rw_timestamp``) -> complete timestamps."""

    def __init__(self, columns: Sequence[str], key: Sequence[str]) -> None:
        columns = [_column(c) for c in columns]
        if columns[-2:] != ["op", "rw_timestamp"]:
            raise FeedError(f"a subscription cursor ends with op, rw_timestamp; got {', '.join(columns[-2:])}")
        self.columns = columns[:-2]
        missing = [k for k in key if k not in self.columns]
        if missing:
            raise FeedError(f"the subscribed view has no column {', '.join(missing)}")
        self.key_at = [self.columns.index(k) for k in key]
        self.snapshot: dict[Key, Values] = {}
        self.pending: list[tuple[Any, Key, Values | None]] = []
        self.started = False  # a timestamp was complete (the snapshot rows, if any, are in)

    def _complete(self) -> list[Batch]:
        if not self.pending:
            return []
        ts = self.pending[0][0]
        batch = Batch(ts)
        for _, key, values in self.pending:
            batch.changes.append((key, values))
            if values is None:
                self.snapshot.pop(key, None)
            else:
                self.snapshot[key] = values
        self.pending = []
        batch.snapshot = dict(self.snapshot)
        return [batch]

    def feed(self, rows: Iterable[Sequence[Any]]) -> list[Batch]:
        """The timestamps these rows complete (a timestamp is complete once a later one arrives)."""
        out: list[Batch] = []
        for row in rows:
            *data, op, ts = row
            kind = _OPS.get(op.lower() if isinstance(op, str) else op)
            if kind is None:
                raise FeedError(f"unknown op {op!r}")
            if self.pending and ts != self.pending[0][0]:
                if ts is not None and self.pending[0][0] is not None and ts < self.pending[0][0]:
                    raise FeedError(f"a change at {ts} after one at {self.pending[0][0]}")
                out += self._complete()
            key = tuple(data[i] for i in self.key_at)
            self.pending.append((ts, key, dict(zip(self.columns, data)) if kind == "upsert" else None))
        return out

    def caught_up(self) -> list[Batch]:
        """A non-blocking FETCH returned fewer rows than asked: the pending timestamp is complete."""
        return self._complete()


# ---------------------------------------------------------------- the statements


def subscribe_statement(monitor: Monitor) -> str:
    """Materialize: the cursor over the monitor's metrics view (the relation names come from the project)."""
    return (f"declare {CURSOR} cursor for subscribe (select * from {monitor.relation('metrics')}) "
            f"envelope upsert (key ({', '.join(METRICS_KEY)})) with (progress)")


def subscription_name(monitor: Monitor) -> str:
    return f"{monitor.name}__subscription"


def subscription_statements(monitor: Monitor) -> tuple[str, str]:
    """RisingWave: the subscription (created if missing) and the cursor over it, from its snapshot on."""
    name = subscription_name(monitor)
    return ((f"create subscription if not exists {name} from {monitor.relation('metrics')} "
            f"with (retention = '{RETENTION}')"),
            f"declare {CURSOR} subscription cursor for {name} full")


def fetch_statement(engine: str, wait: bool = True) -> str:
    """The FETCH of a feed: Materialize takes every ready row, RisingWave up to FETCH_ROWS; ``wait`` blocks for
    up to FETCH_TIMEOUT when no row is ready (RisingWave's FETCH without a timeout returns at once)."""
    if engine == "materialize":
        return f"fetch all {CURSOR} with (timeout = '{FETCH_TIMEOUT if wait else '0s'}')"
    head = f"fetch {FETCH_ROWS} from {CURSOR}"
    return f"{head} with (timeout = '{FETCH_TIMEOUT}')" if wait else head


def feed_statements(monitor: Monitor, engine: Engine, cluster: str) -> list[tuple[str, bool]]:
    """(statement, inside the feed's transaction block) as a feed sends them, in order, for ``monitor``
    (empty: the monitor has no feed on ``engine``). db/sequences.py models them for ``materializer lint``."""
    setup = [(s, False) for s in engine.session_setup(cluster)]
    if engine.name == "materialize":
        return [*setup, ("begin", False), (subscribe_statement(monitor), True),
                (fetch_statement("materialize"), True)]
    if engine.name == "risingwave":
        create, declare = subscription_statements(monitor)
        return [*setup, (create, False), (declare, False), (fetch_statement("risingwave"), False),
                (fetch_statement("risingwave", wait=False), False)]
    return [*setup, (f"listen {CHANNEL}", False)]


# ---------------------------------------------------------------- the feeds


class ChangeFeed:
    """The changes of one monitor, on a connection of its own (``batches`` opens it and closes it when the
    caller stops iterating or is cancelled; a lost connection raises a psycopg error)."""

    def __init__(self, monitor: Monitor, dsn: str, engine: Engine, cluster: str) -> None:
        self.monitor = monitor
        self.dsn = dsn
        self.engine = engine
        self.cluster = cluster

    async def _connect(self) -> psycopg.AsyncConnection:
        conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True, connect_timeout=5,
                                                     application_name=APPLICATION)
        for statement in self.engine.session_setup(self.cluster):
            await conn.execute(statement)
        return conn

    async def batches(self, opened: Callable[[], None] = lambda: None) -> AsyncIterator[Batch]:
        conn = await self._connect()
        try:
            async for batch in self._follow(conn, opened):
                yield batch
        finally:
            try:
                await conn.close()  # the server ends the session: its LISTEN, cursor and SUBSCRIBE go with it
            except Exception:  # noqa: BLE001, S110 - closing a broken connection
                pass

    def _follow(self, conn: psycopg.AsyncConnection, opened: Callable[[], None]) -> AsyncIterator[Batch]:
        raise NotImplementedError


class PostgresNotifyFeed(ChangeFeed):
    """``LISTEN`` for the notifications of the monitor's maintenance triggers."""

    async def _follow(self, conn: psycopg.AsyncConnection, opened: Callable[[], None]) -> AsyncIterator[Batch]:
        await conn.execute(f"listen {CHANNEL}")
        opened()
        name = self.monitor.name
        while True:
            got = 0
            # notifications that come while no notifies() runs wait in psycopg's backlog
            async with aclosing(conn.notifies(timeout=5.0)) as notes:
                async for note in notes:
                    if note.payload == name:
                        got += 1
                        break
            if not got:
                await conn.execute("select 1")  # notifies() ends quietly on its timeout: check the connection
                continue
            # more of the same burst (other transactions committing now) join this batch
            async with aclosing(conn.notifies(timeout=DEBOUNCE)) as notes:
                async for note in notes:
                    got += note.payload == name
            yield Batch(time.time(), [((name,), {"notifications": got})])


class MaterializeSubscribeFeed(ChangeFeed):
    """``SUBSCRIBE`` to the metrics view in a cursor, fetched in a loop."""

    async def _follow(self, conn: psycopg.AsyncConnection, opened: Callable[[], None]) -> AsyncIterator[Batch]:
        await conn.execute("begin")
        await conn.execute(subscribe_statement(self.monitor))
        opened()
        parser: UpsertParser | None = None
        fetch = fetch_statement("materialize")
        while True:
            cur = await conn.execute(fetch)
            rows = await cur.fetchall()
            if parser is None:
                if cur.description is None:
                    raise FeedError("FETCH returned no columns")
                parser = UpsertParser([c.name for c in cur.description], METRICS_KEY)
            for batch in parser.feed(rows):
                yield batch


class RisingWaveSubscriptionFeed(ChangeFeed):
    """A subscription cursor over the metrics view, fetched in a loop."""

    async def _follow(self, conn: psycopg.AsyncConnection, opened: Callable[[], None]) -> AsyncIterator[Batch]:
        for statement in subscription_statements(self.monitor):
            await conn.execute(statement)
        opened()
        parser: ChangelogParser | None = None
        wait, drain = fetch_statement("risingwave"), fetch_statement("risingwave", wait=False)
        statement = wait
        while True:
            cur = await conn.execute(statement)
            rows = await cur.fetchall()
            if parser is None and cur.description is not None:
                parser = ChangelogParser([c.name for c in cur.description], METRICS_KEY)
            if parser is None:
                continue
            for batch in parser.feed(rows):
                yield batch
            if statement == drain and len(rows) < FETCH_ROWS:
                for batch in parser.caught_up():
                    yield batch
                statement = wait
            elif rows:
                statement = drain  # read what else is ready without waiting, then the timestamp is complete


def feed_for(monitor: Monitor, dsn: str, engine: Engine, cluster: str) -> ChangeFeed | None:
    """The change feed of ``monitor`` on ``engine``, or None when the engine cannot push its changes (a
    PostgreSQL monitor over an external relation has no maintenance triggers)."""
    if engine.name == "materialize":
        return MaterializeSubscribeFeed(monitor, dsn, engine, cluster)
    if engine.name == "risingwave":
        return RisingWaveSubscriptionFeed(monitor, dsn, engine, cluster)
    from materializer.sql.compile import maintained

    return PostgresNotifyFeed(monitor, dsn, engine, cluster) if maintained(monitor, engine) else None


# ---------------------------------------------------------------- following a feed


class Follower:
    """Runs a feed until cancelled: ``wake()`` after every batch and when the feed (re)connects (changes may
    have been missed meanwhile); on a lost connection it waits (0.5 s, doubling up to ``max_backoff``)
    and connects again. ``live`` says whether the feed is connected now."""

    def __init__(self, feed: ChangeFeed, wake: Callable[[], None], max_backoff: float = 10.0) -> None:
        self.feed = feed
        self.wake = wake
        self.max_backoff = max_backoff
        self.live = False
        self.batches = 0
        self.failures = 0

    def _opened(self) -> None:
        self.live = True
        self.wake()

    async def run(self) -> None:
        delay = 0.5
        while True:
            try:
                async for _batch in self.feed.batches(self._opened):
                    self.batches += 1
                    delay = 0.5
                    self.wake()
                raise FeedError("the feed ended")
            except asyncio.CancelledError:
                self.live = False
                raise
            except (psycopg.Error, OSError, FeedError) as exc:
                if self.live or self.failures == 0:
                    log.warning("change feed of %s lost (%s); reconnecting", self.feed.monitor.name,
                                str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                self.live = False
                self.failures += 1
                self.wake()  # the reader notices the database is down (or reads once more) meanwhile
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

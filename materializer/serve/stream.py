"""Server-Sent Events: a monitor's summary whenever it changes (``GET /monitors/{name}/stream``).

One reader per monitor and window runs while at least one client listens. It reads the summary
(``monitoring.summary``) when the engine says the monitor changed, and sends it to every client as
an event ``summary`` whose ``id`` is a digest of its content when the numbers changed. The engine
says so through the monitor's change feed (``serve/changes.py``: LISTEN/NOTIFY on PostgreSQL,
SUBSCRIBE on Materialize, a subscription cursor on RisingWave), one per monitor whatever the number
of windows and clients; without a feed (a PostgreSQL monitor over an external relation) or while
it is disconnected, the reader reads every ``interval`` seconds, and with one every ``fallback``
seconds (the windows slide with the clock). A client that reconnects with ``Last-Event-ID`` equal to
the current digest is not sent the same summary again. Between changes a ``heartbeat`` event carries
the clock every ``heartbeat`` seconds (and keeps proxies from closing an idle connection). While
the database is unreachable an ``error`` event says so once and the reader keeps trying. When the
last client leaves, the reader and the feed stop (the feed's connection is closed, and its LISTEN,
cursor or SUBSCRIBE with it); a client that goes away mid-stream is noticed by the server and its
queue dropped, so nothing leaks.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import orjson

from materializer.errors import MaterializerError

if TYPE_CHECKING:
    from materializer.serve.changes import ChangeFeed, Follower
    from materializer.serve.monitors import MonitorReader

log = logging.getLogger("materializer.serve")

#: Fields that change at every reading although nothing happened: left out of the digest.
_CLOCKED = ("as_of",)


def digest(doc: dict[str, Any]) -> str:
    """The id of a summary: a hash of its numbers, not of its clock or of the ages it computes."""
    stable = {k: v for k, v in doc.items() if k not in _CLOCKED}
    stable["freshness"] = [{k: v for k, v in f.items() if k != "age_seconds"} for f in doc.get("freshness", [])]
    return hashlib.sha1(orjson.dumps(stable, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:16]


def event(name: str, data: Any, event_id: str | None = None) -> bytes:
    """One SSE event (the data is one line of JSON)."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {name}\ndata: ".encode() + orjson.dumps(data, default=str) + b"\n\n"


def consistent_summary(project: Any, name: str, window: str | None, as_of: str | None) -> dict[str, Any]:
    """The summary, on PostgreSQL read in one REPEATABLE READ transaction: its many reads see one snapshot,
    so a summary read while a push commits holds all of the push or none of it (never new versions next
    to old metrics)."""
    from materializer.monitoring.summary import summary

    if project.engine != "postgres":
        return summary(project, name, window=window, as_of=as_of)
    conn = project.db.conn
    with conn.transaction():
        conn.execute("set transaction isolation level repeatable read, read only")
        return summary(project, name, window=window, as_of=as_of)


class Channel:
    """The listeners of one monitor and window, and the reader that feeds them."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[bytes]] = set()
        self.latest: tuple[str, bytes] | None = None  # (digest, event)
        self.clock: str | None = None
        self.read_at = 0.0  # monotonic time of the reading that gave ``clock``
        self.error: str | None = None
        self.task: asyncio.Task | None = None
        self.wake = asyncio.Event()  # set by the monitor's change feed
        self.reads = 0


class Watch:
    """The change feed of one monitor while any of its channels has listeners."""

    def __init__(self, follower: Follower | None) -> None:
        self.follower = follower
        self.task: asyncio.Task | None = None

    @property
    def live(self) -> bool:
        return self.follower is not None and self.follower.live


_HUBS: weakref.WeakSet[StreamHub] = weakref.WeakSet()


def shutdown_streams() -> None:
    """End every open stream of this process (called when the server is told to stop, before it waits
    for open responses to finish: a stream never finishes by itself). Safe from a signal handler."""
    for hub in list(_HUBS):
        hub.loop.call_soon_threadsafe(hub.closing.set)


class StreamHub:
    """Readers, change feeds and listeners of every stream of one server process (made inside the event
    loop). ``feeds(monitor)`` gives a monitor's change feed (None: it has none)."""

    def __init__(self, reader: MonitorReader, interval: float = 2.0, heartbeat: float = 15.0,
                 as_of: str | None = None, fallback: float = 30.0,
                 feeds: Callable[[str], ChangeFeed | None] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        _HUBS.add(self)
        self.reader = reader
        self.interval = interval
        self.heartbeat = heartbeat
        self.fallback = max(fallback, interval)
        self.as_of = as_of
        self.feeds = feeds or (lambda name: None)
        self.channels: dict[tuple[str, str | None], Channel] = {}
        self.watches: dict[str, Watch] = {}
        self.closing = asyncio.Event()

    @property
    def clients(self) -> int:
        return sum(len(c.queues) for c in self.channels.values())

    @property
    def feeds_live(self) -> int:
        """Change feeds connected now."""
        return sum(1 for w in self.watches.values() if w.live)

    async def first(self, name: str, window: str | None) -> dict[str, Any]:
        """A summary read now (raises the error a bad window or an unreachable database gives)."""
        return await self.reader.run(lambda p: consistent_summary(p, name, window, self.as_of))

    def _publish(self, channel: Channel, data: bytes) -> None:
        for queue in channel.queues:
            if queue.qsize() < 8:  # a client that stopped reading gets no more than 8 events queued
                queue.put_nowait(data)

    def _watch(self, name: str) -> Watch:
        """The monitor's watch, its feed started (once per monitor, whatever the windows and clients)."""
        watch = self.watches.get(name)
        if watch is None:
            from materializer.serve.changes import Follower

            feed = self.feeds(name)

            def wake() -> None:
                for (monitor, _), channel in self.channels.items():
                    if monitor == name:
                        channel.wake.set()

            watch = Watch(Follower(feed, wake) if feed is not None else None)
            if watch.follower is not None:
                watch.task = asyncio.create_task(watch.follower.run())
            self.watches[name] = watch
        return watch

    def _unwatch(self, name: str) -> None:
        """Stop the monitor's feed when no channel of it is left."""
        if any(monitor == name for monitor, _ in self.channels):
            return
        watch = self.watches.pop(name, None)
        if watch is not None and watch.task is not None and not watch.task.done():
            watch.task.cancel()

    def _heartbeat_clock(self, channel: Channel) -> str | None:
        """The clock now, from the last reading: pinned (``as_of``) or moved on by the time since."""
        if channel.clock is None or self.as_of is not None:
            return channel.clock
        from materializer.definitions.timeparse import parse_timestamp

        moved = parse_timestamp(channel.clock) + timedelta(seconds=time.monotonic() - channel.read_at)
        return moved.isoformat()

    async def _read_once(self, name: str, window: str | None, channel: Channel) -> None:
        try:
            doc = await self.first(name, window)
        except MaterializerError as exc:
            if channel.error != str(exc):
                channel.error = str(exc)
                self._publish(channel, event("error", {"status": 503, "detail": str(exc)}))
        except Exception:  # a reader never dies of one bad reading
            channel.error = "internal error"
            log.exception("stream %s: reading the summary failed", name)
        else:
            channel.reads += 1
            recovered = channel.error is not None
            channel.error = None
            channel.clock = doc["as_of"]
            channel.read_at = time.monotonic()
            ident = digest(doc)
            if channel.latest is None or channel.latest[0] != ident or recovered:  # after an error: sent again
                channel.latest = (ident, event("summary", doc, ident))
                self._publish(channel, channel.latest[1])

    async def _poll(self, key: tuple[str, str | None], channel: Channel, watch: Watch) -> None:
        name, window = key
        loop = asyncio.get_running_loop()
        last_read = last_beat = loop.time()
        await self._read_once(name, window, channel)
        while channel.queues and not self.closing.is_set():
            # read on the feed's word; on a timer only without a feed, while it is down, or after an error
            period = self.fallback if watch.live and channel.error is None else self.interval
            now = loop.time()
            due = min(last_read + period, last_beat + self.heartbeat)
            waker = asyncio.ensure_future(channel.wake.wait())
            closing = asyncio.ensure_future(self.closing.wait())
            await asyncio.wait({waker, closing}, timeout=max(0.0, due - now), return_when=asyncio.FIRST_COMPLETED)
            waker.cancel()
            closing.cancel()
            if self.closing.is_set():
                break
            now = loop.time()
            if channel.wake.is_set() or now >= last_read + period:
                channel.wake.clear()
                last_read = now
                before = channel.latest[0] if channel.latest else None
                await self._read_once(name, window, channel)
                if channel.latest is not None and channel.latest[0] != before:
                    last_beat = loop.time()  # a summary was sent: the next heartbeat counts from it
                    continue
            if loop.time() - last_beat >= self.heartbeat:
                self._publish(channel, event("heartbeat", {"as_of": self._heartbeat_clock(channel)}))
                last_beat = loop.time()

    async def subscribe(self, name: str, window: str | None, last_event_id: str | None,
                        gone: asyncio.Event | None = None) -> AsyncIterator[bytes]:
        """The events of one client until it leaves (``gone`` is set) or the server stops."""
        gone = gone or asyncio.Event()
        key = (name, window)
        channel = self.channels.setdefault(key, Channel())
        watch = self._watch(name)
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        channel.queues.add(queue)
        try:
            yield f"retry: {int(self.interval * 1000)}\n\n".encode()
            if channel.latest is not None and channel.latest[0] != last_event_id:
                yield channel.latest[1]
            if channel.task is None or channel.task.done():
                channel.task = asyncio.create_task(self._poll(key, channel, watch))
            while not self.closing.is_set() and not gone.is_set():
                getter = asyncio.ensure_future(queue.get())
                closing = asyncio.ensure_future(self.closing.wait())
                leaving = asyncio.ensure_future(gone.wait())
                done, _ = await asyncio.wait({getter, closing, leaving}, return_when=asyncio.FIRST_COMPLETED)
                closing.cancel()
                leaving.cancel()
                if getter not in done:
                    getter.cancel()
                    break
                data = getter.result()
                if data.startswith(b"id: ") and last_event_id is not None and data.startswith(
                        f"id: {last_event_id}\n".encode()):
                    continue  # the client has this one already
                yield data
        finally:
            channel.queues.discard(queue)
            if not channel.queues:
                if channel.task is not None and not channel.task.done():
                    channel.task.cancel()
                self.channels.pop(key, None)
                self._unwatch(name)

    async def close(self) -> None:
        """End every stream (the server is stopping)."""
        self.closing.set()
        tasks = [c.task for c in self.channels.values() if c.task is not None]
        tasks += [w.task for w in self.watches.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class EventStreamResponse:
    """An ASGI response sending a hub's events, which notices at once when the client goes away
    (it reads the request's ``http.disconnect``; a stream that sends nothing for a while would
    otherwise only notice at its next write)."""

    def __init__(self, hub: StreamHub, name: str, window: str | None, last_event_id: str | None) -> None:
        self.hub, self.name, self.window, self.last_event_id = hub, name, window, last_event_id

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        watcher = asyncio.create_task(watch())
        events = self.hub.subscribe(self.name, self.window, self.last_event_id, gone)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no")]})
            async for chunk in events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away while we wrote
            pass
        finally:
            await events.aclose()
            watcher.cancel()

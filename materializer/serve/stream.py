"""Server-Sent Events: a monitor's summary whenever it changes (``GET /monitors/{name}/stream``).

One poller per monitor and window runs while at least one client listens: every ``interval``
seconds it reads the summary (``monitoring.summary``) and, when the numbers changed, sends it to
every client as an event ``summary`` whose ``id`` is a digest of its content. A client that
reconnects with ``Last-Event-ID`` equal to the current digest is not sent the same summary again.
Between changes a ``heartbeat`` event carries the clock every ``heartbeat`` seconds (and keeps
proxies from closing an idle connection). While the database is unreachable an ``error`` event
says so once and the poller keeps trying. When the last client leaves, the poller stops; a
client that goes away mid-stream is noticed by the server and its queue dropped, so nothing leaks.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from materializer.errors import MaterializerError

if TYPE_CHECKING:
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


class Channel:
    """The listeners of one monitor and window, and the poller that feeds them."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[bytes]] = set()
        self.latest: tuple[str, bytes] | None = None  # (digest, event)
        self.clock: str | None = None
        self.error: str | None = None
        self.task: asyncio.Task | None = None


_HUBS: "weakref.WeakSet[StreamHub]" = weakref.WeakSet()


def shutdown_streams() -> None:
    """End every open stream of this process (called when the server is told to stop, before it waits
    for open responses to finish: a stream never finishes by itself). Safe from a signal handler."""
    for hub in list(_HUBS):
        hub.loop.call_soon_threadsafe(hub.closing.set)


class StreamHub:
    """Pollers and listeners of every stream of one server process (made inside the event loop)."""

    def __init__(self, reader: "MonitorReader", interval: float = 2.0, heartbeat: float = 15.0,
                 as_of: str | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        _HUBS.add(self)
        self.reader = reader
        self.interval = interval
        self.heartbeat = heartbeat
        self.as_of = as_of
        self.channels: dict[tuple[str, str | None], Channel] = {}
        self.closing = asyncio.Event()

    @property
    def clients(self) -> int:
        return sum(len(c.queues) for c in self.channels.values())

    async def _read(self, name: str, window: str | None) -> dict[str, Any]:
        from materializer.monitoring.summary import summary

        return await self.reader.run(lambda p: summary(p, name, window=window, as_of=self.as_of))

    async def first(self, name: str, window: str | None) -> dict[str, Any]:
        """A summary read now (raises the error a bad window or an unreachable database gives)."""
        return await self._read(name, window)

    def _publish(self, channel: Channel, data: bytes) -> None:
        for queue in channel.queues:
            if queue.qsize() < 8:  # a client that stopped reading gets no more than 8 events queued
                queue.put_nowait(data)

    async def _poll(self, key: tuple[str, str | None], channel: Channel) -> None:
        name, window = key
        since_beat = 0.0
        while channel.queues and not self.closing.is_set():
            try:
                doc = await self._read(name, window)
            except MaterializerError as exc:
                if channel.error != str(exc):
                    channel.error = str(exc)
                    self._publish(channel, event("error", {"status": 503, "detail": str(exc)}))
            except Exception:  # noqa: BLE001 - a poller never dies of one bad reading
                log.exception("stream %s: reading the summary failed", name)
            else:
                channel.error = None
                channel.clock = doc["as_of"]
                ident = digest(doc)
                if channel.latest is None or channel.latest[0] != ident:
                    channel.latest = (ident, event("summary", doc, ident))
                    self._publish(channel, channel.latest[1])
                    since_beat = 0.0
                elif since_beat >= self.heartbeat:
                    self._publish(channel, event("heartbeat", {"as_of": doc["as_of"]}))
                    since_beat = 0.0
            try:
                await asyncio.wait_for(self.closing.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            since_beat += self.interval

    async def subscribe(self, name: str, window: str | None, last_event_id: str | None,
                        gone: asyncio.Event | None = None) -> AsyncIterator[bytes]:
        """The events of one client until it leaves (``gone`` is set) or the server stops."""
        gone = gone or asyncio.Event()
        key = (name, window)
        channel = self.channels.setdefault(key, Channel())
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        channel.queues.add(queue)
        try:
            yield f"retry: {int(self.interval * 1000)}\n\n".encode()
            if channel.latest is not None and channel.latest[0] != last_event_id:
                yield channel.latest[1]
            if channel.task is None or channel.task.done():
                channel.task = asyncio.create_task(self._poll(key, channel))
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

    async def close(self) -> None:
        """End every stream (the server is stopping)."""
        self.closing.set()
        tasks = [c.task for c in self.channels.values() if c.task is not None]
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

"""Prometheus metrics of the server (``GET /metrics``, text format).

Request latency per route (histogram), requests by route and status, errors by route and
kind, rows pushed by source, database connections open and in use, and per feature view the
time of its newest event and its age. With several worker processes the values of all of
them are summed (``prometheus_client``'s multiprocess mode, enabled by ``materializer serve
--workers N`` through ``PROMETHEUS_MULTIPROC_DIR``); each app keeps its own registry, so apps
built in one process (tests) do not collide.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class Telemetry:
    """The metric objects of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = None if multiprocess() else self.registry
        self.latency = Histogram("materializer_http_request_duration_seconds",
                                 "Time to answer an HTTP request, by route and method.",
                                 ["route", "method"], buckets=BUCKETS, registry=reg)
        self.requests = Counter("materializer_http_requests", "HTTP requests answered, by route, method and status.",
                                ["route", "method", "status"], registry=reg)
        self.errors = Counter("materializer_http_errors", "HTTP requests answered with an error, by route and kind "
                              "(client: 4xx, unavailable: 503, server: other 5xx).", ["route", "kind"], registry=reg)
        self.rows_pushed = Counter("materializer_rows_pushed", "Rows inserted through the push endpoints, by source.",
                                   ["source"], registry=reg)
        gauge_mode: dict[str, Any] = {"multiprocess_mode": "livesum"} if multiprocess() else {}
        self.connections_in_use = Gauge("materializer_db_connections_in_use",
                                        "Database connections serving a request now.", registry=reg, **gauge_mode)
        self.connections_open = Gauge("materializer_db_connections_open", "Database connections open.",
                                      registry=reg, **gauge_mode)
        self.stream_clients = Gauge("materializer_stream_clients", "Clients listening to a monitor stream.",
                                    registry=reg, **gauge_mode)
        self.stream_feeds = Gauge("materializer_stream_feeds", "Change feeds of streamed monitors connected to "
                                  "the database (LISTEN, SUBSCRIBE or a subscription cursor).", registry=reg,
                                  **gauge_mode)

    @staticmethod
    def _freshness_families(now: datetime | None, newest: dict[str, datetime | None]) -> list[Any]:
        newest_family = GaugeMetricFamily("materializer_feature_view_newest_event_timestamp_seconds",
                                          "Time of the newest event a feature view can see (Unix seconds).",
                                          labels=["view"])
        age_family = GaugeMetricFamily("materializer_feature_view_newest_event_age_seconds",
                                       "Seconds since the newest event a feature view can see.", labels=["view"])
        for view, ts in sorted(newest.items()):
            if ts is not None and now is not None:
                newest_family.add_metric([view], ts.timestamp())
                age_family.add_metric([view], (now - ts).total_seconds())
        return [newest_family, age_family]

    def exposition(self, now: datetime | None, newest: dict[str, datetime | None]) -> bytes:
        """The text of ``GET /metrics``; ``newest`` maps feature views to their newest event time."""
        if multiprocess():
            from prometheus_client import multiprocess as mp

            registry = CollectorRegistry()
            mp.MultiProcessCollector(registry)
        else:
            registry = self.registry
        return generate_latest(registry) + generate_latest(_Families(self._freshness_families(now, newest)))  # type: ignore[arg-type]


class _Families:
    """A tiny collector registry holding already-built metric families."""

    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> list[Any]:
        return self._families

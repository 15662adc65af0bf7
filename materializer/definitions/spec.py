"""The validated, typed shape of a project: sources, feature views, features.

These dataclasses are what the rest of the package works with; ``project.py``
builds them from ``materializer.yml`` and reports every problem it finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from materializer.definitions.deployment import DEFAULT_CLUSTER, Cluster, Deployment
from materializer.definitions.durations import Duration

ENGINES = ("postgres", "materialize", "risingwave")
AGGREGATES = ("count", "count_distinct", "sum", "avg", "min", "max", "stddev", "latest")
NUMERIC_TYPES = ("smallint", "integer", "bigint", "numeric", "real", "double precision")


@dataclass(frozen=True)
class Kafka:
    """A Kafka topic a streaming source reads (``kafka:``): JSON messages, one object per event."""

    broker: str  # host:port as the engine reaches it
    topic: str
    start: str = "earliest"  # earliest | latest
    client_broker: str | None = None  # host:port as `materializer push` reaches it (default: broker)

    @property
    def push_broker(self) -> str:
        return self.client_broker or self.broker


@dataclass(frozen=True)
class Backfill:
    """History before a cutover (``backfill:``): ``relation`` holds the events with time < ``until``,
    the source's own table or stream those with time >= ``until``."""

    relation: str
    until: str  # ISO 8601 with a UTC offset, as validated (rendered as a timestamptz literal)


@dataclass(frozen=True)
class Source:
    """A table of events: managed (``columns:``, created by apply) or external (``relation:``).

    ``relation`` is what every view, training set and check reads; ``table`` is what apply creates
    and push writes. They differ only for a source with ``backfill:``, whose reads go through the
    union view ``<source>__all`` (history before the cutover, then the live table).
    """

    name: str
    relation: str
    timestamp: str
    columns: dict[str, str] | None  # name -> canonical SQL type; None when unknown (external)
    managed: bool
    kafka: Kafka | None = None
    webhook: bool = False
    backfill: Backfill | None = None

    def column_type(self, column: str) -> str | None:
        return None if self.columns is None else self.columns.get(column)

    @property
    def table(self) -> str:
        """The live relation: the managed table push writes (or, on a streaming engine, the stream's
        table or typed view); the external relation itself for a ``relation:`` source."""
        return self.name if self.managed else self.relation

    @property
    def streaming(self) -> bool:
        """Whether the source reads a stream (a Kafka topic or a webhook) on the streaming engines."""
        return self.kafka is not None or self.webhook


@dataclass(frozen=True)
class Feature:
    """One declared feature: an aggregate over a column (or rows) with an optional filter."""

    name: str
    agg: str
    column: str | None = None
    filter: str | None = None


@dataclass(frozen=True)
class FeatureView:
    """Features of one entity computed from one source.

    ``kind`` is ``windowed`` (aggregates over trailing windows) or ``latest``
    (the most recent value, optionally bounded by ``max_age``).
    """

    name: str
    source: Source
    entity: tuple[str, ...]
    features: tuple[Feature, ...]
    windows: tuple[Duration, ...] = ()
    max_age: Duration | None = None
    tie_break: str | None = None
    #: the relation serving the view when another tool created it (a dbt model); else its name
    served_from: str | None = None

    @property
    def relation(self) -> str:
        """The relation lookups read: the view's own name, or the dbt model's relation."""
        return self.served_from or self.name

    @property
    def kind(self) -> str:
        return "latest" if self.features and self.features[0].agg == "latest" else "windowed"

    @property
    def lookback(self) -> Duration | None:
        """The longest window, or ``max_age`` for a latest view (None: unbounded)."""
        return max(self.windows) if self.kind == "windowed" else self.max_age

    @cached_property
    def output_features(self) -> list[OutputFeature]:
        """The view's feature columns in order: ``<feature>_<window>`` for windowed views."""
        if self.kind == "latest":
            return [OutputFeature(f.name, f, None) for f in self.features]
        return [OutputFeature(f"{f.name}_{w.text}", f, w) for w in self.windows for f in self.features]

    @cached_property
    def feature_names(self) -> list[str]:
        return [o.name for o in self.output_features]

    @property
    def columns_read(self) -> list[str] | None:
        """Source columns the view reads: keys, timestamp, feature, tie-break and filter columns.

        None when a filter is present and the source's columns are unknown (external source):
        the view then reads every column.
        """
        cols = [*self.entity, self.source.timestamp]
        cols += [f.column for f in self.features if f.column]
        if self.tie_break:
            cols.append(self.tie_break)
        filters = " ".join(f.filter for f in self.features if f.filter)
        if filters:
            if self.source.columns is None:
                return None
            words = set(re.findall(r"[a-z_][a-z0-9_]*", filters.lower()))
            cols += [c for c in self.source.columns if c in words]
        return list(dict.fromkeys(cols))


@dataclass(frozen=True)
class OutputFeature:
    """A column of a feature view: the feature it comes from and its window (if any)."""

    name: str
    feature: Feature
    window: Duration | None

    @property
    def is_count(self) -> bool:
        return self.feature.agg in ("count", "count_distinct")


@dataclass
class ProjectSpec:
    """The whole validated project file."""

    name: str
    engine: str
    sources: dict[str, Source]
    feature_views: dict[str, FeatureView]
    cluster: str = "quickstart"
    monitors: dict[str, Monitor] = field(default_factory=dict)
    feature_services: dict[str, list[str]] = field(default_factory=dict)
    on_demand: dict[str, OnDemandView] = field(default_factory=dict)
    #: Materialize's compute and serving clusters (``deployment:``); ``cluster`` is the compute cluster's name
    deployment: Deployment = field(default_factory=Deployment)

    def __post_init__(self) -> None:
        if self.deployment == Deployment() and self.cluster != DEFAULT_CLUSTER:  # built with `cluster=` alone
            self.deployment = Deployment(Cluster(self.cluster), Cluster(self.cluster))

    @property
    def serving_cluster(self) -> str:
        """The cluster holding the lookup indexes, which sessions that read features use."""
        return self.deployment.serving.name


TASKS = ("binary_classification", "regression")
LABEL_POLICIES = ("explicit", "implicit_negative")
MONITOR_VIEWS = ("scored", "metrics", "timeseries", "versions", "drift")


@dataclass(frozen=True)
class MonitorSide:
    """Where a monitor reads predictions or outcomes: a source and its columns."""

    source: Source
    id: str
    timestamp: str
    value: str  # the score (prediction) or the label (actual)


@dataclass(frozen=True)
class Monitor:
    """A model monitor: predictions deduplicated and joined to late outcomes (DESIGN §5)."""

    name: str
    task: str
    predictions: MonitorSide
    outcomes: MonitorSide
    windows: tuple[Duration, ...]
    bucket: Duration
    label_policy: str = "explicit"
    maturity: Duration | None = None
    threshold: float = 0.5
    #: the PSI above which a column's drift is flagged (dashboards)
    drift_threshold: float = 0.2
    version: str | None = None
    segments: tuple[str, ...] = ()
    cost_fp: float | None = None
    cost_fn: float | None = None
    reference_relation: str | None = None
    reference_column: str | None = None
    features: tuple[str, ...] = ()
    #: (kind, relation) of views created by another tool (dbt models); the others are `<name>__<kind>`
    served_from: tuple[tuple[str, str], ...] = ()
    #: how far back the time series of a streaming engine reaches (None: the longest window)
    history: Duration | None = None

    @property
    def binary(self) -> bool:
        return self.task == "binary_classification"

    @property
    def timeseries_history(self) -> Duration:
        """The buckets the streaming engines keep in ``__timeseries``: those that started at most this long
        before t (``history:``, by default the longest window). PostgreSQL lists every bucket."""
        return self.history or max(self.windows)

    @property
    def retention(self) -> Duration:
        """How long the streaming engines keep a prediction and an outcome after its own time: every
        window and bucket that reads ``__scored`` needs no older row. A cohort time is predicted_at
        (+ maturity under implicit_negative) and the longest span read back from t is the longest window
        or the history."""
        offset = self.maturity.seconds if self.label_policy == "implicit_negative" and self.maturity else 0
        seconds = offset + max(self.timeseries_history.seconds, max(w.seconds for w in self.windows))
        return Duration(seconds, f"{seconds}s")

    def view(self, kind: str) -> str:
        """The name of one of the monitor's views: ``<monitor>__metrics`` and so on."""
        return f"{self.name}__{kind}"

    def relation(self, kind: str) -> str:
        """The relation holding one of the monitor's views: ``view(kind)``, or the dbt model's relation."""
        return dict(self.served_from).get(kind) or self.view(kind)

    @property
    def slices(self) -> list[tuple[str, str]]:
        """(slice name, column) of every way the metrics are sliced: ``version``, then each segment."""
        return ([("version", self.version)] if self.version else []) + [(s, s) for s in self.segments]


@dataclass(frozen=True)
class OnDemandView:
    """Features computed at request time from request data and stored features (SQL expressions).

    ``features`` maps a name to an expression in which ``{field}`` is a request field and
    ``{view:feature}`` a stored feature; the same text runs online (request values bound as
    parameters) and offline (request values from spine columns), so the two cannot skew.
    """

    name: str
    entity: tuple[str, ...]
    request: dict[str, str]  # field -> canonical SQL type
    features: dict[str, str]  # name -> expression with {references}
    inputs: tuple[str, ...]  # feature views referenced, in order of first use

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

"""A loaded project: its validated definitions, its engine and its database.

``Project`` is the public Python API::

    project = Project.load("materializer.yml")       # or a folder holding it
    project.apply()                                   # create/replace objects
    project.online_features("card_activity", {"cc_num": "c1"})
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from materializer.definitions.spec import FeatureView, ProjectSpec
from materializer.definitions.validate import load_yaml, parse_project
from materializer.errors import NotFoundError

if TYPE_CHECKING:
    from materializer.db.apply import Plan
    from materializer.db.connection import Database
    from materializer.features.online import OnlineResult
    from materializer.monitoring.metrics import MetricsResult

PROJECT_FILE = "materializer.yml"


class Project:
    """A project file and the database it is applied to."""

    def __init__(self, spec: ProjectSpec, root: Path, dsn: str | None = None) -> None:
        self.spec = spec
        self.root = root
        self._dsn = dsn
        self._db: Database | None = None
        self._cache: dict[Any, Any] = {}

    @classmethod
    def load(cls, path: str | Path = PROJECT_FILE, dsn: str | None = None) -> "Project":
        """Load and validate ``materializer.yml`` (a file, or a folder that holds one).

        ``dsn`` overrides ``MATERIALIZER_DSN``; without either, the embedded
        PostgreSQL of the project folder is started on demand.
        """
        path = Path(path)
        if path.is_dir():
            path = path / PROJECT_FILE
        spec = parse_project(load_yaml(path), file=str(path))
        return cls(spec, path.resolve().parent, dsn)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def engine(self) -> str:
        return self.spec.engine

    def view(self, name: str) -> FeatureView:
        """The feature view called ``name``; the error lists the known views."""
        try:
            return self.spec.feature_views[name]
        except KeyError:
            from materializer.errors import did_you_mean

            known = ", ".join([*self.spec.feature_views, *self.spec.on_demand]) or "(none)"
            raise NotFoundError(
                f"unknown feature view {name!r}{did_you_mean(str(name), self.spec.feature_views)}; "
                f"known views: {known}"
            ) from None

    @property
    def db(self) -> "Database":
        """The project's database connection (opened on first use)."""
        if self._db is None:
            from materializer.db.connection import Database

            self._db = Database.for_project(self)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def compile(self, engine: str | None = None) -> str:
        """The project's SQL for ``engine`` (default: the project's engine)."""
        from materializer.sql.compile import compile_sql

        return compile_sql(self.spec, engine)

    def plan(self, allow_drop_data: bool = False) -> "Plan":
        """What ``apply`` would do, without doing it."""
        from materializer.db.apply import plan

        return plan(self, allow_drop_data=allow_drop_data)

    def apply(self, allow_drop_data: bool = False) -> "Plan":
        """Create or replace the project's objects (idempotent; never drops data unless allowed)."""
        from materializer.db.apply import apply

        return apply(self, allow_drop_data=allow_drop_data)

    def push(self, source: str, path: str | Path, progress: bool = False) -> int:
        """Load a CSV or JSONL file into a managed source, all or nothing; returns the row count."""
        from materializer.db.push import push_file

        return push_file(self, source, Path(path), progress=progress)

    def metrics(self, monitor: str, window: str | None = None, by: str | None = None,
                as_of: datetime | str | None = None) -> "MetricsResult":
        """Live metrics of a monitor for one window, overall or ``by`` ``version`` or a segment column."""
        from materializer.monitoring.metrics import metrics

        return metrics(self, monitor, window=window, by=by, as_of=as_of)

    def timeseries(self, monitor: str, by: str | None = None, as_of: datetime | str | None = None,
                   since: datetime | str | None = None) -> list[dict[str, Any]]:
        """Metrics per time bucket, oldest first."""
        from materializer.monitoring.metrics import timeseries

        return timeseries(self, monitor, by=by, as_of=as_of, since=since)

    def versions(self, monitor: str, window: str | None = None,
                 as_of: datetime | str | None = None) -> list[dict[str, Any]]:
        """Pairwise comparisons of model versions in a window, with significance."""
        from materializer.monitoring.metrics import versions

        return versions(self, monitor, window=window, as_of=as_of)

    def drift(self, monitor: str, window: str | None = None,
              as_of: datetime | str | None = None) -> list[dict[str, Any]]:
        """psi, js and ks of the score and watched features against the stored reference."""
        from materializer.monitoring.metrics import drift

        return drift(self, monitor, window=window, as_of=as_of)

    def store_reference(self, monitor: str) -> dict[str, int]:
        """Compute and store the fixed drift bins of a monitor's reference (once)."""
        from materializer.monitoring.metrics import store_reference

        return store_reference(self, monitor)

    def training_set(self, spine: Any, features: list[str] | str, timestamp_column: str = "event_timestamp",
                     spine_sql: str | None = None) -> Any:
        """A point-in-time training set as a pandas DataFrame (pandas is needed).

        ``spine`` is a DataFrame, or a CSV or Parquet path; ``features`` are ``view:feature``,
        ``view:*`` or feature service names. Every spine row is kept, in order, with each feature
        evaluated at the row's own timestamp, exactly as it was served online then.
        """
        from materializer.features.training import training_frame

        refs = [features] if isinstance(features, str) else list(features)
        return training_frame(self, spine, refs, timestamp_column=timestamp_column, spine_sql=spine_sql)

    def online_features(
        self, view: str, entity: dict[str, Any], as_of: datetime | str | None = None,
        request: dict[str, Any] | None = None,
    ) -> "OnlineResult":
        """The current feature values of one entity, with Feast-style statuses.

        For an on-demand view, ``request`` gives the request fields (bound as parameters).
        """
        if view in self.spec.on_demand:
            from materializer.features.on_demand import online_on_demand

            return online_on_demand(self, view, entity, request, as_of=as_of)
        from materializer.features.online import online_features

        return online_features(self, view, entity, as_of=as_of)

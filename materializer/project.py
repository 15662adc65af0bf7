"""A loaded project: its validated definitions, its engine and its database.

``Project`` is the public Python API::

    project = Project.load("materializer.yml")       # or a folder holding it
    project.apply()                                   # create/replace objects
    project.online_features("card_activity", {"cc_num": "c1"})
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from materializer.definitions.spec import FeatureView, ProjectSpec
from materializer.definitions.validate import load_yaml, parse_project
from materializer.errors import DatabaseError, InputError, NotFoundError, ProjectError

if TYPE_CHECKING:
    from materializer.db.apply import Plan
    from materializer.db.connection import Database
    from materializer.features.online import OnlineResult
    from materializer.features.verify import VerifyReport
    from materializer.monitoring.metrics import MetricsResult

PROJECT_FILE = "materializer.yml"
# SQLSTATEs of a read that names an object the database lacks: undefined table, schema, column; and
# undefined function when it is one of materializer's (42883 is also "operator does not exist"); the
# streaming engines' own wording of a missing relation (MISSING_RELATION) counts too, whatever its code
MISSING_OBJECT = frozenset({"42P01", "3F000", "42703"})
UNDEFINED_FUNCTION = "42883"
_Method = TypeVar("_Method", bound=Callable[..., Any])


def project_file(path: str | Path) -> Path:
    """The project file: ``path`` itself, or the materializer.yml in it when it is a folder."""
    path = Path(path)
    try:
        folder = path.is_dir()
    except (OSError, ValueError):  # a name too long for the system, or holding NUL: not a folder
        folder = False
    return path / PROJECT_FILE if folder else path


def load_project(project: str | Path = PROJECT_FILE, dbt_manifest: str | Path | None = None,
                 dsn: str | None = None) -> Project:
    """A project from its project file, or from a dbt manifest when one is given."""
    if dbt_manifest is not None:
        return Project.from_dbt_manifest(dbt_manifest, dsn)
    return Project.load(project, dsn)


def _no_nul(path: str | Path, what: str) -> None:
    """An InputError for a path holding NUL, which no file name can (lone surrogates are fine: they
    are the bytes of a name that is not UTF-8)."""
    if "\x00" in str(path):
        raise InputError(f"{what} {str(path)!r} holds a NUL character (\\x00), which no file name can")


def not_utf8(path: Path) -> str:
    """Where a file stops being UTF-8 text: ``line 3, column 7: byte 0xff is not UTF-8 text``."""
    try:
        with path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    column = len(line[:exc.start].decode("utf-8")) + 1
                    return f"line {number}, column {column}: byte 0x{line[exc.start]:02x} is not UTF-8 text"
    except OSError:
        pass
    return "not UTF-8 text"


def _is_data_error(exc: BaseException) -> bool:
    import psycopg

    return isinstance(exc, psycopg.DataError)


def _unreadable(exc: Any) -> DatabaseError:
    """A DatabaseError for a value the database could not compute (division by zero in an expression,
    an overflow) or that Python cannot hold (a time before year 1)."""
    diag = getattr(exc, "diag", None)
    reason = " ".join(str(getattr(diag, "message_primary", None) or exc).split())
    if getattr(exc, "sqlstate", None) is None:  # raised while loading a value, not by the server
        return DatabaseError(f"a value in the database cannot be read: {reason}; times must lie between years 1 "
                             "and 9999 (find the row in the source and correct it)")
    hint = "; wrap divisors in nullif(..., 0)" if getattr(exc, "sqlstate", None) == "22012" else ""
    return DatabaseError(f"the database could not compute the features or metrics: {reason} (in an expression "
                         f"or a source row of the project){hint}")


def _refused(exc: Any) -> DatabaseError:
    """A DatabaseError for a read the database refuses (a function unknown to it in an on-demand expression)."""
    diag = getattr(exc, "diag", None)
    reason = " ".join(str(getattr(diag, "message_primary", None) or exc).split())
    return DatabaseError(f"the database refused the query: {reason}; check the project's SQL expressions "
                         "(on-demand features are evaluated when they are read)")


def _reads_views(method: _Method) -> _Method:
    """A read of the project's objects: an object the database lacks is a one-line DatabaseError
    that says to run ``materializer apply`` (or to create a missing external relation)."""

    @functools.wraps(method)
    def read(self: Project, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            from materializer.db.connection import MISSING_RELATION  # psycopg, only once a read failed

            code = getattr(exc, "sqlstate", None)
            primary = str(getattr(getattr(exc, "diag", None), "message_primary", None) or "")
            if code in MISSING_OBJECT or (code == UNDEFINED_FUNCTION and "materializer." in primary) \
                    or MISSING_RELATION.search(primary or str(exc)):
                raise self._not_applied(exc) from None
            if _is_data_error(exc):
                raise _unreadable(exc) from None
            if code is not None and code.startswith("42"):  # an expression of the project the database refuses
                raise _refused(exc) from None
            raise

    return read  # type: ignore[return-value]


class Project:
    """A project file and the database it is applied to."""

    def __init__(self, spec: ProjectSpec, root: Path, dsn: str | None = None) -> None:
        self.spec = spec
        self.root = root
        self._dsn = dsn
        self._db: Database | None = None
        self._cache: dict[Any, Any] = {}

    @classmethod
    def load(cls, path: str | Path = PROJECT_FILE, dsn: str | None = None) -> Project:
        """Load and validate ``materializer.yml`` (a file, or a folder that holds one).

        ``dsn`` overrides ``MATERIALIZER_DSN``; without either, the embedded
        PostgreSQL of the project folder is started on demand.
        """
        _no_nul(path, "the project path")
        path = project_file(path)
        try:
            raw = load_yaml(path)
        except UnicodeDecodeError:
            raise ProjectError(f"{path}: {not_utf8(path)}; save the project file as UTF-8") from None
        except RecursionError:
            raise ProjectError(f"{path}: the YAML is nested too deeply; a project file is a few levels of "
                               "mappings and lists") from None
        except OSError as exc:
            raise ProjectError(f"{path}: cannot read the project file: {exc.strerror or exc}; pass --project "
                               "PATH of a materializer.yml or of the folder that holds it") from None
        spec = parse_project(raw, file=str(path))
        return cls(spec, path.resolve().parent, dsn)

    @classmethod
    def from_dbt_manifest(cls, path: str | Path, dsn: str | None = None) -> Project:
        """The feature views and monitors a dbt project deployed, from its ``target/manifest.json``
        (``definitions/dbt_manifest.py``). The embedded PostgreSQL is the dbt project's (the folder
        holding dbt_project.yml above target/), as ``materializer db env`` run there starts it."""
        from materializer.definitions.dbt_manifest import load_dbt_project

        _no_nul(path, "the dbt manifest path")
        path = Path(path)
        spec = load_dbt_project(path)
        folder = path.resolve().parent.parent
        return cls(spec, folder if (folder / "dbt_project.yml").exists() else Path.cwd(), dsn)

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
    def db(self) -> Database:
        """The project's database connection (opened on first use)."""
        if self._db is None:
            from materializer.db.connection import Database

            self._db = Database.for_project(self)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _not_applied(self, exc: Any) -> DatabaseError:
        diag = getattr(exc, "diag", None)
        reason = " ".join(str(getattr(diag, "message_primary", None) or exc).split())
        where = self._db.where if self._db is not None else "the database"
        external = {s.relation: s.name for s in self.spec.sources.values() if not s.managed}
        for relation, source in external.items():
            if f'"{relation}"' in reason or f'"{relation.rpartition(".")[2]}"' in reason:
                return DatabaseError(f"{reason} at {where}: it is the relation of the external source {source}; "
                                     "create it (materializer never creates external relations), then run "
                                     "`materializer apply`")
        return DatabaseError(f"{reason} at {where}: the project's objects are missing or out of date there; "
                             "run `materializer apply` first")

    def compile(self, engine: str | None = None) -> str:
        """The project's SQL for ``engine`` (default: the project's engine)."""
        from materializer.sql.compile import compile_sql

        return compile_sql(self.spec, engine)

    def plan(self, allow_drop_data: bool = False) -> Plan:
        """What ``apply`` would do, without doing it."""
        from materializer.db.apply import plan

        return plan(self, allow_drop_data=allow_drop_data)

    def apply(self, allow_drop_data: bool = False) -> Plan:
        """Create or replace the project's objects (idempotent; never drops data unless allowed)."""
        from materializer.db.apply import apply

        return apply(self, allow_drop_data=allow_drop_data)

    def push(self, source: str, path: str | Path, progress: bool = False) -> int:
        """Load a CSV or JSONL file into a managed source, all or nothing; returns the row count."""
        import csv

        from materializer.db.push import push_file
        from materializer.errors import PushError

        _no_nul(path, "the file's path")
        path = Path(path)
        try:
            return push_file(self, source, path, progress=progress)
        except UnicodeDecodeError:
            raise PushError(f"{path}: {not_utf8(path)}; save the file as UTF-8; nothing was inserted") from None
        except csv.Error as exc:
            raise PushError(f"{path}: not a CSV file that can be read: {exc}; nothing was inserted") from None
        except OSError as exc:
            raise PushError(f"{path}: cannot read the file: {exc.strerror or exc}; nothing was inserted") from None

    @_reads_views
    def metrics(self, monitor: str, window: str | None = None, by: str | None = None,
                as_of: datetime | str | None = None) -> MetricsResult:
        """Live metrics of a monitor for one window, overall or ``by`` ``version`` or a segment column."""
        from materializer.monitoring.metrics import metrics

        return metrics(self, monitor, window=window, by=by, as_of=as_of)

    @_reads_views
    def timeseries(self, monitor: str, by: str | None = None, as_of: datetime | str | None = None,
                   since: datetime | str | None = None) -> list[dict[str, Any]]:
        """Metrics per time bucket, oldest first."""
        from materializer.monitoring.metrics import timeseries

        return timeseries(self, monitor, by=by, as_of=as_of, since=since)

    @_reads_views
    def versions(self, monitor: str, window: str | None = None,
                 as_of: datetime | str | None = None) -> list[dict[str, Any]]:
        """Pairwise comparisons of model versions in a window, with significance."""
        from materializer.monitoring.metrics import versions

        return versions(self, monitor, window=window, as_of=as_of)

    @_reads_views
    def drift(self, monitor: str, window: str | None = None,
              as_of: datetime | str | None = None) -> list[dict[str, Any]]:
        """psi, js and ks of the score and watched features against the stored reference."""
        from materializer.monitoring.metrics import drift

        return drift(self, monitor, window=window, as_of=as_of)

    def store_reference(self, monitor: str) -> dict[str, int]:
        """Compute and store the fixed drift bins of a monitor's reference (once)."""
        from materializer.monitoring.metrics import store_reference

        return store_reference(self, monitor)

    @_reads_views
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

    @_reads_views
    def write_training_set(self, spine: Any, features: list[str] | str, out: str | Path | None = None,
                           timestamp_column: str = "event_timestamp", spine_sql: str | None = None,
                           progress: bool = False) -> int:
        """Write a point-in-time training set as CSV (or Parquet for a ``.parquet`` ``out``; stdout when
        None); returns the number of rows. No pandas needed for CSV."""
        from materializer.features.training import write_csv

        refs = [features] if isinstance(features, str) else list(features)
        return write_csv(self, spine, refs, out=Path(out) if out is not None else None,
                         timestamp_column=timestamp_column, spine_sql=spine_sql, progress=progress)

    @_reads_views
    def verify(self, entities: int = 20, as_of: datetime | str | None = None) -> VerifyReport:
        """Online values against training-set values for a sample of entities of every view (the
        train/serve skew check); ``report.ok`` is False on any mismatch."""
        from materializer.features.verify import verify

        return verify(self, entities=entities, as_of=as_of)

    @_reads_views
    def online_features(
        self, view: str, entity: dict[str, Any], as_of: datetime | str | None = None,
        request: dict[str, Any] | None = None,
    ) -> OnlineResult:
        """The current feature values of one entity, with Feast-style statuses.

        For an on-demand view, ``request`` gives the request fields (bound as parameters).
        """
        if view in self.spec.on_demand:
            from materializer.features.on_demand import online_on_demand

            return online_on_demand(self, view, entity, request, as_of=as_of)
        from materializer.features.online import online_features

        return online_features(self, view, entity, as_of=as_of)

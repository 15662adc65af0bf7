"""Online lookups: the current feature values of one entity, with Feast's statuses.

Statuses (DESIGN §5):

- ``PRESENT``: a non-null value (a count of 0 included);
- ``NOT_FOUND``: null because the entity has no event in the view's lookback
  (its longest window; for a latest view, no event at or before ``t``);
- ``OUTSIDE_MAX_AGE``: a latest value older than ``max_age`` (value null);
- ``NULL_VALUE``: any other null.

One lookup is one prepared query with bound parameters; key values are never
formatted into SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from materializer.definitions.checks import canonical_type
from materializer.definitions.spec import FeatureView
from materializer.definitions.timeparse import parse_timestamp
from materializer.definitions.values import coerce
from materializer.errors import InputError, did_you_mean

if TYPE_CHECKING:
    from materializer.engines.base import Engine
    from materializer.project import Project

PRESENT = "PRESENT"
NOT_FOUND = "NOT_FOUND"
NULL_VALUE = "NULL_VALUE"
OUTSIDE_MAX_AGE = "OUTSIDE_MAX_AGE"


@dataclass
class OnlineResult:
    """Feature values of one entity at ``as_of``; numeric values are floats or ints."""

    view: str
    entity: dict[str, Any]
    features: dict[str, Any]
    statuses: dict[str, str]
    as_of: datetime
    event_timestamp: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``materializer features --json`` (DESIGN §6)."""
        return {
            "view": self.view,
            "entity": self.entity,
            "features": self.features,
            "statuses": self.statuses,
            "as_of": self.as_of.isoformat(),
        }


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def read_columns(view: FeatureView) -> str:
    """The columns a lookup reads, named (not ``v.*``): a prepared lookup then keeps its result type when
    ``apply`` adds features to the view (a ``select *`` prepared before fails afterwards with "cached plan
    must not change result type", on PostgreSQL as on Materialize)."""
    within = ["_within_max_age"] if view.max_age is not None else []
    return ", ".join(f"v.{c}" for c in [*view.entity, "_event_ts", *within, *view.feature_names])


def _select(view: FeatureView, clock: str | None, cond: str) -> str:
    """A lookup's query given its key condition: with ``clock`` its reading comes first and there is always
    one row (all nulls but the clock when nothing matched)."""
    if clock is None:
        return f"select {read_columns(view)} from {view.relation} as v where {cond}"
    return (f"select {clock} as _as_of, {read_columns(view)} from (select 1) as _one "
            f"left join {view.relation} as v on {cond}")


def lookup_sql(view: FeatureView, engine_name: str, clock: str | None,
               key_types: Mapping[str, str | None] | None = None) -> str:
    """The lookup query of a view: the clock reading and the view's row for bound key values. Each key is
    cast to its declared type (or, undeclared, to the type ``key_types`` read from the catalog):
    Materialize reads an index directly (its fast path) only when every key column is compared with a
    value of exactly its type (doc/user/content/transform-data/optimization.md, "WHERE point lookups")."""
    from materializer.engines import get_engine

    engine = get_engine(engine_name)
    cond = " and ".join(
        f"v.{k} = {engine.lookup_param(key_type(view, k, key_types))}" for k in view.entity
    )
    return _select(view, clock, cond)


def key_type(view: FeatureView, key: str, key_types: Mapping[str, str | None] | None) -> str | None:
    """A key's declared type, else the one read from the catalog (``key_types``), else None (no cast)."""
    declared = view.source.column_type(key)
    return declared if declared is not None or key_types is None else key_types.get(key)


def undeclared_keys(view: FeatureView) -> list[str]:
    """The keys of a view without a declared type (an external ``relation:`` source, a dbt model)."""
    return [k for k in view.entity if view.source.column_type(k) is None]


def key_type_reads(view: FeatureView) -> list[tuple[str, list[str | None]]]:
    """The catalog queries (sql, params) that read the types of a view's undeclared keys: the view's
    own relation (it exists once applied), then the external relation of its source."""
    from materializer.db.apply import COLUMNS_QUERY, _split

    relations = list(dict.fromkeys([view.relation, view.source.relation]))
    return [(COLUMNS_QUERY, list(_split(r))) for r in relations]


def catalog_key_types(view: FeatureView, engine: Engine,
                      answers: list[list[tuple[str, str, int | None, int | None]]]) -> dict[str, str | None] | None:
    """{undeclared key: the type its lookup parameter is cast to, or None (no cast)} from the rows of
    ``key_type_reads`` (in order), read as apply reads the catalog (Engine.catalog_type: RisingWave's
    uuid is varchar). None when no relation is in the catalog yet (before apply: read again later).
    A type is kept only when it is the column's exact type on the engine, else the key stays uncast:
    an unsupported type (``USER-DEFINED``, arrays), a numeric whose precision the catalog does not
    tell (Materialize, RisingWave), and on Materialize a ``character varying`` key (its ``text`` is
    another type there)."""
    if not any(answers):
        return None
    found: dict[str, str | None] = {}
    for rows in answers:
        for column, data_type, precision, scale in rows:
            if column not in view.entity or column in found or canonical_type(data_type) is None:
                continue
            t = engine.catalog_type(data_type, precision, scale)
            if t == "numeric" and not engine.catalog_numeric_precision:
                continue
            if engine.name == "materialize" and t == "text" and data_type.lower() != "text":
                continue
            found[column] = t
    return {k: found.get(k) for k in undeclared_keys(view)}


def resolved_key_types(project: Project, view: FeatureView) -> dict[str, str | None] | None:
    """The catalog types of a view's undeclared keys, read once per project object (cached once the
    view or its relation is in the catalog), or None when every key is declared."""
    cache_key = ("key_types", view.name)
    if cache_key in project._cache:
        return project._cache[cache_key]
    if not undeclared_keys(view):
        project._cache[cache_key] = None
        return None
    conn, engine = project.db.conn, project.db.engine
    types = catalog_key_types(view, engine, [conn.execute(q, p).fetchall() for q, p in key_type_reads(view)])
    if types is not None:  # in the catalog: never read again (before apply it is read on each lookup)
        project._cache[cache_key] = types
    return types


def check_entity(view: FeatureView, entity: dict[str, Any]) -> dict[str, Any]:
    """The key values in the view's key order, each checked against its column's type (text from a
    command line is parsed: ``--key id=42`` for a ``bigint`` key). Unknown or missing keys and values
    of the wrong type are InputErrors. numpy scalars (from pandas) count as the Python values they hold."""
    if not isinstance(entity, Mapping):
        raise InputError(f"the entity of feature view {view.name} must be a mapping of key columns to values, "
                         f"such as {{{view.entity[0]!r}: ...}}; got {type(entity).__name__}")
    for key in entity:
        if key not in view.entity:
            raise InputError(
                f"'{key}' is not a key of feature view {view.name}{did_you_mean(str(key), view.entity)}; "
                f"its keys: {', '.join(view.entity)}"
            )
    missing = [k for k in view.entity if k not in entity]
    if missing:
        raise InputError(
            f"feature view {view.name} needs a value for {', '.join(missing)}; pass --key {missing[0]}=VALUE"
        )
    return {k: coerce(native(entity[k]), view.source.column_type(k), f"key {k}") for k in view.entity}


def native(value: Any) -> Any:
    """A numpy scalar (``numpy.int64`` from a DataFrame) as the Python value it holds; other values as they are."""
    return value.item() if type(value).__module__ == "numpy" and hasattr(value, "item") else value


def key_param(value: Any) -> str | None:
    """A checked key value as the text bound to its typed placeholder (``%s::bigint``)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class RowReader:
    """Values and statuses of chosen features of a view from the rows of its lookup (tuples, read by
    column position: the one reading of the status rules, for the Python API and the server).

    ``read(None)`` answers an entity that has no row: counts are 0 (``PRESENT``), the rest null
    (``NOT_FOUND``); a latest value past ``max_age`` is null (``OUTSIDE_MAX_AGE``); another null is
    ``NULL_VALUE``. Values come back as the database driver gives them."""

    def __init__(self, view: FeatureView, names: list[str], features: list[str] | None = None) -> None:
        outputs = {o.name: o for o in view.output_features}
        chosen = features if features is not None else list(outputs)
        self.features = chosen
        self.event = names.index("_event_ts")
        self.within = names.index("_within_max_age") if view.max_age is not None else None
        self.columns = [names.index(f) for f in chosen]
        self.absent = [(0, PRESENT) if outputs[f].is_count else (None, NOT_FOUND) for f in chosen]
        self.outside = [(None, OUTSIDE_MAX_AGE)] * len(chosen)

    def read(self, row: tuple[Any, ...] | None) -> list[tuple[Any, str]]:
        if row is None:
            return self.absent
        if self.within is not None and not row[self.within]:
            return self.outside
        return [(None, NULL_VALUE) if row[i] is None else (row[i], PRESENT) for i in self.columns]


def online_features(
    project: Project, view_name: str, entity: dict[str, Any], as_of: datetime | str | None = None
) -> OnlineResult:
    """Look up one entity's features in a view; ``as_of`` pins the clock (PostgreSQL only)."""
    view = project.view(view_name)
    keys = check_entity(view, entity)
    pinned = parse_timestamp(as_of, "--as-of") if as_of is not None else None
    if pinned is not None and project.engine != "postgres":
        raise InputError(
            f"--as-of needs the postgres engine: {project.engine} maintains its views at its own clock; "
            "look up without --as-of"
        )
    db = project.db
    params = [key_param(v) for v in keys.values()]
    key_types = resolved_key_types(project, view)
    cache_key = ("lookup", view.name, key_types is not None)
    sql = project._cache.get(cache_key)
    if sql is None:
        clock = "materializer.clock()" if db.engine.supports_as_of else None
        sql = lookup_sql(view, db.engine.name, clock, key_types)
        if key_types is not None or not undeclared_keys(view):
            project._cache[cache_key] = sql
    if pinned is not None:
        with db.conn.transaction():
            db.conn.execute("select set_config('materializer.as_of', %s, true)", [pinned.isoformat()])
            cur = db.conn.execute(sql, params, prepare=True)
            rows = cur.fetchall()
    else:
        cur = db.conn.execute(sql, params, prepare=True)
        rows = cur.fetchall()
    # column names read once per view: building cursor.description costs more than the lookup itself
    names_key = ("columns", view.name, sql)
    names = project._cache.get(names_key)
    if names is None:
        names = project._cache[names_key] = [d.name for d in cur.description or []]
    reader_key = ("reader", view.name, sql)
    reader = project._cache.get(reader_key)
    if reader is None:
        reader = project._cache[reader_key] = RowReader(view, names)
    first = rows[0] if rows else None
    if db.engine.supports_as_of:
        clock_value = first[0]
        row = first if first[reader.event] is not None else None
    else:
        clock_value = datetime.now(timezone.utc)
        row = first
    answers = reader.read(row)
    return OnlineResult(
        view=view.name,
        entity=dict(keys),
        features={f: _plain(v) for f, (v, _) in zip(reader.features, answers)},
        statuses={f: s for f, (_, s) in zip(reader.features, answers)},
        as_of=clock_value,
        event_timestamp=row[reader.event] if row else None,
    )


def batch_lookup_sql(view: FeatureView, engine_name: str, clock: str | None, count: int,
                     key_types: Mapping[str, str | None] | None = None) -> str:
    """One query for the rows of ``count`` entities of a view (one parameter per key column).

    On PostgreSQL each key column is bound as one array (``= any(%s::bigint[])``), which the planner
    pushes into the view's index range scan; on the streaming engines it is an ``in`` list of typed
    placeholders, the form their indexed point lookups recognise. With composite keys the result
    may hold combinations that were not asked for: pick the wanted rows with ``rows_by_key``. With
    ``clock`` the first column is its reading and there is always at least one row (all nulls but
    the clock when nothing matched), as in ``lookup_sql``; ``key_types`` as there.
    """
    from materializer.engines import get_engine

    engine = get_engine(engine_name)
    conds = []
    for k in view.entity:
        column_type = key_type(view, k, key_types)
        if engine_name == "postgres":
            placeholder = engine.lookup_param(column_type) + "[]" if column_type else "%s"
            conds.append(f"v.{k} = any({placeholder})")
        else:
            conds.append(f"v.{k} in ({', '.join([engine.lookup_param(column_type)] * count)})")
    cond = " and ".join(conds)
    return _select(view, clock, cond)


def batch_params(view: FeatureView, engine_name: str, keys: list[tuple[Any, ...]]) -> list[Any]:
    """The parameters of ``batch_lookup_sql`` for distinct checked key tuples (in view key order)."""
    columns = [[key_param(key[i]) for key in keys] for i in range(len(view.entity))]
    if engine_name == "postgres":
        return columns
    return [value for column in columns for value in column]


def rows_by_key(view: FeatureView, names: list[str], rows: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], tuple]:
    """The rows of a batch lookup by key tuple; the all-null row of a clocked query is left out."""
    positions = [names.index(k) for k in view.entity]
    event = names.index("_event_ts")
    if len(positions) == 1:
        p = positions[0]
        return {(row[p],): row for row in rows if row[event] is not None}
    return {tuple(row[p] for p in positions): row for row in rows if row[event] is not None}

"""``materializer verify``: online and offline values must agree (the train/serve skew check).

For a sample of entities of every feature view, each feature is read online
(the view, with the clock pinned at one time ``t``) and through the
training-set path (a spine row ``(k, t)``); any difference is a mismatch. Run
it in CI after ``apply``: a view edited by hand, a stale deployment or a bug in
either path shows up as a mismatch and exit code 1. It needs no pandas.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import psycopg

from materializer.definitions.spec import FeatureView
from materializer.definitions.timeparse import parse_timestamp
from materializer.definitions.values import INTEGER_RANGES, coerce
from materializer.errors import InputError

if TYPE_CHECKING:
    from materializer.project import Project

MISSING_KEY = "__materializer_verify_no_events__"
# the spine's time column: a name no entity column can clash with (identifiers may not start with a digit
# in the project file, but this one is only a spine column)
SPINE_TIME = "_materializer_verify_t"
NUMBER_KINDS = (*INTEGER_RANGES, "numeric", "real", "double precision")
TEXT_KINDS = ("text", "varchar", "character varying")
MAX_ENTITIES = 1_000_000  # per view: each is one online lookup


@dataclass
class Mismatch:
    view: str
    entity: dict[str, Any]
    feature: str
    online: Any
    offline: Any


@dataclass
class VerifyReport:
    as_of: datetime
    checked: int = 0
    entities: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _plain(value: Any) -> Any:
    """An offline value as the online lookup gives it: numeric as float, NaN as null."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _as_text(value: Any) -> str | None:
    """A key read from the database as the text that names it (JSON for jsonb, ISO 8601 for times)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    return a == b


def absent_key(conn: psycopg.Connection, view: FeatureView) -> Any | None:
    """A value of the view's single key column that no event has, typed for that column (so the check
    covers an entity without events), or None when the type offers no such value simply."""
    from materializer.features.training import key_types

    key, relation = view.entity[0], view.source.relation
    sql_type = key_types(conn, view)[key]
    kind = (sql_type or "").split("(")[0].strip().lower()
    candidates: list[Any]
    if kind in TEXT_KINDS and "(" not in (sql_type or ""):
        candidates = [MISSING_KEY]
    elif kind in NUMBER_KINDS:
        low, high = conn.execute(f"select min({key}), max({key}) from {relation}").fetchone()
        candidates = [0] if high is None else [high + 1, low - 1]
    elif kind == "uuid":
        candidates = [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    else:
        return None
    for candidate in candidates:
        try:
            value = coerce(candidate, sql_type, f"key {key}")
        except InputError:  # out of the type's range, or not finite
            continue
        taken = conn.execute(f"select exists (select 1 from {relation} where {key} = %s)", [value]).fetchone()[0]
        if not taken:
            return value
    return None


def verify(project: Project, entities: int = 20, as_of: datetime | str | None = None, seed: float = 0.42
           ) -> VerifyReport:
    """Compare online and training-set values of every feature for sampled entities at one time."""
    from materializer.features.training import build, refuse_engine, stream_rows

    if isinstance(entities, bool) or not isinstance(entities, int) or not 1 <= entities <= MAX_ENTITIES:
        raise InputError(f"--entities: {entities!r} is not a number of entities; give a whole number from 1 to "
                         f"{MAX_ENTITIES:,}")
    refuse_engine(project, "verify compares online values with training sets, which")
    pinned = parse_timestamp(as_of, "--as-of") if as_of is not None else None
    conn = project.db.conn
    t = pinned if pinned is not None else conn.execute("select materializer.clock()").fetchone()[0]
    report = VerifyReport(as_of=t)
    for view in project.spec.feature_views.values():
        keys = ", ".join(view.entity)
        conn.execute("select setseed(%s)", [seed])
        sample = conn.execute(
            f"select {keys} from (select distinct {keys} from {view.source.relation} "
            f"where {view.source.timestamp} <= %s) as k order by random() limit %s", [t, entities]).fetchall()
        if len(view.entity) == 1:
            missing = absent_key(conn, view)
            if missing is not None:
                sample.append((missing,))
        if not sample:
            continue
        # keys as the text that names them, as a user types them: a jsonb key as its JSON, a uuid as its
        # text (online lookups and the spine then read them the same way)
        sample = [tuple(_as_text(v) for v in row) for row in sample]
        spine = [{**dict(zip(view.entity, row)), SPINE_TIME: t} for row in sample]
        header, names, query = build(project, spine, [f"{view.name}:*"], timestamp_column=SPINE_TIME)
        offline_rows = list(stream_rows(project, query))
        for row, offline_row in zip(sample, offline_rows):
            entity = dict(zip(view.entity, row))
            online = project.online_features(view.name, entity, as_of=t)
            offline = dict(zip(names, offline_row[len(header):]))
            report.entities += 1
            for name, value in online.features.items():
                theirs = _plain(offline[f"{view.name}__{name}"])
                report.checked += 1
                if not _same(_plain(value), theirs):
                    report.mismatches.append(Mismatch(view.name, entity, name, value, theirs))
    return report

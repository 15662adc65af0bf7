"""``materializer verify``: online and offline values must agree (the train/serve skew check).

For a sample of entities of every feature view, each feature is read online
(the view, with the clock pinned at one time ``t``) and through the
training-set path (a spine row ``(k, t)``); any difference is a mismatch. Run
it in CI after ``apply``: a view edited by hand, a stale deployment or a bug in
either path shows up as a mismatch and exit code 1.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from materializer.definitions.timeparse import parse_timestamp

if TYPE_CHECKING:
    from materializer.project import Project

MISSING_KEY = "__materializer_verify_no_events__"


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


def _missing_key(conn: Any, view: Any) -> Any:
    """A key of the view's type that has no events (a text marker; below the least number), or None."""
    from materializer.features.training import TEXT_TYPES, key_types

    key = view.entity[0]
    kind = key_types(conn, view)[key].split("(")[0].strip().lower()
    if kind in TEXT_TYPES:
        return MISSING_KEY
    if kind in ("smallint", "integer", "bigint", "numeric", "real", "double precision"):
        least = conn.execute(f"select min({key}) from {view.source.relation}").fetchone()[0]
        return str(least - 1) if least is not None and least - 1 >= {
            "smallint": -(2 ** 15), "integer": -(2 ** 31), "bigint": -(2 ** 63)}.get(kind, least - 1) else None
    return None


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
        return (a is None) and (b is None or (isinstance(b, float) and math.isnan(b)))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    return a == b


def verify(project: "Project", entities: int = 20, as_of: datetime | str | None = None, seed: float = 0.42
           ) -> VerifyReport:
    """Compare online and training-set values of every feature for sampled entities at one time."""
    import pandas as pd

    conn = project.db.conn
    t = parse_timestamp(as_of, "--as-of") if as_of is not None else conn.execute(
        "select materializer.clock()").fetchone()[0]
    report = VerifyReport(as_of=t)
    for view in project.spec.feature_views.values():
        keys = ", ".join(view.entity)
        conn.execute("select setseed(%s)", [seed])
        sample = conn.execute(
            f"select {keys} from (select distinct {keys} from {view.source.relation} "
            f"where {view.source.timestamp} <= %s) as k order by random() limit %s", [t, entities]).fetchall()
        missing = _missing_key(conn, view) if len(view.entity) == 1 else None
        if missing is not None:
            sample.append((missing,))
        # keys as their text, as a user types them (a DataFrame would make ints with a null floats)
        sample = [tuple(_as_text(v) for v in row) for row in sample]
        spine = pd.DataFrame([list(row) for row in sample], columns=list(view.entity), dtype=object)
        spine["event_timestamp"] = t
        frame = project.training_set(spine, [f"{view.name}:*"])
        for i, row in enumerate(sample):
            entity = dict(zip(view.entity, row))
            online = project.online_features(view.name, entity, as_of=t)
            report.entities += 1
            for name, value in online.features.items():
                offline = frame.at[i, f"{view.name}__{name}"]
                offline = None if offline is None or (isinstance(offline, float) and math.isnan(offline)) else (
                    offline.item() if hasattr(offline, "item") else offline)
                report.checked += 1
                if not _same(value, offline):
                    report.mismatches.append(Mismatch(view.name, entity, name, value, offline))
    return report

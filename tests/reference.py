"""An independent, plain-Python reading of DESIGN §5, the oracle of the value tests.

It shares no code with the package: events are dicts, features are evaluated
by filtering lists, exactly as the normative text says.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

Event = dict[str, Any]


def _num(values: list[Any]) -> list[Decimal]:
    return [Decimal(str(v)) for v in values]


def aggregate(agg: str, rows: list[Event], column: str | None) -> Any:
    """One aggregate over the rows of a window (already filtered)."""
    if agg == "count":
        return len(rows) if column is None else sum(1 for r in rows if r.get(column) is not None)
    values = [r[column] for r in rows if r.get(column) is not None]
    if agg == "count_distinct":
        return len(set(values))
    if not values:
        return None
    if agg == "sum":
        return float(sum(_num(values)))
    if agg == "avg":
        return float(sum(_num(values)) / len(values))
    if agg == "min":
        return min(values)
    if agg == "max":
        return max(values)
    if agg == "stddev":
        return float(statistics.stdev(_num(values))) if len(values) >= 2 else None
    raise ValueError(agg)


def windowed(
    events: list[Event],
    key: tuple,
    entity: list[str],
    ts: str,
    t: datetime,
    windows: dict[str, timedelta],
    features: dict[str, tuple[str, str | None, Callable[[Event], bool] | None]],
) -> tuple[dict[str, Any], dict[str, str]]:
    """Values and statuses of a windowed view for one key at ``t``.

    ``features`` maps a feature name to (agg, column, python filter or None).
    """
    mine = [e for e in events if tuple(e[c] for c in entity) == key]
    longest = max(windows.values())
    in_lookback = [e for e in mine if t - longest <= e[ts] <= t]
    values: dict[str, Any] = {}
    statuses: dict[str, str] = {}
    for wname, width in windows.items():
        in_window = [e for e in mine if t - width <= e[ts] <= t]
        for fname, (agg, column, flt) in features.items():
            rows = [e for e in in_window if flt is None or flt(e)]
            value = aggregate(agg, rows, column)
            name = f"{fname}_{wname}"
            values[name] = value
            if value is not None:
                statuses[name] = "PRESENT"
            elif not in_lookback:
                statuses[name] = "NOT_FOUND"
            else:
                statuses[name] = "NULL_VALUE"
    return values, statuses


def latest(
    events: list[Event],
    key: tuple,
    entity: list[str],
    ts: str,
    t: datetime,
    features: dict[str, str],
    max_age: timedelta | None = None,
    tie_break: str | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Values and statuses of a latest view for one key at ``t``; ``features`` maps name -> column."""
    mine = [e for e in events if tuple(e[c] for c in entity) == key and e[ts] <= t]
    if not mine:
        return {f: None for f in features}, {f: "NOT_FOUND" for f in features}
    newest = max(e[ts] for e in mine)
    tied = [e for e in mine if e[ts] == newest]
    if tie_break is not None:
        breakers = [e[tie_break] for e in tied if e.get(tie_break) is not None]
        if breakers:
            best = max(breakers)
            tied = [e for e in tied if e.get(tie_break) == best]
    if max_age is not None and newest < t - max_age:
        return {f: None for f in features}, {f: "OUTSIDE_MAX_AGE" for f in features}
    values: dict[str, Any] = {}
    statuses: dict[str, str] = {}
    for fname, column in features.items():
        candidates = [e[column] for e in tied if e.get(column) is not None]
        value = max(candidates) if candidates else None
        values[fname] = float(value) if isinstance(value, Decimal) else value
        statuses[fname] = "PRESENT" if value is not None else "NULL_VALUE"
    return values, statuses

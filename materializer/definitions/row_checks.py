"""What a managed source refuses, per column, and why: one list of rules read two ways.

PostgreSQL stores values that later break what reads them. A managed source refuses:

- in its event-time column (``timestamp:``): null. An event without a time is in no window
  and no training point (JSONL already required it; an empty CSV field slipped through);
- in every time column (timestamptz, timestamp, date): ``infinity`` and ``-infinity``, and
  times before the year 1 (BC) or from the year 10000 on. Python cannot hold them, so an
  online lookup, a training set or a monitor's time series that returns or buckets one fails;
  and the words PostgreSQL turns into a time when it reads them (``now``, ``today``,
  ``tomorrow``, ``yesterday``, ``epoch``): the same file would load other times on every push;
- in every number column (numeric, real, double precision): ``NaN``, ``Infinity`` and
  ``-Infinity``. One poisons every sum and average of its window (``avg`` is NaN), wins
  every ``max`` (NaN sorts above all numbers) and every metric of a monitor, and JSON cannot
  carry it (the HTTP answers would fail);
- in the integer label of a binary monitor: anything but 0 and 1.

Integer, text, boolean, uuid and jsonb columns take whatever their type accepts; null is
accepted everywhere but in the event time.

``row_checks`` gives the rules of one source. On PostgreSQL apply makes each a CHECK constraint
(``condition``, named ``<source>__<column>__<rule>``), so every writer is held to them and a
COPY that breaks one fails at its line. ``refusal`` is the same rule in Python, for the words a
CHECK cannot see (they are stored as ordinary times) and for engines without CHECK constraints.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from materializer.definitions.spec import ProjectSpec, Source

TIME_TYPES = ("timestamptz", "timestamp", "date")
FLOAT_TYPES = ("numeric", "real", "double precision")
#: Words PostgreSQL reads as a time relative to its clock, or as a constant (epoch).
TIME_WORDS = ("now", "today", "tomorrow", "yesterday", "epoch")
_WORD = re.compile(r"[a-z]+")
_LONG_YEAR = re.compile(r"\s*[+-]?\d{5,}")  # ISO 8601 with a year of five digits or more
_NOT_FINITE = ("nan", "inf", "infinity")
_IDENTIFIER_MAX = 63  # PostgreSQL's NAMEDATALEN - 1
_EXAMPLE = "for example 2026-01-01T12:00:00Z"

#: The bounds of a time materializer can read back (Python's datetime: years 1 to 9999), in UTC.
_RANGES = {
    "timestamptz": "{c} >= '0001-01-01 00:00:00+00' and {c} < '10000-01-01 00:00:00+00'",
    "timestamp": "{c} >= '0001-01-01 00:00:00' and {c} < '10000-01-01 00:00:00'",
    "date": "{c} >= '0001-01-01' and {c} <= '9999-12-31'",
}


@dataclass(frozen=True)
class RowCheck:
    """One rule of one column: ``rule`` is event_time, time_range, finite or binary."""

    name: str
    column: str
    rule: str
    condition: str  # SQL over the column: true (or null) for an accepted value

    def message(self, value: Any) -> str:
        """What is wrong with ``value`` (as read from the file) and the fix."""
        return _message(self.rule, value)


def constraint_name(source: str, column: str, rule: str) -> str:
    """``<source>__<column>__<rule>``, shortened with a hash when PostgreSQL would truncate it."""
    name = f"{source}__{column}__{rule}"
    if len(name) <= _IDENTIFIER_MAX:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[:_IDENTIFIER_MAX - 10]}__{digest}"


def row_checks(spec: ProjectSpec, source: Source) -> list[RowCheck]:
    """The rules of a managed source's columns, in column order (none for an external source)."""
    if not source.managed or not source.columns:
        return []
    binary_labels = {m.outcomes.value for m in spec.monitors.values()
                     if m.binary and m.outcomes.source.name == source.name}
    checks: list[RowCheck] = []

    def add(column: str, rule: str, condition: str) -> None:
        checks.append(RowCheck(constraint_name(source.name, column, rule), column, rule, condition))

    for column, column_type in source.columns.items():
        base = column_type.split("(")[0]
        if column == source.timestamp:
            add(column, "event_time", f"{column} is not null")
        if base in _RANGES:
            add(column, "time_range", _RANGES[base].format(c=column))
        elif base in FLOAT_TYPES:
            add(column, "finite", f"{column} > '-Infinity' and {column} < 'Infinity'")
        elif column in binary_labels and column_type != "boolean":
            add(column, "binary", f"{column} in (0, 1)")
    return checks


def column_rules(checks: list[RowCheck], source: Source) -> dict[str, tuple[str, ...]]:
    """The rules per column, for :func:`refusal`; a time column is also checked for the words."""
    rules: dict[str, tuple[str, ...]] = {}
    for c in checks:
        rules[c.column] = (*rules.get(c.column, ()), c.rule)
    for column, column_type in (source.columns or {}).items():
        if column_type.split("(")[0] in TIME_TYPES:
            rules[column] = (*rules.get(column, ()), "time_words")
    return rules


def refusal(value: Any, rules: tuple[str, ...]) -> str | None:
    """Why ``value`` (CSV text, a JSON value, or None for null) breaks one of ``rules``, or None."""
    if value is None or value == "":
        return _message("event_time", value) if "event_time" in rules else None
    if "time_words" in rules and isinstance(value, str):
        lowered = value.lower()
        words = set(_WORD.findall(lowered))
        if words & set(TIME_WORDS):
            return _message("time_words", value)
        if "infinity" in words or "bc" in words or _LONG_YEAR.match(lowered) or _beyond_utc(value):
            return _message("time_range", value)
    if "finite" in rules:
        if isinstance(value, float) and not math.isfinite(value):
            return _message("finite", value)
        if isinstance(value, Decimal) and not value.is_finite():
            return _message("finite", value)
        if isinstance(value, str) and value.strip().lower().lstrip("+-") in _NOT_FINITE:
            return _message("finite", value)
    if "binary" in rules:
        text = str(int(value)) if isinstance(value, bool) else str(value).strip()
        if text.lstrip("+-").isdigit() and int(text) not in (0, 1):
            return _message("binary", value)
    return None


def _beyond_utc(text: str) -> bool:
    """An ISO 8601 time with an offset that is outside the years 1-9999 once in UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return False  # not ISO 8601: PostgreSQL reads it (or refuses it), and the CHECK bounds it
    if parsed.tzinfo is None:
        return False  # read in UTC (the session's time zone): years 1-9999 already
    try:
        parsed.astimezone(timezone.utc)
    except OverflowError:
        return True
    return False


def _message(rule: str, value: Any) -> str:
    shown = repr(value)
    if isinstance(value, float) and not math.isfinite(value):
        shown = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")  # as JSON spells them
    if rule == "event_time":
        return "no time; every event needs its time"
    if rule == "time_words":
        return (f"{shown} is not a time but a word PostgreSQL turns into one as it reads it "
                f"({', '.join(TIME_WORDS)}); write the time itself, {_EXAMPLE}")
    if rule == "time_range":
        what = shown if value is not None else "the time"
        return (f"{what} is not a time between the years 1 and 9999 (infinity and BC dates cannot be read "
                f"back); write the time itself, {_EXAMPLE}")
    if rule == "finite":
        what = shown if value is not None else "the value"
        return (f"{what} is not a finite number; NaN and infinity poison every sum, average and metric over "
                "them: leave the field empty for no value")
    if rule == "binary":
        got = f"{shown} is not a binary label" if value is not None else "not a binary label"
        return f"{got}; a binary monitor's label must be 0 or 1 (or true/false), or empty for none"
    raise ValueError(rule)

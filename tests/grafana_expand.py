"""Grafana's expansion of a PostgreSQL-datasource panel query, read from Grafana's own source.

The text Grafana sends to the database is the panel's ``rawSql`` after two passes:

1. The front end replaces dashboard variables (grafana/scenes
   ``packages/scenes/src/variables/interpolation``: ``$name``, ``${name}``, ``${name:format}``,
   ``[[name]]``; names that are not variables, such as ``$__timeFilter``, are left alone).
   ``sqlstring`` quotes each value (``'`` doubled, ``"`` written ``\\"``) and joins them with
   commas; a value given without a format is formatted by the SQL datasource's
   ``interpolateVariable`` (quoted when the variable is multi-valued or has "All", else only its
   quotes doubled). "All" with a custom all value gives that value unformatted
   (``CustomAllValue``); without one, every option.
2. The backend (pkg/tsdb/grafana-postgresql-datasource/sqleng/sql_engine.go ``Interpolate``,
   then ``macros.go``) replaces ``$__interval_ms``, ``$__interval`` (``gtime.FormatInterval``),
   ``$__unixEpochFrom()``, ``$__unixEpochTo()``, then every ``$__name(args)``: ``$__timeFilter(c)``
   -> ``c BETWEEN '<from>' AND '<to>'`` (RFC 3339, UTC, Go's RFC3339Nano), ``$__timeGroup(c, i)``
   -> ``floor(extract(epoch from c)/N)*N`` with N the interval's seconds printed by Go's ``%v``
   (``1.2096e+06`` for two weeks), ``$__timeGroupAlias`` the same with `` AS "time"``; a
   ``$__timeGroup`` directly followed by a comma becomes the alias form (pre-5.3 compatibility).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal

ALL = object()  #: the "All" choice of a variable

_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")


@dataclass
class Variable:
    """A dashboard variable's choice: one value, several, or ALL (with the dashboard's definition)."""

    value: object
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    options: tuple[str, ...] = ()


def _sqlstring(value: str | list[str]) -> str:
    def one(v: str) -> str:
        return "'" + v.replace("'", "''").replace('"', '\\"') + "'"

    return ",".join(one(v) for v in value) if isinstance(value, list) else one(value)


def _default(value: str | list[str], var: Variable) -> str:
    """grafana-sql's SqlDatasource.interpolateVariable."""
    if isinstance(value, list):
        return ",".join("'" + v.replace("'", "''") + "'" for v in value)
    if var.multi or var.include_all:
        return "'" + value.replace("'", "''") + "'"
    return value.replace("'", "''")


def interpolate_variables(sql: str, variables: dict[str, Variable]) -> str:
    """Pass 1: the front end's variable interpolation."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        var = variables.get(name)
        if var is None:
            return match.group(0)
        if var.value is ALL:
            if var.all_value is not None:
                return var.all_value  # CustomAllValue: never formatted
            value: str | list[str] = list(var.options)
        else:
            value = var.value if isinstance(var.value, (str, list)) else str(var.value)
        if fmt == "sqlstring":
            return _sqlstring(value)
        if fmt in (None, ""):
            return _default(value, var)
        raise NotImplementedError(f"format {fmt}")

    return _VARIABLE.sub(repl, sql)


def format_interval(seconds: float) -> str:
    """gtime.FormatInterval."""
    ms = round(seconds * 1000)
    for unit, size in (("y", 365 * 86400_000), ("d", 86400_000), ("h", 3600_000), ("m", 60_000), ("s", 1000),
                       ("ms", 1)):
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


def parse_interval(text: str, now: datetime) -> float:
    """gtime.ParseInterval: d, w, M, y are calendar steps from now (UTC); others Go durations."""
    text = text.strip("'")
    m = re.fullmatch(r"(\d+)([dwMy])", text)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if unit in "dw":
            return timedelta(days=n * (7 if unit == "w" else 1)).total_seconds()
        months = n if unit == "M" else 12 * n
        year, month = divmod(now.month - 1 + months, 12)
        later = now.replace(year=now.year + year, month=month + 1)
        return (later - now).total_seconds()
    total = 0.0
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise ValueError(f"error parsing interval {text}")
    for amount, unit in parts:
        total += float(amount) * units[unit]
    return total


def go_float(value: float) -> str:
    """Go's fmt %v of a float64 (strconv 'g' with the shortest digits): exponent form when the decimal
    exponent is below -4 or at least 6 (``1.2096e+06``), else plain (``604800``, ``0.5``)."""
    d = Decimal(repr(float(value))).normalize()
    _, digits, exponent = d.as_tuple()
    exp10 = len(digits) + int(exponent) - 1
    if exp10 < -4 or exp10 >= 6:
        text = "".join(map(str, digits))
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{'-' if value < 0 else ''}{mantissa}e{'+' if exp10 >= 0 else '-'}{abs(exp10):02d}"
    return format(d, "f")


def rfc3339(t: datetime) -> str:
    """Go's time.RFC3339Nano of a UTC time: trailing zeros of the fraction dropped, 'Z'."""
    t = t.astimezone(timezone.utc)
    text = t.strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        text += ("." + f"{t.microsecond:06d}").rstrip("0")
    return text + "Z"


def expand_macros(sql: str, time_from: datetime, time_to: datetime, interval_seconds: float) -> str:
    """Pass 2: the backend's global substitutions and PostgreSQL macros."""
    interval = format_interval(interval_seconds)
    sql = sql.replace("$__interval_ms", str(round(interval_seconds * 1000)))
    sql = sql.replace("$__interval", interval)
    sql = sql.replace("$__unixEpochFrom()", str(int(time_from.timestamp())))
    sql = sql.replace("$__unixEpochTo()", str(int(time_to.timestamp())))
    original = sql

    def evaluate(name: str, args: list[str]) -> str:
        if name == "__timeFilter":
            return f"{args[0]} BETWEEN '{rfc3339(time_from)}' AND '{rfc3339(time_to)}'"
        if name == "__timeFrom":
            return f"'{rfc3339(time_from)}'"
        if name == "__timeTo":
            return f"'{rfc3339(time_to)}'"
        if name == "__time":
            return f'{args[0]} AS "time"'
        if name in ("__timeGroup", "__timeGroupAlias"):
            seconds = go_float(parse_interval(args[1], time_to))
            group = f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"
            return group + (' AS "time"' if name == "__timeGroupAlias" else "")
        raise ValueError(f"unknown macro {name!r}")

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "__timeGroup":
            index = original.find(match.group(0))
            end = index + len(match.group(0))
            if index >= 0 and end < len(original) and original[end] == ",":
                name = "__timeGroupAlias"
        args = [a.strip(" ") for a in match.group(2).split(",")]
        return evaluate(name, args)

    return _MACRO.sub(repl, sql)


def expand(sql: str, *, time_from: datetime, time_to: datetime, interval_seconds: float,
           variables: dict[str, Variable] | None = None) -> str:
    """What Grafana sends to the database for a panel query."""
    return expand_macros(interpolate_variables(sql, variables or {}), time_from, time_to, interval_seconds)

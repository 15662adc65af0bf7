"""The checks both validators share (sources and views in ``validate``, monitors in ``monitors``):
names, relations, column types, durations, and the collector of problems with their key paths."""

from __future__ import annotations

import re
from typing import Any

from materializer.definitions.durations import Duration
from materializer.errors import ProjectError, did_you_mean

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
RELATION = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")

# PostgreSQL's fully reserved key words (SQL Key Words appendix, "reserved" in the PostgreSQL column):
# these cannot be used unquoted as column or table names.
RESERVED = frozenset(
    """all analyse analyze and any array as asc asymmetric both case cast check collate column constraint
    create current_catalog current_date current_role current_time current_timestamp current_user default
    deferrable desc distinct do else end except false fetch for foreign from grant group having in
    initially intersect into lateral leading limit localtime localtimestamp not null offset on only or
    order placing primary references returning select session_user some symmetric system_user table then
    to trailing true union unique user using variadic when where window with""".split()
)

# Accepted spellings of column types and their canonical names.
TYPE_ALIASES = {
    "text": "text", "varchar": "text", "character varying": "text", "string": "text",
    "smallint": "smallint", "int2": "smallint",
    "integer": "integer", "int": "integer", "int4": "integer",
    "bigint": "bigint", "int8": "bigint",
    "numeric": "numeric", "decimal": "numeric",
    "real": "real", "float4": "real",
    "double precision": "double precision", "float8": "double precision", "float": "double precision",
    "double": "double precision",
    "boolean": "boolean", "bool": "boolean",
    "timestamptz": "timestamptz", "timestamp with time zone": "timestamptz",
    "timestamp": "timestamp", "timestamp without time zone": "timestamp",
    "date": "date", "jsonb": "jsonb", "uuid": "uuid",
}
_NUMERIC_PS = re.compile(r"^(numeric|decimal)\s*\(\s*(\d+)\s*(,\s*(\d+)\s*)?\)$")


def canonical_type(text: str) -> str | None:
    """The canonical spelling of a column type, or None when it is not supported."""
    t = " ".join(str(text).lower().split())
    if t in TYPE_ALIASES:
        return TYPE_ALIASES[t]
    m = _NUMERIC_PS.match(t)
    if m:
        return f"numeric({m.group(2)},{m.group(4) or 0})"
    return None


def base_type(canonical: str) -> str:
    return "numeric" if canonical.startswith("numeric") else canonical


class Problems:
    """Collects problems as ``key path: message`` lines."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.lines.append(f"{self.file}: {path}: {message}")

    def raise_if_any(self) -> None:
        if self.lines:
            head = "invalid project file" if len(self.lines) > 1 else None
            body = "\n".join(self.lines)
            raise ProjectError(f"{head} ({len(self.lines)} problems):\n{body}" if head else body)


def check_keys(p: Problems, path: str, value: dict, allowed: tuple[str, ...]) -> None:
    for key in value:
        if key not in allowed:
            p.add(f"{path}.{key}" if path else str(key),
                  f"unknown key '{key}'{did_you_mean(str(key), allowed)}; allowed keys: {', '.join(allowed)}")


def identifier(p: Problems, path: str, value: Any, what: str) -> str | None:
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        p.add(path, f"{value!r} is not a valid {what} name; use lowercase letters, digits and _ "
                    "(starting with a letter or _)")
        return None
    if value in RESERVED:
        p.add(path, f"'{value}' is a reserved SQL word; choose another {what} name")
        return None
    return value


def mapping(p: Problems, path: str, value: Any, what: str) -> dict | None:
    if not isinstance(value, dict):
        p.add(path, f"expected a mapping of {what}, got {type(value).__name__}")
        return None
    return value


def duration(p: Problems, path: str, value: Any) -> Duration | None:
    try:
        return Duration.parse(value)
    except ValueError as exc:
        p.add(path, str(exc))
        return None

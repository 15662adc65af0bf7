"""The checks both validators share (sources and views in ``validate``, monitors in ``monitors``):
names, relations, column types, durations, and the collector of problems with their key paths."""

from __future__ import annotations

import re
from typing import Any

from materializer.definitions.durations import Duration
from materializer.definitions.keywords import reserved_reason
from materializer.errors import ProjectError, did_you_mean

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
RELATION = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$")

# PostgreSQL keeps the first 63 bytes of a name (NAMEDATALEN - 1) and silently drops the rest.
MAX_NAME_BYTES = 63
# Names of materializer's own work tables, variables and aliases start with this.
OWN_PREFIX = "_materializer"


# Columns the generated SQL adds beside the source's own: a source column of the same name would be
# read twice, or hide the generated one.
GENERATED_COLUMNS = {
    "_event_ts": "the latest event time of a feature view",
    "_within_max_age": "whether a latest view's value is within max_age",
    "_rank": "the rank of an event in a latest view (PostgreSQL)",
    "_fresh_ts": "the event time within max_age of a latest view (Materialize, RisingWave)",
    "_window": "the window of an event in a windowed view (Materialize, RisingWave)",
    "_as_of": "the time of an online lookup",
    "_row": "the spine row of a training set",
    "_ts": "the spine time of a training set",
    "_event": "the event marker of a training set",
    "_tie": "the tie-break of a training set (Materialize)",
    "_since": "the first time a training set reads for a key",
    "_until": "the last time a training set reads for a key",
}


# Steps (CTEs) of the generated SQL that come before a step reading a source: a table of the same
# name, unqualified, would be read as the step instead (tests/test_hostile_projects.py lists every
# CTE of the macros and which of them can hide a table).
CTE_NAMES = frozenset({"bounds", "deduped", "framed", "key_events", "newest", "spans", "stacked", "stored",
                       "tail", "tied", "unsettled"})


class YamlBoolean(str):
    """An unquoted YAML 1.1 boolean (``on``, ``off``, ``yes``, ``no``, ``true``, ``false``) as written.

    PyYAML reads an unquoted ``on:`` key as True; the project loader keeps the text instead, so
    that an error can say which word to quote.
    """


def name_bytes(name: str) -> int:
    return len(name.encode("utf-8"))


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


# Materialize keeps at most 39 digits (https://materialize.com/docs/sql/types/numeric/); PostgreSQL 1000.
MAX_NUMERIC_PRECISION = 39
# Types PostgreSQL has no max() for: `min`, `max`, `latest` (ties broken with max()) and tie-breaks
# cannot read them.
NO_MAX_TYPES = ("boolean", "uuid", "jsonb")


def canonical_type(text: str) -> str | None:
    """The canonical spelling of a column type, or None when it is not supported."""
    t = " ".join(str(text).lower().split())
    if t in TYPE_ALIASES:
        return TYPE_ALIASES[t]
    m = _NUMERIC_PS.match(t)
    if m and numeric_problem(text) is None:
        return f"numeric({int(m.group(2))},{int(m.group(4) or 0)})"
    return None


def numeric_problem(text: str) -> str | None:
    """Why ``numeric(p, s)`` cannot be created, or None (also for any other type)."""
    m = _NUMERIC_PS.match(" ".join(str(text).lower().split()))
    if not m:
        return None
    precision, scale = int(m.group(2)), int(m.group(4) or 0)
    if not 1 <= precision <= MAX_NUMERIC_PRECISION or scale > precision:
        return (f"{text!r} cannot be created: the precision must be 1 to {MAX_NUMERIC_PRECISION} (Materialize keeps "
                f"{MAX_NUMERIC_PRECISION} digits) and the scale at most the precision; use numeric(18,2), say, or numeric")
    return None


def base_type(canonical: str) -> str:
    return "numeric" if canonical.startswith("numeric") else canonical


class Problems:
    """Collects problems as ``key path: message`` lines."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: list[str] = []
        # Declared but invalid: what refers to them is not checked against them (their own problem is
        # reported where they are declared), so one mistake is reported once.
        self.broken_sources: set[str] = set()
        self.broken_columns: dict[str, set[str]] = {}  # source -> its invalid columns
        self.broken_views: set[str] = set()  # feature views and on-demand views

    def broken_column(self, source: str, column: Any) -> bool:
        """Whether ``column`` is one of ``source``'s invalid columns (reported where declared)."""
        return isinstance(column, str) and column in self.broken_columns.get(source, ())

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


def name_problem(value: Any, what: str) -> str | None:
    """Why ``value`` cannot name a ``what`` in the generated SQL, or None when it can."""
    if isinstance(value, YamlBoolean):
        return f"unquoted {value} is a boolean in YAML, not a {what} name; quote it ('{value}')"
    if isinstance(value, bool):
        return (f"{value!r} is a boolean, not a {what} name; in YAML, quote on, off, yes, no, true and false "
                "used as names ('on')")
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        return (f"{value!r} is not a valid {what} name; use lowercase letters, digits and _ "
                "(starting with a letter or _)")
    size = name_bytes(value)
    if size > MAX_NAME_BYTES:
        return (f"'{value}' is {size} bytes long; PostgreSQL keeps only the first {MAX_NAME_BYTES} bytes of a "
                f"name, so shorten it to at most {MAX_NAME_BYTES}")
    reason = reserved_reason(value)
    if reason:
        return f"{reason}; choose another {what} name"
    if what == "column" and value in GENERATED_COLUMNS:
        return (f"'{value}' is a column materializer adds ({GENERATED_COLUMNS[value]}); rename the column, or "
                "read the source through a view that renames it")
    if value.startswith(OWN_PREFIX):
        return f"names starting with {OWN_PREFIX} are reserved for materializer's own objects; rename it"
    return None


def identifier(p: Problems, path: str, value: Any, what: str) -> str | None:
    problem = name_problem(value, what)
    if problem:
        p.add(path, problem)
        return None
    return value


def hidden_relation(p: Problems, path: str, relation_name: str) -> bool:
    """Refuse an unqualified table name that a step of the generated SQL would hide."""
    if relation_name in CTE_NAMES:
        p.add(path, f"'{relation_name}' is also the name of a step of the generated SQL, which would be read "
                    f"instead of the table; rename the source, or give the relation with its schema "
                    f"(public.{relation_name})")
        return True
    return False


def relation(p: Problems, path: str, value: Any, example: str) -> str | None:
    """A table or view name, ``table`` or ``schema.table``; each part a valid name."""
    if isinstance(value, str) and RELATION.match(value):
        for part in value.split("."):
            problem = name_problem(part, "relation")
            if problem:
                p.add(path, problem)
                return None
        return value
    problem = name_problem(value, "relation") if isinstance(value, bool) else None
    p.add(path, problem or f"{value!r} is not a valid relation; use `table` or `schema.table` in lowercase "
                           f"letters, digits and _ ({example})")
    return None


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

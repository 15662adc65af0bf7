"""Values given by users for a typed column: entity keys, request fields, pushed cells.

``coerce(value, sql_type, what)`` checks a value against the column's canonical SQL type (as
``definitions.checks.canonical_type`` spells it) and returns it as the Python value psycopg binds
for that type. Text (from a command line or a URL) is parsed; JSON values must already have the
column's kind: a number is not silently turned into text, nor text into a number, nor
``true`` into 1. Every refusal is an :class:`InputError` naming the value, what it was for and
the type it needs. Text holding a NUL character or a lone surrogate (which PostgreSQL cannot
store) is refused too.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from materializer.definitions.timeparse import parse_timestamp
from materializer.errors import InputError, MaterializerError

INTEGER_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")  # not int(): it accepts 1_000 and non-ASCII digits
_TRUE = ("true", "t", "yes", "y", "on", "1")
_FALSE = ("false", "f", "no", "n", "off", "0")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_text(value: str, what: str) -> str:
    """``value`` unchanged, or an InputError when PostgreSQL could not store it (NUL, lone surrogate)."""
    if "\x00" in value:
        raise InputError(f"{what}: {_show(value)} holds a NUL character (\\x00), which text cannot store")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what}: {_show(value)} is not valid Unicode text (a lone surrogate)") from None
    return value


def coerce(value: Any, sql_type: str | None, what: str) -> Any:
    """``value`` as a Python value of ``sql_type`` (None: the type is unknown, text is passed as it is).

    ``what`` names the value in errors, for example ``key cc_num`` or ``request field amount``.
    None stays None.
    """
    if value is None:
        return None
    kind = (sql_type or "").split("(")[0]
    fail = f"{what}: {_show(value)} is not a valid {sql_type or 'value'}"
    if isinstance(value, str):
        check_text(value, what)
    if not kind:
        if isinstance(value, (str, int, float, bool, Decimal)):
            return value
        raise InputError(f"{fail}; give text or a number")
    if kind == "text":
        if isinstance(value, str):
            return value
        raise InputError(f"{fail}; the column is text: give it as a string ({json.dumps(str(value))})")
    if kind in INTEGER_RANGES:
        return _integer(value, kind, fail)
    if kind in ("numeric", "real", "double precision"):
        return _number(value, kind, fail)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise InputError(f"{fail}; use true or false")
    if kind in ("timestamptz", "timestamp"):
        if not isinstance(value, (str, datetime)):
            raise InputError(f"{fail}; use an ISO 8601 time such as 2026-01-01T12:00:00Z")
        try:
            parsed = parse_timestamp(value, what)
        except MaterializerError as exc:
            raise InputError(str(exc)) from None
        return parsed if kind == "timestamptz" else parsed.replace(tzinfo=None)
    if kind == "date":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise InputError(f"{fail}; use an ISO date such as 2026-01-31")
    if kind == "uuid":
        if isinstance(value, uuid.UUID):
            return value
        if isinstance(value, str):
            try:
                return uuid.UUID(value.strip())
            except ValueError:
                pass
        raise InputError(f"{fail}; use a UUID such as 123e4567-e89b-12d3-a456-426614174000")
    if kind == "jsonb":
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise InputError(f"{fail}; give a JSON value") from None
        return value
    return value


def _integer(value: Any, kind: str, fail: str) -> int:
    low, high = INTEGER_RANGES[kind]
    number: int | None = None
    if isinstance(value, bool):
        raise InputError(f"{fail}; give a whole number, not true/false")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer() or isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        number = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None:
        raise InputError(f"{fail}; give a whole number")
    if not low <= number <= high:
        raise InputError(f"{fail}: out of range for {kind} ({low} to {high})")
    return number


def _number(value: Any, kind: str, fail: str) -> Any:
    if isinstance(value, bool):
        raise InputError(f"{fail}; give a number, not true/false")
    if isinstance(value, (int, float, Decimal)):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise InputError(f"{fail}; give a number such as 12.5") from None
    else:
        raise InputError(f"{fail}; give a number")
    finite = number.is_finite() if isinstance(number, Decimal) else math.isfinite(number)
    if not finite:
        raise InputError(f"{fail}; give a finite number (not NaN or infinity)")
    if kind == "numeric":
        return number if isinstance(number, (int, Decimal)) else Decimal(repr(number))
    return float(number)

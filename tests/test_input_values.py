"""Values given by users for typed columns (keys, request fields): checked, never silently converted."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from materializer.definitions.values import coerce
from materializer.errors import InputError

ACCEPTED = [
    ("42", "bigint", 42),
    (" -7 ", "integer", -7),
    (42, "bigint", 42),
    (42.0, "bigint", 42),
    ("12.50", "numeric(12,2)", Decimal("12.50")),
    (3, "double precision", 3.0),
    ("t", "boolean", True),
    ("false", "boolean", False),
    (True, "boolean", True),
    ("2026-01-01T00:00:00Z", "timestamptz", datetime(2026, 1, 1, tzinfo=timezone.utc)),
    ("2026-01-31", "date", date(2026, 1, 31)),
    ("123e4567-e89b-12d3-a456-426614174000", "uuid", uuid.UUID("123e4567-e89b-12d3-a456-426614174000")),
    ("4111-0001", "text", "4111-0001"),
    ("", "text", ""),
    ("ключ ☃", "text", "ключ ☃"),
    (None, "bigint", None),
]

REFUSED = [
    ("abc", "bigint", "not a valid bigint"),
    ("1_000", "bigint", "whole number"),
    ("٣", "bigint", "whole number"),  # a non-ASCII digit that int() would accept
    (True, "bigint", "not true/false"),
    (1.5, "integer", "whole number"),
    (2**63, "bigint", "out of range"),
    ("40000", "smallint", "out of range"),
    (42, "text", 'give it as a string ("42")'),
    ("nan", "double precision", "finite"),
    (float("inf"), "numeric", "finite"),
    ("twelve", "numeric", "number"),
    ("maybe", "boolean", "true or false"),
    ("yesterday-ish", "timestamptz", "ISO 8601"),
    ("2026-02-30", "date", "ISO date"),
    ("not-a-uuid", "uuid", "UUID"),
    ("a\x00b", "text", "NUL"),
    ("\udc80", "text", "lone surrogate"),
    ("\x00", None, "NUL"),
]


@pytest.mark.parametrize(("value", "sql_type", "expected"), ACCEPTED)
def test_accepted_values_come_back_typed(value, sql_type, expected):
    got = coerce(value, sql_type, "key k")
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(("value", "sql_type", "fragment"), REFUSED)
def test_refused_values_name_the_value_and_the_fix(value, sql_type, fragment):
    with pytest.raises(InputError) as info:
        coerce(value, sql_type, "key k")
    message = str(info.value)
    assert message.startswith("key k: ") and fragment in message
    assert "\n" not in message


def test_wrong_key_type_through_the_python_api_is_an_input_error(make_project):
    project = make_project("""
name: t
sources:
  events:
    columns: {account: bigint, amount: numeric, ts: timestamptz}
    timestamp: ts
feature_views:
  totals:
    source: events
    entity: [account]
    windows: [1d]
    features:
      n: {agg: count}
""")
    project.apply()
    project.db.conn.execute("insert into events values (42, 1.5, now())")
    assert project.online_features("totals", {"account": "42"}).features == {"n_1d": 1}
    assert project.online_features("totals", {"account": 42}).features == {"n_1d": 1}
    for bad in ("abc", "4\x002", True, 4.5):
        with pytest.raises(InputError):
            project.online_features("totals", {"account": bad})
    # the connection is still usable after refusals (nothing reached the server)
    assert project.online_features("totals", {"account": 7}).statuses == {"n_1d": "PRESENT"}

"""Timestamps given by users (``--as-of``, spines): ISO 8601, compared in UTC.

A timestamp without a time zone is read as UTC (the documented rule).
"""

from __future__ import annotations

from datetime import datetime, timezone

from materializer.errors import InputError


def parse_timestamp(value: datetime | str, what: str = "timestamp") -> datetime:
    """An aware datetime from an ISO 8601 string or datetime; naive values are UTC."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            raise InputError(
                f"{what}: {value!r} is not a timestamp; use ISO 8601, for example 2026-01-01T12:00:00Z"
            ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed

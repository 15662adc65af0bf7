"""Durations such as ``10m``, ``1h``, ``7d``: exact lengths of time, never calendar units.

``1d`` is exactly 24 hours (DESIGN §5), so SQL intervals are rendered in
seconds, minutes or hours only, never days or months.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^([1-9][0-9]*)([smhdw])$")


@dataclass(frozen=True, order=True)
class Duration:
    """A positive whole number of seconds with the text the user wrote."""

    seconds: int
    text: str

    @classmethod
    def parse(cls, value: object) -> "Duration":
        """Parse ``'90s'``, ``'10m'``, ``'1h'``, ``'1d'`` or ``'2w'``; raise ValueError otherwise."""
        text = str(value).strip()
        match = _PATTERN.match(text)
        if not match or isinstance(value, bool):
            raise ValueError(f"'{value}' is not a duration; use a number with s, m, h, d or w (for example 10m, 1h, 7d)")
        return cls(int(match.group(1)) * UNITS[match.group(2)], text)

    @property
    def sql_interval(self) -> str:
        """An exact interval literal: ``interval '24 hours'`` for ``1d``."""
        if self.seconds % 3600 == 0:
            n, unit = self.seconds // 3600, "hour"
        elif self.seconds % 60 == 0:
            n, unit = self.seconds // 60, "minute"
        else:
            n, unit = self.seconds, "second"
        return f"interval '{n} {unit}{'s' if n != 1 else ''}'"

    @property
    def timedelta(self) -> timedelta:
        return timedelta(seconds=self.seconds)

    def __str__(self) -> str:
        return self.text

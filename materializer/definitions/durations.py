"""Durations such as ``10m``, ``1h``, ``7d``: exact lengths of time, never calendar units.

``1d`` is exactly 24 hours (DESIGN §5), so SQL intervals are rendered in
seconds, minutes or hours only, never days or months.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Longer durations push `t - W` out of the times PostgreSQL can compute with (4713 BC), or an
# interval out of its range, and the error would come at read time.
MAX_DAYS = 365_000  # 1000 years
_PATTERN = re.compile(r"^([1-9][0-9]*)([smhdw])$")


@dataclass(frozen=True, order=True)
class Duration:
    """A positive whole number of seconds with the text the user wrote."""

    seconds: int
    text: str

    @classmethod
    def parse(cls, value: object) -> Duration:
        """Parse ``'90s'``, ``'10m'``, ``'1h'``, ``'1d'`` or ``'2w'``; raise ValueError otherwise."""
        text = str(value).strip()
        match = _PATTERN.match(text)
        if not match or isinstance(value, bool):
            raise ValueError(f"'{value}' is not a duration; use a number with s, m, h, d or w (for example 10m, 1h, 7d)")
        seconds = int(match.group(1)) * UNITS[match.group(2)]
        if seconds > MAX_DAYS * 86400:
            raise ValueError(f"'{value}' is longer than {MAX_DAYS}d (1000 years), beyond the times the database can "
                             "compute with; use a shorter duration")
        return cls(seconds, text)

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

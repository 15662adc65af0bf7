"""Synthetic card transactions: a few hundred cards, a few dozen merchants, some failures.

A handful of "hot" cards transact far more often, with larger amounts and more
failures, so that their features stand out in the demo.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

MERCHANTS = [f"merchant_{i:02d}" for i in range(40)]
STATUSES = ("approved", "approved", "approved", "approved", "approved", "approved", "approved", "declined", "failed")


def card_number(i: int) -> str:
    return f"4111-{i:04d}"


@dataclass
class Scenario:
    """A seeded stream of transactions."""

    cards: int = 300
    hot_cards: int = 5
    seed: int = 7

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.counter = 0

    @property
    def watched(self) -> list[str]:
        """The cards the demo shows: the hot ones and two ordinary ones."""
        return [card_number(i) for i in range(self.hot_cards)] + [card_number(self.cards - 1),
                                                                  card_number(self.cards - 2)]

    def transaction(self, ts: datetime) -> dict:
        rng = self.rng
        hot = rng.random() < 0.3
        card = rng.randrange(self.hot_cards) if hot else rng.randrange(self.hot_cards, self.cards)
        amount = round(rng.lognormvariate(4.5 if hot else 3.2, 0.8), 2)
        status = rng.choice(("approved", "failed", "failed")) if hot and rng.random() < 0.3 else rng.choice(STATUSES)
        self.counter += 1
        return {
            "tx_id": f"tx-{self.seed}-{self.counter:08d}",
            "cc_num": card_number(card),
            "merchant": rng.choice(MERCHANTS[:8] if hot else MERCHANTS),
            "amount": f"{amount:.2f}",
            "status": status,
            "ts": ts.isoformat(),
        }

    def history(self, n: int, end: datetime, span: timedelta) -> list[dict]:
        """``n`` transactions spread over ``span`` before ``end``, in time order."""
        times = sorted(end - span * self.rng.random() for _ in range(n))
        return [self.transaction(t) for t in times]

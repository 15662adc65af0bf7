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


@dataclass
class ModelScenario:
    """Scored transactions of a fraud model in two versions, and chargebacks that arrive days later.

    About 3% of transactions are fraud. Version v1 (the champion, 70% of traffic) scores with
    more noise than v2 (the canary). A fraud is charged back after an exponential delay of
    mean 3 days (some after the 7-day maturity, so they never count); a legitimate transaction
    never is: under `implicit_negative` the lack of a chargeback is the negative label.
    """

    seed: int = 11
    fraud_rate: float = 0.03

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def _score(self, fraud: bool, noise: float) -> float:
        import math

        logit = (2.2 if fraud else -2.2) + self.rng.gauss(0, noise)
        return round(1 / (1 + math.exp(-logit)), 4)

    def history(self, n: int, end: datetime, span: timedelta) -> tuple[list[dict], list[dict]]:
        """``n`` predictions spread over ``span`` before ``end``, and their chargebacks (some after ``end``)."""
        predictions, chargebacks = [], []
        for i in range(n):
            ts = end - span * self.rng.random()
            fraud = self.rng.random() < self.fraud_rate
            version = "v2" if self.rng.random() < 0.3 else "v1"
            tx_id = f"p-{self.seed}-{i:07d}"
            predictions.append({
                "tx_id": tx_id,
                "predicted_at": ts.isoformat(),
                "score": self._score(fraud, 2.6 if version == "v1" else 1.4),
                "model_version": version,
                "channel": "web" if self.rng.random() < 0.4 else "app",
            })
            if fraud:
                delay = timedelta(days=self.rng.expovariate(1 / 3))
                chargebacks.append({"tx_id": tx_id, "reported_at": (ts + delay).isoformat(), "is_fraud": 1})
        return predictions, chargebacks

"""Model-monitor values on a real PostgreSQL against an independent reading of DESIGN §5
(tests/monitor_reference.py, which states the exact definitions) and scikit-learn/scipy.

The generated data hold, for every evaluation time t and window W: predictions exactly at
t - W and at t (inside), a microsecond before t - W and after t (outside), predictions that
mature exactly at t, at t - W, a microsecond too early and a microsecond too late; duplicated
prediction ids (later copies with other scores and versions, ties on predicted_at, invalid
first copies with a valid later copy); labels arriving late (after the maturity deadline),
dated before their prediction, exactly at t and at the deadline, corrected (before and after
the deadline), duplicated, tied, null, and for unknown prediction ids; scores exactly 0, 1, the
thresholds, on float-rounding bin edges, null and out of range; two versions and two channels;
one-class and empty windows. The clock is pinned with as_of everywhere.

Tolerances: counts exact; other metrics 1e-9 relative (1e-12 absolute); the binned roc_auc
equals the numpy pair count over the 100 bins (and sklearn's AUC of the bin numbers) and is
within 0.01 of sklearn's exact roc_auc_score when both classes have >= 30 rows.
"""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from materializer.cli import app
from materializer.definitions.validate import parse_project
from materializer.errors import ProjectError, PushError
from tests import monitor_reference as ref

PROJECT = """
name: monitoring
sources:
  predictions:
    columns: {tx_id: text, predicted_at: timestamptz, score: double precision, model_version: text,
              channel: text}
    timestamp: predicted_at
  chargebacks:
    columns: {tx_id: text, reported_at: timestamptz, is_fraud: integer}
    timestamp: reported_at
  chargebacks_bool:
    columns: {tx_id: text, reported_at: timestamptz, is_fraud: boolean}
    timestamp: reported_at
  forecasts:
    columns: {tx_id: text, predicted_at: timestamptz, score: double precision, model_version: text,
              channel: text}
    timestamp: predicted_at
  actuals:
    columns: {tx_id: text, reported_at: timestamptz, actual: numeric}
    timestamp: reported_at
monitors:
  fraud_explicit:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score,
                  version: model_version, segments: [channel]}
    outcomes: {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}
    label_policy: explicit
    maturity: 2d          # ignored by explicit
    threshold: 0.5
    windows: [1h, 1d, 7d]
    history: 30d          # the streaming engines keep 30 days (+ maturity): every row of the data
    bucket: 1h
    costs: {fp: 5, fn: 120}
    reference: {relation: training_scores, column: score}
  fraud_implicit:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score,
                  version: model_version, segments: [channel]}
    outcomes: {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}
    label_policy: implicit_negative
    maturity: 2d
    threshold: 0.3
    windows: [1h, 1d, 7d]
    history: 30d          # the streaming engines keep 30 days (+ maturity): every row of the data
    bucket: 1h
    costs: {fp: 1, fn: 25.5}
  fraud_bool:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score,
                  version: model_version, segments: [channel]}
    outcomes: {source: chargebacks_bool, id: tx_id, timestamp: reported_at, label: is_fraud}
    windows: [1h, 1d, 7d]
    history: 30d          # the streaming engines keep 30 days (+ maturity): every row of the data
  demand:
    task: regression
    predictions: {source: forecasts, id: tx_id, timestamp: predicted_at, score: score,
                  version: model_version, segments: [channel]}
    outcomes: {source: actuals, id: tx_id, timestamp: reported_at, label: actual}
    windows: [1h, 1d, 7d]
    history: 30d          # the streaming engines keep 30 days (+ maturity): every row of the data
    bucket: 1h
"""

UTC = timezone.utc
US = timedelta(microseconds=1)
MATURITY = timedelta(days=2)
WINDOWS = {"1h": timedelta(hours=1), "1d": timedelta(days=1), "7d": timedelta(days=7)}
BUCKET = timedelta(hours=1)
BASE = datetime(2026, 3, 1, tzinfo=UTC)
T_MAIN = BASE + timedelta(days=8, hours=13, minutes=17, seconds=23, microseconds=456789)
T_LATE = BASE + timedelta(days=10, hours=5)          # after the last random prediction
T_ONE = BASE + timedelta(days=5, hours=12)           # the 1h windows hold one class only
T_EMPTY = BASE - timedelta(days=1)                   # before every prediction
TIMES = [T_MAIN, T_LATE, T_ONE, T_EMPTY]
EDGE_TIMES = [T_MAIN, T_LATE]
GAPS = [(T_ONE - timedelta(hours=3), T_ONE + timedelta(hours=1)),
        (T_ONE - MATURITY - timedelta(hours=3), T_ONE - MATURITY + timedelta(hours=1))]
VERSIONS = ["v1", "v2"]
CHANNELS = ["web", "app"]
SPECIAL_SCORES = [0.0, 1.0, 0.5, 0.3, 0.29, 0.57, 0.995, 0.01, 0.1, 0.9]  # 0.29*100 and 0.57*100 round down
INVALID_SCORES = [None, -0.1, 1.5, 1.0000001, -1e-9]

SPECS = {
    "fraud_explicit": ref.Spec(ref.BINARY, "explicit", None, 0.5, 5, 120),
    "fraud_implicit": ref.Spec(ref.BINARY, "implicit_negative", MATURITY, 0.3, 1, 25.5),
    "fraud_bool": ref.Spec(ref.BINARY, "explicit", None, 0.5, None, None),
    "demand": ref.Spec(ref.REGRESSION),
}
SLICES = {None: None, "version": "model_version", "channel": "channel"}


# ------------------------------------------------------------------ data


class Generator:
    """Predictions and outcomes of one model (binary or regression), with the edge cases."""

    def __init__(self, seed: int, task: str) -> None:
        self.rng = random.Random(seed)
        self.task = task
        self.preds: list[dict] = []
        self.outcomes: list[dict] = []
        self.truth: dict[str, object] = {}
        self.protected: set[str] = set()   # rows of the constructed one-class windows: left alone
        self.count = 0

    # values
    def true_value(self, positive: bool | None = None) -> object:
        if self.task == ref.BINARY:
            return int(self.rng.random() < 0.2) if positive is None else int(positive)
        if self.rng.random() < 0.04:
            return Decimal(0)
        return Decimal(self.rng.randrange(-5000, 50000)) / 100

    def score_for(self, truth: object, version: str) -> float:
        rng = self.rng
        if self.task == ref.BINARY:
            good = version == "v2"
            if truth:
                return rng.betavariate(5, 2) if good else rng.betavariate(3, 2)
            return rng.betavariate(2, 5) if good else rng.betavariate(2, 3)
        return float(truth) + rng.gauss(0, 20 if version == "v2" else 35)

    def other_label(self, label: object) -> object:
        if self.task == ref.BINARY:
            return 1 - label
        return label + Decimal(self.rng.randrange(1, 3000)) / 100

    # rows
    def outcome(self, key: str, at: datetime, label: object) -> None:
        self.outcomes.append({"tx_id": key, "reported_at": at, "label": label})

    def predict(self, at: datetime, *, score: object = "random", truth: object = None, report: object = "random",
                version: str | None = None, channel: str | None = None) -> str:
        """One prediction; ``report`` is 'random', None (no outcome) or a list of (time, label)."""
        rng = self.rng
        self.count += 1
        key = f"p{self.count:05d}"
        version = version or rng.choice(VERSIONS)
        channel = channel or rng.choice(CHANNELS)
        truth = self.true_value() if truth is None else truth
        self.truth[key] = truth
        if score == "random":
            score = self.score_for(truth, version)
        self.preds.append({"tx_id": key, "predicted_at": at, "score": score, "model_version": version,
                           "channel": channel})
        if report == "random":
            reported = rng.random() < (0.9 if (self.task == ref.BINARY and truth) else 0.6)
            if reported:
                delay = timedelta(minutes=-5) if rng.random() < 0.03 else timedelta(days=rng.expovariate(1 / 1.2))
                self.outcome(key, at + delay, truth)
        elif report is not None:
            for when, label in report:
                self.outcome(key, when, label)
        return key

    def generate(self, n: int) -> None:
        rng = self.rng
        start, end = BASE, BASE + timedelta(days=10)
        while len(self.preds) < n:
            at = start + (end - start) * rng.random()
            at = at.replace(microsecond=rng.randrange(1_000_000))
            if any(lo <= at <= hi for lo, hi in GAPS):
                continue
            self.predict(at)
        self.edges()
        self.one_class_windows()
        self.duplicates()
        self.messy_outcomes()
        self.not_finite()

    def edges(self) -> None:
        """Window edges (explicit) and maturity edges (implicit_negative) of every t and W."""
        rng = self.rng
        for t in EDGE_TIMES:
            for width in WINDOWS.values():
                for at in (t - width, t - width - US, t, t + US):
                    truth = self.true_value(positive=rng.random() < 0.4)
                    when = t if at == t else at + timedelta(minutes=rng.randrange(1, 30))
                    self.predict(at, truth=truth, report=[(when, truth)])
                for deadline in (t - width, t - width - US, t, t + US):
                    truth = self.true_value(positive=True)
                    when = deadline if rng.random() < 0.5 else deadline + US   # on the deadline, or just after
                    self.predict(deadline - MATURITY, truth=truth, report=[(when, truth)])
            # an outcome reported exactly at t, and one a microsecond after t (not yet seen)
            truth = self.true_value(positive=True)
            self.predict(t - timedelta(minutes=10), truth=truth, report=[(t, truth)])
            truth = self.true_value(positive=True)
            self.predict(t - timedelta(minutes=11), truth=truth, report=[(t + US, truth)])

    def one_class_windows(self) -> None:
        """At T_ONE the 1h windows hold one class: explicit only positives, implicit only negatives."""
        keys = []
        if self.task == ref.BINARY:
            for minutes in (20, 30, 40):
                keys.append(self.predict(T_ONE - timedelta(minutes=minutes), truth=1,
                                         report=[(T_ONE - timedelta(minutes=10), 1)]))
            keys.append(self.predict(T_ONE - timedelta(minutes=50), truth=1, report=None))        # pending
            for minutes in (20, 30, 40):
                keys.append(self.predict(T_ONE - MATURITY - timedelta(minutes=minutes), truth=0, report=None))
            at = T_ONE - MATURITY - timedelta(minutes=45)
            keys.append(self.predict(at, truth=1, report=[(at + MATURITY + timedelta(hours=1), 1)]))  # too late
        else:
            truth = self.true_value()
            keys.append(self.predict(T_ONE - timedelta(minutes=30), truth=truth,
                                     report=[(T_ONE - timedelta(minutes=5), truth)]))
            keys.append(self.predict(T_ONE - timedelta(minutes=40), report=None))
        self.protected.update(keys)

    def duplicates(self) -> None:
        """Later copies, ties on predicted_at, invalid first copies and special scores."""
        rng = self.rng
        originals = [r for r in self.preds if r["tx_id"] not in self.protected]
        invalid = INVALID_SCORES if self.task == ref.BINARY else [None]
        for r in rng.sample(originals, len(originals) // 40):              # invalid first copies
            r["score"] = rng.choice(invalid)
        if self.task == ref.BINARY:
            for r in rng.sample(originals, len(originals) // 25):          # exact, edge-of-bin scores
                r["score"] = rng.choice(SPECIAL_SCORES)
        for r in rng.sample(originals, len(originals) // 15):              # later copies, other scores
            score = rng.choice([*invalid, *(self.score_for(self.truth[r["tx_id"]], "v1") for _ in range(8))])
            self.preds.append({**r, "predicted_at": r["predicted_at"] + timedelta(minutes=rng.randrange(1, 4000)),
                               "score": score, "model_version": rng.choice(VERSIONS),
                               "channel": rng.choice(CHANNELS)})
        for r in [r for r in originals if r["score"] is None or not ref.is_valid(r["score"], self.task)][:12]:
            self.preds.append({**r, "predicted_at": r["predicted_at"] + timedelta(seconds=30),   # no rescue
                               "score": 0.5 if self.task == ref.BINARY else 10.0})
        for r in rng.sample(originals, len(originals) // 30):              # ties on predicted_at
            if r["score"] is None:
                continue
            if self.task == ref.BINARY:
                other = rng.choice([None, None, 1.5, round(rng.random(), 3)])
            else:
                other = rng.choice([None, r["score"] + rng.uniform(-40, 40)])
            if other == r["score"]:
                continue
            winner = r if other is None or other < r["score"] else None
            copy = {**r, "score": other}
            if winner is None:  # the copy wins: it carries its own version and channel
                copy["model_version"] = rng.choice(VERSIONS)
                copy["channel"] = rng.choice(CHANNELS)
            self.preds.append(copy)
        rng.shuffle(self.preds)

    def messy_outcomes(self) -> None:
        rng = self.rng
        first = [o for o in self.outcomes if o["tx_id"] not in self.protected]
        for o in rng.sample(first, len(first) // 12):                      # corrections
            later = o["reported_at"] + timedelta(days=rng.expovariate(1 / 1.0))
            self.outcome(o["tx_id"], later, self.other_label(o["label"]))
        for o in rng.sample(first, len(first) // 25):                      # duplicate rows
            self.outcomes.append(dict(o))
        for o in rng.sample(first, len(first) // 60):                      # ties on reported_at
            self.outcome(o["tx_id"], o["reported_at"], self.other_label(o["label"]))
        for i in range(6):                                                 # unknown prediction ids
            self.outcome(f"ghost-{i}", BASE + timedelta(days=rng.uniform(0, 10)), self.true_value(positive=True))
        labelled = {o["tx_id"] for o in self.outcomes}
        unlabelled = sorted({p["tx_id"] for p in self.preds} - labelled - self.protected)
        for key in rng.sample(unlabelled, 5):                              # a null label: no outcome
            self.outcome(key, BASE + timedelta(days=rng.uniform(0, 10)), None)
        rng.shuffle(self.outcomes)


    def not_finite(self) -> None:
        """NaN and infinite scores (first copies, and tie copies that win as the greatest), and labels
        no model can be scored on: NaN and infinite actual values, binary labels of 2, some corrected
        to a usable label, some usable labels corrected to unusable ones."""
        rng = self.rng
        originals = [r for r in self.preds if r["tx_id"] not in self.protected and r["score"] is not None
                     and math.isfinite(r["score"])]
        for r in rng.sample(originals, len(originals) // 50):
            r["score"] = rng.choice([NAN, INF, -INF])
        for r in rng.sample(originals, len(originals) // 80):
            if math.isfinite(r["score"]) and sum(p["tx_id"] == r["tx_id"] for p in self.preds) == 1:
                self.preds.append({**r, "score": NAN, "model_version": rng.choice(VERSIONS),
                                   "channel": rng.choice(CHANNELS)})
        bad = [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")] if self.task == ref.REGRESSION else [2]
        first = [o for o in self.outcomes if o["tx_id"] not in self.protected and o["label"] is not None]
        for o in rng.sample(first, len(first) // 40):
            o["label"] = rng.choice(bad)
        for o in rng.sample(first, len(first) // 40):                       # unusable, then corrected
            self.outcome(o["tx_id"], o["reported_at"] - timedelta(hours=rng.randrange(1, 30)), rng.choice(bad))
        for o in rng.sample(first, len(first) // 40):                       # usable, then broken
            self.outcome(o["tx_id"], o["reported_at"] + timedelta(hours=rng.randrange(1, 60)), rng.choice(bad))
        rng.shuffle(self.preds)
        rng.shuffle(self.outcomes)


def generate(seed: int) -> dict[str, Generator]:
    binary = Generator(seed, ref.BINARY)
    binary.generate(2600)
    regression = Generator(seed + 1000, ref.REGRESSION)
    regression.generate(1200)
    return {"binary": binary, "regression": regression}


def copy_rows(conn, table: str, columns: list[str], rows: list[list]) -> None:
    with conn.cursor() as cur, cur.copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row(row)
    conn.execute(f"analyze {table}")


PRED_COLS = ["tx_id", "predicted_at", "score", "model_version", "channel"]


def load(project, data: dict[str, Generator]) -> None:
    conn = project.db.conn
    b, r = data["binary"], data["regression"]
    copy_rows(conn, "predictions", PRED_COLS, [[p[c] for c in PRED_COLS] for p in b.preds])
    copy_rows(conn, "chargebacks", ["tx_id", "reported_at", "is_fraud"],
              [[o["tx_id"], o["reported_at"], o["label"]] for o in b.outcomes])
    copy_rows(conn, "chargebacks_bool", ["tx_id", "reported_at", "is_fraud"],
              [[o["tx_id"], o["reported_at"], None if o["label"] is None else bool(o["label"])] for o in b.outcomes])
    copy_rows(conn, "forecasts", PRED_COLS, [[p[c] for c in PRED_COLS] for p in r.preds])
    copy_rows(conn, "actuals", ["tx_id", "reported_at", "actual"],
              [[o["tx_id"], o["reported_at"], o["label"]] for o in r.outcomes])


class Oracle:
    """The reference views of one monitor's data."""

    def __init__(self, name: str, gen: Generator) -> None:
        self.name = name
        self.spec = SPECS[name]
        self.preds = ref.dedup_predictions(gen.preds)
        self.outcomes = ref.index_outcomes(gen.outcomes)

    def cohort(self, t: datetime, window: str, keep=lambda r: True) -> ref.Cohort:
        return ref.cohort(self.spec, self.preds, self.outcomes, t, WINDOWS[window], keep)

    def groups(self, t: datetime, window: str, by: str | None) -> dict[tuple, ref.Cohort]:
        """Cohort per group key (() overall); only groups with a non-zero count, and always the overall."""
        if by is None:
            return {(): self.cohort(t, window)}
        column = SLICES[by]
        values = sorted({r[column] for r in self.preds.values()})
        out = {}
        for value in values:
            c = self.cohort(t, window, lambda r, v=value: r[column] == v)
            if c.nonzero:
                out[((by, value),)] = c
        return out


def oracle_for(name: str, data: dict[str, Generator]) -> Oracle:
    oracle = Oracle(name, data["regression" if name == "demand" else "binary"])
    if name == "fraud_bool":  # its boolean column holds true for every non-zero label (2 included)
        oracle.outcomes = ref.index_outcomes({**o, "label": None if o["label"] is None else int(bool(o["label"]))}
                                             for o in data["binary"].outcomes)
    return oracle


@pytest.fixture(scope="module")
def data() -> dict[str, Generator]:
    return generate(7)


@pytest.fixture
def loaded(make_project, data):
    project = make_project(PROJECT)
    project.apply()
    drop_row_checks(project)   # the data hold NaN and infinite values, and labels of 2
    load(project, data)
    return project


# ------------------------------------------------------------------ comparing


def assert_metrics(got: dict, want: dict, context: str) -> None:
    assert got.keys() == want.keys(), f"{context}: keys {sorted(got)} != {sorted(want)}"
    bad = {}
    for key, w in want.items():
        g = got[key]
        if w is None or g is None:
            ok = g is None and w is None
        elif key in ref.COUNTS:
            ok = g == w and isinstance(g, int) and not isinstance(g, bool)
        else:
            ok = math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12)
        if not ok:
            bad[key] = (g, w)
    assert not bad, f"{context}: (got, want) {bad}"


class Tally:
    """How often each kind of case was actually checked (guards against vacuous passes)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1


def check_group(got: dict, oracle: Oracle, c: ref.Cohort, context: str, tally: Tally) -> None:
    want, extra = ref.expected_metrics(oracle.spec, c)
    assert_metrics(got, want, context)
    if oracle.spec.task != ref.BINARY:
        tally("regression group")
        if want["r2"] is None and want["n"]:
            tally("regression r2 undefined")
        return
    tally("binary group")
    if want["n"] == 0:
        tally("empty")
    elif want["roc_auc"] is None:
        tally("one class")
        assert want["specificity"] is None or want["recall"] is None
    if extra["roc_auc_exact"] is not None:
        assert abs(want["roc_auc"] - extra["roc_auc_sklearn_binned"]) < 1e-9, context
        if extra["positives"] >= 30 and extra["negatives"] >= 30:
            assert abs(got["roc_auc"] - extra["roc_auc_exact"]) <= 0.01, \
                f"{context}: binned {got['roc_auc']} vs exact {extra['roc_auc_exact']}"
            tally("roc_auc vs exact")


# ------------------------------------------------------------------ tests


def test_generated_data_hold_the_edge_cases(data) -> None:
    """Guard the generator: every edge case the module docstring promises really occurs."""
    b = data["binary"]
    preds = ref.dedup_predictions(b.preds)
    outcomes = ref.index_outcomes(b.outcomes)
    copies = {}
    for r in b.preds:
        copies.setdefault(r["tx_id"], []).append(r)
    dupes = [rows for rows in copies.values() if len(rows) > 1]
    assert any(len({r["predicted_at"] for r in rows}) < len(rows) for rows in dupes), "a tie on predicted_at"
    assert any(not ref.is_valid(preds[rows[0]["tx_id"]]["score"], ref.BINARY)
               and any(ref.is_valid(r["score"], ref.BINARY) for r in rows) for rows in dupes), "no rescue"
    ties = [rows for rows in dupes if len(rows) == 2 and rows[0]["predicted_at"] == rows[1]["predicted_at"]]
    assert any(preds[rows[0]["tx_id"]]["score"] == 1.5 and None not in [r["score"] for r in rows] for rows in ties), \
        "a tie won by an out-of-range (greater) score"
    assert any(None in [r["score"] for r in rows] and preds[rows[0]["tx_id"]]["score"] is not None for rows in ties)
    scores = {r["score"] for r in preds.values()}
    assert {0.0, 1.0, 0.5, 0.3, 0.29, 0.57, None, 1.5, -0.1} <= scores
    for t in EDGE_TIMES:
        for width in WINDOWS.values():
            ats = {r["predicted_at"] for r in preds.values()}
            assert {t - width, t - width - US, t, t + US, t - width - MATURITY, t - MATURITY} <= ats
    assert any(k.startswith("ghost") for k in outcomes)
    seen_rows = [(o["tx_id"], o["reported_at"], o["label"]) for o in b.outcomes]
    assert len(seen_rows) > len(set(seen_rows)), "duplicate outcome rows"
    before = after = late = early = 0
    for key, rows in outcomes.items():
        if key not in preds:
            continue
        deadline = preds[key]["predicted_at"] + MATURITY
        labels = [o for o in rows if o["label"] is not None]
        if len({o["label"] for o in labels}) > 1:
            second = sorted(labels, key=lambda o: o["reported_at"])[1]["reported_at"]
            before += second <= deadline
            after += second > deadline
        late += any(o["reported_at"] > deadline for o in labels)
        early += any(o["reported_at"] < preds[key]["predicted_at"] for o in labels)
    assert before and after and late and early, (before, after, late, early)
    r = data["regression"]
    rpreds = ref.dedup_predictions(r.preds)
    assert any(p["score"] is None for p in rpreds.values()) and any(p["score"] < 0 for p in rpreds.values()
                                                                    if p["score"] is not None)
    assert any(o["label"] == 0 for o in r.outcomes) and any(o["label"] is None for o in r.outcomes)
    assert len(r.preds) > len(rpreds)
    # not finite: scores (and NaN copies that win a tie), labels, corrections both ways
    for gen, deduped in ((b, preds), (r, rpreds)):
        winners = [p["score"] for p in deduped.values() if p["score"] is not None]
        assert any(math.isnan(x) for x in winners) and INF in winners and -INF in winners
        copies = {}
        for p in gen.preds:
            copies.setdefault((p["tx_id"], p["predicted_at"]), []).append(p["score"])
        assert any(len(v) == 2 and any(x is not None and math.isnan(x) for x in v)
                   and any(x is not None and math.isfinite(x) for x in v) for v in copies.values())
    assert any(o["label"] == 2 for o in b.outcomes)
    assert {"NaN", "Infinity", "-Infinity"} <= {str(o["label"]) for o in r.outcomes}


@pytest.mark.parametrize("monitor", ["fraud_explicit", "fraud_implicit", "fraud_bool", "demand"])
def test_metrics_match_the_reference(loaded, data, monitor) -> None:
    """Every metric of DESIGN §5, every window and evaluation time, overall, by version and by channel."""
    project = loaded
    oracle = oracle_for(monitor, data)
    tally = Tally()
    for t in TIMES:
        for window in WINDOWS:
            for by in SLICES:
                result = project.metrics(monitor, window=window, by=by, as_of=t)
                assert result.as_of == t and result.window == window and result.monitor == monitor
                got = {tuple(g["by"].items()): g["metrics"] for g in result.groups}
                assert len(got) == len(result.groups)
                want = oracle.groups(t, window, by)
                assert got.keys() == want.keys(), f"{monitor} {window} at {t} by {by}: groups"
                for key, c in want.items():
                    check_group(got[key], oracle, c, f"{monitor} {window} at {t} by {dict(key)}", tally)
                if t == T_EMPTY:
                    assert (by is None) == bool(result.groups)
    if oracle.spec.task == ref.BINARY:
        assert tally.counts.get("roc_auc vs exact", 0) >= 6, tally.counts
        assert tally.counts.get("one class", 0) >= 3 and tally.counts.get("empty", 0) >= 3, tally.counts
    else:
        assert tally.counts.get("regression r2 undefined", 0) >= 1, tally.counts


def test_one_class_and_empty_windows(loaded) -> None:
    """The constructed one-class windows: undefined metrics are None, not 0 or an error."""
    ex = loaded.metrics("fraud_explicit", window="1h", as_of=T_ONE).groups[0]["metrics"]
    assert (ex["n"], ex["tp"] + ex["fn"], ex["fp"], ex["tn"], ex["pending"]) == (3, 3, 0, 0, 1)
    assert ex["coverage"] == 0.75 and ex["positive_rate"] == 1.0
    assert ex["specificity"] is None and ex["roc_auc"] is None
    assert ex["precision"] == (1.0 if ex["tp"] else None)
    im = loaded.metrics("fraud_implicit", window="1h", as_of=T_ONE).groups[0]["metrics"]
    assert (im["n"], im["n_labelled"], im["tp"], im["fn"], im["fp"] + im["tn"]) == (4, 0, 0, 0, 4)
    assert im["coverage"] == 0.0 and im["positive_rate"] == 0.0 and im["specificity"] == im["tn"] / 4
    assert im["recall"] is None and im["roc_auc"] is None
    assert im["f1"] == (0.0 if im["fp"] else None) and im["precision"] == (0.0 if im["fp"] else None)
    reg = loaded.metrics("demand", window="1h", as_of=T_ONE).groups[0]["metrics"]
    assert (reg["n"], reg["pending"], reg["r2"]) == (1, 1, None) and reg["mae"] is not None
    for monitor in SPECS:
        empty = loaded.metrics(monitor, window="7d", as_of=T_EMPTY)
        assert len(empty.groups) == 1 and empty.groups[0]["by"] == {}
        m = empty.groups[0]["metrics"]
        assert m["n"] == 0 and m["pending"] == 0 and m["n_invalid"] == 0 and m["coverage"] is None
        ratios = [k for k in m if k not in ref.COUNTS and k not in ("coverage", "cost")]
        assert all(m[k] is None for k in ratios), m
        assert m.get("cost") == (0.0 if SPECS[monitor].cost_fp is not None else None)
        assert loaded.metrics(monitor, window="7d", by="version", as_of=T_EMPTY).groups == []


def test_implicit_negative_never_counts_an_immature_prediction(make_project) -> None:
    """One prediction: pending until predicted_at + maturity, then in n (a negative without an outcome
    by the deadline; a positive once an outcome arrived by the deadline; a later one is ignored)."""
    project = make_project(PROJECT)
    project.apply()
    conn = project.db.conn
    at = BASE + timedelta(hours=5, microseconds=17)
    copy_rows(conn, "predictions", PRED_COLS, [["solo", at, 0.8, "v1", "web"], ["late", at, 0.8, "v2", "app"]])
    copy_rows(conn, "chargebacks", ["tx_id", "reported_at", "is_fraud"],
              [["solo", at + MATURITY, 1], ["late", at + MATURITY + US, 1]])
    deadline = at + MATURITY
    rows = []
    for t in (at - US, at, deadline - US, deadline, deadline + timedelta(minutes=59), deadline + timedelta(hours=1),
              deadline + timedelta(hours=1, microseconds=1)):
        m = project.metrics("fraud_implicit", window="1h", as_of=t).groups[0]["metrics"]
        rows.append((m["pending"], m["n"], m["tp"], m["fp"]))
    assert rows == [
        (0, 0, 0, 0),   # not predicted yet
        (2, 0, 0, 0),   # predicted: pending, never a negative
        (2, 0, 0, 0),   # a microsecond before maturity
        (0, 2, 1, 1),   # mature: 'solo' labelled on the deadline, 'late' is a negative (its label came after)
        (0, 2, 1, 1),
        (0, 2, 1, 1),   # t - W == predicted_at + maturity: still in the window
        (0, 0, 0, 0),   # out of the 1h window
    ]
    by_version = project.metrics("fraud_implicit", window="1h", by="version", as_of=deadline - US).groups
    assert [(g["by"], g["metrics"]["pending"], g["metrics"]["n"]) for g in by_version] == [
        ({"version": "v1"}, 1, 0), ({"version": "v2"}, 1, 0)]


def test_timeseries_buckets_match_the_reference(loaded, data) -> None:
    """Counters of every bucket; every metric of a sample of buckets (and by version)."""
    tally = Tally()
    for monitor in ("fraud_explicit", "fraud_implicit", "demand"):
        oracle = oracle_for(monitor, data)
        for t in (T_MAIN, T_ONE):
            want = ref.buckets(oracle.spec, oracle.preds, oracle.outcomes, t, BUCKET)
            got = {datetime.fromisoformat(r["bucket_start"]): r["metrics"] for r in loaded.timeseries(monitor, as_of=t)}
            assert got.keys() == want.keys(), f"{monitor} at {t}: buckets"
            for start, c in want.items():
                assert (got[start]["n"], got[start]["pending"], got[start]["n_invalid"]) == (c.n, c.pending, c.invalid)
            starts = sorted(want)
            sample = {starts[0], starts[-1], ref.bucket_start(T_ONE - timedelta(minutes=1), BUCKET),
                      *random.Random(3).sample(starts, 6)}
            for start in sorted(sample & want.keys()):
                check_group(got[start], oracle, want[start], f"{monitor} bucket {start} at {t}", tally)
        by_version = loaded.timeseries(monitor, by="version", as_of=T_MAIN)
        want = {v: ref.buckets(oracle.spec, oracle.preds, oracle.outcomes, T_MAIN, BUCKET,
                               lambda r, v=v: r["model_version"] == v) for v in VERSIONS}
        assert sorted((datetime.fromisoformat(r["bucket_start"]), r["by"]["version"]) for r in by_version) == \
            sorted((start, v) for v in VERSIONS for start in want[v])
        for record in random.Random(4).sample(by_version, 8):
            start = datetime.fromisoformat(record["bucket_start"])
            version = record["by"]["version"]
            check_group(record["metrics"], oracle, want[version][start], f"{monitor} bucket {start} {version}", tally)
    assert tally.counts["binary group"] >= 30 and tally.counts["regression group"] >= 15, tally.counts


@pytest.mark.parametrize("monitor", ["fraud_explicit", "fraud_implicit", "demand"])
def test_versions_statistics(loaded, data, monitor) -> None:
    """accuracy: two-proportion z; roc_auc: Hanley-McNeil z; mae: Welch t on absolute errors;
    significant = |statistic| > 1.96 (None when the statistic is undefined)."""
    oracle = oracle_for(monitor, data)
    checked = 0
    for t in (T_MAIN, T_LATE, T_ONE):
        for window in WINDOWS:
            got = loaded.versions(monitor, window=window, as_of=t)
            per = {v: oracle.cohort(t, window, lambda r, v=v: r["model_version"] == v) for v in VERSIONS}
            if not all(per[v].n for v in VERSIONS):
                assert got == [], f"{monitor} {window} at {t}"
                continue
            a, b = per["v1"], per["v2"]
            rows = []
            if oracle.spec.task == ref.BINARY:
                ma, _ = ref.binary_metrics(oracle.spec, a)
                mb, _ = ref.binary_metrics(oracle.spec, b)
                z_acc = ref.two_proportion_z(ma["tp"] + ma["tn"], a.n, mb["tp"] + mb["tn"], b.n)
                z_auc = ref.auc_z(ma["roc_auc"], ma["tp"] + ma["fn"], ma["fp"] + ma["tn"],
                                  mb["roc_auc"], mb["tp"] + mb["fn"], mb["fp"] + mb["tn"])
                rows.append(("accuracy", ma["accuracy"], mb["accuracy"], z_acc))
                rows.append(("roc_auc", ma["roc_auc"], mb["roc_auc"], z_auc))
            else:
                ea = np.abs(np.array(a.y) - np.array(a.p))
                eb = np.abs(np.array(b.y) - np.array(b.p))
                rows.append(("mae", float(ea.mean()), float(eb.mean()), ref.welch_t(ea, eb)))
            assert [r["metric"] for r in got] == [r[0] for r in rows], f"{monitor} {window} at {t}"
            for g, (metric, va, vb, stat) in zip(got, rows):
                context = f"{monitor} {window} at {t} {metric}"
                assert (g["window_name"], g["version_a"], g["version_b"], g["n_a"], g["n_b"]) == \
                    (window, "v1", "v2", a.n, b.n), context
                diff = None if va is None or vb is None else va - vb
                assert_metrics({k: g[k] for k in ("value_a", "value_b", "difference", "statistic")},
                               {"value_a": va, "value_b": vb, "difference": diff, "statistic": stat}, context)
                assert g["significant"] == ref.significant(stat), context
                checked += stat is not None
    assert checked >= 4


def test_versions_without_a_statistic_are_never_significant(pg_conn) -> None:
    """A comparison whose statistic is undefined (null, or NaN from a NaN metric: abs(NaN) > 1.96
    is true in SQL) has a null statistic and a null `significant`, never true; the others are
    |statistic| > 1.96. The versions text (every engine's) over metric rows written by hand."""
    from materializer.sql.render import renderer

    pg_conn.execute("create table m (window_name text, slice text, slice_value text, n bigint, tp bigint, fp bigint, "
                    "tn bigint, fn bigint, accuracy double precision, roc_auc double precision, mae double precision, "
                    "_sum_abs_error double precision, _sum_sq_error double precision)")
    rows = [  # window, version, n, tp, fp, tn, fn, accuracy, roc_auc, mae, sum |e|, sum e^2
        ("w_nan", "v1", 40, 15, 5, 15, 5, 0.75, NAN, NAN, NAN, NAN),
        ("w_nan", "v2", 40, 18, 2, 18, 2, 0.9, 0.8, 2.0, 80.0, 200.0),
        ("w_inf", "v1", 40, 15, 5, 15, 5, 0.75, 0.7, INF, INF, INF),
        ("w_inf", "v2", 40, 18, 2, 18, 2, 0.9, 0.8, 2.0, 80.0, 200.0),
        ("w_ok", "v1", 40, 10, 10, 10, 10, 0.5, 0.55, 5.0, 200.0, 1200.0),
        ("w_ok", "v2", 40, 18, 2, 18, 2, 0.9, 0.9, 2.0, 80.0, 200.0),
        ("w_one", "v1", 1, 1, 0, 0, 0, 1.0, None, 1.0, 1.0, 1.0),
        ("w_one", "v2", 1, 0, 0, 1, 0, 1.0, None, 3.0, 3.0, 9.0),
    ]
    for w, v, n, tp, fp, tn, fn, acc, auc, mae, sae, sse in rows:
        pg_conn.execute("insert into m values (%s, 'version', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        [w, v, n, tp, fp, tn, fn, acc, auc, mae, sae, sse])
    seen = set()
    for task in ("binary_classification", "regression"):
        for engine in ("postgres", "materialize", "risingwave"):
            sql = renderer(engine).call("monitor_versions", metrics="m", task=task)
            cur = pg_conn.execute(f"select window_name, metric, statistic, significant from ({sql}) as v")
            for window, metric, statistic, significant in cur.fetchall():
                if statistic is None or math.isnan(statistic):
                    assert statistic is None and significant is None, (engine, window, metric, statistic, significant)
                    seen.add((window, metric))
                else:
                    assert significant == (abs(statistic) > 1.96), (engine, window, metric, statistic)
    assert {("w_nan", "roc_auc"), ("w_nan", "mae"), ("w_inf", "mae"), ("w_one", "mae")} <= seen, seen


def test_versions_whose_errors_are_all_equal(make_project) -> None:
    """Two versions whose absolute errors are each constant (0.1 three times, 0.2 three times): the
    variances from sums round to just below 0, whose square root failed the whole view. Welch's t
    is undefined there (no variance), so the statistic and `significant` are null, as the
    reference says."""
    project = make_project(SMALL.replace(
        "    predictions: {source: forecasts, id: tx_id, timestamp: predicted_at, score: score}",
        "    predictions: {source: forecasts, id: tx_id, timestamp: predicted_at, score: score, version: model_version}"))
    project.apply()
    at = T - timedelta(hours=1)
    copy_rows(project.db.conn, "forecasts", PRED_COLS,
              [[f"a{i}", at, 0.0, "v1", "web"] for i in range(3)] + [[f"b{i}", at, 0.0, "v2", "web"] for i in range(3)])
    copy_rows(project.db.conn, "actuals", ["tx_id", "reported_at", "actual"],
              [[f"a{i}", at, Decimal("0.1")] for i in range(3)] + [[f"b{i}", at, Decimal("0.2")] for i in range(3)])
    got = project.versions("demand", as_of=T)
    assert ref.welch_t(np.array([0.1] * 3), np.array([0.2] * 3)) is None
    assert [(g["metric"], g["n_a"], g["n_b"], g["statistic"], g["significant"]) for g in got] == [
        ("mae", 3, 3, None, None)]
    assert got[0]["value_a"] == pytest.approx(0.1, rel=1e-12) and got[0]["value_b"] == pytest.approx(0.2, rel=1e-12)


def test_drift_against_the_stored_reference(loaded, data) -> None:
    """Bins from the reference deciles (stored once); psi (shares floored at 1e-4), js (= scipy's
    Jensen-Shannon distance, base 2) and ks over the bins, of the window's finite scores by
    predicted_at (deduped predictions, valid or not; null, NaN and infinite scores count nowhere)."""
    rng = random.Random(5)
    # 1001 values: every decile falls on a value; a quarter are exactly 0, so the low deciles coincide
    values = [0.0] * 250 + [round(rng.betavariate(2, 4), 3) for _ in range(751)]
    rng.shuffle(values)
    conn = loaded.db.conn
    conn.execute("create table training_scores (score double precision)")
    copy_rows(conn, "training_scores", ["score"], [[v] for v in values] + [[None]] * 3)
    assert loaded.store_reference("fraud_explicit") == {"score": 1001}

    cuts = ref.decile_cuts(values)
    assert len(cuts) < 9 and cuts[0] == 0.0
    p = ref.bin_shares(values, cuts)
    stored = conn.execute("select bin, lower_bound, upper_bound, share from fraud_explicit__reference "
                          "where column_name = 'score' order by bin").fetchall()
    bounds = [-math.inf, *cuts, math.inf]
    assert [(b, lo, hi) for b, lo, hi, _ in stored] == [(i, bounds[i], bounds[i + 1]) for i in range(len(cuts) + 1)]
    assert np.allclose([s for *_, s in stored], p, rtol=1e-12, atol=0)

    preds = ref.dedup_predictions(data["binary"].preds)
    on_cut = 0
    for t in TIMES:
        for window, width in WINDOWS.items():
            got = loaded.drift("fraud_explicit", window=window, as_of=t)
            assert len(got) == 1 and got[0]["column_name"] == "score" and got[0]["window_name"] == window
            g = got[0]
            window_values = [r["score"] for r in preds.values()
                             if t - width <= r["predicted_at"] <= t and r["score"] is not None
                             and math.isfinite(r["score"])]
            on_cut += sum(v in cuts for v in window_values)
            context = f"drift {window} at {t}"
            assert g["n"] == len(window_values), context
            if not window_values:
                assert (g["psi"], g["js"], g["ks"]) == (None, None, None), context
                continue
            q = ref.bin_shares(window_values, cuts)
            assert_metrics({k: g[k] for k in ("psi", "js", "ks")}, ref.drift_stats(p, q), context)
    assert on_cut > 0, "a window value on a bin's lower bound"


def test_cli_metrics_json(loaded, data, cli_env: Path) -> None:
    """`materializer metrics MONITOR --json --by version --as-of TS` prints DESIGN §6's document."""
    runner = CliRunner()
    result = runner.invoke(app, ["metrics", "fraud_explicit", "--json", "--by", "version", "--window", "1d",
                                 "--as-of", T_MAIN.isoformat()])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"monitor", "window", "as_of", "groups"}
    assert doc["monitor"] == "fraud_explicit" and doc["window"] == "1d"
    assert datetime.fromisoformat(doc["as_of"]) == T_MAIN
    oracle = oracle_for("fraud_explicit", data)
    want = oracle.groups(T_MAIN, "1d", "version")
    assert [tuple(g["by"].items()) for g in doc["groups"]] == sorted(want)
    tally = Tally()
    for g in doc["groups"]:
        assert set(g) == {"by", "metrics"}
        assert list(g["metrics"]) == list(loaded.metrics("fraud_explicit", window="1d", as_of=T_MAIN)
                                          .groups[0]["metrics"])
        check_group(g["metrics"], oracle, want[tuple(g["by"].items())], f"cli {g['by']}", tally)
    # the default window is the first; without --by there is one group with an empty `by`
    result = runner.invoke(app, ["metrics", "fraud_explicit", "--json", "--as-of", T_MAIN.isoformat()])
    doc = json.loads(result.stdout)
    assert doc["window"] == "1h" and [g["by"] for g in doc["groups"]] == [{}]
    check_group(doc["groups"][0]["metrics"], oracle, oracle.cohort(T_MAIN, "1h"), "cli overall", tally)
    # a slice the monitor does not have: one clear line, exit 1
    result = runner.invoke(app, ["metrics", "fraud_explicit", "--json", "--by", "chanel",
                                 "--as-of", T_MAIN.isoformat()])
    assert result.exit_code == 1 and "channel" in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------ bad input

SMALL = """
name: small
sources:
  predictions:
    columns: {tx_id: text, predicted_at: timestamptz, score: double precision, model_version: text,
              channel: text}
    timestamp: predicted_at
  chargebacks:
    columns: {tx_id: text, reported_at: timestamptz, is_fraud: integer}
    timestamp: reported_at
  forecasts:
    columns: {tx_id: text, predicted_at: timestamptz, score: double precision, model_version: text,
              channel: text}
    timestamp: predicted_at
  actuals:
    columns: {tx_id: text, reported_at: timestamptz, actual: numeric}
    timestamp: reported_at
monitors:
  fraud:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score,
                  version: model_version, segments: [channel]}
    outcomes: {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}
    windows: [1d]
    costs: {fp: 2, fn: 10}
  fraud_late:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score}
    outcomes: {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud}
    label_policy: implicit_negative
    maturity: 1h
    windows: [1d]
  demand:
    task: regression
    predictions: {source: forecasts, id: tx_id, timestamp: predicted_at, score: score}
    outcomes: {source: actuals, id: tx_id, timestamp: reported_at, label: actual}
    windows: [1d]
"""
T = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def small(make_project):
    project = make_project(SMALL)
    project.apply()
    return project


def add(project, predictions: list[tuple], outcomes: list[tuple], pred_table: str = "predictions",
        out_table: str = "chargebacks", label: str = "is_fraud") -> None:
    conn = project.db.conn
    copy_rows(conn, pred_table, PRED_COLS, [[k, at, s, "v1", "web"] for k, at, s in predictions])
    copy_rows(conn, out_table, ["tx_id", "reported_at", label], [list(o) for o in outcomes])


def test_invalid_scores_are_excluded_and_counted(small) -> None:
    h = timedelta(hours=1)
    add(small, [("ok1", T - h, 0.7), ("ok0", T - h, 0.0), ("one", T - h, 1.0), ("null", T - h, None),
                ("neg", T - h, -0.2), ("big", T - h, 1.5), ("old", T - timedelta(days=2), 2.0),
                ("young", T - timedelta(minutes=30), None)],
        [(k, T - timedelta(minutes=5), 1) for k in ("ok1", "null", "neg", "big", "old")]
        + [("ok0", T - timedelta(minutes=5), 0), ("one", T - timedelta(minutes=5), 0)])
    m = small.metrics("fraud", as_of=T).groups[0]["metrics"]
    assert (m["n"], m["n_invalid"], m["tp"], m["fp"], m["tn"], m["fn"]) == (3, 4, 1, 1, 1, 0)
    assert m["cost"] == 2.0 and m["brier"] == pytest.approx((0.09 + 0 + 1) / 3, rel=1e-12)
    # implicit_negative: invalid predictions are neither pending nor negatives; the immature one is in no count
    late = small.metrics("fraud_late", as_of=T).groups[0]["metrics"]
    assert (late["n"], late["n_invalid"], late["pending"]) == (3, 3, 0)
    # regression: a negative prediction is a prediction like any other (null, NaN and infinity are not)
    add(small, [("r1", T - h, -5.0), ("r2", T - h, None), ("r3", T - h, 3.0)],
        [("r1", T - h, Decimal(5)), ("r2", T - h, Decimal(1)), ("r3", T - h, Decimal(0))],
        "forecasts", "actuals", "actual")
    r = small.metrics("demand", as_of=T).groups[0]["metrics"]
    assert (r["n"], r["n_invalid"]) == (2, 1)
    assert r["mae"] == 6.5 and r["mean_error"] == 3.5 and r["mape"] == 2.0   # y = 0 is left out of mape


NAN, INF = float("nan"), float("inf")


def drop_row_checks(project) -> None:
    """Drop the row checks apply puts on the sources (binary labels' included), as on tables that
    held rows before the checks existed: the monitors must still count what no push lets in."""
    conn = project.db.conn
    for table, name in conn.execute(
            "select conrelid::regclass::text, conname from pg_constraint where contype = 'c' "
            "and connamespace = current_schema()::regnamespace").fetchall():
        conn.execute(f"alter table {table} drop constraint {name}")


def on_read_views(project) -> dict[str, list[str]]:
    """The metrics view of every monitor as the Materialize and the RisingWave renderer write it, run on
    PostgreSQL through the test shim (tests/engine_shim.py), beside the maintained views apply made:
    ``{monitor: [view, ...]}``."""
    from tests.engine_shim import create_engine_objects

    schemas = [create_engine_objects(project.db.conn, project.spec, engine) for engine in ("materialize", "risingwave")]
    return {name: [f"{schema}.{name}__metrics" for schema in schemas] for name in project.spec.monitors}


def read_on_read(project, view: str, window: str, t: datetime, names: list[str]) -> dict | None:
    conn = project.db.conn
    with conn.transaction():
        conn.execute("select set_config('materializer.as_of', %s, true)", [t.isoformat()])
        cur = conn.execute(f"select * from {view} where window_name = %s and slice = 'all'", [window])
        rows = cur.fetchall()
        columns = [d.name for d in cur.description]
    if not rows:
        return None
    row = dict(zip(columns, rows[0]))
    return {k: (None if isinstance(row[k], float) and math.isnan(row[k]) else row[k]) for k in names}


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_nan_and_infinite_scores_and_labels_are_invalid_in_every_form(small, kind) -> None:
    """One NaN prediction or label used to turn every metric of its window into null, with
    n_invalid 0 (and a -Infinity score broke the maintained binary monitor's trigger). A NaN or
    infinite score or label, and a binary label other than 0 or 1, makes its row invalid:
    counted in n_invalid, never in the metrics nor in pending; NaN wins ties as the greatest
    value, so a tie with a NaN copy is invalid too. The same in the maintained views, their time
    series and the Materialize and RisingWave text (run through the test shim), all equal to the
    reference."""
    drop_row_checks(small)
    h, m = timedelta(hours=1), timedelta(minutes=1)
    tie = T - 5 * h
    if kind == "binary":
        preds = [("ok1", T - 5 * h, 0.8), ("ok0", T - 5 * h, 0.2), ("nan", T - 5 * h, NAN), ("inf", T - 5 * h, INF),
                 ("ninf", T - 5 * h, -INF), ("two", T - 5 * h, 0.9), ("minus", T - 5 * h, 0.1), ("tie", tie, 0.4),
                 ("tie", tie, NAN), ("later", T - 4 * h, 0.7), ("later", T - 3 * h, NAN), ("pend", T - 10 * m, NAN),
                 ("pend_ok", T - 10 * m, 0.6), ("lab_tie", T - 5 * h, 0.7), ("fixed", T - 5 * h, 0.7),
                 ("late", T - 5 * h, 0.3)]
        outs = [("ok1", T - 4 * h, 1), ("ok0", T - 4 * h, 0), ("nan", T - 4 * h, 1), ("inf", T - 4 * h, 0),
                ("ninf", T - 4 * h, 1), ("two", T - 4 * h, 2), ("minus", T - 4 * h, -1), ("tie", T - 4 * h, 1),
                ("later", T - 2 * h, 1), ("lab_tie", T - 4 * h, 1), ("lab_tie", T - 4 * h, 2), ("pend", T - 5 * m, 1),
                ("fixed", T - 4 * h, 2), ("fixed", T - 3 * h, 1),        # corrected
                ("late", T - 4 * h, 0), ("late", T + h, 2)]              # broken after t
        add(small, preds, outs)
        monitors = {"fraud": ref.Spec(ref.BINARY, "explicit", None, 0.5, 2, 10),
                    "fraud_late": ref.Spec(ref.BINARY, "implicit_negative", timedelta(hours=1), 0.5)}
    else:
        preds = [("r_ok", T - 5 * h, 10.0), ("r_ok2", T - 5 * h, -3.0), ("r_nan", T - 5 * h, NAN),
                 ("r_inf", T - 5 * h, INF), ("r_ninf", T - 5 * h, -INF), ("r_ynan", T - 5 * h, 4.0),
                 ("r_yinf", T - 5 * h, 4.0), ("r_yninf", T - 5 * h, 4.0), ("r_tie", tie, 3.0), ("r_tie", tie, NAN),
                 ("r_fixed", T - 5 * h, 6.0), ("r_broken", T - 5 * h, 6.0), ("r_late", T - 5 * h, 6.0)]
        outs = [("r_ok", T - 4 * h, Decimal(12)), ("r_ok2", T - 4 * h, Decimal(0)),
                ("r_nan", T - 4 * h, Decimal(1)), ("r_inf", T - 4 * h, Decimal(1)),
                ("r_ninf", T - 4 * h, Decimal(1)), ("r_ynan", T - 4 * h, Decimal("NaN")),
                ("r_yinf", T - 4 * h, Decimal("Infinity")), ("r_yninf", T - 4 * h, Decimal("-Infinity")),
                ("r_tie", T - 4 * h, Decimal(2)),
                ("r_fixed", T - 4 * h, Decimal("NaN")), ("r_fixed", T - 3 * h, Decimal(7)),     # corrected
                ("r_broken", T - 4 * h, Decimal(7)), ("r_broken", T - 3 * h, Decimal("NaN")),   # broken
                ("r_late", T - 4 * h, Decimal(8)), ("r_late", T + h, Decimal("NaN"))]           # broken after t
        add(small, preds, outs, "forecasts", "actuals", "actual")
        monitors = {"demand": ref.Spec(ref.REGRESSION)}
    deduped = ref.dedup_predictions([{"tx_id": k, "predicted_at": at, "score": sc, "model_version": "v1",
                                      "channel": "web"} for k, at, sc in preds])
    indexed = ref.index_outcomes([{"tx_id": k, "reported_at": at, "label": y} for k, at, y in outs])
    on_read = on_read_views(small)
    checked = 0
    for name, spec in monitors.items():
        for t in (T - 3 * h - m, T, T + 2 * h):
            want, _ = ref.expected_metrics(spec, ref.cohort(spec, deduped, indexed, t, timedelta(days=1)))
            got = small.metrics(name, as_of=t).groups[0]["metrics"]
            assert_metrics(got, want, f"{name} at {t}")
            for view in on_read[name]:
                assert_metrics(read_on_read(small, view, "1d", t, list(want)), want, f"{view} at {t}")
            series = {datetime.fromisoformat(r["bucket_start"]): r["metrics"] for r in small.timeseries(name, as_of=t)}
            expected = ref.buckets(spec, deduped, indexed, t, timedelta(hours=1))
            assert series.keys() == expected.keys(), f"{name} buckets at {t}"
            for start, c in expected.items():
                assert_metrics(series[start], ref.expected_metrics(spec, c)[0], f"{name} bucket {start} at {t}")
            checked += want["n_invalid"] > 0 and want["n"] > 0
    assert checked >= 2 * len(monitors)
    first = next(iter(monitors))
    at_t = small.metrics(first, as_of=T).groups[0]["metrics"]
    if kind == "regression":
        assert (at_t["n"], at_t["n_invalid"]) == (4, 8) and at_t["mae"] is not None, at_t
    else:
        assert (at_t["n"], at_t["n_invalid"], at_t["pending"]) == (5, 8, 1) and at_t["accuracy"] is not None, at_t


def test_non_binary_label_is_refused_by_push(small, tmp_path: Path) -> None:
    """apply creates the CHECK `chargebacks__is_fraud__binary`; a push with a label 2 fails, names the
    line and says what a label must be, and inserts nothing."""
    conn = small.db.conn
    checks = conn.execute("select conname from pg_constraint where conrelid = 'chargebacks'::regclass "
                          "and contype = 'c' order by conname").fetchall()
    assert checks == [("chargebacks__is_fraud__binary",), ("chargebacks__reported_at__event_time",),
                      ("chargebacks__reported_at__time_range",)]
    path = tmp_path / "labels.csv"
    path.write_text("tx_id,reported_at,is_fraud\n"
                    "a,2026-05-01T00:00:00Z,1\n"
                    "b,2026-05-01T00:00:00Z,0\n"
                    "c,2026-05-01T00:00:00Z,\n"
                    "d,2026-05-01T00:00:00Z,2\n"
                    "e,2026-05-01T00:00:00Z,1\n", encoding="utf-8")
    with pytest.raises(PushError) as info:
        small.push("chargebacks", path)
    msg = str(info.value)
    assert str(path) in msg and "line 5" in msg and "is_fraud" in msg, msg
    assert "'2'" in msg and "0 or 1" in msg and "nothing was inserted" in msg, msg
    assert conn.execute("select count(*) from chargebacks").fetchone()[0] == 0
    jsonl = tmp_path / "labels.jsonl"
    jsonl.write_text('{"tx_id": "a", "reported_at": "2026-05-01T00:00:00Z", "is_fraud": 1}\n\n'
                     '{"tx_id": "b", "reported_at": "2026-05-01T00:00:00Z", "is_fraud": -1}\n', encoding="utf-8")
    with pytest.raises(PushError) as info:
        small.push("chargebacks", jsonl)
    msg = str(info.value)
    assert "line 3" in msg and "0 or 1" in msg and "is_fraud" in msg, msg
    assert conn.execute("select count(*) from chargebacks").fetchone()[0] == 0
    # a file of 0/1 (and null) labels goes in
    path.write_text("tx_id,reported_at,is_fraud\na,2026-05-01T00:00:00Z,1\nb,2026-05-01T00:00:00Z,\n",
                    encoding="utf-8")
    assert small.push("chargebacks", path) == 2


def test_the_label_at_t_is_the_one_dated_exactly_at_t(small) -> None:
    """explicit: an outcome dated exactly at t, corrected later, is the label at t (timestamp <= t):
    not the earlier one, not none. The maintained views keep the latest label and look the label
    at t up when a correction is dated after t: that lookup, its time series' buckets and the
    Materialize and RisingWave text (run through the test shim) all give the reference's values at t,
    a microsecond before and at the correction."""
    drop_row_checks(small)
    h, us = timedelta(hours=1), timedelta(microseconds=1)
    add(small, [("earlier", T - 2 * h, 0.9), ("only", T - 2 * h, 0.8), ("flip", T - 3 * h, 0.2)],
        [("earlier", T - h, 0), ("earlier", T, 1), ("earlier", T + h, 0),        # 0, then 1 at t, then 0
         ("only", T, 1), ("only", T + h, 0),                                      # 1 at t, then 0
         ("flip", T, 1), ("flip", T, 0), ("flip", T + 2 * h, 0)])                 # a tie at t: the greater
    add(small, [("r_earlier", T - 2 * h, 5.0), ("r_only", T - 2 * h, 6.0)],
        [("r_earlier", T - h, Decimal(1)), ("r_earlier", T, Decimal(4)), ("r_earlier", T + h, Decimal(9)),
         ("r_only", T, Decimal(8)), ("r_only", T + h, Decimal(2))], "forecasts", "actuals", "actual")
    preds = {"fraud": [("earlier", T - 2 * h, 0.9), ("only", T - 2 * h, 0.8), ("flip", T - 3 * h, 0.2)],
             "demand": [("r_earlier", T - 2 * h, 5.0), ("r_only", T - 2 * h, 6.0)]}
    outs = {"fraud": [("earlier", T - h, 0), ("earlier", T, 1), ("earlier", T + h, 0), ("only", T, 1),
                      ("only", T + h, 0), ("flip", T, 1), ("flip", T, 0), ("flip", T + 2 * h, 0)],
            "demand": [("r_earlier", T - h, 1), ("r_earlier", T, 4), ("r_earlier", T + h, 9), ("r_only", T, 8),
                       ("r_only", T + h, 2)]}
    specs = {"fraud": ref.Spec(ref.BINARY, "explicit", None, 0.5, 2, 10), "demand": ref.Spec(ref.REGRESSION)}
    on_read = on_read_views(small)
    for name, spec in specs.items():
        deduped = ref.dedup_predictions([{"tx_id": k, "predicted_at": at, "score": sc, "model_version": "v1",
                                          "channel": "web"} for k, at, sc in preds[name]])
        indexed = ref.index_outcomes([{"tx_id": k, "reported_at": at, "label": y} for k, at, y in outs[name]])
        for t in (T - us, T, T + us, T + h - us, T + h):
            want, _ = ref.expected_metrics(spec, ref.cohort(spec, deduped, indexed, t, timedelta(days=1)))
            assert_metrics(small.metrics(name, as_of=t).groups[0]["metrics"], want, f"{name} at {t}")
            for view in on_read[name]:
                assert_metrics(read_on_read(small, view, "1d", t, list(want)), want, f"{view} at {t}")
            series = {datetime.fromisoformat(r["bucket_start"]): r["metrics"] for r in small.timeseries(name, as_of=t)}
            expected = ref.buckets(spec, deduped, indexed, t, timedelta(hours=1))
            assert series.keys() == expected.keys(), f"{name} buckets at {t}"
            for start, c in expected.items():
                assert_metrics(series[start], ref.expected_metrics(spec, c)[0], f"{name} bucket {start} at {t}")
    at_t = small.metrics("fraud", as_of=T).groups[0]["metrics"]
    assert (at_t["n"], at_t["tp"], at_t["fn"], at_t["pending"]) == (3, 2, 1, 0), at_t   # flip: 1 wins the tie
    assert small.metrics("demand", as_of=T).groups[0]["metrics"]["mae"] == 1.5           # |4 - 5| and |8 - 6|


def test_outcome_for_an_unknown_id_is_kept_but_never_counted(small) -> None:
    h = timedelta(hours=1)
    add(small, [("a", T - h, 0.9), ("b", T - 2 * h, 0.2)],
        [("a", T - h, 1), ("ghost", T - h, 1), ("ghost", T - 2 * h, 0), ("b", T - h, 0)])
    assert small.db.conn.execute("select count(*) from chargebacks where tx_id = 'ghost'").fetchone()[0] == 2
    for monitor in ("fraud", "fraud_late"):
        m = small.metrics(monitor, as_of=T).groups[0]["metrics"]
        assert (m["n"], m["n_labelled"], m["tp"], m["tn"], m["pending"], m["n_invalid"]) == (2, 2, 1, 1, 0, 0)


def test_duplicate_outcome_rows_count_once(small) -> None:
    h = timedelta(hours=1)
    add(small, [("a", T - 3 * h, 0.9), ("b", T - 3 * h, 0.6), ("c", T - 3 * h, 0.1)],
        [("a", T - 2 * h, 1)] * 3 + [("b", T - 2 * h, 0)] * 2 + [("c", T - 2 * h, 0), ("c", T - 2 * h, 0)])
    for monitor in ("fraud", "fraud_late"):
        m = small.metrics(monitor, as_of=T).groups[0]["metrics"]
        assert (m["n"], m["n_labelled"], m["tp"], m["fp"], m["tn"], m["fn"]) == (3, 3, 1, 1, 1, 0)
        assert m["positive_rate"] == pytest.approx(1 / 3, rel=1e-12)


BASE_MONITOR = {
    "task": "binary_classification",
    "predictions": {"source": "predictions", "id": "tx_id", "timestamp": "predicted_at", "score": "score"},
    "outcomes": {"source": "chargebacks", "id": "tx_id", "timestamp": "reported_at", "label": "is_fraud"},
    "windows": ["1h", "1d"],
    "bucket": "1h",
}


def project_with(monitor: dict) -> dict:
    return {
        "name": "v",
        "sources": {
            "predictions": {"columns": {"tx_id": "text", "predicted_at": "timestamptz", "score": "double precision",
                                        "model_version": "text", "channel": "text"}, "timestamp": "predicted_at"},
            "chargebacks": {"columns": {"tx_id": "text", "reported_at": "timestamptz", "is_fraud": "integer"},
                            "timestamp": "reported_at"},
        },
        "feature_views": {},
        "monitors": {"m": monitor},
    }


def with_(**changes) -> dict:
    out = json.loads(json.dumps(BASE_MONITOR))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = out
        for p in parents:
            node = node[p]
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return out


def test_base_monitor_is_valid() -> None:
    spec = parse_project(project_with(BASE_MONITOR), file="materializer.yml")
    assert list(spec.monitors) == ["m"]


@pytest.mark.parametrize("monitor, path, words", [
    (with_(predictions__score="probability"), "monitors.m.predictions.score", ["probability", "not a column"]),
    (with_(outcomes__label="fraud"), "monitors.m.outcomes.label", ["fraud", "not a column"]),
    (with_(predictions__version="model"), "monitors.m.predictions.version", ["model", "not a column"]),
    (with_(windows=["30m", "1d"]), "monitors.m.windows[0]", ["shorter than the bucket"]),
    (with_(task="regression", label_policy="implicit_negative", maturity="7d"), "monitors.m.label_policy",
     ["regression", "explicit"]),
    (with_(label_policy="implicit_negative"), "monitors.m.maturity", ["maturity"]),
    (with_(task="classification"), "monitors.m.task", ["unknown task", "binary_classification"]),
    (with_(threshold=1.5), "monitors.m.threshold", ["between 0 and 1"]),
    (with_(threshold=-0.1), "monitors.m.threshold", ["between 0 and 1"]),
])
def test_validation_errors_name_the_key_path(monitor, path, words) -> None:
    _assert_error(project_with(monitor), path, words)


@pytest.mark.parametrize("key, path", [("version", "version"), ("segments", "segments[0]")])
def test_a_slice_column_named_like_a_view_column_is_refused(key, path) -> None:
    raw = project_with(with_(**{f"predictions__{key}": "n" if key == "version" else ["n"]}))
    raw["sources"]["predictions"]["columns"]["n"] = "text"
    _assert_error(raw, f"monitors.m.predictions.{path}", ["'n'", "column of the monitor's views", "rename"])


def _assert_error(raw: dict, path: str, words: list[str]) -> None:
    with pytest.raises(ProjectError) as info:
        parse_project(raw, file="materializer.yml")
    msg = str(info.value)
    assert f"{path}:" in msg, msg
    for word in words:
        assert word in msg, msg


def test_validation_error_through_project_load(make_project) -> None:
    text = PROJECT.replace("maturity: 2d\n    threshold: 0.3", "threshold: 0.3")
    with pytest.raises(ProjectError, match=r"materializer\.yml.*monitors\.fraud_implicit\.maturity"):
        make_project(text)


def _rows(conn, sql: str, t: datetime) -> list[tuple]:
    with conn.transaction():
        conn.execute("select set_config('materializer.as_of', %s, true)", [t.isoformat()])
        return conn.execute(sql).fetchall()


def _same_rows(ours: list[tuple], theirs: list[tuple], context: str) -> None:
    assert len(ours) == len(theirs), f"{context}: {len(ours)} rows against {len(theirs)}"
    for a_row, b_row in zip(ours, theirs):
        for x, y in zip(a_row, b_row):
            if isinstance(x, float) and isinstance(y, float):
                same = (math.isnan(x) and math.isnan(y)) or x == y or abs(x - y) <= 1e-9 * max(1, abs(x))
            else:
                same = x == y
            assert same, (context, a_row[:3], x, y)


@pytest.mark.parametrize("engine", ["materialize", "risingwave"])
def test_engine_text_gives_the_same_monitor_views(loaded, data, engine) -> None:
    """Every monitor view (scored, metrics, timeseries, versions, drift) as the Materialize and the
    RisingWave renderer write it, run on PostgreSQL through the test shim (tests/engine_shim.py: their
    clock pinned to t; `in cluster` and `append only` dropped), gives at every t the rows of the views
    apply made on PostgreSQL, row for row, and the reference's metrics. The monitors keep 30 days
    (`history: 30d`), all of the data: what the engines' retention leaves out is tested in
    tests/test_stream_sql.py."""
    from tests.engine_shim import create_engine_objects

    project = loaded
    conn = project.db.conn
    rng = random.Random(5)
    conn.execute("create table training_scores (score double precision)")
    copy_rows(conn, "training_scores", ["score"], [[round(rng.betavariate(2, 4), 3)] for _ in range(500)])
    project.store_reference("fraud_explicit")
    schema = create_engine_objects(conn, project.spec, engine)
    tally = Tally()
    for name, monitor in project.spec.monitors.items():
        kinds = ["scored", "metrics", "timeseries"] + (["versions"] if monitor.version else []) + \
            (["drift"] if monitor.reference_relation else [])
        for t in TIMES:
            for kind in kinds:
                view = monitor.view(kind)
                order = "1" if kind == "scored" else "1, 2, 3"
                _same_rows(_rows(conn, f"select * from {view} order by {order}", t),
                           _rows(conn, f"select * from {schema}.{view} order by {order}", t), f"{engine} {view} at {t}")
        oracle = oracle_for(name, data)
        for t in TIMES:
            for window in WINDOWS:
                cur_rows = _rows(conn, f"select * from {schema}.{monitor.view('metrics')} "
                                       f"where window_name = '{window}' and slice = 'all'", t)
                columns = [c.name for c in conn.execute(f"select * from {schema}.{monitor.view('metrics')} "
                                                        "where false").description]
                c = oracle.cohort(t, window)
                if not cur_rows:
                    assert not c.nonzero, (name, window, t)
                    continue
                row = dict(zip(columns, cur_rows[0]))
                got = {k: (None if isinstance(row[k], float) and math.isnan(row[k]) else row[k])
                       for k in ref.expected_metrics(oracle.spec, c)[0]}
                check_group(got, oracle, c, f"{engine} {name} {window} at {t}", tally)
    assert tally.counts["binary group"] >= 24 and tally.counts["regression group"] >= 8, tally.counts

"""An independent, plain-Python/numpy reading of DESIGN §5 for model monitors: the oracle of
tests/test_monitor_values.py. It shares no code with the package or its SQL macros.

Predictions and outcomes are lists of dicts (the rows as loaded). The readings where DESIGN
leaves room, as the implementation defines them (stated here so the tests state them too):

- numbers are ordered as PostgreSQL, Materialize and RisingWave order floats: NaN is greater
  than every number (+Infinity included) and equal to itself.
- predictions: one row per id, the earliest ``predicted_at``; ties on it go to the non-null,
  greater score, then (``tie_columns``) to the smaller version, segment... (nulls last); the
  score is usable when it is not null, not NaN, not infinite and (binary) within [0, 1] (a later
  valid copy does not rescue an unusable first one); its version and segment come from that row.
- outcomes: a row with a null label is ignored; of the rest, the latest with ``timestamp <= limit``
  wins, ties on the timestamp go to the greater label. Outcomes for unknown ids never join. The
  label that wins is usable when it is finite (regression) or 0 or 1 (binary).
- a cohort prediction is invalid (counted in n_invalid, never in the metrics) when its score or
  the label its metrics would use is unusable; a pending one only needs a usable score.
- explicit, window W at t: cohort = deduped predictions with t - W <= predicted_at <= t;
  limit = t; n = n_labelled = valid cohort predictions with an outcome; pending = valid cohort
  predictions without one; coverage = n_labelled / (n_labelled + pending). ``maturity`` is ignored.
- implicit_negative: cohort = t - W <= predicted_at + maturity <= t; limit = predicted_at +
  maturity; label = the outcome's, else 0; n = valid cohort predictions; n_labelled = those with a
  real outcome by the deadline; coverage = n_labelled / n; pending = valid predictions with
  predicted_at <= t < predicted_at + maturity (the same in every window).
- n_invalid = the cohort's invalid predictions.
- time buckets (timeseries): a prediction is in the bucket of its cohort time (predicted_at, or
  predicted_at + maturity) once that time is <= t; the labels are read as above; pending there
  is the bucket's valid unlabelled predictions (explicit) and 0 under implicit_negative.
- metrics: see ``binary_metrics`` and ``regression_metrics``; a metric whose denominator is 0
  is None; roc_auc is the Mann-Whitney statistic over 100 equal-width score bins (bin =
  min(floor(score * 100), 99), ties in a bin count 1/2) and ece uses 10 bins (the 100-bins
  10b .. 10b + 9).
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)

Row = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
BINARY = "binary_classification"
REGRESSION = "regression"
COUNTS = ("n", "n_labelled", "pending", "n_invalid", "tp", "fp", "tn", "fn")


# ------------------------------------------------------------------ join


def is_valid(score: Any, task: str) -> bool:
    """A usable score: not null, not NaN, not infinite; a probability for a binary model."""
    if score is None or not math.isfinite(score):
        return False
    if task == BINARY:
        return 0.0 <= score <= 1.0
    return True


def label_ok(label: Any, task: str) -> bool:
    """A usable label, or no label (None): 0 or 1 for a binary model, a finite number otherwise."""
    if label is None:
        return True
    if task == BINARY:
        return _num(label) in (0.0, 1.0)
    return math.isfinite(label)


def order(value: Any) -> tuple:
    """A sort key of a number as the engines order floats: NaN above every number, equal to itself."""
    value = _num(value)
    return (1, 0.0) if math.isnan(value) else (0, value)


def dedup_predictions(rows: Iterable[Row], id_col: str = "tx_id", ts_col: str = "predicted_at",
                      score_col: str = "score", tie_columns: tuple[str, ...] | None = None) -> dict[str, Row]:
    """The winning row of every prediction id (earliest; ties: non-null, greater score). Rows equal
    in time and score go to the smallest ``tie_columns`` values (nulls last); without
    ``tie_columns`` the rows must not leave such a tie (an assertion guards the generator)."""
    by_id: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_id[r[id_col]].append(r)
    out: dict[str, Row] = {}
    for key, copies in by_id.items():
        first = min(r[ts_col] for r in copies)
        tied = [r for r in copies if r[ts_col] == first]
        scored = [r for r in tied if r[score_col] is not None]
        if scored:
            best = max(order(r[score_col]) for r in scored)
            winners = [r for r in scored if order(r[score_col]) == best]
        else:
            winners = tied
        if tie_columns is None:
            assert len({(w.get("model_version"), w.get("channel")) for w in winners}) == 1, \
                f"the generator made an ambiguous tie for {key}"
        else:
            winners.sort(key=lambda w: tuple((w[c] is None, w[c] or "") for c in tie_columns))
        out[key] = winners[0]
    return out


def index_outcomes(rows: Iterable[Row], id_col: str = "tx_id") -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        out[r[id_col]].append(r)
    return out


def outcome_label(outcomes: dict[str, list[Row]], key: str, limit: datetime, ts_col: str = "reported_at",
                  label_col: str = "label") -> Any:
    """The label of the latest non-null outcome with timestamp <= limit (ties: greater label), or None."""
    rows = [o for o in outcomes.get(key, ()) if o[label_col] is not None and o[ts_col] <= limit]
    if not rows:
        return None
    latest = max(o[ts_col] for o in rows)
    return max((o[label_col] for o in rows if o[ts_col] == latest), key=order)


# ------------------------------------------------------------------ cohorts


@dataclass
class Cohort:
    """The rows a group's metrics are computed over, and its other counts."""

    y: list[float] = field(default_factory=list)
    p: list[float] = field(default_factory=list)
    labelled: list[bool] = field(default_factory=list)
    pending: int = 0
    invalid: int = 0
    members: list[str] = field(default_factory=list)  # prediction ids counted in n

    def add(self, key: str, y: float, p: float, labelled: bool) -> None:
        self.y.append(y)
        self.p.append(p)
        self.labelled.append(labelled)
        self.members.append(key)

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def nonzero(self) -> bool:
        return self.n > 0 or self.pending > 0 or self.invalid > 0


@dataclass(frozen=True)
class Spec:
    """What the oracle needs to know about a monitor."""

    task: str
    policy: str = "explicit"
    maturity: timedelta | None = None
    threshold: float = 0.5
    cost_fp: float | None = None
    cost_fn: float | None = None


def _num(label: Any) -> float:
    return float(int(label)) if isinstance(label, bool) else float(label)


def cohort(spec: Spec, preds: dict[str, Row], outcomes: dict[str, list[Row]], t: datetime, width: timedelta,
           keep: Callable[[Row], bool] = lambda r: True) -> Cohort:
    """The cohort of the window of ``width`` at ``t`` (restricted to the rows ``keep`` accepts)."""
    c = Cohort()
    implicit = spec.policy == "implicit_negative"
    for key, r in sorted(preds.items()):
        if not keep(r):
            continue
        at = r["predicted_at"]
        valid = is_valid(r["score"], spec.task)
        if implicit:
            deadline = at + spec.maturity
            if valid and at <= t < deadline:
                c.pending += 1
            if not (t - width <= deadline <= t):
                continue
            label = outcome_label(outcomes, key, deadline)
            if not (valid and label_ok(label, spec.task)):
                c.invalid += 1
                continue
            c.add(key, 0.0 if label is None else _num(label), r["score"], label is not None)
        else:
            if not (t - width <= at <= t):
                continue
            label = outcome_label(outcomes, key, t)
            if not (valid and label_ok(label, spec.task)):
                c.invalid += 1
                continue
            if label is None:
                c.pending += 1
            else:
                c.add(key, _num(label), r["score"], True)
    return c


def bucket_start(ts: datetime, bucket: timedelta) -> datetime:
    return EPOCH + bucket * ((ts - EPOCH) // bucket)


def buckets(spec: Spec, preds: dict[str, Row], outcomes: dict[str, list[Row]], t: datetime, bucket: timedelta,
            keep: Callable[[Row], bool] = lambda r: True) -> dict[datetime, Cohort]:
    """The time series' cohorts: one per bucket of the cohort time, up to ``t``."""
    implicit = spec.policy == "implicit_negative"
    out: dict[datetime, Cohort] = defaultdict(Cohort)
    for key, r in sorted(preds.items()):
        if not keep(r):
            continue
        at = r["predicted_at"]
        cohort_at = at + spec.maturity if implicit else at
        if cohort_at > t:
            continue
        c = out[bucket_start(cohort_at, bucket)]
        label = outcome_label(outcomes, key, cohort_at if implicit else t)
        if not (is_valid(r["score"], spec.task) and label_ok(label, spec.task)):
            c.invalid += 1
            continue
        if label is None and not implicit:
            c.pending += 1
        else:
            c.add(key, 0.0 if label is None else _num(label), r["score"], label is not None)
    return dict(out)


# ------------------------------------------------------------------ metrics


def score_bins(p: np.ndarray) -> np.ndarray:
    """The 100 equal-width bins of [0, 1]; a score of 1.0 is in the top bin."""
    return np.minimum(np.floor(p * 100), 99).astype(int)


def binned_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Mann-Whitney over the score bins, pairs in one bin counting 1/2 (numpy, by pair counting)."""
    pos, neg = y == 1, y == 0
    if not pos.any() or not neg.any():
        return None
    b = score_bins(p)
    pos_bins, neg_bins = b[pos], b[neg]
    above = (pos_bins[None, :] > neg_bins[:, None]).sum()
    tied = (pos_bins[None, :] == neg_bins[:, None]).sum()
    return float((above + 0.5 * tied) / (pos.sum() * neg.sum()))


def ece10(y: np.ndarray, p: np.ndarray) -> float | None:
    if len(y) == 0:
        return None
    b10 = score_bins(p) // 10
    gap = sum(abs(p[b10 == b].sum() - y[b10 == b].sum()) for b in np.unique(b10))
    return float(gap / len(y))


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def binary_metrics(spec: Spec, c: Cohort) -> tuple[dict[str, Any], dict[str, Any]]:
    """Expected metrics of a binary cohort, and extras (the exact roc_auc, class sizes)."""
    y = np.array(c.y, dtype=float)
    p = np.array(c.p, dtype=float)
    n = len(y)
    n_labelled = int(sum(c.labelled))
    if spec.policy == "implicit_negative":
        coverage = _ratio(n_labelled, n)
    else:
        coverage = _ratio(n_labelled, n_labelled + c.pending)
    out: dict[str, Any] = {"n": n, "n_labelled": n_labelled, "coverage": coverage, "pending": c.pending,
                           "n_invalid": c.invalid}
    extra: dict[str, Any] = {"positives": int((y == 1).sum()), "negatives": int((y == 0).sum()),
                             "roc_auc_exact": None}
    cost_on = spec.cost_fp is not None
    if n == 0:
        out.update({k: 0 for k in ("tp", "fp", "tn", "fn")})
        out.update({k: None for k in ("accuracy", "precision", "recall", "f1", "specificity", "positive_rate",
                                      "predicted_positive_rate", "log_loss", "brier", "roc_auc", "ece")})
        out["cost"] = 0.0 if cost_on else None
        return out, extra
    yi = y.astype(int)
    yhat = (p >= spec.threshold).astype(int)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(yi, yhat, labels=[0, 1]).ravel())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out.update({
            "tp": tp, "fp": fp, "tn": tn, "fn": fn,
            "accuracy": float(accuracy_score(yi, yhat)),
            "precision": float(precision_score(yi, yhat, zero_division=0)) if tp + fp else None,
            "recall": float(recall_score(yi, yhat, zero_division=0)) if tp + fn else None,
            "f1": float(f1_score(yi, yhat, zero_division=0)) if tp + fp + fn else None,
            "specificity": float(recall_score(yi, yhat, pos_label=0, zero_division=0)) if tn + fp else None,
            "positive_rate": float(np.mean(yi)),
            "predicted_positive_rate": float(np.mean(yhat)),
            # sklearn clips at the float epsilon; pre-clipping at 1e-15 gives DESIGN's clamp
            "log_loss": float(log_loss(yi, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
            "brier": float(brier_score_loss(yi, p, pos_label=1)),
            "roc_auc": binned_auc(yi, p),
            "ece": ece10(y, p),
            "cost": float(fp * spec.cost_fp + fn * spec.cost_fn) if cost_on else None,
        })
        if extra["positives"] and extra["negatives"]:
            extra["roc_auc_exact"] = float(roc_auc_score(yi, p))
            # the binned statistic is sklearn's AUC of the bin numbers (ties count 1/2)
            extra["roc_auc_sklearn_binned"] = float(roc_auc_score(yi, score_bins(p)))
    return out, extra


def regression_metrics(spec: Spec, c: Cohort) -> dict[str, Any]:
    y = np.array(c.y, dtype=float)
    yhat = np.array(c.p, dtype=float)
    n = len(y)
    n_labelled = int(sum(c.labelled))
    out: dict[str, Any] = {"n": n, "n_labelled": n_labelled, "coverage": _ratio(n_labelled, n_labelled + c.pending),
                           "pending": c.pending, "n_invalid": c.invalid}
    if n == 0:
        out.update({k: None for k in ("mae", "rmse", "mean_error", "mape", "r2")})
        return out
    e = y - yhat
    nz = y != 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out.update({
            "mae": float(mean_absolute_error(y, yhat)),
            "rmse": math.sqrt(mean_squared_error(y, yhat)),
            "mean_error": float(np.mean(e)),
            "mape": float(np.mean(np.abs(e[nz]) / np.abs(y[nz]))) if nz.any() else None,
            "r2": float(r2_score(y, yhat)) if n >= 2 and np.ptp(y) > 0 else None,
        })
    return out


def expected_metrics(spec: Spec, c: Cohort) -> tuple[dict[str, Any], dict[str, Any]]:
    if spec.task == BINARY:
        return binary_metrics(spec, c)
    return regression_metrics(spec, c), {}


# ------------------------------------------------------------------ versions


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float | None:
    pooled = (x1 + x2) / (n1 + n2)
    den = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return None if den == 0 else (x1 / n1 - x2 / n2) / den


def hanley_mcneil_se2(auc: float, n_pos: int, n_neg: int) -> float:
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    return (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)


def auc_z(a1: float | None, p1: int, n1: int, a2: float | None, p2: int, n2: int) -> float | None:
    if a1 is None or a2 is None:
        return None
    den = math.sqrt(hanley_mcneil_se2(a1, p1, n1) + hanley_mcneil_se2(a2, p2, n2))
    return None if den == 0 else (a1 - a2) / den


def welch_t(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2 or len(b) < 2:
        return None
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return None  # no variance (numpy's two-pass variance of equal floats can be 1e-34, not 0)
    den = math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
    return None if den == 0 else float((a.mean() - b.mean()) / den)


def significant(stat: float | None) -> bool | None:
    return None if stat is None else abs(stat) > 1.96


# ------------------------------------------------------------------ drift


def decile_cuts(values: Iterable[float]) -> list[float]:
    """The distinct deciles (linear interpolation between closest ranks, as percentile_cont)."""
    cuts = np.percentile(np.asarray(list(values), dtype=float), [10, 20, 30, 40, 50, 60, 70, 80, 90], method="linear")
    return sorted(set(float(c) for c in cuts))


def bin_shares(values: Iterable[float], cuts: list[float]) -> np.ndarray:
    """Shares of the bins (-inf, c1), [c1, c2), ..., [ck, inf): a value on a cut belongs above it."""
    v = np.asarray(list(values), dtype=float)
    counts = np.zeros(len(cuts) + 1)
    for x in v:
        counts[sum(1 for c in cuts if x >= c)] += 1
    return counts / len(v)


def drift_stats(p: np.ndarray, q: np.ndarray) -> dict[str, float]:
    pf, qf = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    return {
        "psi": float(np.sum((qf - pf) * np.log(qf / pf))),
        "js": float(jensenshannon(p, q, base=2)),
        "ks": float(np.max(np.abs(np.cumsum(p) - np.cumsum(q)))),
    }

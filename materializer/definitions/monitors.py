"""Validation of the ``monitors:`` section of ``materializer.yml`` (DESIGN §4, §5)."""

from __future__ import annotations

import math
from typing import Any

from materializer.definitions.checks import Problems, base_type, check_keys, duration, identifier, mapping, relation
from materializer.definitions.durations import Duration
from materializer.definitions.spec import LABEL_POLICIES, NUMERIC_TYPES, TASKS, Monitor, MonitorSide, Source
from materializer.errors import did_you_mean

MONITOR_KEYS = ("task", "predictions", "outcomes", "threshold", "maturity", "label_policy", "windows", "bucket",
                "costs", "reference", "features", "drift_threshold", "history", "description")
PREDICTION_KEYS = ("source", "id", "timestamp", "score", "version", "segments")
OUTCOME_KEYS = ("source", "id", "timestamp", "label")
REFERENCE_KEYS = ("relation", "column")
INTEGER_TYPES = ("smallint", "integer", "bigint")
# Columns of the monitor views and their maintained tables: a version, segment or watched feature
# column of the same name would clash with them.
VIEW_COLUMNS = frozenset({
    "prediction_id", "predicted_at", "cohort_at", "score", "valid", "labelled", "label", "predicted",
    "labelled_at", "kind", "bucket_start", "window_name", "slice", "slice_value", "bin", "in_metrics", "invalid",
    "n", "n_labelled", "pending", "n_invalid", "tp", "fp", "tn", "fn", "n_nonzero", "max_labelled_at",
    "column_name", "value"})


def _clash(column: str) -> str:
    return (f"'{column}' is also the name of a column of the monitor's views; rename the source column, or "
            "read the predictions through a view that renames it")


def _side(p: Problems, path: str, raw: Any, sources: dict[str, Source], value_key: str,
          keys: tuple[str, ...]) -> tuple[MonitorSide | None, dict]:
    if mapping(p, path, raw, f"{value_key} settings") is None:
        return None, {}
    check_keys(p, path, raw, keys)
    sname = raw.get("source")
    source = sources.get(sname) if isinstance(sname, str) else None
    if source is None:
        if not (isinstance(sname, str) and sname in p.broken_sources):  # else reported under sources
            known = [*sources, *sorted(p.broken_sources)]
            p.add(f"{path}.source", f"unknown source {sname!r}{did_you_mean(str(sname), known)}; "
                                    f"known sources: {', '.join(known) or '(none)'}")
        return None, raw
    ok = True

    def column(key: str, required: bool = True) -> str | None:
        nonlocal ok
        col = raw.get(key, source.timestamp if key == "timestamp" else None)
        if col is None:
            if required:
                p.add(f"{path}.{key}", f"missing: name the {key} column of source '{source.name}'")
                ok = False
            return None
        if p.broken_column(source.name, col):
            ok = False
            return None
        if identifier(p, f"{path}.{key}", col, "column") is None:
            ok = False
            return None
        if source.columns is not None and col not in source.columns:
            p.add(f"{path}.{key}", f"'{col}' is not a column of source '{source.name}'"
                                   f"{did_you_mean(col, source.columns)}; columns: {', '.join(source.columns)}")
            ok = False
            return None
        return col

    side = MonitorSide(source=source, id=column("id") or "", timestamp=column("timestamp") or "",
                       value=column(value_key) or "")
    return (side if ok else None), raw


def parse_monitors(p: Problems, raw: Any, sources: dict[str, Source]) -> dict[str, Monitor]:
    out: dict[str, Monitor] = {}
    if mapping(p, "monitors", raw, "monitors") is None:
        return out
    for name, body in raw.items():
        path = f"monitors.{name}"
        if identifier(p, path, name, "monitor") is None or mapping(p, path, body, "monitor settings") is None:
            continue
        check_keys(p, path, body, MONITOR_KEYS)
        before = len(p.lines)
        task = body.get("task")
        if task not in TASKS:
            p.add(f"{path}.task", f"{'missing' if task is None else f'unknown task {task!r}'}"
                                  f"{did_you_mean(str(task), TASKS) if task else ''}; use one of {', '.join(TASKS)}")
        preds, praw = _side(p, f"{path}.predictions", body.get("predictions"), sources, "score", PREDICTION_KEYS)
        outs, _ = _side(p, f"{path}.outcomes", body.get("outcomes"), sources, "label", OUTCOME_KEYS)

        version = praw.get("version") if preds else None
        segments_raw = praw.get("segments", []) if preds else []
        if isinstance(segments_raw, str):
            segments_raw = [segments_raw]
        if preds and not isinstance(segments_raw, list):
            p.add(f"{path}.predictions.segments", "expected a list of columns, for example [channel]")
            segments_raw = []
        extra_cols = ([("version", version)] if version is not None else []) + [
            (f"segments[{i}]", s) for i, s in enumerate(segments_raw or [])]
        if preds:
            for key, col in extra_cols:
                if p.broken_column(preds.source.name, col) or \
                        identifier(p, f"{path}.predictions.{key}", col, "column") is None:
                    continue
                if preds.source.columns is not None and col not in preds.source.columns:
                    p.add(f"{path}.predictions.{key}", f"'{col}' is not a column of source '{preds.source.name}'"
                                                       f"{did_you_mean(col, preds.source.columns)}")
                elif col in VIEW_COLUMNS or col.startswith("sum_"):
                    p.add(f"{path}.predictions.{key}", _clash(col))
            for i, col in enumerate(segments_raw):
                if isinstance(col, str) and col in segments_raw[:i]:
                    p.add(f"{path}.predictions.segments[{i}]", f"'{col}' is listed twice (its slice would count "
                                                               "every prediction twice); remove it")

        if preds and outs:
            pid, oid = preds.source.column_type(preds.id), outs.source.column_type(outs.id)
            if pid and oid and pid != oid:
                p.add(f"{path}.outcomes.id", f"'{outs.id}' is {oid} but the prediction id '{preds.id}' is {pid}; "
                                             "outcomes join predictions on their ids: declare both with one type")
        if preds and outs and task in TASKS:
            ptype = preds.source.column_type(preds.value)
            otype = outs.source.column_type(outs.value)
            if ptype and base_type(ptype) not in NUMERIC_TYPES:
                p.add(f"{path}.predictions.score", f"the score column '{preds.value}' must be numeric, not {ptype}")
            if task == "binary_classification" and otype and otype != "boolean" and otype not in INTEGER_TYPES:
                p.add(f"{path}.outcomes.label", f"a binary label must be boolean or an integer 0/1 column; "
                                                f"'{outs.value}' is {otype}")
            if task == "regression" and otype and base_type(otype) not in NUMERIC_TYPES:
                p.add(f"{path}.outcomes.label", f"a regression label must be numeric; '{outs.value}' is {otype}")

        policy = body.get("label_policy", "explicit")
        if policy not in LABEL_POLICIES:
            p.add(f"{path}.label_policy", f"unknown label policy {policy!r}{did_you_mean(str(policy), LABEL_POLICIES)};"
                                          f" use explicit or implicit_negative")
        elif policy == "implicit_negative" and task == "regression":
            p.add(f"{path}.label_policy", "implicit_negative means 'no label is a negative', which has no meaning "
                                          "for regression; use label_policy: explicit")
        maturity = duration(p, f"{path}.maturity", body["maturity"]) if body.get("maturity") is not None else None
        if policy == "implicit_negative" and body.get("maturity") is None:
            p.add(f"{path}.maturity", "implicit_negative needs `maturity:`, how long a label may take to arrive "
                                      "(for example 7d)")

        drift_threshold = body.get("drift_threshold", 0.2)
        if isinstance(drift_threshold, bool) or not isinstance(drift_threshold, (int, float)) \
                or not 0 < drift_threshold < 100:
            p.add(f"{path}.drift_threshold", f"{drift_threshold!r} is not a PSI threshold; use a positive number such "
                                             "as 0.2 (0.1: a moderate shift, 0.25: a large one)")
            drift_threshold = 0.2
        threshold = body.get("threshold", 0.5)
        if task == "regression" and "threshold" in body:
            p.add(f"{path}.threshold", "a threshold applies to binary_classification only; remove it")
        elif isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            p.add(f"{path}.threshold", f"{threshold!r} is not a probability; use a number between 0 and 1")
            threshold = 0.5

        windows: list[Duration] = []
        wraw = body.get("windows")
        if isinstance(wraw, (str, int)):
            wraw = [wraw]
        if not isinstance(wraw, list) or not wraw:
            p.add(f"{path}.windows", "monitors need `windows:`, a list such as [1h, 1d]")
            wraw = []
        for i, w in enumerate(wraw):
            d = duration(p, f"{path}.windows[{i}]", w)
            if d is not None:
                if any(o.seconds == d.seconds for o in windows):
                    p.add(f"{path}.windows[{i}]", f"'{w}' repeats a window of the same length; remove it")
                windows.append(d)
        bucket = duration(p, f"{path}.bucket", body.get("bucket", "1h"))
        if bucket is not None:
            for i, w in enumerate(windows):
                if w.seconds < bucket.seconds:
                    p.add(f"{path}.windows[{i}]", f"window '{w}' is shorter than the bucket '{bucket}'; "
                                                  "use a smaller bucket or a longer window")

        history = duration(p, f"{path}.history", body["history"]) if body.get("history") is not None else None
        if history is not None and bucket is not None and history.seconds < bucket.seconds:
            p.add(f"{path}.history", f"a history of '{history}' is shorter than the bucket '{bucket}'; keep at "
                                     "least one bucket (history is how far back the time series reaches on "
                                     "Materialize and RisingWave)")

        cost_fp = cost_fn = None
        costs = body.get("costs")
        if costs is not None:
            if task == "regression":
                p.add(f"{path}.costs", "costs of false positives/negatives apply to binary_classification only")
            elif mapping(p, f"{path}.costs", costs, "costs") is not None:
                check_keys(p, f"{path}.costs", costs, ("fp", "fn"))
                for key in ("fp", "fn"):
                    v = costs.get(key, 0)
                    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                        p.add(f"{path}.costs.{key}", f"{v!r} is not a cost; use a number ≥ 0")
                cost_fp, cost_fn = costs.get("fp", 0), costs.get("fn", 0)

        ref_rel = ref_col = None
        ref = body.get("reference")
        if ref is not None and mapping(p, f"{path}.reference", ref, "reference settings") is not None:
            check_keys(p, f"{path}.reference", ref, REFERENCE_KEYS)
            ref_rel, ref_col = ref.get("relation"), ref.get("column", preds.value if preds else None)
            relation(p, f"{path}.reference.relation", ref_rel, "the rows a model was trained or validated on")
            if "column" in ref or preds is not None:  # else it is the score column, reported already
                identifier(p, f"{path}.reference.column", ref_col, "column")
        features = body.get("features", [])
        if isinstance(features, str):
            features = [features]
        if not isinstance(features, list):
            p.add(f"{path}.features", "expected a list of prediction columns to watch for drift")
            features = []
        for i, col in enumerate(features):
            if preds and p.broken_column(preds.source.name, col):
                continue
            if identifier(p, f"{path}.features[{i}]", col, "column") and preds and preds.source.columns is not None \
                    and col not in preds.source.columns:
                p.add(f"{path}.features[{i}]", f"'{col}' is not a column of source '{preds.source.name}'"
                                               f"{did_you_mean(col, preds.source.columns)}")
            elif isinstance(col, str) and (col in VIEW_COLUMNS or col.startswith("sum_")):
                p.add(f"{path}.features[{i}]", _clash(col))
            elif preds and isinstance(col, str) and preds.source.column_type(col) and \
                    base_type(preds.source.column_type(col)) not in NUMERIC_TYPES:
                p.add(f"{path}.features[{i}]", f"drift is measured on numbers; '{col}' is "
                                               f"{preds.source.column_type(col)}")
            elif isinstance(col, str) and (col in features[:i] or preds and col == preds.value):
                p.add(f"{path}.features[{i}]", f"'{col}' is watched already" + (
                    " (the score's drift is always measured)" if preds and col == preds.value else "")
                    + "; remove it")
        if features and ref is None:
            p.add(f"{path}.features", "drift of features needs `reference:` (the relation holding their "
                                      "training distribution)")

        if len(p.lines) > before or preds is None or outs is None:
            continue
        out[name] = Monitor(
            name=name, task=task, predictions=preds, outcomes=outs, windows=tuple(windows), bucket=bucket,
            label_policy=policy, maturity=maturity, threshold=float(threshold), version=version,
            drift_threshold=float(drift_threshold),
            segments=tuple(segments_raw or []), cost_fp=cost_fp, cost_fn=cost_fn,
            reference_relation=ref_rel, reference_column=ref_col, features=tuple(features), history=history,
        )
    return out

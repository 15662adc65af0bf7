"""The training-set progress bar: when it shows, what it shows, and that the data is unchanged."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from rich.console import Console

from materializer.features import training
from materializer.progress import PROGRESS_MIN_BYTES, PROGRESS_MIN_ROWS, wants_progress
from tests.test_values import KEYS, PROJECT, TIMES, generate, load


def test_shown_only_on_a_terminal_for_large_spines():
    assert wants_progress(True, PROGRESS_MIN_ROWS, PROGRESS_MIN_ROWS)
    assert not wants_progress(True, PROGRESS_MIN_ROWS - 1, PROGRESS_MIN_ROWS)
    assert not wants_progress(False, 10 * PROGRESS_MIN_BYTES, PROGRESS_MIN_BYTES)   # stderr not a terminal
    assert not wants_progress(True, None, PROGRESS_MIN_ROWS)                        # size unknown yet


def test_spine_size_is_bytes_of_a_file_and_rows_of_a_frame(tmp_path):
    path = tmp_path / "spine.csv"
    path.write_text("cc_num,event_timestamp\nc1,2026-01-01T00:00:00Z\n", encoding="utf-8")
    assert training._spine_size(path) == (path.stat().st_size, PROGRESS_MIN_BYTES)
    assert training._spine_size(pd.DataFrame({"a": range(7)})) == (7, PROGRESS_MIN_ROWS)
    assert training._spine_size(None) == (None, PROGRESS_MIN_ROWS)                # --spine-sql: rows, once loaded


def _spine(tmp_path, rows=300):
    path = tmp_path / "spine.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["cc_num", "event_timestamp", "note"])
        for i in range(rows):
            writer.writerow([KEYS[i % len(KEYS)], TIMES[i % len(TIMES)].isoformat(), f"n{i}"])
    return path


@pytest.mark.parametrize("out_name", [None, "train.csv"])
def test_bar_shows_the_phases_and_the_output_is_unchanged(make_project, tmp_path, capfd, monkeypatch, out_name):
    project = make_project(PROJECT)
    load(project, generate(5))
    spine = _spine(tmp_path)
    features = ["activity:n_1h", "activity:hi_1d", "last:last_amount"]

    def run(progress, console, name):
        out = tmp_path / name if out_name else None
        count = training.write_csv(project, spine, features, out=out, progress=progress, console=console)
        text = out.read_text(encoding="utf-8") if out else capfd.readouterr().out
        return count, text

    plain_count, plain_text = run(False, None, "plain.csv")
    monkeypatch.setattr(training, "PROGRESS_MIN_BYTES", 1)          # this small spine counts as large
    monkeypatch.setattr(training, "PROGRESS_STEP", 100)
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    count, text = run(True, terminal, "with_bar.csv")
    assert (count, text) == (plain_count, plain_text) and count == 300
    assert text.splitlines()[0] == "cc_num,event_timestamp,note,activity__n_1h,activity__hi_1d,last__last_amount"
    shown = screen.getvalue()
    for phase in ("loading the spine", "evaluating activity", "evaluating last", "writing rows"):
        assert phase in shown, (phase, shown[-500:])
    assert "300/300 rows" in shown


def test_no_bar_below_the_threshold_even_on_a_terminal(make_project, tmp_path, capfd):
    project = make_project(PROJECT)
    load(project, generate(5))
    screen = io.StringIO()
    training.write_csv(project, _spine(tmp_path, 10), ["activity:n_1h"], out=tmp_path / "t.csv", progress=True,
                       console=Console(file=screen, force_terminal=True, width=120))
    assert screen.getvalue() == ""

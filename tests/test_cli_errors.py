"""Ordinary mistakes on the command line end in one line `error: ...` and exit 1, never a traceback.

Each test here drives the CLI (typer's CliRunner) against a real PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from materializer.cli import app
from tests.test_cli import one_line_error, write_small


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(app, list(args))


def test_control_characters_in_an_error_stay_on_one_line(cli_env: Path, runner: CliRunner) -> None:
    write_small(cli_env)
    line = one_line_error(invoke(runner, "push", "transactions", "bad\nname\x1b[2J.csv"))
    assert "bad\\nname\\x1b[2J.csv: no such file" in line
    assert "\x1b" not in line

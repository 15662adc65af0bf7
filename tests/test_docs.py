"""Every command documents itself with an example (DESIGN §6: `--help` lists all, each with an example)."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from materializer.cli import app

EXPECTED = {"db", "db start", "db stop", "db status", "db url", "init", "validate", "compile", "apply", "push",
            "features"}


def walk(command, path: tuple[str, ...] = ()):
    """(path, command) for the group and every command below it."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))


COMMANDS = [(p, c) for p, c in walk(typer.main.get_command(app)) if p]  # the root is not a command


def test_the_expected_commands_exist() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert EXPECTED <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_has_an_example(path: tuple[str, ...], command) -> None:
    is_group = bool(getattr(command, "commands", None))
    text = command.help or ""
    if is_group:  # a group such as `db`: its help, or every subcommand's, carries the examples
        subs = command.commands.values()
        assert text.strip(), f"`{' '.join(path)}` has no help text"
        assert all("Example:" in (s.help or "") for s in subs)
        return
    assert "Example:" in text, f"`materializer {' '.join(path)}` help has no 'Example:'"
    example = text.split("Example:", 1)[1].strip().splitlines()[0]
    assert " ".join(["materializer", *path]) in example, example  # the example runs this very command


@pytest.mark.parametrize("path", [p for p, c in COMMANDS if not getattr(c, "commands", None)],
                         ids=lambda p: " ".join(p))
def test_rendered_help_shows_the_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    assert "materializer " + " ".join(path) in " ".join(result.output.split())

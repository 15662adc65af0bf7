"""`materializer db start|status|url|stop`: the embedded PostgreSQL of a project folder."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from materializer.cli import app
from materializer.db import embedded


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh folder without a project or MATERIALIZER_DSN, as the cwd."""
    monkeypatch.delenv("MATERIALIZER_DSN", raising=False)
    monkeypatch.delenv("MATERIALIZER_PROJECT", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def uri_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("postgresql://")]
    assert len(lines) == 1, text
    return lines[0]


def test_start_status_url_stop_and_data_persists(folder: Path) -> None:
    runner = CliRunner()
    try:
        result = runner.invoke(app, ["db", "start"])
        assert result.exit_code == 0, (result.output, result.exception)
        assert (folder / ".materializer" / "pgdata" / "PG_VERSION").is_file()
        first_uri = uri_line(result.stdout)

        result = runner.invoke(app, ["db", "start"])
        assert result.exit_code == 0, result.output
        assert "already running" in result.output
        assert uri_line(result.stdout) == first_uri

        result = runner.invoke(app, ["db", "status"])
        assert result.exit_code == 0, result.output
        assert "running" in result.stdout and "not running" not in result.stdout

        result = runner.invoke(app, ["db", "url"])
        assert result.exit_code == 0, result.output
        uri = uri_line(result.stdout)
        assert uri == first_uri
        with psycopg.connect(uri, autocommit=True) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            conn.execute("create table kept (id int primary key, note text)")
            conn.execute("insert into kept values (1, 'カード 💳'), (2, null)")

        result = runner.invoke(app, ["db", "stop"])
        assert result.exit_code == 0, result.output
        assert "stopped" in result.output
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(uri, connect_timeout=3).close()

        result = runner.invoke(app, ["db", "status"])
        assert result.exit_code == 1
        assert "not running" in result.stdout

        result = runner.invoke(app, ["db", "stop"])
        assert result.exit_code == 0
        assert "not running" in result.output

        result = runner.invoke(app, ["db", "start"])
        assert result.exit_code == 0, result.output
        uri = uri_line(result.stdout)
        with psycopg.connect(uri) as conn:
            assert conn.execute("select id, note from kept order by id").fetchall() == [(1, "カード 💳"), (2, None)]
    finally:
        embedded.stop(folder)
    assert not embedded.status(folder).running


def test_status_of_a_folder_that_never_started(folder: Path) -> None:
    result = CliRunner().invoke(app, ["db", "status"])
    assert result.exit_code == 1
    assert "not running" in result.stdout
    assert not (folder / ".materializer" / "pgdata" / "postmaster.pid").exists()


def test_db_commands_use_the_project_folder(folder: Path) -> None:
    """With --project pointing elsewhere, the server lives in that project's folder."""
    project = folder / "proj"
    project.mkdir()
    (project / "materializer.yml").write_text("name: p\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["--project", str(project), "db", "status"])
    assert result.exit_code == 1
    assert str(project / ".materializer" / "pgdata") in result.stdout


def test_a_damaged_or_stale_postmaster_pid_does_not_stop_the_server_from_starting(folder: Path) -> None:
    """A postmaster.pid left by a crash (empty, truncated, garbage, a pid that is gone or now belongs to
    another program) is recognised as stale: `db start` and any command start the server anyway."""
    import subprocess
    import sys

    runner = CliRunner()
    pidfile = folder / ".materializer" / "pgdata" / "postmaster.pid"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # a live non-postgres pid
    try:
        result = runner.invoke(app, ["db", "start"])
        assert result.exit_code == 0, (result.output, result.exception)
        real = pidfile.read_text()
        lines = real.splitlines()
        assert embedded.stop(folder)
        gone = other.pid + 1
        while Path(f"/proc/{gone}").exists():
            gone += 1
        stale = {
            "empty": "",
            "garbage": "garbage\n\x00\x01 not a pid file\n",
            "truncated": "\n".join(lines[:3]) + "\n",
            "pid-not-running": "\n".join([str(gone), *lines[1:]]) + "\n",
            "pid-of-another-program": "\n".join([str(other.pid), *lines[1:]]) + "\n",
        }
        for case, content in stale.items():
            pidfile.write_text(content)
            status = runner.invoke(app, ["db", "status"])
            assert status.exit_code == 1 and "not running" in status.stdout, (case, status.output)
            result = runner.invoke(app, ["db", "url"])  # starts the server when needed
            assert result.exit_code == 0, (case, result.output, result.exception)
            with psycopg.connect(uri_line(result.stdout), connect_timeout=10) as conn:
                assert conn.execute("select 1").fetchone() == (1,), case
            assert embedded.stop(folder), case
    finally:
        other.kill()
        other.wait()
        embedded.stop(folder)


def test_a_running_server_with_a_damaged_postmaster_pid_gets_a_clear_error_and_stops(folder: Path) -> None:
    runner = CliRunner()
    pidfile = folder / ".materializer" / "pgdata" / "postmaster.pid"
    try:
        assert runner.invoke(app, ["db", "start"]).exit_code == 0
        pid = embedded.status(folder).pid
        pidfile.write_text("")
        result = runner.invoke(app, ["db", "start"])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (result.output, result.exception)
        line = result.output.strip()
        assert "\n" not in line and line.startswith("error: ")
        assert f"running (pid {pid})" in line and "postmaster.pid" in line and "materializer db stop" in line
        result = runner.invoke(app, ["db", "stop"])
        assert result.exit_code == 0 and "stopped" in result.output
        result = runner.invoke(app, ["db", "start"])
        assert result.exit_code == 0, (result.output, result.exception)
    finally:
        embedded.stop(folder)
    assert not embedded.status(folder).running


def test_db_commands_refuse_a_project_path_that_does_not_exist(folder: Path) -> None:
    missing = folder / "no_such_project"
    try:
        for command in (["db", "start"], ["db", "url"], ["db", "status"], ["db", "stop"]):
            result = CliRunner().invoke(app, ["--project", str(missing), *command])
            assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (command, result.output)
            line = result.output.strip()
            assert line.startswith("error: ") and "\n" not in line and str(missing) in line and "--project" in line
        assert not (folder / ".materializer").exists(), "a server was started next to the missing project"
    finally:
        embedded.stop(folder)


def test_a_file_in_place_of_the_state_folder_is_a_clear_error(folder: Path) -> None:
    (folder / ".materializer").write_text("not a folder")
    result = CliRunner().invoke(app, ["db", "start"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (result.output, result.exception)
    line = result.output.strip()
    assert line.startswith("error: ") and "\n" not in line
    assert str(folder / ".materializer") in line and "not a folder" in line

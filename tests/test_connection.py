"""Connection strings and database errors: one line, no password, our error classes (real PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml
from psycopg import conninfo
from typer.testing import CliRunner

from materializer.cli import app
from materializer.db.connection import describe_dsn, translate_error
from materializer.errors import DatabaseError, DatabaseUnavailable
from materializer.project import Project

SECRET = "s3cr3tpw"
PROJECT = """\
name: conn
engine: {engine}
sources:
  tx:
    columns: {{cc_num: text, ts: timestamptz}}
    timestamp: ts
feature_views:
  activity:
    source: tx
    entity: [cc_num]
    windows: [1h]
    features: {{n: {{agg: count}}}}
"""

MALFORMED = {
    "unclosed-ipv6-bracket": f"postgresql://u:{SECRET}@[::1/db",
    "port-out-of-range": f"postgresql://u:{SECRET}@localhost:99999/db",
    "port-not-a-number": f"postgresql://u:{SECRET}@localhost:abc/db",
    "unknown-option": f"host=localhost password={SECRET} foo=bar",
    "unknown-uri-parameter": f"postgresql://u:{SECRET}@localhost/db?foo=bar",
    "bad-sslmode": f"postgresql://u:{SECRET}@localhost/db?sslmode=bogus",
    "garbage": f"garbage {SECRET}",
    "password-with-a-space": f"host=localhost password={SECRET[:4]} {SECRET[4:]}",
    "unterminated-quote": f"host=localhost password='{SECRET}",
    "other-scheme": f"mysql://u:{SECRET}@localhost/db",
}


def write_project(folder: Path, engine: str = "postgres") -> None:
    (folder / "materializer.yml").write_text(PROJECT.format(engine=engine), encoding="utf-8")


def one_line_error(result) -> str:
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # printed, not a traceback
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


@pytest.mark.parametrize("dsn", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_dsn_is_one_line_without_the_password(cli_env: Path, monkeypatch, dsn: str) -> None:
    write_project(cli_env)
    monkeypatch.setenv("MATERIALIZER_DSN", dsn)
    result = CliRunner().invoke(app, ["apply"])
    line = one_line_error(result)
    assert "MATERIALIZER_DSN" in line and "malformed" in line and "postgresql://USER:PASSWORD@HOST" in line
    for piece in (SECRET, SECRET[:4], SECRET[4:]):
        assert piece not in result.output


@pytest.mark.parametrize("dsn", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_dsn_raises_database_error_from_the_api(tmp_path: Path, dsn: str) -> None:
    write_project(tmp_path)
    with pytest.raises(DatabaseError) as err, Project.load(tmp_path, dsn=dsn) as project:
        project.apply()
    assert not isinstance(err.value, DatabaseUnavailable)
    assert SECRET not in str(err.value) and SECRET[4:] not in str(err.value)


@pytest.mark.parametrize("dsn, shown", [
    (f"postgresql://u:{SECRET}@db.example:5433/fraud", "db.example:5433/fraud"),
    (f"host=db.example port=5433 dbname=fraud user=u password='{SECRET}'", "db.example:5433/fraud"),
    (f"postgresql://u:{SECRET}@db.example", "db.example:5432/u"),
    # an unencoded @ in the password: libpq reads a piece of the password as part of the host
    (f"postgresql://u:{SECRET[:4]}@{SECRET[4:]}@db.example/fraud", "db.example:5432/fraud"),
    (f"postgresql://u:{SECRET}@[::1/db", "(an unparsable connection string)"),
    (f"dbname='postgresql://u:{SECRET}@db.example/fraud'", None),
    (f"host=h dbname='host=x password={SECRET}'", None),
    (f"postgresql://u@h/postgresql%3A%2F%2Fu%3A{SECRET}%40h%2Ffraud", None),
])
def test_describe_dsn_never_shows_the_password(dsn: str, shown: str | None) -> None:
    described = describe_dsn(dsn)
    assert SECRET not in described and SECRET[4:] not in described
    if shown is not None:
        assert described == shown


def test_an_unreachable_database_is_database_unavailable_naming_the_server(tmp_path: Path) -> None:
    write_project(tmp_path)
    with pytest.raises(DatabaseUnavailable) as err, Project.load(
            tmp_path, dsn=f"postgresql://bob:{SECRET}@127.0.0.1:1/fraud") as project:
        project.apply()
    message = str(err.value)
    assert "127.0.0.1:1/fraud" in message and SECRET not in message and "\n" not in message


@pytest.fixture
def dsn_with_password(pg_dsn: str) -> str:
    """The test database's DSN with a password (the embedded server trusts local users: it is ignored)."""
    return conninfo.make_conninfo(pg_dsn, password=SECRET)


def test_translate_error_of_a_refused_statement_is_database_error_with_the_server_message(
        dsn_with_password: str) -> None:
    with psycopg.connect(dsn_with_password, autocommit=True) as conn, pytest.raises(psycopg.Error) as raw:
        conn.execute("select * from no_such_table")
    error = translate_error(raw.value, dsn_with_password)
    assert type(error) is DatabaseError
    message = str(error)
    assert 'relation "no_such_table" does not exist' in message
    assert describe_dsn(dsn_with_password) in message
    assert "\n" not in message and SECRET not in message


def test_translate_error_of_a_statement_timeout_is_database_error(dsn_with_password: str) -> None:
    with psycopg.connect(dsn_with_password, autocommit=True) as conn:
        conn.execute("set statement_timeout = '50ms'")
        with pytest.raises(psycopg.errors.QueryCanceled) as raw:
            conn.execute("select pg_sleep(5)")
    error = translate_error(raw.value, dsn_with_password)
    assert type(error) is DatabaseError and "statement timeout" in str(error) and SECRET not in str(error)


def test_translate_error_of_a_lost_connection_is_database_unavailable(dsn_with_password: str) -> None:
    with psycopg.connect(dsn_with_password, autocommit=True) as conn:
        with pytest.raises(psycopg.OperationalError) as raw:
            conn.execute("select pg_terminate_backend(pg_backend_pid())")
        with pytest.raises(psycopg.Error) as closed:
            conn.execute("select 1")
    for exc in (raw.value, closed.value):
        error = translate_error(exc, dsn_with_password)
        assert isinstance(error, DatabaseUnavailable), (exc, error)
        assert describe_dsn(dsn_with_password) in str(error)
        assert "\n" not in str(error) and SECRET not in str(error)


def test_translate_error_of_a_refused_connection_and_of_a_malformed_dsn() -> None:
    refused = f"postgresql://bob:{SECRET}@127.0.0.1:1/fraud"
    with pytest.raises(psycopg.OperationalError) as raw:
        psycopg.connect(refused, connect_timeout=5)
    error = translate_error(raw.value, refused)
    assert isinstance(error, DatabaseUnavailable)
    assert "127.0.0.1:1/fraud" in str(error) and SECRET not in str(error)

    malformed = MALFORMED["unclosed-ipv6-bracket"]
    with pytest.raises(psycopg.Error) as raw:
        psycopg.connect(malformed)
    assert SECRET in str(raw.value)  # psycopg's own message shows the whole DSN
    error = translate_error(raw.value, malformed)
    assert type(error) is DatabaseError and "malformed" in str(error) and SECRET not in str(error)


@pytest.mark.parametrize("engine, port", [("materialize", "6875"), ("risingwave", "4566")])
def test_a_streaming_engine_without_dsn_says_to_set_it_and_starts_nothing(
        tmp_path: Path, monkeypatch, engine: str, port: str) -> None:
    monkeypatch.delenv("MATERIALIZER_DSN", raising=False)
    monkeypatch.delenv("MATERIALIZER_PROJECT", raising=False)
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, engine=engine)
    line = one_line_error(CliRunner().invoke(app, ["apply"]))
    assert f"engine {engine} needs" in line and "MATERIALIZER_DSN" in line and port in line
    # the exact command, naming a service of the project's compose file
    assert f"start one with `docker compose up -d {engine}` and export MATERIALIZER_DSN=postgresql://" in line
    compose = yaml.safe_load((Path(__file__).resolve().parent.parent / "docker-compose.yml").read_text())
    assert engine in compose["services"] and port in str(compose["services"][engine]["ports"])
    assert not (tmp_path / ".materializer").exists(), "the embedded PostgreSQL was started"


def test_a_streaming_engine_pointed_at_postgresql_says_so(cli_env: Path) -> None:
    write_project(cli_env, engine="materialize")
    line = one_line_error(CliRunner().invoke(app, ["apply"]))
    assert "materialize session settings" in line and "cluster" in line and "engine:" in line



@pytest.mark.parametrize("engine, title", [("materialize", "Materialize"), ("risingwave", "RisingWave")])
@pytest.mark.parametrize("command", [["training-set", "--spine", "spine.csv", "--features", "activity:*"],
                                     ["verify"]])
def test_training_sets_on_a_streaming_engine_are_refused_in_one_line_before_connecting(
        tmp_path: Path, monkeypatch, engine: str, title: str, command: list[str]) -> None:
    """Issue 11, item 9: the training-set sequence (COPY FROM STDIN into a temporary table, work tables
    made with CREATE TABLE AS) is PostgreSQL's; on a streaming engine the refusal says which engine
    can, why, and how, without a server (none is running, none is named)."""
    monkeypatch.delenv("MATERIALIZER_DSN", raising=False)
    monkeypatch.delenv("MATERIALIZER_PROJECT", raising=False)
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path, engine=engine)
    (tmp_path / "spine.csv").write_text("cc_num,event_timestamp\nc1,2026-01-01T00:00:00Z\n", encoding="utf-8")
    line = one_line_error(CliRunner().invoke(app, command))
    what = "training sets" if command[0] == "training-set" else "verify compares online values with training sets, which"
    assert line.startswith(f"error: {what} run on PostgreSQL, not on {title}: "), line
    reason = {"materialize": "identity column", "risingwave": "CREATE TEMPORARY TABLE"}[engine]
    assert reason in line and "`engine: postgres`" in line, line
    assert not (tmp_path / ".materializer").exists(), "the embedded PostgreSQL was started"


def test_training_sets_run_on_postgresql_only_by_the_engines_declaration() -> None:
    from materializer.engines import ENGINES

    assert {name for name, engine in ENGINES.items() if engine.training_sets_refused is None} == {"postgres"}

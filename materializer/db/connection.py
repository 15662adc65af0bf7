"""Connections: ``MATERIALIZER_DSN``, or the project's embedded PostgreSQL started on demand.

Errors never show a password: a server is named ``host:port/dbname``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import conninfo

from materializer.engines import Engine, get_engine
from materializer.errors import DatabaseError

if TYPE_CHECKING:
    from materializer.project import Project

DSN_ENV = "MATERIALIZER_DSN"


def describe_dsn(dsn: str) -> str:
    """``host:port/dbname`` of a connection string, never its password."""
    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(an unparsable connection string)"
    host = str(parts.get("host") or "localhost")
    port = str(parts.get("port") or "5432")
    db = str(parts.get("dbname") or parts.get("user") or "postgres")
    return f"{host}:{port}/{db}"


def resolve_dsn(root: Path, dsn: str | None = None, quiet: bool = False) -> str:
    """The DSN to use: the argument, else MATERIALIZER_DSN, else the embedded server (started if needed)."""
    dsn = dsn or os.environ.get(DSN_ENV)
    if dsn:
        return dsn
    from materializer.db import embedded

    current = embedded.status(root)
    if not current.running:
        if not quiet:
            print(f"starting the embedded PostgreSQL in {current.pgdata} (set {DSN_ENV} to use another server)",
                  file=sys.stderr)
        current = embedded.start(root)
    assert current.uri is not None
    return current.uri


def connect(dsn: str, engine: Engine, cluster: str = "quickstart", **kwargs: Any) -> psycopg.Connection:
    """An autocommit connection with the engine's session settings, or a one-line DatabaseError."""
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10, **kwargs)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())
        password = conninfo.conninfo_to_dict(dsn).get("password") if "password" in dsn or "@" in dsn else None
        if password:
            reason = reason.replace(str(password), "***")
        raise DatabaseError(f"cannot connect to the database at {describe_dsn(dsn)}: {reason}") from None
    for statement in engine.session_setup(cluster):
        conn.execute(statement)
    return conn


class Database:
    """One connection to the project's engine."""

    def __init__(self, dsn: str, engine: Engine, cluster: str = "quickstart") -> None:
        self.dsn = dsn
        self.engine = engine
        self.cluster = cluster
        self.conn = connect(dsn, engine, cluster)

    @classmethod
    def for_project(cls, project: "Project") -> "Database":
        dsn = resolve_dsn(project.root, project._dsn)
        return cls(dsn, get_engine(project.engine), project.spec.cluster)

    @property
    def where(self) -> str:
        return describe_dsn(self.dsn)

    def close(self) -> None:
        self.conn.close()

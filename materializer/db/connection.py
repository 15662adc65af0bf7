"""Connections: ``MATERIALIZER_DSN``, or the project's embedded PostgreSQL started on demand.

Errors never show a password: a server is named ``host:port/dbname``, and the
text of a driver error is scrubbed of the connection string and its secrets.
:func:`translate_error` turns any psycopg error into one of ours.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import psycopg
from psycopg import conninfo

from materializer.engines import Engine, get_engine
from materializer.errors import DatabaseError, DatabaseUnavailable, MaterializerError

#: A missing relation in the engines' own words, whatever SQLSTATE they send with it: RisingWave's
#: catalog error is "{kind} not found: {name}" (src/frontend/src/catalog/mod.rs, CatalogError::NotFound),
#: "table or source not found: <name>" for a relation; Materialize's is "unknown catalog item '<name>'"
#: (doc/user/content/sql/drop-type.md shows it).
MISSING_RELATION = re.compile(r"table or source not found|unknown catalog item")

if TYPE_CHECKING:
    from materializer.project import Project

DSN_ENV = "MATERIALIZER_DSN"
DSN_FORMS = ("postgresql://USER:PASSWORD@HOST:PORT/DBNAME (percent-encode @ : / [ ] in the password) "
             "or key=value pairs: host=HOST port=PORT dbname=DBNAME user=USER password=PASSWORD")
#: connection options whose values are secrets
_SECRETS = ("password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key")
_UNPARSABLE = "(an unparsable connection string)"


def _candidates(dsn: str) -> list[str]:
    """Every string that may be a secret of ``dsn``, even of a malformed one: longest first."""
    found: list[str] = []
    try:
        params = conninfo.conninfo_to_dict(dsn)
        found += [str(params[k]) for k in _SECRETS if params.get(k)]
        dbname = str(params.get("dbname") or "")
        if dbname != dsn and ("=" in dbname or "://" in dbname):
            found += _candidates(dbname)  # a connection string given as dbname
    except psycopg.Error:
        pass
    scheme = re.match(r"\s*[A-Za-z][A-Za-z0-9+.-]*://", dsn)
    if scheme:
        rest = dsn[scheme.end():]
        userinfo = rest[: rest.rfind("@")] if "@" in rest else ""
        if ":" in userinfo:
            password = userinfo.split(":", 1)[1]
            # an unencoded @ splits the password: libpq takes a piece of it for the host
            found += [password, *password.split("@")]
    keys = "|".join(_SECRETS)
    for match in re.finditer(rf"(?:^|[\s?&])(?:{keys})\s*=\s*(?:'((?:[^'\\]|\\.)*)'?|([^\s&]*))", dsn):
        found.append(match.group(1) if match.group(1) is not None else match.group(2))
    found += [unquote(f) for f in found]
    return sorted({f for f in found if f}, key=len, reverse=True)


def _redact(text: str, dsn: str) -> str:
    for secret in _candidates(dsn):
        if len(secret) >= 4:
            text = text.replace(secret, "***")
        else:  # a short one only as a whole word, not inside other words
            text = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "***", text)
    return text


def scrub(text: str, dsn: str) -> str:
    """``text`` on one line, without the connection string or any of its secrets."""
    text = " ".join(str(text).split())
    if dsn.strip():
        text = text.replace(dsn.strip(), "(the connection string)")
    return _redact(text, dsn)


def describe_dsn(dsn: str) -> str:
    """``host:port/dbname`` of a connection string, never its password."""
    try:
        parts = conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return _UNPARSABLE
    host = str(parts.get("host") or parts.get("hostaddr") or "localhost")
    # an unencoded @ in a password ends up in the host: keep what follows the last @
    host = ",".join(h.rsplit("@", 1)[-1] for h in host.split(","))
    port = str(parts.get("port") or "5432")
    db = str(parts.get("dbname") or parts.get("user") or "postgres")
    return _redact(f"{host}:{port}/{db}", dsn)


_KEYWORDS = frozenset(o.keyword.decode() for o in psycopg.pq.Conninfo.get_defaults())


def _safe_token(match: re.Match[str], message: str, dsn: str) -> str:
    """Keep a quoted token of a libpq parse error only when it cannot be a piece of a secret."""
    token = match.group(1)
    safe = (len(token) <= 1 or token in _KEYWORDS or token.isdigit()
            or (re.fullmatch(r"\w{1,40}", token) is not None and ("option" in message or "parameter" in message)))
    if safe and not any(token in s or s in token for s in _candidates(dsn) if len(token) > 1):
        return match.group(0)
    return '"…"'


def _malformed(dsn: str) -> str | None:
    """Why ``dsn`` is not a usable connection string (one line, no secret), or None."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        message = scrub(str(exc), dsn)
        message = re.sub(r'"([^"]*)"', lambda m: _safe_token(m, message, dsn), message)
        scheme = re.match(r"\s*([A-Za-z][A-Za-z0-9+.-]*)://", dsn)
        if scheme and scheme.group(1).lower() not in ("postgres", "postgresql"):
            message = f"the scheme {scheme.group(1)}:// is not postgresql:// ({message})"
        return message
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            shown = port if len(port) <= 8 and port not in _candidates(dsn) else "…"
            return f"port {shown!r} is not a number from 1 to 65535"
    return None


def _malformed_error(reason: str) -> DatabaseError:
    return DatabaseError(f"the database connection string ({DSN_ENV}) is malformed: {reason}; write it as "
                         f"{DSN_FORMS}")


# libpq rejects some option values only when it connects
_BAD_SETTING = re.compile(r"invalid (?:\w+ )*value|invalid port number|invalid integer value|"
                          r"invalid connection option|unrecognized \w+ mode|invalid \w+ mode", re.IGNORECASE)


def server_message(exc: psycopg.Error, dsn: str) -> str:
    """The server's message on one line (with its hint, without the statement's text), else the driver's,
    without the DSN or its secrets."""
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    if primary:
        hint = diag.message_hint
        return scrub(f"{primary} (hint: {hint})" if hint else primary, dsn)
    return scrub(str(exc) or type(exc).__name__, dsn)


def translate_error(exc: psycopg.Error, dsn: str) -> MaterializerError:
    """Our error for a psycopg error met on the server of ``dsn``, with no password in it.

    A malformed connection string or option is a DatabaseError saying how to write one; a connection
    failure or another OperationalError (server down, restarting, too many connections, a lock not
    granted in time) is DatabaseUnavailable naming the server ``host:port/dbname``; anything else
    (a statement canceled by a timeout too) is a DatabaseError with the server's one-line message.
    """
    malformed = _malformed(dsn)
    if malformed is not None:
        return _malformed_error(malformed)
    where = describe_dsn(dsn)
    reason = server_message(exc, dsn)
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if isinstance(exc, psycopg.errors.QueryCanceled):  # a statement timeout or a cancel: not the server's state
        return DatabaseError(f"the database at {where} canceled the statement: {reason}")
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
        if not sqlstate and _BAD_SETTING.search(reason):
            return _malformed_error(reason)
        if not sqlstate or sqlstate.startswith(("08", "28", "3D", "53", "57P")):
            if sqlstate.startswith("28"):
                fix = f"check the user and password in {DSN_ENV}"
            elif sqlstate.startswith("3D"):
                fix = f"create the database or fix its name in {DSN_ENV}"
            elif "server running" in reason:
                fix = f"check {DSN_ENV} (or `materializer db status` for the embedded server)"
            else:
                fix = (f"is the server running? (`materializer db status` for the embedded one, {DSN_ENV} "
                       "for another)")
            return DatabaseUnavailable(f"cannot connect to the database at {where}: {reason}; {fix}")
        return DatabaseUnavailable(f"the database at {where} could not run the statement now: {reason}; "
                                   "retry in a moment")
    return DatabaseError(f"the database at {where} refused the statement: {reason}")


def check_dsn(dsn: str) -> None:
    """Raise a one-line DatabaseError, without secrets, when ``dsn`` is not a usable connection string."""
    malformed = _malformed(dsn)
    if malformed is not None:
        raise _malformed_error(malformed)


def resolve_dsn(root: Path, dsn: str | None = None, quiet: bool = False, engine: Engine | None = None) -> str:
    """The DSN to use: the argument, else MATERIALIZER_DSN, else the embedded server (started if needed).

    The embedded server is PostgreSQL: another ``engine`` needs a DSN.
    """
    dsn = dsn or os.environ.get(DSN_ENV)
    if dsn:
        return dsn
    if engine is not None and not engine.embedded:
        raise DatabaseError(
            f"engine {engine.name} needs a {engine.title} server and {DSN_ENV} is not set (the embedded database "
            f"is PostgreSQL): start one with `{engine.local_server}` and export "
            f"{DSN_ENV}={engine.local_dsn} (or use `engine: postgres`)")
    from materializer.db import embedded

    current = embedded.status(root)
    if not current.running:
        if not quiet:
            print(f"starting the embedded PostgreSQL in {current.pgdata} (set {DSN_ENV} to use another server)",
                  file=sys.stderr)
        current = embedded.start(root)
    assert current.uri is not None
    return current.uri


#: connection options and the libpq environment variables that set them (``db env``)
LIBPQ_VARIABLES = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE",
                   "password": "PGPASSWORD", "sslmode": "PGSSLMODE"}


def libpq_environment(dsn: str) -> dict[str, str]:
    """The libpq variables (``PGHOST``, ``PGPORT``, ``PGUSER``, ``PGDATABASE``; ``PGPASSWORD`` and
    ``PGSSLMODE`` when the DSN has them) naming the server of ``dsn``, for tools such as dbt and psql.
    The port defaults to 5432 and the user and database to ``postgres``, as a URI without them means."""
    check_dsn(dsn)
    params = conninfo.conninfo_to_dict(dsn)
    params.setdefault("port", "5432")
    params.setdefault("user", "postgres")
    params.setdefault("dbname", params["user"])
    params.setdefault("host", "localhost")
    return {var: str(params[key]) for key, var in LIBPQ_VARIABLES.items() if params.get(key) not in (None, "")}


def connect(dsn: str, engine: Engine, cluster: str = "quickstart", **kwargs: Any) -> psycopg.Connection:
    """An autocommit connection with the engine's session settings, or a one-line DatabaseError."""
    check_dsn(dsn)
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10, **kwargs)
    except psycopg.Error as exc:
        raise translate_error(exc, dsn) from None
    try:
        for statement in engine.session_setup(cluster):
            conn.execute(statement)
    except psycopg.Error as exc:
        conn.close()
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
            raise translate_error(exc, dsn) from None
        raise DatabaseError(
            f"the database at {describe_dsn(dsn)} refused the {engine.name} session settings "
            f"({server_message(exc, dsn)}): is it a {engine.title} server? Check `engine:` in the project file "
            f"and {DSN_ENV}") from None
    return conn


class Database:
    """One connection to the project's engine."""

    def __init__(self, dsn: str, engine: Engine, cluster: str = "quickstart") -> None:
        self.dsn = dsn
        self.engine = engine
        self.cluster = cluster
        self.conn = connect(dsn, engine, cluster)

    @classmethod
    def for_project(cls, project: Project) -> Database:
        engine = get_engine(project.engine)
        dsn = resolve_dsn(project.root, project._dsn, engine=engine)
        return cls(dsn, engine, project.spec.serving_cluster)

    @property
    def where(self) -> str:
        return describe_dsn(self.dsn)

    def close(self) -> None:
        self.conn.close()

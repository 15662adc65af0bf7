"""The engine interface: DDL verbs and capabilities, with PostgreSQL-compatible defaults."""

from __future__ import annotations


class Engine:
    """What the CLI needs to know about one SQL engine beyond the macros."""

    name = "postgres"
    #: Feature views are materialized (maintained incrementally) rather than computed on read.
    materialized = False
    #: DDL can run inside one transaction (apply is all-or-nothing).
    transactional_ddl = True
    #: The clock can be pinned per session (`--as-of`).
    supports_as_of = False
    #: `COPY ... FROM STDIN` loads rows (otherwise batched INSERT).
    supports_copy = True
    #: Managed tables carry CHECK constraints (definitions/row_checks.py); otherwise push checks every row.
    enforces_checks = True
    #: The catalog kind of a feature view (`v` view, `m` materialized view in pg_class).
    view_keyword = "view"
    #: The product's name in messages.
    title = "PostgreSQL"
    #: Runs on the embedded PostgreSQL when no DSN is given; otherwise a server must be named.
    embedded = True
    #: A local server to point MATERIALIZER_DSN at, and how to start it (docker-compose.yml).
    local_server = "materializer db start"
    local_dsn = "postgresql://postgres@localhost:5432/postgres"

    def create_view(self, name: str, body: str, cluster: str) -> str:
        return f"create {self.view_keyword} {name} as\n{body.rstrip()}"

    def drop_view(self, name: str) -> str:
        return f"drop {self.view_keyword} if exists {name}"

    def replace_view(self, create_sql: str) -> str | None:
        """A statement replacing a view in place (keeping dependent objects), or None if the engine has none."""
        return None

    def view_index(self, view: str, columns: list[str], cluster: str) -> str | None:
        """DDL of an index serving point lookups on a feature view, or None when not needed."""
        return None

    def lookup_param(self, column_type: str | None) -> str:
        """The placeholder of a key value in a lookup (typed, so indexes apply)."""
        return f"%s::{column_type}" if column_type else "%s"

    def after_insert(self) -> list[str]:
        """Statements run after push's batched INSERTs (RisingWave: FLUSH, so that reads see them)."""
        return []

    def session_setup(self, cluster: str) -> list[str]:
        """Statements run once on every new connection."""
        return ["set timezone to 'UTC'"]

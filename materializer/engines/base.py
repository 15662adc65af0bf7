"""The engine interface: DDL verbs and capabilities, with PostgreSQL-compatible defaults."""

from __future__ import annotations

from materializer.definitions.checks import canonical_type


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
    #: ``information_schema.columns`` reports the precision and scale of a ``numeric(p, s)`` column
    #: (otherwise every numeric column reads back as plain ``numeric``).
    catalog_numeric_precision = True
    #: Declared column types (canonical spelling) that the catalog reads back as another type,
    #: because the engine stores them as that type.
    catalog_reads_as: dict[str, str] = {}
    #: Read-write transactions: several INSERTs commit or roll back together (push is all or nothing).
    insert_transactions = True
    #: Bind parameters one statement may carry (the protocol's Bind message counts them in an int16:
    #: PostgreSQL reads it unsigned).
    max_bind_parameters = 65535
    #: Rows of one INSERT written all or nothing (None: any number).
    max_atomic_insert_rows: int | None = None
    #: Significant digits before the decimal point a ``numeric`` holds (None: PostgreSQL's 131072).
    numeric_max_integer_digits: int | None = None
    #: Compute runs in named clusters (Materialize): views and indexes say where, apply creates the
    #: clusters of ``deployment:`` that have a size, and sessions reading features use the serving one.
    has_clusters = False
    #: A changed view is built under another name, awaited until hydrated, then renamed into place
    #: (db/swap.py) instead of being dropped and created again.
    replaces_by_swap = False
    #: Why training sets (and verify) cannot run on this engine, or None when they can (features/training.py).
    training_sets_refused: str | None = None

    def stored_type(self, declared: str) -> str:
        """A declared column type as this engine's catalog reads it back, in canonical spelling: what
        apply compares the catalog with (``numeric(12,2)`` is ``numeric`` where the catalog has no
        precision)."""
        canonical = canonical_type(declared) or declared
        if canonical.startswith("numeric(") and not self.catalog_numeric_precision:
            canonical = "numeric"
        return self.catalog_reads_as.get(canonical, canonical)

    def catalog_type(self, data_type: str, precision: int | None, scale: int | None) -> str:
        """One row of ``information_schema.columns`` (``data_type``, ``numeric_precision``,
        ``numeric_scale``) as a canonical type, comparable with :meth:`stored_type`."""
        canonical = canonical_type(data_type) or data_type
        if canonical == "numeric" and precision is not None and self.catalog_numeric_precision:
            canonical = f"numeric({precision},{scale or 0})"
        return self.stored_type(canonical)

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

    def ddl_type(self, column_type: str) -> str:
        """The type a declared column is created with (the source_table macro's mapping, for
        ``alter table ... add column`` and typed placeholders)."""
        return column_type

    def lookup_param(self, column_type: str | None) -> str:
        """The placeholder of a key value in a lookup (typed, so indexes apply)."""
        return f"%s::{self.ddl_type(column_type)}" if column_type else "%s"

    def hydration_query(self, count: int) -> str | None:
        """A query of ``count`` object names (parameters) giving (name, ready) rows: what a swap waits on
        before it renames new views into place (db/swap.py); None on engines without swaps."""
        return None

    def swap_names(self, name: str, other: str) -> tuple[list[str], bool] | None:
        """Statements exchanging the names of views ``name`` and ``other`` at once (each keeps what it is
        and what reads it), and whether they run in one transaction block; None where the engine has
        no such statement and a swap renames the old views to ``__old`` instead (Materialize, db/swap.py)."""
        return None

    def build_setup(self) -> list[str]:
        """Statements run before a swap builds its ``__next`` views, where creating a view returns only
        once it holds its results (so that the swap needs no wait, db/swap.py)."""
        return []

    def after_insert(self) -> list[str]:
        """Statements run after push's batched INSERTs (RisingWave: FLUSH, so that reads see them)."""
        return []

    def session_setup(self, cluster: str) -> list[str]:
        """Statements run once on every new connection."""
        return ["set timezone to 'UTC'"]

"""Materialize: materialized views maintained in a cluster, indexed on the entity for fast-path lookups.

- `CREATE MATERIALIZED VIEW v IN CLUSTER c AS ...`
  (doc/user/content/sql/create-materialized-view.md)
- `CREATE INDEX [IF NOT EXISTS] i IN CLUSTER c ON obj (cols)`: indexes live in one cluster's
  memory; a serving session must use that cluster (doc/user/content/sql/create-index.md).
- A lookup is on the fast path when it constrains every index key with `=` on the same type,
  hence the typed placeholders (doc/user/content/transform-data/optimization.md).
- DDL cannot run inside a transaction block.
- No CHECK constraints (doc/user/content/sql/create-table.md): push checks every row itself.
- `COPY ... FROM STDIN` loads a file as one statement (doc/user/content/sql/copy-from.md; a failed
  COPY leaves nothing: test/pgtest/copy-from-fail.pt). Transactions are read-only or write-only:
  a write-only one holds INSERTs only, committed together at one timestamp, and an error discards
  them all (doc/user/content/sql/begin.md, doc/user/content/sql/commit.md).
- ``information_schema.columns`` selects ``NULL::pg_catalog.int4 AS numeric_precision`` and
  ``numeric_scale`` (src/catalog/src/builtin/information_schema.rs), and its ``data_type`` is
  ``mz_columns.type``, the pgrepr type's name: `timestamp` (not `timestamp without time zone`),
  `numeric` whatever the scale (src/pgrepr/src/types.rs, ``Type::name``). The precision of a
  `numeric` is always 39 and only its scale is kept (doc/user/content/sql/types/numeric.md), so apply
  compares `numeric(p, s)` as numeric.
- Temporary tables take only NOT NULL and DEFAULT column options and there is no CREATE TABLE AS
  (doc/user/content/sql/create-table.md): the training-set work tables cannot be built.
Paths are of MaterializeInc/materialize.
"""

from __future__ import annotations

from materializer.definitions.names import view_index
from materializer.engines.base import Engine


class Materialize(Engine):
    name = "materialize"
    materialized = True
    transactional_ddl = False
    supports_as_of = False
    supports_copy = True
    enforces_checks = False
    view_keyword = "materialized view"
    title = "Materialize"
    embedded = False
    local_server = "docker compose up -d materialize"
    local_dsn = "postgresql://materialize@localhost:6875/materialize"
    # information_schema.columns selects ``c.type AS data_type`` and ``NULL::pg_catalog.int4 AS
    # numeric_precision`` (and scale) from mz_columns, whose type is mz_pgrepr's ``Type::name()``
    # ('numeric' for numeric(p, s), 'uuid', 'text', 'timestamp with time zone'): MaterializeInc/materialize
    # src/catalog/src/builtin/information_schema.rs, src/pgrepr/src/types.rs,
    # test/sqllogictest/information_schema_columns.slt (NULL precision and scale).
    catalog_numeric_precision = False
    has_clusters = True
    replaces_by_swap = True
    insert_transactions = True
    training_sets_refused = ("they number the spine's rows with an identity column and build their work tables "
                             "with CREATE TABLE AS, which Materialize's CREATE TABLE does not have")

    def create_view(self, name: str, body: str, cluster: str) -> str:
        return f"create materialized view {name} in cluster {cluster} as\n{body.rstrip()}"

    def drop_view(self, name: str) -> str:
        return f"drop materialized view if exists {name} cascade"

    def view_index(self, view: str, columns: list[str], cluster: str) -> str | None:
        return f"create index if not exists {view_index(view)} in cluster {cluster} on {view} ({', '.join(columns)})"

    def hydration_query(self, count: int) -> str | None:
        from materializer.db.swap import hydration_query

        return hydration_query(count)

    def session_setup(self, cluster: str) -> list[str]:
        # the serving cluster, whose indexes the lookups read: "To switch your active cluster, use the SET
        # command: SET cluster = other_cluster" (doc/user/content/sql/create-cluster.md); indexes are
        # local to a cluster (doc/user/content/concepts/indexes.md)
        return ["set timezone to 'UTC'", f"set cluster = {cluster}"]

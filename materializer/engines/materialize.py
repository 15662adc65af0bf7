"""Materialize: materialized views maintained in a cluster, indexed on the entity for fast-path lookups.

- `CREATE MATERIALIZED VIEW v IN CLUSTER c AS ...`
  (doc/user/content/sql/create-materialized-view.md)
- `CREATE INDEX [IF NOT EXISTS] i IN CLUSTER c ON obj (cols)`: indexes live in one cluster's
  memory; a serving session must use that cluster (doc/user/content/sql/create-index.md).
- A lookup is on the fast path when it constrains every index key with `=` on the same type,
  hence the typed placeholders (doc/user/content/transform-data/optimization.md).
- DDL cannot run inside a transaction block.
- No CHECK constraints (doc/user/content/sql/create-table.md): push checks every row itself.
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

    def create_view(self, name: str, body: str, cluster: str) -> str:
        return f"create materialized view {name} in cluster {cluster} as\n{body.rstrip()}"

    def drop_view(self, name: str) -> str:
        return f"drop materialized view if exists {name} cascade"

    def view_index(self, view: str, columns: list[str], cluster: str) -> str | None:
        return f"create index if not exists {view_index(view)} in cluster {cluster} on {view} ({', '.join(columns)})"

    def session_setup(self, cluster: str) -> list[str]:
        return ["set timezone to 'UTC'", f"set cluster = {cluster}"]

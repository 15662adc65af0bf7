"""RisingWave: materialized views whose group keys are their primary key (point lookups need no index).

- `CREATE MATERIALIZED VIEW v AS ...` (sql/commands/sql-create-mv.mdx); no `OR REPLACE`.
- No `COPY FROM STDIN`: rows are loaded with multi-row INSERT then `FLUSH`
  (sql/commands/sql-insert.mdx); write transactions are not supported (sql/commands/sql-begin.mdx).
- No CHECK constraints (sql/commands/sql-create-table.mdx): push checks every row itself.
"""

from __future__ import annotations

from materializer.engines.base import Engine


class RisingWave(Engine):
    name = "risingwave"
    materialized = True
    transactional_ddl = False
    supports_as_of = False
    supports_copy = False
    enforces_checks = False
    view_keyword = "materialized view"
    title = "RisingWave"
    embedded = False
    local_server = "docker compose up -d risingwave"
    local_dsn = "postgresql://root@localhost:4566/dev"

    def drop_view(self, name: str) -> str:
        return f"drop materialized view if exists {name} cascade"

    def after_insert(self) -> list[str]:
        return ["flush"]

    def session_setup(self, cluster: str) -> list[str]:
        # reads see earlier writes of the session (sql/commands/sql-set-rw-implicit-flush.mdx);
        # `SET TIME ZONE` is the documented form (sql/commands/sql-set-time-zone.mdx)
        return ["set time zone 'UTC'", "set rw_implicit_flush = true"]

    def lookup_param(self, column_type: str | None) -> str:
        if column_type in ("text", "uuid"):
            column_type = "varchar"
        elif column_type and column_type.startswith("numeric"):
            column_type = "numeric"
        return super().lookup_param(column_type)

"""PostgreSQL: plain views computed on read, backed by (entity, ts) indexes on the sources."""

from __future__ import annotations

from materializer.engines.base import Engine


class Postgres(Engine):
    name = "postgres"
    materialized = False
    transactional_ddl = True
    supports_as_of = True
    supports_copy = True
    view_keyword = "view"

    def replace_view(self, create_sql: str) -> str | None:
        # `create or replace view` keeps objects that depend on the view; PostgreSQL accepts it
        # when the columns keep their names and types (new ones at the end), else apply drops
        # and recreates the view.
        return create_sql.replace("create view", "create or replace view", 1)

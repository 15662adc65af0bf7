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

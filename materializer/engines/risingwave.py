"""RisingWave: materialized views whose group keys are their primary key (point lookups need no index).

- `CREATE MATERIALIZED VIEW v AS ...` (sql/commands/sql-create-mv.mdx); no `OR REPLACE`.
- No `COPY FROM STDIN`: rows are loaded with multi-row INSERT then `FLUSH`
  (sql/commands/sql-insert.mdx, sql/commands/sql-copy.mdx: `COPY (query) TO STDOUT` only).
- No read-write transactions: `BEGIN` succeeds but starts none (sql/commands/sql-begin.mdx), so each
  INSERT is its own unit. One INSERT is all or nothing up to 32 chunks of 1024 rows: the DML executor
  holds a statement's chunks until it ends and drops them on rollback, but sends them on past
  ``MAX_CHUNK_FOR_ATOMICITY = 32`` (src/stream/src/executor/dml.rs; the chunks are the batch
  ``chunk_size``, 1024 by default: src/common/src/config/mod.rs, src/batch/executors/src/executor/insert.rs).
- The wire protocol reads the number of bind parameters as a signed int16
  (src/utils/pgwire/src/pg_message.rs, ``FeBindMessage::parse``): at most 32767 per statement.
- No CHECK constraints (sql/commands/sql-create-table.mdx): push checks every row itself.
- `numeric` holds 28 decimal digits and takes no precision or scale; `uuid` is not a type
  (sql/data-types/overview.mdx; ``bind_data_type`` refuses `uuid` and `numeric(p, s)`:
  src/frontend/src/binder/expr/mod.rs), so source tables declare them `numeric` and `varchar`.
- ``information_schema.columns`` reports ``NULL::integer AS numeric_precision`` for every column and
  `character varying` for varchar (src/frontend/src/catalog/system_catalog/information_schema/columns.rs):
  apply compares `uuid` and `text` as text, `numeric(p, s)` as numeric.
- A changed view is replaced without downtime (db/swap.py): ``CREATE MATERIALIZED VIEW`` returns only
  once its backfill is done while the session's ``BACKGROUND_DDL`` is false, the default
  (sql/commands/sql-set-background-ddl.mdx: "The DDL commands will be blocking and only return until
  the backfill process is completed"), and ``ALTER MATERIALIZED VIEW name SWAP WITH target_name``
  exchanges two views' names (sql/commands/sql-alter-materialized-view.mdx, sql/commands/
  sql-alter-swap.mdx; since v2.2.0, changelog/release-notes.mdx). The meta service renames both in one
  catalog transaction and rewrites the names in what reads them, which keeps reading the same view
  (src/meta/src/controller/catalog/alter_op.rs ``alter_swap_rename``); a view with dependents
  swaps (e2e_test/ddl/alter_swap_rename.slt swaps ``mv1``, read by a sink and a subscription).
- No temporary tables: ``CREATE TEMPORARY TABLE`` is "not implemented" (src/frontend/src/handler/mod.rs).
Source paths are of risingwavelabs/risingwave at v2.7.0 (the compose file's image); doc paths of
risingwavelabs/risingwave-docs.
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
    replaces_by_swap = True
    local_server = "docker compose up -d risingwave"
    local_dsn = "postgresql://root@localhost:4566/dev"
    # information_schema.columns selects ``NULL::integer AS numeric_precision`` (and scale) for every
    # column, and rw_columns' data_type ('character varying' for varchar, 'numeric' for decimal):
    # risingwavelabs/risingwave src/frontend/src/catalog/system_catalog/information_schema/columns.rs,
    # src/common/src/types/mod.rs (``enum DataType`` display names); checked at v2.7.0 and main.
    catalog_numeric_precision = False
    # RisingWave has no uuid (``bind_data_type`` rejects ``AstDataType::Uuid``, and numeric(p, s):
    # src/frontend/src/binder/expr/mod.rs), so source_table creates uuid and text columns as varchar,
    # which the catalog reads back as 'character varying': text.
    catalog_reads_as = {"uuid": "text"}
    insert_transactions = False
    max_bind_parameters = 32767
    max_atomic_insert_rows = 32 * 1024
    numeric_max_integer_digits = 28
    training_sets_refused = ("they load the spine and their work tables with COPY FROM STDIN and CREATE TEMPORARY "
                             "TABLE, which RisingWave does not have")

    def drop_view(self, name: str) -> str:
        return f"drop materialized view if exists {name} cascade"

    def swap_names(self, name: str, other: str) -> tuple[list[str], bool] | None:
        # one statement, applied in one catalog transaction (see the module's docstring)
        return [f"alter materialized view {name} swap with {other}"], False

    def build_setup(self) -> list[str]:
        # foreground DDL, whatever the session's defaults: CREATE returns once the view is backfilled
        return ["set background_ddl = false"]

    def after_insert(self) -> list[str]:
        return ["flush"]

    def session_setup(self, cluster: str) -> list[str]:
        # reads see earlier writes of the session (sql/commands/sql-set-rw-implicit-flush.mdx);
        # `SET TIME ZONE` is the documented form (sql/commands/sql-set-time-zone.mdx)
        return ["set time zone 'UTC'", "set rw_implicit_flush = true"]

    def ddl_type(self, column_type: str) -> str:
        # as risingwave__source_table creates them (sql_macros/macros/source_table.sql)
        if column_type in ("text", "uuid"):
            return "varchar"
        if column_type.startswith("numeric"):
            return "numeric"
        return column_type

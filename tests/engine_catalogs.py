"""What each engine's catalog answers to apply's column query (materializer/db/apply.py, COLUMNS_QUERY:
``column_name, data_type, numeric_precision, numeric_scale`` of ``information_schema.columns``) for a
source table with a column of every supported type, as created by the ``source_table`` macro.

These rows are the engines' documented answers, written down from their source (neither engine runs
here); the PostgreSQL rows are read from the real database by the tests instead. Each fact below was
read in the engine's repository (RisingWave at tag v2.7.0 and on main; Materialize on main).

RisingWave v2.7.0 (risingwavelabs/risingwave, the compose file's image):
- ``information_schema.columns`` is a view over ``rw_catalog.rw_columns`` selecting
  ``NULL::integer AS numeric_precision`` and ``NULL::integer AS numeric_scale`` for every column, and
  ``CASE WHEN c.data_type = 'varchar' THEN 'character varying' ELSE c.data_type END AS data_type``
  (src/frontend/src/catalog/system_catalog/information_schema/columns.rs); hidden columns
  (``_row_id`` of an append-only table, ``_rw_timestamp``) are left out (``WHERE c.is_hidden = false``;
  src/common/src/catalog/column.rs makes both hidden).
- ``rw_columns.data_type`` is ``column.data_type().to_string()``
  (src/frontend/src/catalog/system_catalog/rw_catalog/rw_columns.rs), the DataType's Display:
  boolean, smallint, integer, bigint, real, double precision, numeric, date, character varying,
  timestamp without time zone, timestamp with time zone, jsonb (src/common/src/types/mod.rs,
  ``enum DataType``; e2e_test/batch/catalog/information_schema.slt shows ``integer``/``bigint`` rows).
- The table is created with ``varchar`` for text and uuid and ``numeric`` for numeric(p, s)
  (sql_macros/macros/source_table.sql, risingwave__source_table): RisingWave binds neither ``uuid``
  nor ``numeric(p, s)`` (src/frontend/src/binder/expr/mod.rs, ``bind_data_type``).

Materialize (MaterializeInc/materialize):
- ``information_schema.columns`` selects ``c.type AS data_type``, ``NULL::pg_catalog.int4 AS
  numeric_precision`` and ``NULL::pg_catalog.int4 AS numeric_scale`` from ``mz_catalog.mz_columns``
  (src/catalog/src/builtin/information_schema.rs; test/sqllogictest/information_schema_columns.slt
  shows ``integer``/``text`` rows with NULL precision and scale).
- ``mz_columns.type`` is ``mz_pgrepr::Type::name()`` (src/catalog/src/catalog/builtin_table_updates.rs):
  boolean, smallint, integer, bigint, real, double precision, timestamp with time zone, and for the
  other types PostgreSQL's type name: text, numeric, date, timestamp, jsonb, uuid
  (src/pgrepr/src/types.rs, ``Type::name``: the SQL-standard names for boolean, the integers, the floats,
  ``timestamp with time zone`` and ``character varying``, ``postgres_types``' own name otherwise).
"""

from __future__ import annotations

#: a source table with a column of every type a project may declare (definitions/checks.py)
EVERY_TYPE = {
    "c_text": "text",
    "c_smallint": "smallint",
    "c_integer": "integer",
    "c_bigint": "bigint",
    "c_numeric": "numeric",
    "c_money": "numeric(12,2)",
    "c_real": "real",
    "c_double": "double precision",
    "c_boolean": "boolean",
    "c_ts": "timestamptz",
    "c_local": "timestamp",
    "c_date": "date",
    "c_json": "jsonb",
    "c_uuid": "uuid",
}

RISINGWAVE_ROWS = [
    ("c_text", "character varying", None, None),
    ("c_smallint", "smallint", None, None),
    ("c_integer", "integer", None, None),
    ("c_bigint", "bigint", None, None),
    ("c_numeric", "numeric", None, None),
    ("c_money", "numeric", None, None),
    ("c_real", "real", None, None),
    ("c_double", "double precision", None, None),
    ("c_boolean", "boolean", None, None),
    ("c_ts", "timestamp with time zone", None, None),
    ("c_local", "timestamp without time zone", None, None),
    ("c_date", "date", None, None),
    ("c_json", "jsonb", None, None),
    ("c_uuid", "character varying", None, None),
]

MATERIALIZE_ROWS = [
    ("c_text", "text", None, None),
    ("c_smallint", "smallint", None, None),
    ("c_integer", "integer", None, None),
    ("c_bigint", "bigint", None, None),
    ("c_numeric", "numeric", None, None),
    ("c_money", "numeric", None, None),
    ("c_real", "real", None, None),
    ("c_double", "double precision", None, None),
    ("c_boolean", "boolean", None, None),
    ("c_ts", "timestamp with time zone", None, None),
    ("c_local", "timestamp", None, None),
    ("c_date", "date", None, None),
    ("c_json", "jsonb", None, None),
    ("c_uuid", "uuid", None, None),
]

CATALOG_ROWS = {"risingwave": RISINGWAVE_ROWS, "materialize": MATERIALIZE_ROWS}

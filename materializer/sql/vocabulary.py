"""The functions and types each streaming engine documents: the allow-lists of ``materializer lint``.

Built from the engines' documentation, one set per page, so that every name cites where it is
documented. A name that is in PostgreSQL but on no page of the engine (``date_bin`` on RisingWave,
``percentile_cont`` on Materialize) is a lint finding: the view would fail to create there.

- Materialize: ``doc/user/data/sql_funcs.yml`` of MaterializeInc/materialize (the data behind
  ``doc/user/content/sql/functions/_index.md``), ``sql/functions/now_and_mz_now.md`` and
  ``sql/types/_index.md``.
- RisingWave: risingwavelabs/risingwave-docs ``sql/functions/*.mdx``,
  ``processing/sql/time-windows.mdx`` and ``sql/data-types/overview.mdx``.

Syntax written like a call (``cast(x as t)``, ``extract(f from x)``) is listed with the page of the
construct. Only what those pages list is here: a function the engine has but does not document is a
finding until a page is cited for it.
"""

from __future__ import annotations

MATERIALIZE_FUNCTIONS: dict[str, frozenset[str]] = {
    "doc/user/data/sql_funcs.yml (Generic)": frozenset({"cast", "coalesce", "greatest", "least", "nullif"}),
    "doc/user/data/sql_funcs.yml (Aggregate)": frozenset({
        "array_agg", "avg", "count", "jsonb_agg", "jsonb_object_agg", "max", "min", "stddev", "stddev_pop",
        "stddev_samp", "string_agg", "sum", "variance", "variance_pop", "variance_samp"}),
    "doc/user/data/sql_funcs.yml (List, Map)": frozenset({
        "list_agg", "list_append", "list_cat", "list_length", "list_prepend", "map_length"}),
    "doc/user/data/sql_funcs.yml (Numbers, Trigonometric)": frozenset({
        "abs", "cbrt", "ceil", "exp", "floor", "ln", "log", "log10", "mod", "pow", "power", "round",
        "sqrt", "cos", "acos", "cosh", "acosh", "cot", "sin", "asin", "sinh", "asinh", "tan", "tanh", "atanh",
        "radians", "degrees"}),
    "doc/user/data/sql_funcs.yml (String)": frozenset({
        "ascii", "btrim", "bit_length", "char_length", "chr", "convert_from", "decode", "encode", "get_byte",
        "left", "length", "lower", "lpad", "ltrim", "octet_length", "position", "regexp_match", "repeat",
        "replace", "right", "rtrim", "split_part", "substring", "trim", "upper"}),
    "doc/user/data/sql_funcs.yml (Subquery)": frozenset({"exists", "csv_extract"}),
    "doc/user/data/sql_funcs.yml (Date and Time)": frozenset({
        "date_bin", "date_trunc", "extract", "date_part", "timezone", "to_timestamp", "to_char", "justify_days",
        "justify_hours", "justify_interval", "current_timestamp", "now", "mz_logical_timestamp"}),
    "doc/user/content/sql/functions/now_and_mz_now.md": frozenset({"mz_now"}),
    "doc/user/data/sql_funcs.yml (JSON)": frozenset({
        "jsonb_array_elements", "jsonb_array_elements_text", "jsonb_array_length", "jsonb_build_array",
        "jsonb_build_object", "jsonb_each", "jsonb_each_text", "jsonb_object_keys", "jsonb_pretty",
        "jsonb_typeof", "jsonb_strip_nulls", "to_jsonb"}),
    "doc/user/data/sql_funcs.yml (Table, Array)": frozenset({
        "generate_series", "generate_subscripts", "regexp_extract", "unnest", "array_cat", "array_to_string",
        "array_remove"}),
    "doc/user/data/sql_funcs.yml (Cryptography)": frozenset({
        "digest", "hmac", "md5", "sha224", "sha256", "sha384", "sha512"}),
    "doc/user/data/sql_funcs.yml (Window)": frozenset({
        "dense_rank", "first_value", "lag", "last_value", "lead", "row_number"}),
    # "current_database() -> text: Returns the name of the current database" (unmaterializable: read in
    # apply's hydration wait, never in a view)
    "doc/user/data/sql_funcs.yml (System information)": frozenset({"current_database", "current_schema"}),
}

RISINGWAVE_FUNCTIONS: dict[str, frozenset[str]] = {
    "sql/functions/conditional.mdx": frozenset({"case", "coalesce", "nullif", "greatest", "least"}),
    "sql/query-syntax/value-exp.mdx (Type casts)": frozenset({"cast"}),
    "sql/functions/aggregate.mdx": frozenset({
        "approx_count_distinct", "approx_percentile", "arg_max", "arg_min", "array_agg", "avg", "bit_and",
        "bit_or", "bool_and", "bool_or", "count", "first_value", "grouping", "jsonb_agg", "jsonb_object_agg",
        "last_value", "max", "min", "mode", "percentile_cont", "percentile_disc", "stddev_pop", "stddev_samp",
        "string_agg", "sum", "var_pop", "var_samp"}),
    "sql/functions/mathematical.mdx": frozenset({
        "abs", "acos", "acosd", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "cbrt", "ceil", "ceiling",
        "cos", "cosd", "cosh", "cot", "cotd", "coth", "degrees", "exp", "floor", "ln", "log", "log10",
        "min_scale", "pow", "power", "radians", "round", "scale", "sign", "sin", "sind", "sinh", "sqrt", "tan",
        "tand", "tanh", "trim_scale", "trunc"}),
    "sql/functions/datetime.mdx": frozenset({
        "current_timestamp", "date_part", "date_trunc", "extract", "make_date", "make_time", "make_timestamp",
        "now", "proctime", "to_char", "to_date", "to_timestamp"}),
    "sql/functions/string.mdx": frozenset({
        "ascii", "bit_length", "btrim", "char_length", "character_length", "chr", "concat", "concat_ws",
        "convert_from", "convert_to", "decode", "encode", "format", "initcap", "left", "length", "lower", "lpad",
        "ltrim", "octet_length", "overlay", "position", "quote_literal", "quote_nullable", "regexp_count",
        "regexp_match", "regexp_matches", "regexp_replace", "regexp_split_to_array", "repeat", "replace",
        "reverse", "right", "rpad", "rtrim", "split_part", "starts_with", "substr", "substring", "to_ascii",
        "to_hex", "translate", "trim", "upper"}),
    "sql/functions/window-functions.mdx": frozenset({
        "dense_rank", "first_value", "lag", "last_value", "lead", "rank", "row_number"}),
    "sql/functions/json.mdx": frozenset({
        "jsonb_array_elements", "jsonb_array_elements_text", "jsonb_array_length", "jsonb_build_array",
        "jsonb_build_object", "jsonb_each", "jsonb_each_text", "jsonb_extract_path", "jsonb_extract_path_text",
        "jsonb_object", "jsonb_object_keys", "jsonb_path_exists", "jsonb_path_match", "jsonb_path_query",
        "jsonb_path_query_array", "jsonb_path_query_first", "jsonb_populate_record", "jsonb_populate_recordset",
        "jsonb_pretty", "jsonb_set", "jsonb_strip_nulls", "jsonb_typeof", "to_jsonb"}),
    "sql/functions/array.mdx": frozenset({
        "array_append", "array_cat", "array_dims", "array_distinct", "array_length", "array_lower", "array_max",
        "array_min", "array_ndims", "array_position", "array_positions", "array_prepend", "array_remove",
        "array_replace", "array_sort", "array_sum", "array_to_string", "array_upper", "cardinality",
        "string_to_array", "trim_array", "unnest"}),
    "sql/functions/set-returning.mdx": frozenset({"generate_series", "range", "unnest"}),
    "processing/sql/time-windows.mdx": frozenset({"tumble", "hop"}),
    "sql/functions/binarystring.mdx": frozenset({
        "md5", "sha1", "sha224", "sha256", "sha384", "sha512"}),
}

#: Type names as written in casts and column lists, by the page that documents them.
MATERIALIZE_TYPES: dict[str, frozenset[str]] = {
    "doc/user/content/sql/types/_index.md": frozenset({
        "bigint", "int8", "boolean", "bool", "bytea", "date", "double precision", "float", "float8", "double",
        "integer", "int", "int4", "interval", "jsonb", "json", "map", "list", "numeric", "decimal", "oid",
        "real", "float4", "record", "smallint", "int2", "text", "string", "time", "uint2", "uint4", "uint",
        "uint8", "timestamp", "timestamp with time zone"}),
    "doc/user/content/sql/types/timestamp.md": frozenset({"timestamptz"}),
    "doc/user/content/sql/types/text.md": frozenset({"varchar"}),
    "doc/user/content/sql/types/uuid.md": frozenset({"uuid"}),
    "doc/user/content/sql/types/mz_timestamp.md": frozenset({"mz_timestamp"}),
}

RISINGWAVE_TYPES: dict[str, frozenset[str]] = {
    "sql/data-types/overview.mdx": frozenset({
        "boolean", "bool", "smallint", "integer", "int", "bigint", "numeric", "decimal", "real",
        "double precision", "double", "character varying", "varchar", "string", "bytea", "date", "time",
        "time without time zone", "timestamp", "timestamp without time zone", "timestamptz",
        "timestamp with time zone", "interval", "struct", "jsonb", "map", "rw_int256"}),
    # `data TEXT` in the page's own example: RisingWave reads `text` as `varchar`
    "sql/commands/sql-create-table.mdx": frozenset({"text"}),
}

FUNCTIONS = {"materialize": MATERIALIZE_FUNCTIONS, "risingwave": RISINGWAVE_FUNCTIONS}
TYPES = {"materialize": MATERIALIZE_TYPES, "risingwave": RISINGWAVE_TYPES}
PAGES = {"materialize": "MaterializeInc/materialize doc/user/data/sql_funcs.yml",
         "risingwave": "risingwavelabs/risingwave-docs sql/functions/"}
TYPE_PAGES = {"materialize": "MaterializeInc/materialize doc/user/content/sql/types/_index.md",
              "risingwave": "risingwavelabs/risingwave-docs sql/data-types/overview.mdx"}


def documented_function(engine: str, name: str) -> str | None:
    """The page documenting function ``name`` on ``engine``, or None."""
    for page, names in FUNCTIONS[engine].items():
        if name in names:
            return page
    return None


def documented_type(engine: str, name: str) -> str | None:
    """The page documenting type ``name`` (lowercase, without its modifiers) on ``engine``, or None."""
    for page, names in TYPES[engine].items():
        if name in names:
            return page
    return None

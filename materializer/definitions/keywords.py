"""SQL key words that cannot name a source, column, view, feature or monitor.

materializer writes names into SQL unquoted, so a name that the engine reads as a key word
fails at apply with a syntax error. Validation refuses these words instead (quoting every name
in every macro for three engines would be a larger, riskier change):

- PostgreSQL's reserved key words: the ``R`` (reserved) and ``T`` (reserved, can be a function
  or type name) categories of ``pg_get_keywords()``. ``tests/test_generated_names.py`` compares
  these lists with the running server, so they cannot silently fall behind a new PostgreSQL.
- PostgreSQL's ``C`` words (unreserved, cannot be a function or type name: ``time``,
  ``timestamp``, ``values``, ...) work as names everywhere the macros put a name (every ``C``
  word was tried as a source, column, entity, timestamp, feature, view and monitor column on
  PostgreSQL 18); they stay allowed, except the few that Materialize or RisingWave parse as a
  special form wherever an expression may start (``coalesce``, ``extract``, ``trim``, ...).
- Words Materialize reserves and PostgreSQL does not (``qualify``, ``options``).

Sources for the engines' lists: Materialize ``src/sql-lexer/src/keywords.rs``
(``is_always_reserved``) and ``src/sql-parser/src/parser.rs`` (``parse_prefix``); RisingWave
``src/sqlparser/src/keywords.rs`` (``RESERVED_FOR_COLUMN_OR_TABLE_NAME``, PostgreSQL's R and T)
and ``src/sqlparser/src/parser.rs`` (``parse_prefix``).
"""

from __future__ import annotations

# pg_get_keywords() where catcode = 'R' (PostgreSQL 18)
POSTGRES_RESERVED = frozenset(["all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case", "cast", "check", "collate", "column", "constraint", "create", "current_catalog", "current_date", "current_role", "current_time", "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "false", "fetch", "for", "foreign", "from", "grant", "group", "having", "in", "initially", "intersect", "into", "lateral", "leading", "limit", "localtime", "localtimestamp", "not", "null", "offset", "on", "only", "or", "order", "placing", "primary", "references", "returning", "select", "session_user", "some", "symmetric", "system_user", "table", "then", "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "when", "where", "window", "with"])

# pg_get_keywords() where catcode = 'T': reserved, but allowed as a function or type name
POSTGRES_RESERVED_TYPE_OR_FUNCTION = frozenset(["authorization", "binary", "collation", "concurrently", "cross", "current_schema", "freeze", "full", "ilike", "inner", "is", "isnull", "join", "left", "like", "natural", "notnull", "outer", "overlaps", "right", "similar", "tablesample", "verbose"])

# pg_get_keywords() where catcode = 'C': unreserved, but not a function or type name (names to us)
POSTGRES_COL_NAME = frozenset(["between", "bigint", "bit", "boolean", "char", "character", "coalesce", "dec", "decimal", "exists", "extract", "float", "greatest", "grouping", "inout", "int", "integer", "interval", "json", "json_array", "json_arrayagg", "json_exists", "json_object", "json_objectagg", "json_query", "json_scalar", "json_serialize", "json_table", "json_value", "least", "merge_action", "national", "nchar", "none", "normalize", "nullif", "numeric", "out", "overlay", "position", "precision", "real", "row", "setof", "smallint", "substring", "time", "timestamp", "treat", "trim", "values", "varchar", "xmlattributes", "xmlconcat", "xmlelement", "xmlexists", "xmlforest", "xmlnamespaces", "xmlparse", "xmlpi", "xmlroot", "xmlserialize", "xmltable"])

# pg_get_keywords() where catcode = 'U': unreserved (names to us; read as syntax in a filter that is
# not one of the source's columns)
POSTGRES_UNRESERVED = frozenset(["abort", "absent", "absolute", "access", "action", "add", "admin", "after", "aggregate", "also", "alter", "always", "asensitive", "assertion", "assignment", "at", "atomic", "attach", "attribute", "backward", "before", "begin", "breadth", "by", "cache", "call", "called", "cascade", "cascaded", "catalog", "chain", "characteristics", "checkpoint", "class", "close", "cluster", "columns", "comment", "comments", "commit", "committed", "compression", "conditional", "configuration", "conflict", "connection", "constraints", "content", "continue", "conversion", "copy", "cost", "csv", "cube", "current", "cursor", "cycle", "data", "database", "day", "deallocate", "declare", "defaults", "deferred", "definer", "delete", "delimiter", "delimiters", "depends", "depth", "detach", "dictionary", "disable", "discard", "document", "domain", "double", "drop", "each", "empty", "enable", "encoding", "encrypted", "enforced", "enum", "error", "escape", "event", "exclude", "excluding", "exclusive", "execute", "explain", "expression", "extension", "external", "family", "filter", "finalize", "first", "following", "force", "format", "forward", "function", "functions", "generated", "global", "granted", "groups", "handler", "header", "hold", "hour", "identity", "if", "immediate", "immutable", "implicit", "import", "include", "including", "increment", "indent", "index", "indexes", "inherit", "inherits", "inline", "input", "insensitive", "insert", "instead", "invoker", "isolation", "keep", "key", "keys", "label", "language", "large", "last", "leakproof", "level", "listen", "load", "local", "location", "lock", "locked", "logged", "mapping", "match", "matched", "materialized", "maxvalue", "merge", "method", "minute", "minvalue", "mode", "month", "move", "name", "names", "nested", "new", "next", "nfc", "nfd", "nfkc", "nfkd", "no", "normalized", "nothing", "notify", "nowait", "nulls", "object", "objects", "of", "off", "oids", "old", "omit", "operator", "option", "options", "ordinality", "others", "over", "overriding", "owned", "owner", "parallel", "parameter", "parser", "partial", "partition", "passing", "password", "path", "period", "plan", "plans", "policy", "preceding", "prepare", "prepared", "preserve", "prior", "privileges", "procedural", "procedure", "procedures", "program", "publication", "quote", "quotes", "range", "read", "reassign", "recursive", "ref", "referencing", "refresh", "reindex", "relative", "release", "rename", "repeatable", "replace", "replica", "reset", "restart", "restrict", "return", "returns", "revoke", "role", "rollback", "rollup", "routine", "routines", "rows", "rule", "savepoint", "scalar", "schema", "schemas", "scroll", "search", "second", "security", "sequence", "sequences", "serializable", "server", "session", "set", "sets", "share", "show", "simple", "skip", "snapshot", "source", "sql", "stable", "standalone", "start", "statement", "statistics", "stdin", "stdout", "storage", "stored", "strict", "string", "strip", "subscription", "support", "sysid", "system", "tables", "tablespace", "target", "temp", "template", "temporary", "text", "ties", "transaction", "transform", "trigger", "truncate", "trusted", "type", "types", "uescape", "unbounded", "uncommitted", "unconditional", "unencrypted", "unknown", "unlisten", "unlogged", "until", "update", "vacuum", "valid", "validate", "validator", "value", "varying", "version", "view", "views", "virtual", "volatile", "whitespace", "within", "without", "work", "wrapper", "write", "xml", "year", "yes", "zone"])

# Words the streaming engines cannot read as a column where an expression starts: they parse the
# special form (`trim(...)`, `interval '1 hour'`) without looking at the next token, or reserve
# the word outright.
STREAMING_RESERVED = {
    "coalesce": "Materialize",
    "exists": "Materialize and RisingWave",
    "extract": "Materialize and RisingWave",
    "greatest": "Materialize",
    "interval": "RisingWave",
    "least": "Materialize",
    "list": "Materialize",
    "map": "Materialize",
    "normalize": "Materialize",
    "nullif": "Materialize",
    "options": "Materialize",
    "overlay": "RisingWave",
    "position": "RisingWave",
    "qualify": "Materialize",
    "row": "RisingWave",
    "substring": "Materialize and RisingWave",
    "trim": "Materialize and RisingWave",
    "try_cast": "RisingWave",
}

RESERVED = POSTGRES_RESERVED | POSTGRES_RESERVED_TYPE_OR_FUNCTION | frozenset(STREAMING_RESERVED)


def reserved_reason(word: str) -> str | None:
    """Why ``word`` cannot be a name (``'left' is a reserved SQL word``), or None when it can."""
    if word in POSTGRES_RESERVED or word in POSTGRES_RESERVED_TYPE_OR_FUNCTION:
        return f"'{word}' is a reserved SQL word"
    engines = STREAMING_RESERVED.get(word)
    if engines:
        return f"'{word}' is a reserved SQL word in {engines}"
    return None

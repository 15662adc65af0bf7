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
POSTGRES_RESERVED = frozenset("""
    all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create
    current_catalog current_date current_role current_time current_timestamp current_user default deferrable
    desc distinct do else end except false fetch for foreign from grant group having in initially intersect
    into lateral leading limit localtime localtimestamp not null offset on only or order placing primary
    references returning select session_user some symmetric system_user table then to trailing true union
    unique user using variadic when where window with
""".split())

# pg_get_keywords() where catcode = 'T': reserved, but allowed as a function or type name
POSTGRES_RESERVED_TYPE_OR_FUNCTION = frozenset("""
    authorization binary collation concurrently cross current_schema freeze full ilike inner is isnull join
    left like natural notnull outer overlaps right similar tablesample verbose
""".split())

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

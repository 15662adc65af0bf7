"""Parsing rendered SQL with each streaming engine's parser, engine clauses handled explicitly.

Materialize statements are parsed by sqlfluff's ``materialize`` dialect and RisingWave statements
by sqlglot's ``risingwave`` dialect; both parsers are the ``lint`` extra
(``pip install "materializer[lint]"``). Neither knows every clause the engines document, and a
parser that skips what it does not know checks nothing, so each clause is recognised here in its
documented form, taken off, and the rest is parsed whole:

============================================  ===========================================================
clause                                        handling
============================================  ===========================================================
Materialize ``create materialized view v      sqlfluff's grammar takes ``IN CLUSTER`` but reads the query
in cluster c as <query>``                     after ``AS`` as ``Anything()``: the head is parsed with a
(doc/user/content/sql/create-materialized-    placeholder query and the query is parsed on its own, so
view.md)                                      an error inside it is found
Materialize ``create index [if not exists]    sqlfluff's ``CREATE INDEX`` has no ``IF NOT EXISTS``: the
i in cluster c on v (cols)``                  words are taken off and the rest (``IN CLUSTER`` included)
(doc/user/content/sql/create-index.md)        is parsed
RisingWave ``create table ... append only``   sqlglot falls back to an unparsed ``Command``: the clause
``[with (connector = ...) format plain        is taken off and the table is parsed, with its connector's
encode json]``                                WITH options and FORMAT ... ENCODE, which sqlglot parses;
(sql/commands/sql-create-table.mdx,           the table is recorded as append-only for the rules
integrations/sources/kafka.mdx)
Materialize identifiers sqlfluff reserves     ``following`` is a keyword of window frames, reserved by
(``following`` as a relation alias)           sqlfluff's dialect; Materialize reserves it nowhere (its
                                              parser's keywords.rs: ``is_always_reserved`` and
                                              ``is_reserved_in_table_alias`` do not list it), so
                                              ``as following`` and ``following.`` are quoted for sqlfluff
Materialize ``declare c cursor for subscribe  sqlfluff reads everything after ``DECLARE ... FOR`` as
(<query>) [envelope upsert (key (k, ...))]    ``Anything()``: the statement must match the documented
[with (progress | snapshot [= bool], ...)]``  form (options PROGRESS and SNAPSHOT only) and the query
(doc/user/content/sql/subscribe.md,           is parsed on its own by both parsers (its tree is what the
doc/user/content/sql/declare.md)              rules read)
Materialize ``fetch [n | all] [from] c        sqlfluff parses it but takes any option: the one documented
[with (timeout = '<interval>')]``             option, ``timeout``, with an interval literal, is checked
(doc/user/content/sql/fetch.md)               here too
RisingWave ``create subscription [if not      sqlglot parses none of the three (a ``Command``): each must
exists] s from v with (retention = '<iv>')``, match its documented form whole, names as identifiers and
``declare c subscription cursor for s         intervals as interval literals (risingwave-docs
[since now() | proctime() | begin() | <ms>    sql/commands/sql-create-subscription.mdx,
| full]``, ``fetch {next | n} from c          serve/subscription.mdx "Subscription cursor", "Fetch from
[with (timeout = '<iv>')]``                   cursor"); nothing else in them is left unchecked
RisingWave ``alter {table | materialized      sqlglot does not parse it (a ``Command``): it must match the
view | view | source | sink | subscription}   documented form whole, both names as identifiers (risingwave-
<name> swap with <target_name>``              docs sql/commands/sql-alter-swap.mdx, sql/commands/sql-alter-
                                              materialized-view.mdx "SWAP WITH"); its tree is None (the
                                              rules read no rename)
RisingWave, any statement                     a ``Command`` (sqlglot's fallback for syntax it does not
                                              parse) is an error, never a pass
============================================  ===========================================================

The rules of ``materializer.sql.lint`` read sqlglot trees of both engines (``materialize`` and
``risingwave`` dialects) built from the same text without the engine clauses.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from materializer.extras import optional

_MZ_VIEW = re.compile(r"^\s*create\s+materialized\s+view\s+(?P<name>[\w.\"]+)(?P<cluster>\s+in\s+cluster\s+[\w\"]+)?"
                      r"\s+as\s*\n?(?P<body>.*)$", re.IGNORECASE | re.DOTALL)
_RW_VIEW = re.compile(r"^\s*create\s+materialized\s+view\s+(?P<name>[\w.\"]+)\s+as\s*\n?(?P<body>.*)$", re.IGNORECASE | re.DOTALL)
_PG_VIEW = re.compile(r"^\s*create\s+(?:or\s+replace\s+)?view\s+(?P<name>[\w.\"]+)\s+as\s*\n?(?P<body>.*)$",
                      re.IGNORECASE | re.DOTALL)
_MZ_INDEX = re.compile(r"^(\s*create\s+(?:default\s+)?index\s+)if\s+not\s+exists\s+", re.IGNORECASE)
#: keywords sqlfluff's materialize dialect reserves that Materialize accepts as names (see the table above)
_FLUFF_ONLY_KEYWORDS = re.compile(r"(?<![\w\"])(?:(?<=as )|(?<=AS ))(following)\b|(?<![\w\".])(following)(?=\.)", re.IGNORECASE)
_APPEND_ONLY = re.compile(r"^(?P<table>\s*create\s+table\s+.*?\))\s*append\s+only\s*"
                          r"(?P<connector>with\s*\(.*\)\s*format\s+plain\s+encode\s+json)?\s*;?\s*$",
                          re.IGNORECASE | re.DOTALL)
_TABLE_NAME = re.compile(r"^\s*create\s+table\s+(?:if\s+not\s+exists\s+)?(?P<name>[\w.\"]+)", re.IGNORECASE)

_IDENT = r"(?:[a-z_][\w$]*|\"[^\"]+\")"
_NAME = rf"{_IDENT}(?:\.{_IDENT}){{0,2}}"
#: an interval literal as both engines read one: '1s', '500ms', '1h', '1D', '2 hours', ...
_INTERVAL = r"'\s*\d+(?:\.\d+)?\s*(?:ms|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?)\s*'"
_MZ_SUBSCRIBE = re.compile(rf"^\s*declare\s+(?P<cursor>{_IDENT})\s+cursor\s+for\s+subscribe\s+(?:to\s+)?\(",
                           re.IGNORECASE)
_MZ_SUBSCRIBE_TAIL = re.compile(
    rf"^(?:\s+envelope\s+upsert\s*\(\s*key\s*\((?P<key>\s*{_IDENT}(?:\s*,\s*{_IDENT})*\s*)\)\s*\))?"
    rf"(?:\s+with\s*\((?P<options>[^()]*)\))?\s*$", re.IGNORECASE | re.DOTALL)
_MZ_SUBSCRIBE_OPTION = re.compile(r"^\s*(?:progress|snapshot)(?:\s*=\s*(?:true|false))?\s*$", re.IGNORECASE)
_MZ_FETCH = re.compile(r"^\s*fetch\b(?P<rest>.*?)(?:\s+with\s*\((?P<options>[^()]*)\))?\s*$",
                       re.IGNORECASE | re.DOTALL)
_TIMEOUT = re.compile(rf"^\s*timeout\s*=?\s*{_INTERVAL}\s*$", re.IGNORECASE)
_RW_SUBSCRIPTION = re.compile(
    rf"^\s*create\s+subscription\s+(?:if\s+not\s+exists\s+)?{_NAME}\s+from\s+{_NAME}"
    rf"\s+with\s*\(\s*retention\s*=\s*{_INTERVAL}\s*\)\s*$", re.IGNORECASE)
_RW_CURSOR = re.compile(
    rf"^\s*declare\s+{_IDENT}\s+subscription\s+cursor\s+for\s+{_NAME}"
    rf"(?:\s+since\s+(?:now\(\s*\)|proctime\(\s*\)|begin\(\s*\)|\d+)|\s+full)?\s*$", re.IGNORECASE)
_RW_FETCH = re.compile(rf"^\s*fetch\s+(?:next|\d+)\s+from\s+{_IDENT}(?:\s+with\s*\(\s*timeout\s*=\s*"
                       rf"{_INTERVAL}\s*\))?\s*$", re.IGNORECASE)
_RW_SWAP = re.compile(rf"^\s*alter\s+(?:table|materialized\s+view|view|source|sink|subscription)\s+{_NAME}"
                      rf"\s+swap\s+with\s+{_NAME}\s*$", re.IGNORECASE)
_RW_SWAP_HEAD = re.compile(r"^\s*alter\b.*\bswap\s+with\b", re.IGNORECASE | re.DOTALL)
_RW_CHANGES = re.compile(r"^\s*(?:create\s+subscription|declare\s+\S+\s+subscription\s+cursor|fetch)\b",
                         re.IGNORECASE)

#: sqlglot's dialect for each engine's trees (PostgreSQL for the embedded default)
DIALECTS = {"postgres": "postgres", "materialize": "materialize", "risingwave": "risingwave"}


@dataclass
class Parsed:
    """One statement: its parse errors, and the sqlglot tree the rules read."""

    sql: str
    view: str | None = None  # the view a `create [materialized] view` statement creates
    body: str | None = None  # its query
    append_only: str | None = None  # the table a RisingWave `create table ... append only` creates
    errors: list[str] = field(default_factory=list)
    tree: Any = None  # sqlglot expression: the query of a view, else the statement


def _sqlglot() -> Any:
    return optional("sqlglot", "materializer lint")


@lru_cache(maxsize=1)
def _fluff() -> Any:
    optional("sqlfluff", "materializer lint")
    from sqlfluff.core import FluffConfig, Linter

    return Linter(config=FluffConfig(overrides={"dialect": "materialize", "templater": "raw"}))


def _first_line(text: str) -> str:
    return " ".join(str(text).split("\n")[0].split())


def fluff_errors(sql: str) -> list[str]:
    """sqlfluff's parse errors of ``sql`` in the ``materialize`` dialect (none: it parsed whole)."""
    text = _FLUFF_ONLY_KEYWORDS.sub(lambda m: f'"{m.group(1) or m.group(2)}"', sql.strip().rstrip(";"))
    parsed = _fluff().parse_string(text)
    return [f"sqlfluff (materialize): {_first_line(v.desc())}" for v in parsed.violations]


def glot_tree(sql: str, engine: str) -> tuple[Any, list[str]]:
    """(the sqlglot tree of one statement, its parse errors); an unparsed ``Command`` is an error."""
    sqlglot = _sqlglot()
    from sqlglot import exp

    dialect = DIALECTS[engine]
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)  # the Command fallback is reported below, as an error
    try:
        trees = sqlglot.parse(sql.strip().rstrip(";"), read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.ParseError as exc:
        return None, [f"sqlglot ({dialect}): {_first_line(exc.errors[0]['description'] if exc.errors else exc)}"]
    finally:
        logger.setLevel(level)
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        return None, [f"sqlglot ({dialect}): expected one statement, found {len(trees)}"]
    if isinstance(trees[0], exp.Command):
        return None, [f"sqlglot ({dialect}): {_first_line(sql)[:60]!r} is not parsed (unsupported syntax)"]
    return trees[0], []


def parse(sql: str, engine: str, check: bool = True) -> Parsed:
    """Parse one rendered statement (or a view's bare query) for ``engine``; ``check`` runs the engine's
    own parser (sqlfluff for Materialize, sqlglot for RisingWave) and records its errors."""
    out = Parsed(sql)
    text = sql.strip().rstrip(";")
    pattern = {"materialize": _MZ_VIEW, "risingwave": _RW_VIEW}.get(engine, _PG_VIEW)
    view = pattern.match(text)
    if view:
        out.view, out.body = view.group("name"), view.group("body")
    if engine == "materialize" and re.match(r"^\s*declare\b.*\bsubscribe\b", text, re.IGNORECASE | re.DOTALL):
        return _mz_subscribe(out, text, check)
    if engine == "materialize" and re.match(r"^\s*fetch\b", text, re.IGNORECASE) and check:
        fetch = _MZ_FETCH.match(text)
        if fetch and fetch.group("options") is not None and not _TIMEOUT.match(fetch.group("options")):
            out.errors.append(f"FETCH takes one option, timeout = '<interval>' (doc/user/content/sql/fetch.md); "
                              f"got ({fetch.group('options').strip()})")
    if engine == "risingwave" and _RW_CHANGES.match(text):
        return _rw_changes(out, text, check)
    if engine == "risingwave" and _RW_SWAP_HEAD.match(text):
        if check and not _RW_SWAP.match(text):
            out.errors.append("sqlglot (risingwave) does not parse it, and it is not in the documented form ALTER "
                              "{TABLE | MATERIALIZED VIEW | VIEW | SOURCE | SINK | SUBSCRIPTION} <name> SWAP WITH "
                              "<target_name> (risingwave-docs sql/commands/sql-alter-swap.mdx)")
        return out
    if engine == "materialize":
        if check:
            if view:  # the head with a placeholder query, then the query itself (see the module's table)
                out.errors += fluff_errors(text[:view.start("body")] + " select 1")
                out.errors += fluff_errors(out.body)
            else:
                out.errors += fluff_errors(_MZ_INDEX.sub(r"\1", text))
        glot_text = out.body if view else _MZ_INDEX.sub(r"\1", text)
        if not view and re.match(r"^\s*create\s+(?:default\s+)?index\b", text, re.IGNORECASE):
            return out  # sqlglot has no IN CLUSTER; the rules read no index
        out.tree, _ = glot_tree(glot_text, "materialize")
        return out
    if engine == "risingwave":
        table = _APPEND_ONLY.match(text)
        if table:
            text = table.group("table") + (f"\n{table.group('connector')}" if table.group("connector") else "")
            name = _TABLE_NAME.match(text)
            out.append_only = name.group("name") if name else None
        tree, errors = glot_tree(text, "risingwave")
        if check:
            out.errors += errors
        from sqlglot import exp

        out.tree = tree.expression if view and isinstance(tree, exp.Create) else tree
        return out
    tree, _ = glot_tree(out.body if view else text, "postgres")
    out.tree = tree
    return out


def _mz_subscribe(out: Parsed, text: str, check: bool) -> Parsed:
    """Materialize ``DECLARE ... CURSOR FOR SUBSCRIBE (query) ...``: the documented form, its query parsed."""
    head = _MZ_SUBSCRIBE.match(text)
    close = _closing_paren(text, head.end() - 1) if head else None
    m = _MZ_SUBSCRIBE_TAIL.match(text[close + 1:]) if close is not None else None
    if m is None:
        out.errors.append("sqlfluff (materialize) cannot check a SUBSCRIBE; it is not in the documented form "
                          "DECLARE c CURSOR FOR SUBSCRIBE (<query>) [ENVELOPE UPSERT (KEY (<columns>))] [WITH "
                          "(<options>)] (doc/user/content/sql/subscribe.md)")
        return out
    options = m.group("options")
    if options is not None:
        bad = [o.strip() for o in options.split(",") if not _MZ_SUBSCRIBE_OPTION.match(o)]
        if bad:
            out.errors.append(f"SUBSCRIBE takes the options PROGRESS and SNAPSHOT (doc/user/content/sql/subscribe.md); "
                              f"got {', '.join(bad)}")
    query = text[head.end():close]
    if check:
        out.errors += fluff_errors(query)
    out.body = query
    out.tree, errors = glot_tree(query, "materialize")
    if check:
        out.errors += errors
    return out


def _rw_changes(out: Parsed, text: str, check: bool) -> Parsed:
    """RisingWave's subscription statements, which sqlglot does not parse: each in its documented form whole."""
    if not check:
        return out
    forms = ((r"create\s+subscription", _RW_SUBSCRIPTION,
              ("CREATE SUBSCRIPTION [IF NOT EXISTS] <name> FROM <table or mv> WITH (retention = '<interval>') "
              "(risingwave-docs sql/commands/sql-create-subscription.mdx)")),
             (r"declare", _RW_CURSOR,
              ("DECLARE <cursor> SUBSCRIPTION CURSOR FOR <subscription> [SINCE now() | proctime() | begin() | "
              "<unix ms> | FULL] (risingwave-docs serve/subscription.mdx)")),
             (r"fetch", _RW_FETCH,
              ("FETCH {NEXT | <n>} FROM <cursor> [WITH (timeout = '<interval>')] (risingwave-docs "
              "serve/subscription.mdx)")))
    for head, pattern, form in forms:
        if re.match(rf"^\s*{head}\b", text, re.IGNORECASE):
            if not pattern.match(text):
                out.errors.append(f"sqlglot (risingwave) does not parse it, and it is not in the documented form {form}")
            return out
    return out


def _closing_paren(text: str, at: int) -> int | None:
    """The index of the parenthesis closing the one at ``at`` (quoted strings and names skipped)."""
    depth, quote = 0, None
    for i in range(at, len(text)):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
    return None

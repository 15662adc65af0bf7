"""Feature filters (``filter: "status = 'failed'"``): SQL boolean expressions, read lightly.

A filter goes into the views as ``filter (where (<filter>))`` and into training sets as
``case when (<filter>) then ...``, evaluated row by row over the source's columns. Validation
does not parse SQL; it splits the text into tokens (string literals, quoted names, numbers,
words, operators) and finds the words that can only be column names:

- not a key word of PostgreSQL (``and``, ``like``, ``is``, ``interval``, ``day``...) unless it
  is also one of the source's columns;
- not a function (followed by ``(``), a type (after ``::`` or ``cast(... as``), a typed literal
  (``date '2026-01-01'``), or the field of ``extract(epoch from ts)``.

Those words must be columns of a managed source (external sources' columns are unknown). The
tokens also show what cannot work in a per-row filter: an aggregate or window function, the
clock (training sets evaluate a filter at each row's time, so ``now()`` would make online and
offline values differ, and Materialize cannot maintain it), a table-qualified column (the
filter is evaluated where only the bare columns are in scope), a subquery, unbalanced
parentheses and unterminated quotes.
"""

from __future__ import annotations

import re

from materializer.definitions.keywords import (
    POSTGRES_COL_NAME,
    POSTGRES_RESERVED,
    POSTGRES_RESERVED_TYPE_OR_FUNCTION,
    POSTGRES_UNRESERVED,
)
from materializer.errors import did_you_mean

KEY_WORDS = POSTGRES_RESERVED | POSTGRES_RESERVED_TYPE_OR_FUNCTION | POSTGRES_COL_NAME | POSTGRES_UNRESERVED

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>(?:[eE]'(?:[^'\\]|\\.|'')*')|(?:(?:[bBxXnN]|[uU]&)?'(?:[^']|'')*'))
  | (?P<dollar>\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*|)\$.*?\$(?P=tag)\$)
  | (?P<quoted>(?:[uU]&)?"(?:[^"]|"")*")
  | (?P<number>(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?[A-Za-z0-9_]*)
  | (?P<param>\$\d+)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<cast>::)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<dot>\.)
  | (?P<op>[^\sA-Za-z0-9_'"().$]+)
""", re.VERBOSE | re.DOTALL)

# words that continue a type name after its first word: double precision, character varying,
# timestamp with time zone
_TYPE_WORDS = frozenset({"precision", "varying", "with", "without", "time", "zone"})
AGGREGATES = frozenset({
    "count", "sum", "avg", "min", "max", "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp",
    "var_pop", "array_agg", "string_agg", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg",
    "bool_and", "bool_or", "every", "bit_and", "bit_or", "percentile_cont", "percentile_disc", "mode",
    "corr", "covar_pop", "covar_samp", "regr_slope", "regr_intercept", "any_value",
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
})
CLOCKS = frozenset({
    "now", "current_timestamp", "current_date", "current_time", "localtime", "localtimestamp",
    "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday", "mz_now",
})


def tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of every token but spaces; raises ValueError at an unterminated quote."""
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            quote = "string" if text[pos] == "'" else "quoted name" if text[pos] == '"' else "token"
            raise ValueError(f"unterminated {quote} at {text[pos:pos + 20]!r}")
        kind = m.lastgroup if m.lastgroup != "tag" else "dollar"
        if kind != "space":
            out.append((kind or "op", m.group()))
        pos = m.end()
    return out


def filter_problems(text: str, columns: dict[str, str] | None, source: str = "the source") -> list[str]:
    """What is wrong with a filter over ``source`` with ``columns`` (None: unknown), each with its fix."""
    return _problems(text, columns, source, on_demand=False)


def expression_problems(text: str) -> list[str]:
    """What is wrong with an on-demand expression whose references ``{...}`` are taken out: every other
    word is SQL (a key word, a function, a type), never a column."""
    return _problems(text, {}, "", on_demand=True)


def _problems(text: str, columns: dict[str, str] | None, source: str, on_demand: bool) -> list[str]:
    try:
        toks = tokens(text)
    except ValueError as exc:
        return [f"{exc}; close it"]
    problems: list[str] = []
    depth = 0
    for kind, _ in toks:
        depth += kind == "open"
        depth -= kind == "close"
        if depth < 0:
            return ["a ')' closes a parenthesis the filter did not open; balance the parentheses"]
    if depth:
        return ["a '(' is not closed; balance the parentheses"]
    words = [t.lower() if k == "word" else t for k, t in toks]
    if "select" in (w for (k, _), w in zip(toks, words) if k == "word"):
        return ["an on-demand feature is one expression over its references, not a subquery" if on_demand else
                "a filter is one condition on the event's own columns, not a subquery; use a column of the "
                "source or filter the source itself"]
    unknown: list[str] = []
    skip_type = False
    for i, ((kind, raw), word) in enumerate(zip(toks, words)):
        before = toks[i - 1] if i else ("", "")
        after = toks[i + 1] if i + 1 < len(toks) else ("", "")
        if kind == "cast" or (kind == "word" and word == "as" and _inside(toks, i, "cast")):
            skip_type = True
            continue
        if kind not in ("word", "quoted"):
            skip_type = False
            continue
        if skip_type:
            skip_type = word in _TYPE_WORDS or after[0] == "word" and after[1].lower() in _TYPE_WORDS
            continue
        if kind == "quoted":
            if before[0] == "word" and before[1].lower() == "collate":
                continue
            word = raw[1:-1].replace('""', '"')
        elif after[0] == "open":
            if word in AGGREGATES:
                problems.append(f"{word}(...) is an aggregate: " + ("an on-demand feature is computed for one "
                                "request" if on_demand else "a filter is a condition on one event") + "; remove it")
            elif word in CLOCKS:
                problems.append(_clock(word, on_demand))
            continue
        elif word in CLOCKS:
            problems.append(_clock(word, on_demand))
            continue
        if before[0] == "dot" or after[0] == "op" and after[1] == "=>":
            continue
        if after[0] == "dot":
            if kind == "word" and (i + 3 >= len(toks) or toks[i + 3][0] != "open"):
                name = toks[i + 2][1] if i + 2 < len(toks) else ""
                problems.append(f"{raw}.{name}: write the reference {{{raw}:{name}}} instead" if on_demand else
                                f"{raw}.{name}: name the column alone ({name}); a filter sees only the "
                                "source's own columns")
            continue
        if kind == "word" and (after[0] in ("string", "dollar") or word in KEY_WORDS and word not in (columns or {})):
            continue  # a typed literal (date '...'), or syntax
        if kind == "word" and before[0] == "open" and i >= 2 and words[i - 2] == "extract":
            continue  # extract(epoch from ts)
        if columns is not None and word not in columns and word not in unknown:
            unknown.append(word)
    for word in unknown:
        if on_demand:
            problems.append(f"'{word}' is not SQL; write {{{word}}} for a request field, or {{view:feature}} for a "
                            "stored feature")
        else:
            problems.append(f"'{word}' is not a column of source '{source}'{did_you_mean(word, columns or {})}; "
                            f"columns: {', '.join(columns or {})}")
    return problems


def _inside(toks: list[tuple[str, str]], i: int, function: str) -> bool:
    """Whether token ``i`` is directly inside the parentheses of a call to ``function``."""
    depth = 0
    for j in range(i - 1, 0, -1):
        kind = toks[j][0]
        if kind == "close":
            depth += 1
        elif kind == "open":
            if depth == 0:
                return toks[j - 1][0] == "word" and toks[j - 1][1].lower() == function
            depth -= 1
    return False


def _clock(word: str, on_demand: bool) -> str:
    if on_demand:
        return (f"{word} reads the clock: in a training set it would be the time of training, not the spine "
                "row's; pass the time as a request field")
    return (f"{word} reads the clock: a training set evaluates the filter at each row's time and the "
            "streaming engines cannot maintain it; compare the event's own columns instead")

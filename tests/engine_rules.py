"""The engine rules of ENGINES.md, checked on rendered SQL with sqlglot.

Materialize (mz_now()): only in WHERE/HAVING; directly compared (= < <= > >=,
BETWEEN) with an expression that does not contain it; no arithmetic on it; not
in CASE, an aggregate FILTER or under OR; no now()/current_timestamp in a view.
RisingWave (now()): the same placement (WHERE/HAVING, compared, never under
OR, never in the SELECT list). PostgreSQL views read the clock only through
materializer.clock().
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

COMPARISONS = (exp.GTE, exp.LTE, exp.GT, exp.LT, exp.EQ, exp.Between)


def _is_call(node: exp.Expression, name: str) -> bool:
    if isinstance(node, exp.Anonymous):
        return node.name.lower() == name
    if name == "now":
        return isinstance(node, (exp.CurrentTimestamp,)) or (
            isinstance(node, exp.Func) and node.sql_name().lower() == "now")
    return False


def clock_violations(sql: str, dialect: str, clock: str) -> list[str]:
    """Every place where ``clock()`` is used in a way the engine rejects in a maintained view."""
    tree = sqlglot.parse_one(sql, read=dialect)
    problems: list[str] = []
    calls = [n for n in tree.walk() if _is_call(n, clock)]
    for call in calls:
        where = call.sql(dialect=dialect)
        parent = call.parent
        if not isinstance(parent, COMPARISONS):
            problems.append(f"{where} is not directly compared (parent: {type(parent).__name__})")
            continue
        others = [c for c in parent.iter_expressions() if c is not call]
        if any(any(_is_call(n, clock) for n in o.walk()) for o in others):
            problems.append(f"{parent.sql(dialect=dialect)} compares {clock}() with itself")
        node = parent.parent
        while isinstance(node, (exp.And, exp.Paren)):
            node = node.parent
        if not isinstance(node, (exp.Where, exp.Having)):
            problems.append(f"{parent.sql(dialect=dialect)} is not a top-level ANDed condition of WHERE or HAVING "
                            f"(inside {type(node).__name__})")
        elif isinstance(node.parent, exp.Filter):
            problems.append(f"{parent.sql(dialect=dialect)} is inside an aggregate FILTER")
    return problems


CLOCKS = {
    "mz_now": re.compile(r"(?<![a-z_.])mz_now\s*\("),
    "now": re.compile(r"(?<![a-z_.])(now\s*\(|current_timestamp)"),
    "materializer.clock": re.compile(r"materializer\.clock\s*\("),
}


def other_clock_calls(sql: str, allowed: str) -> list[str]:
    """Clock functions other than the engine's own (now() on Materialize, mz_now() elsewhere, ...)."""
    text = sql.lower()
    return [name for name, pattern in CLOCKS.items() if name != allowed and pattern.search(text)]

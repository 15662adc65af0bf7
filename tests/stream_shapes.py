"""Shape rules of the streaming engines, beside materializer lint's, found by review
(issue 11, "Streaming-engine correctness") and checked by code on rendered SQL:

- RisingWave runs no join without an equality condition in a streaming view: a CROSS JOIN, a comma
  join or a join `on true` is a nested-loop join ("Nested-loop joins are not supported in the
  streaming mode", risingwavelabs/risingwave e2e_test/streaming/natural_and_cross_join.slt), even
  against a VALUES list of a few rows (risingwavelabs/risingwave#22752).
- A temporal predicate reads one relation: a `now()` comparison in a SELECT that joins relations
  may read columns of two join inputs, which RisingWave pushes into the join condition and rejects
  ("optimizer has tried to separate the temporal predicate ... move it into WHERE clause?",
  src/frontend/planner_test/tests/testdata/output/predicate_pushdown.yaml). The rule here is the
  strict form the macros follow: the SELECT holding a clock comparison reads exactly one relation.
- Bounded state is `materializer lint`'s unbounded-state rule (materializer/sql/lint.py), not checked here.
- Writes of reference data: Materialize runs a transaction that is read-only or insert-only
  (doc/user/content/sql/begin.md); RisingWave has no read-write transaction, no `COPY ... FROM
  STDIN` (only `COPY (query) TO STDOUT`), and its reference table is APPEND ONLY (no DELETE or
  UPDATE) (risingwave-docs sql/commands/sql-begin.mdx, sql-copy.mdx, sql-create-table.mdx).
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
        return isinstance(node, exp.CurrentTimestamp) or (
            isinstance(node, exp.Func) and node.sql_name().lower() == "now")
    return False


def _qualifiers(node: exp.Expression) -> set[str]:
    return {c.table for c in node.find_all(exp.Column)}


def _conjuncts(node: exp.Expression | None) -> list[exp.Expression]:
    if node is None:
        return []
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def joins_without_equality(sql: str, dialect: str) -> list[str]:
    """Every join of ``sql`` that has no equality between columns of its two sides (``USING`` counts)."""
    problems = []
    for join in sqlglot.parse_one(sql, read=dialect).find_all(exp.Join):
        what = join.sql(dialect=dialect)[:120]
        if join.args.get("using"):
            continue
        equalities = [c for c in _conjuncts(join.args.get("on")) if isinstance(c, exp.EQ)
                      and _qualifiers(c.left) and _qualifiers(c.right)
                      and not (_qualifiers(c.left) & _qualifiers(c.right))]
        if not equalities:
            problems.append(f"a join without an equality condition (a nested-loop join): {what}")
    return problems


def temporal_predicates_over_joins(sql: str, dialect: str, clock: str) -> list[str]:
    """Every clock comparison in a SELECT that reads more than one relation (FROM with joins)."""
    problems = []
    for call in sqlglot.parse_one(sql, read=dialect).walk():
        if not _is_call(call, clock):
            continue
        select = call.find_ancestor(exp.Select)
        if select is None:
            continue
        sources = ([select.args["from_"].this] if select.args.get("from_") else []) + \
            [j.this for j in select.args.get("joins") or []]
        if len(sources) > 1:
            comparison = call.parent.sql(dialect=dialect) if call.parent else call.sql(dialect=dialect)
            names = ", ".join(s.alias_or_name or type(s).__name__ for s in sources)
            problems.append(f"{comparison} is in a SELECT reading {len(sources)} relations ({names})")
    return problems


_VERB = re.compile(r"^\s*(\w+)", re.IGNORECASE)


def write_problems(engine: str, transactions: list[list[str]], append_only: bool = True) -> list[str]:
    """What ``engine`` refuses in a sequence of transactions (each a list of statements; a statement run in
    autocommit is a transaction of one) that writes a table (``append_only``: RisingWave's managed tables)."""
    problems = []
    for statements in transactions:
        verbs = [(_VERB.match(s).group(1).lower(), s) for s in statements if _VERB.match(s)]
        kinds = {v for v, _ in verbs}
        writes = [s for v, s in verbs if v in ("insert", "update", "delete", "copy")]
        copies_in = [s for v, s in verbs if v == "copy" and re.search(r"\bfrom\s+stdin\b", s, re.IGNORECASE)]
        if engine == "materialize":
            if len(statements) > 1 and "select" in kinds and writes:
                problems.append("a transaction that reads and writes (Materialize: read-only or insert-only)")
            if len(statements) > 1 and kinds & {"update", "delete"}:
                problems.append("UPDATE or DELETE inside a transaction block (Materialize: insert-only)")
        if engine == "risingwave":
            if len(statements) > 1 and writes:
                problems.append("a write inside a transaction block (RisingWave: no read-write transactions)")
            if copies_in:
                problems.append("COPY ... FROM STDIN (RisingWave: only COPY (query) TO STDOUT)")
            if append_only and kinds & {"update", "delete"}:
                problems.append("UPDATE or DELETE on an APPEND ONLY table (RisingWave rejects it)")
    return problems

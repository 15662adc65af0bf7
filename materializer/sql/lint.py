"""``materializer lint``: the streaming engines' documented rules, checked by code on the rendered SQL.

Neither streaming engine runs where the SQL is written, so what each documents (or its tests show)
about the SQL it accepts is checked here on every statement ``compile`` renders and on the
statements each command sends (db/sequences.py). Each rule is a small function whose docstring
states the engine fact it enforces and its source; a finding names the object, the rule, what is
wrong and the fix, on one line.

Rules read sqlglot trees (materializer/sql/syntax.py); the ``syntax`` rule runs the engine's own
parser. The parsers are the ``lint`` extra: ``pip install "materializer[lint]"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from materializer.db.sequences import CommandRun, command_runs
from materializer.definitions.spec import ProjectSpec
from materializer.sql import vocabulary
from materializer.sql.syntax import Parsed, parse


@dataclass(frozen=True)
class Finding:
    """One problem: where, which rule, what is wrong, and the fix."""

    object: str
    rule: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.object}: {self.rule}: {self.message}; fix: {self.fix}"

    def to_dict(self) -> dict[str, str]:
        return {"object": self.object, "rule": self.rule, "message": self.message, "fix": self.fix}


@dataclass(frozen=True)
class Statement:
    """One rendered statement, or a view's bare query (a dbt model), to lint for an engine."""

    object: str
    sql: str
    #: a query the engine maintains (the body of a materialized view, or of a view on PostgreSQL)
    maintained: bool = False


@dataclass
class Context:
    """What the rules of one engine know beyond a statement: the project's append-only tables, and the
    relations that grow (events keep arriving: every source's relation and each monitor's ``__scored``
    view), named without schema, lower case."""

    engine: str
    append_only: set[str] = field(default_factory=set)
    growing: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Rule:
    name: str
    engines: tuple[str, ...]
    check: Callable[..., Iterator[tuple[str, str]]]

    @property
    def source(self) -> str:
        return (self.check.__doc__ or "").strip()


STATEMENT_RULES: list[Rule] = []
COMMAND_RULES: list[Rule] = []


def _rule(name: str, engines: tuple[str, ...], registry: list[Rule]) -> Callable:
    def register(fn: Callable) -> Callable:
        registry.append(Rule(name, engines, fn))
        return fn
    return register


def statement_rule(name: str, *engines: str) -> Callable:
    """A rule over one parsed statement: yields (what, fix)."""
    return _rule(name, engines, STATEMENT_RULES)


def command_rule(name: str, *engines: str) -> Callable:
    """A rule over the statements one command sends (db/sequences.py): yields (what, fix)."""
    return _rule(name, engines, COMMAND_RULES)


# ---------------------------------------------------------------- reading sqlglot trees


def _exp() -> Any:
    from sqlglot import exp

    return exp


def _is_clock(node: Any, engine: str) -> bool:
    exp = _exp()
    if engine == "materialize":
        return isinstance(node, exp.Anonymous) and node.name.lower() == "mz_now"
    return isinstance(node, exp.CurrentTimestamp) or (isinstance(node, exp.Anonymous) and node.name.lower() == "now")


def _clocks(tree: Any, engine: str) -> list[Any]:
    return [n for n in tree.walk() if _is_clock(n, engine)]


def _comparisons() -> tuple:
    exp = _exp()
    return (exp.GTE, exp.LTE, exp.GT, exp.LT, exp.EQ, exp.Between)


def _sql(node: Any, engine: str) -> str:
    text = " ".join(node.sql(dialect=engine, normalize_functions="lower").split())
    if engine == "risingwave":  # sqlglot writes now() as current_timestamp
        text = re.sub(r"(?i)current_timestamp(\(\))?", "now()", text)
    return text if len(text) <= 90 else text[:87] + "..."


def _temporal_comparison(call: Any) -> Any:
    """The comparison a clock call is an operand of, through arithmetic on the clock side (or None)."""
    exp = _exp()
    node = call
    while isinstance(node.parent, (exp.Add, exp.Sub, exp.Paren, exp.Anonymous, exp.DateTrunc, exp.TimestampTrunc)):
        node = node.parent
    return node.parent if isinstance(node.parent, _comparisons()) else None


def _clock_side(comparison: Any, call: Any) -> Any:
    """The operand of ``comparison`` that holds ``call``."""
    for operand in comparison.iter_expressions():
        if call is operand or call in set(operand.walk()):
            return operand
    return None


def _relation_names(select: Any) -> list[str]:
    """The aliases (or names) of the relations in a SELECT's FROM and JOINs, in order."""
    exp = _exp()
    out = []
    sources = [select.args.get("from_") or select.args.get("from")]
    sources = [s.this for s in sources if s is not None] + [j.this for j in select.args.get("joins") or []]
    for src in sources:
        if isinstance(src, exp.Expression):
            out.append((src.alias_or_name or "").lower())
    return out


def _qualifiers(node: Any) -> set[str]:
    """Table qualifiers of the columns in ``node`` ('' for an unqualified column)."""
    return {(c.table or "").lower() for c in node.find_all(_exp().Column)}


def _conjuncts(node: Any) -> list[Any]:
    exp = _exp()
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


# ---------------------------------------------------------------- rules on statements


@statement_rule("syntax", "materialize", "risingwave")
def syntax(parsed: Parsed, stmt: Statement, ctx: Context) -> Iterator[tuple[str, str]]:
    """Every statement parses with zero errors: Materialize's with sqlfluff's ``materialize`` dialect,
    RisingWave's with sqlglot's ``risingwave`` dialect (DESIGN §7); the engine clauses neither parser
    knows are handled as materializer/sql/syntax.py documents."""
    for error in parsed.errors:
        yield error, "render SQL the engine's grammar accepts (see the golden file of the macro)"


@statement_rule("clock-placement", "materialize")
def mz_clock_placement(parsed: Parsed, stmt: Statement, ctx: Context) -> Iterator[tuple[str, str]]:
    """Materialize: in a maintained query ``mz_now()`` appears only in WHERE or HAVING, as an operand of
    = < <= > >= or BETWEEN, compared with an expression that does not contain it, with no arithmetic on
    it, in a top-level ANDed condition (not under OR, not in CASE, not in an aggregate FILTER, not in the
    select list or a join condition). Source: doc/user/content/sql/functions/now_and_mz_now.md
    ("mz_now() clause") and transform-data/idiomatic-materialize-sql/mz_now.md ("Disjunctions")."""
    if not stmt.maintained or parsed.tree is None:
        return
    exp = _exp()
    for call in _clocks(parsed.tree, "materialize"):
        parent = call.parent
        if not isinstance(parent, _comparisons()):
            what = "arithmetic on mz_now()" if isinstance(parent, (exp.Add, exp.Sub, exp.Mul, exp.Div)) else \
                f"mz_now() is not compared (inside {type(parent).__name__})"
            yield (f"{what} in {_sql(parent, 'materialize')}",
                   "compare mz_now() itself, moving arithmetic to the other side: mz_now() <= ts + interval '1 hour'")
            continue
        others = [o for o in parent.iter_expressions() if o is not call]
        if any(_clocks(o, "materialize") for o in others):
            yield f"{_sql(parent, 'materialize')} compares mz_now() with itself", "compare mz_now() with a column expression"
        yield from _where_only(parent, "materialize", allow_or=False)


@statement_rule("clock-placement", "risingwave")
def rw_clock_placement(parsed: Parsed, stmt: Statement, ctx: Context) -> Iterator[tuple[str, str]]:
    """RisingWave: a temporal filter is a ``NOW()`` comparison (< > <= >= = BETWEEN) in WHERE or HAVING
    whose other side is a time expression of the columns and whose clock side is a non-decreasing
    expression with exactly one ``NOW()``; temporal filters are ANDed (one may be ORed only with
    ordinary conditions); ``now()`` is not allowed elsewhere in a materialized view (the select list).
    Source: risingwave-docs processing/sql/temporal-filters.mdx ("Syntax")."""
    if not stmt.maintained or parsed.tree is None:
        return
    for call in _clocks(parsed.tree, "risingwave"):
        comparison = _temporal_comparison(call)
        if comparison is None:
            yield (f"now() outside a temporal filter in {_sql(call.parent, 'risingwave')}",
                   "use now() only in WHERE/HAVING comparisons: ts + interval '1 hour' >= now()")
            continue
        side = _clock_side(comparison, call)
        if len(_clocks(side, "risingwave")) != 1 or side.find(_exp().Column) is not None:
            yield (f"{_sql(comparison, 'risingwave')}: the clock side must hold exactly one now() and no column",
                   "put the columns on one side and now() (+/- an interval) on the other")
        others = [o for o in comparison.iter_expressions() if o is not side]
        if any(_clocks(o, "risingwave") for o in others):
            yield f"{_sql(comparison, 'risingwave')} has now() on both sides", "compare now() with a column expression"
        yield from _where_only(comparison, "risingwave", allow_or=True)


def _where_only(comparison: Any, engine: str, allow_or: bool) -> Iterator[tuple[str, str]]:
    """The comparison is a top-level ANDed condition of WHERE/HAVING (RisingWave: or one disjunct of such
    a condition, ORed with no other temporal filter)."""
    exp = _exp()
    node = comparison
    group = None  # the OR group it is a disjunct of
    while isinstance(node.parent, (exp.Paren, exp.Or)) and (allow_or or isinstance(node.parent, exp.Paren)):
        node = node.parent
        if isinstance(node, exp.Or):
            group = node
    while isinstance(node.parent, (exp.And, exp.Paren)):
        node = node.parent
    clause = node.parent
    shown = _sql(comparison, engine)
    if not isinstance(clause, (exp.Where, exp.Having)):
        where = type(clause).__name__ if clause is not None else "the statement"
        yield (f"{shown} is not a top-level ANDed condition of WHERE or HAVING (it is under {where})",
               "make each temporal filter its own AND-ed WHERE condition; write OR as UNION ALL of filtered selects")
    elif isinstance(clause.parent, exp.Filter):
        yield f"{shown} is in an aggregate FILTER", "filter the rows in WHERE, one select per window, then join"
    if group is not None:
        temporal = [c for c in group.find_all(*_comparisons()) if _clocks(c, engine)]
        if len(temporal) > 1:
            yield f"temporal filters ORed together in {_sql(group, engine)}", "AND the temporal filters, or UNION ALL"


@statement_rule("temporal-one-relation", "risingwave")
def rw_temporal_one_relation(parsed: Parsed, stmt: Statement, ctx: Context) -> Iterator[tuple[str, str]]:
    """RisingWave: the column side of a temporal filter reads one relation. A ``now()`` comparison
    over columns of two join inputs is pushed into the join condition and rejected ("optimizer has
    tried to separate the temporal predicate ... move it into WHERE clause?"): RisingWave planner
    tests ``predicate_pushdown.yaml``; docs processing/sql/temporal-filters.mdx ("a time expression of
    the columns in the base relation"). Materialize documents no such limit (mz_now() is compared with
    any expression not containing it: now_and_mz_now.md), so this is RisingWave's rule."""
    if not stmt.maintained or parsed.tree is None:
        return
    exp = _exp()
    for call in _clocks(parsed.tree, "risingwave"):
        comparison = _temporal_comparison(call)
        select = call.find_ancestor(exp.Select)
        if comparison is None or select is None or len(_relation_names(select)) < 2:
            continue
        side = _clock_side(comparison, call)
        read = sorted(q for o in comparison.iter_expressions() if o is not side for q in _qualifiers(o) if q)
        if len(set(read)) > 1:
            relations = " and ".join(sorted(set(read)))
            yield (f"{_sql(comparison, 'risingwave')} reads columns of {relations}, two join inputs",
                   "filter each input on its own columns before the join (a CTE per input), then join")


@statement_rule("nested-loop-join", "risingwave")
def rw_nested_loop_join(parsed: Parsed, stmt: Statement, ctx: Context) -> Iterator[tuple[str, str]]:
    """RisingWave: a streaming join needs an equality condition between its inputs; a CROSS JOIN (or a
    comma join, or ON without an equality), even against a few VALUES rows, is a nested-loop join,
    which materialized views reject ("Nested-loop joins are not supported in the streaming mode"):
    e2e_test ``natural_and_cross_join.slt``, risingwavelabs/risingwave#22752; docs
    processing/sql/joins.mdx (every streaming join kind names an equality condition)."""
    if not stmt.maintained or parsed.tree is None:
        return
    exp = _exp()
    for select in parsed.tree.find_all(exp.Select):
        names = _relation_names(select)
        for i, join in enumerate(select.args.get("joins") or [], start=1):
            if isinstance(join.this, (exp.Lateral, exp.Unnest, exp.Func)):
                continue  # a lateral subquery or a table function: not a join of two inputs
            right = names[i]
            left = set(names[:i])
            if join.args.get("using") or _has_equi(join.args.get("on"), left, right):
                continue
            kind = "cross join" if (join.args.get("kind") or "").upper() == "CROSS" or not join.args.get("on") \
                else "join without an equality condition"
            yield (f"{kind} with {_sql(join.this, 'risingwave')} is a nested-loop join",
                   "fan out with UNION ALL of one filtered select per case, or join on an equality of both inputs")


def _has_equi(on: Any, left: set[str], right: str) -> bool:
    exp = _exp()
    if on is None:
        return False
    for cond in _conjuncts(on):
        if not isinstance(cond, exp.EQ):
            continue
        a, b = _qualifiers(cond.this), _qualifiers(cond.expression)
        if not a or not b:
            continue
        a_right, b_right = a <= {right, ""}, b <= {right, ""}
        a_left, b_left = bool(a & (left | {""})), bool(b & (left | {""}))
        if (a_right and b_left) or (b_right and a_left):
            return True
    return False


@statement_rule("unbounded-state", "materialize", "risingwave")
def unbounded_state(parsed: Parsed, stmt: Statement, ctx: Context) -> Iterator[tuple[str, str]]:
    """A maintained view keeps, as engine state, every row of a growing relation (a source, a
    monitor's ``__scored`` view) that passes its WHERE: only a lower bound on the rows' time, a
    temporal filter the clock eventually makes false (``ts + interval '7 days' >= mz_now()``,
    ``mz_now() <= ts + w``, ``ts > now() - w``, a BETWEEN holding either), lets the engine drop a row
    again. An upper bound alone (``mz_now() >= ts``, ``ts <= now()``) only delays a row, which then
    stays forever. Materialize: doc/user/content/transform-data/patterns/temporal-filters.md ("records
    for which the condition is no longer true are retracted from the working dataset"); RisingWave:
    risingwave-docs processing/sql/temporal-filters.mdx ("Records that fall out of the time range
    defined by the temporal filter are deleted from storage"; ``t <= NOW() - INTERVAL '1 hour'``
    only delays event handling). Each SELECT reading a growing relation (directly, or through a CTE
    that only projects one) needs such a bound on that relation's columns among the ANDed conditions
    of its WHERE (HAVING filters groups, not the rows an aggregation keeps)."""
    if not stmt.maintained or parsed.tree is None or not ctx.growing:
        return
    exp = _exp()
    clock = "mz_now()" if ctx.engine == "materialize" else "now()"
    growing = {_base_name(r) for r in ctx.growing}
    ctes = {(c.alias or "").lower(): c.this for c in parsed.tree.find_all(exp.CTE)}
    transparent: set[str] = set()  # CTEs that only project a growing relation: growing too
    while True:
        more = {name for name, q in ctes.items()
                if name not in transparent and _plain_projection(q, (growing - set(ctes)) | transparent)}
        if not more:
            break
        transparent |= more
    for select in parsed.tree.find_all(exp.Select):
        if isinstance(select.parent, exp.CTE) and (select.parent.alias or "").lower() in transparent:
            continue
        where = select.args.get("where")
        conditions = _conjuncts(where.this) if where is not None else []
        temporal = [c for c in conditions if isinstance(c, _comparisons()) and _clocks(c, ctx.engine)]
        for alias, name in _table_reads(select):
            if name not in ((growing - set(ctes)) | transparent):
                continue
            mine = [c for c in temporal if _reads(c, alias, ctx.engine)]
            if any(_lower_bound(c, ctx.engine) for c in mine):
                continue
            shown = f"{name} as {alias}" if alias != name else name
            bounds = "; ".join(_sql(c, ctx.engine) for c in mine) or "no temporal filter"
            ts = _time_expression(mine, ctx.engine) or f"{alias}.<time>"
            what = (f"a SELECT reading {shown}, a growing relation, has no lower bound on {clock} in its WHERE "
                    f"({bounds}): the view keeps every row it ever saw as state")
            yield what, f"add a lower bound: {ts} + interval '<retention>' >= {clock}; see the view's retention"


def _base_name(relation: str) -> str:
    """A relation's name without schema or quotes, lower case."""
    return relation.rsplit(".", 1)[-1].strip('"').lower()


def _table_reads(select: Any) -> list[tuple[str, str]]:
    """(alias, name) of the tables (not subqueries) in a SELECT's FROM and JOINs, lower case."""
    exp = _exp()
    sources = [select.args.get("from_") or select.args.get("from")]
    sources = [s.this for s in sources if s is not None] + [j.this for j in select.args.get("joins") or []]
    return [((t.alias_or_name or t.name).lower(), t.name.lower()) for t in sources if isinstance(t, exp.Table)]


def _plain_projection(query: Any, growing: set[str]) -> bool:
    """A SELECT that only projects one growing relation (no filter, grouping, distinct or join)."""
    exp = _exp()
    reads = _table_reads(query) if isinstance(query, exp.Select) else []
    return len(reads) == 1 and reads[0][1] in growing and not query.args.get("joins") and not any(
        query.args.get(k) for k in ("where", "group", "distinct", "having"))


def _reads(comparison: Any, alias: str, engine: str) -> bool:
    """The column side of a temporal comparison reads the relation ``alias`` (or unqualified columns)."""
    qualifiers = {q for o in comparison.iter_expressions() if not _clocks(o, engine) for q in _qualifiers(o)}
    if isinstance(comparison, _exp().Between):
        qualifiers = _qualifiers(comparison)
    return alias in qualifiers or "" in qualifiers


def _lower_bound(comparison: Any, engine: str) -> bool:
    """A temporal filter the advancing clock makes false for good: ``expr >= clock``, ``clock <= expr``
    (strict too), ``clock = expr``, ``clock BETWEEN a AND b`` and ``expr BETWEEN clock - w AND ...``."""
    exp = _exp()
    if isinstance(comparison, exp.Between):
        return bool(_clocks(comparison.this, engine) or _clocks(comparison.args["low"], engine))
    clock_left = bool(_clocks(comparison.this, engine))
    if isinstance(comparison, exp.EQ):
        return True
    if isinstance(comparison, (exp.GTE, exp.GT)):
        return not clock_left
    return clock_left  # LTE, LT


def _time_expression(comparisons: list[Any], engine: str) -> str | None:
    """The column side of the first temporal comparison (the rows' time), to write the fix with."""
    exp = _exp()
    for c in comparisons:
        if isinstance(c, exp.Between):
            continue
        for operand in c.iter_expressions():
            if not _clocks(operand, engine):
                return _sql(operand, engine)
    return None


_UNMATERIALIZABLE = {"current_timestamp", "now", "mz_logical_timestamp", "mz_cluster_id", "mz_uptime",
                     "mz_version", "mz_version_num", "current_database", "current_role", "current_user",
                     "session_user", "current_schema", "current_schemas", "pg_backend_pid"}


def _function_names(tree: Any, engine: str) -> Iterator[str]:
    """The functions a tree calls, named as sqlglot writes them for the engine."""
    exp = _exp()
    for node in tree.walk():
        if isinstance(node, exp.Anonymous):
            yield node.name.lower()
        elif isinstance(node, exp.CurrentTimestamp):
            yield "now" if engine == "risingwave" else "current_timestamp"
        elif isinstance(node, exp.Func) and not isinstance(node, (exp.Binary, exp.Connector)):
            m = re.match(r"([a-z_][a-z0-9_]*)\(", node.sql(dialect=engine).lower())
            if m:
                yield m.group(1)


@statement_rule("unmaterializable", "materialize")
def mz_unmaterializable(parsed: Parsed, stmt: Statement, ctx: Context) -> Iterator[tuple[str, str]]:
    """Materialize: a materialized view cannot call now(), current_timestamp or the other functions the
    docs mark ``unmaterializable`` ("cannot materialize call to current_timestamp"): source
    doc/user/data/sql_funcs.yml (``unmaterializable: true``), now_and_mz_now.md."""
    if not stmt.maintained or parsed.tree is None:
        return
    for name in sorted(set(_function_names(parsed.tree, "materialize")) & _UNMATERIALIZABLE):
        shown = "now() or current_timestamp" if name == "current_timestamp" else f"{name}()"
        yield f"{shown} cannot be materialized", "read the clock with mz_now() in a temporal filter"


@statement_rule("documented-function", "materialize", "risingwave")
def documented_function(parsed: Parsed, stmt: Statement, ctx: Context) -> Iterator[tuple[str, str]]:
    """Every function called is on a page of the engine's function reference (the allow-lists of
    materializer/sql/vocabulary.py, one set per cited page): Materialize
    doc/user/data/sql_funcs.yml, RisingWave risingwave-docs sql/functions/*.mdx."""
    if parsed.tree is None:
        return
    for name in sorted(set(_function_names(parsed.tree, ctx.engine))):
        if vocabulary.documented_function(ctx.engine, name) is None:
            yield (f"{name}() is not in {vocabulary.PAGES[ctx.engine]}",
                   "use a documented function, or cite its page in materializer/sql/vocabulary.py")


def _type_names(tree: Any, engine: str) -> Iterator[tuple[str, str]]:
    """(name without modifiers, as written by sqlglot) of every type a tree names."""
    exp = _exp()
    for node in tree.find_all(exp.DataType):
        written = node.sql(dialect=engine).lower()
        base = re.sub(r"\s*\(.*\)$", "", written).replace("[]", "").strip()
        yield base, written


@statement_rule("documented-type", "materialize", "risingwave")
def documented_type(parsed: Parsed, stmt: Statement, ctx: Context) -> Iterator[tuple[str, str]]:
    """Every type named is in the engine's type reference: Materialize doc/user/content/sql/types/
    (_index.md, timestamp.md, text.md, uuid.md, mz_timestamp.md); RisingWave risingwave-docs
    sql/data-types/overview.mdx, which also says numeric and varchar take no precision, scale or
    length ("We do not support specifying precision and scale as of now")."""
    if parsed.tree is None:
        return
    for base, written in sorted(set(_type_names(parsed.tree, ctx.engine))):
        if vocabulary.documented_type(ctx.engine, base) is None:
            yield f"type {written} is not in {vocabulary.TYPE_PAGES[ctx.engine]}", "use a documented type"
        elif ctx.engine == "risingwave" and "(" in written and base in ("decimal", "numeric", "varchar",
                                                                          "character varying"):
            yield f"type {written}: RisingWave takes no precision, scale or length", f"write {base}"


def _command(sql: str) -> tuple[str, str | None]:
    """(kind, the table written) of a statement: read, insert, copy-from, copy-to, delete, update, ddl,
    set, other. Classified by its leading words (the text of a command's statement, see
    db/sequences.py)."""
    text = " ".join(re.sub(r"--[^\n]*", "", sql).split()).lower()
    m = re.match(r"(insert into|delete from|update|copy)\s+(\(|[\w.\"]+)", text)
    if text.startswith(("select", "with", "show", "values", "fetch", "declare", "subscribe")):
        return "read", None
    if m and m.group(1) == "copy":
        if " from stdin" in text or re.search(r"\bfrom\s+'", text):
            return "copy-from", m.group(2)
        return ("copy-to" if m.group(2) == "(" else "copy-table-to"), None
    if m:
        return {"insert into": "insert", "delete from": "delete", "update": "update"}[m.group(1)], m.group(2)
    if text.startswith(("create", "alter", "drop", "comment", "grant", "revoke")):
        return "ddl", None
    if text.startswith(("set", "reset")):
        return "set", None
    return "other", None


@statement_rule("append-only-write", "risingwave")
def rw_append_only_statement(parsed: Parsed, stmt: Statement, ctx: Context) -> Iterator[tuple[str, str]]:
    """RisingWave: UPDATE and DELETE are not valid on a table created APPEND ONLY: risingwave-docs
    sql/commands/sql-create-table.mdx ("Append only")."""
    yield from _append_only(stmt.sql, ctx)


def _append_only(sql: str, ctx: Context) -> Iterator[tuple[str, str]]:
    kind, table = _command(sql)
    if kind in ("delete", "update") and table and table.strip('"') in ctx.append_only:
        yield (f"{kind.upper()} on {table}, an append-only table",
               "keep versions instead: insert the new rows with a version and read the newest")


@statement_rule("copy", "risingwave")
def rw_copy_statement(parsed: Parsed, stmt: Statement, ctx: Context) -> Iterator[tuple[str, str]]:
    """RisingWave's COPY accepts only ``COPY ( query ) TO STDOUT``: risingwave-docs sql/commands/sql-copy.mdx."""
    yield from _copy(stmt.sql)


def _copy(sql: str) -> Iterator[tuple[str, str]]:
    kind, table = _command(sql)
    if kind == "copy-from":
        yield f"COPY {table} FROM STDIN", "load rows with INSERT ... VALUES (then FLUSH), as push does"
    elif kind == "copy-table-to":
        yield "COPY table TO STDOUT", "write COPY (select ...) TO STDOUT"


@statement_rule("postgres-clock", "postgres")
def pg_clock(parsed: Parsed, stmt: Statement, ctx: Context) -> Iterator[tuple[str, str]]:
    """PostgreSQL views read the clock only through ``materializer.clock()``, the one function
    ``--as-of`` pins with a session setting (DESIGN §6); now(), current_timestamp or mz_now() in a view
    would ignore it. Source: the clock_function macro (sql_macros/macros/clock_function.sql)."""
    if not stmt.maintained:
        return
    body = (parsed.body or stmt.sql).lower()
    for name, pattern in (("now()", r"(?<![\w.])now\s*\("), ("current_timestamp", r"(?<![\w.])current_timestamp\b"),
                          ("mz_now()", r"(?<![\w.])mz_now\s*\(")):
        if re.search(pattern, body):
            yield f"the view reads {name}", "read the clock with materializer.clock()"


# ---------------------------------------------------------------- rules on commands


@command_rule("transaction-class", "materialize")
def mz_transaction_class(run: CommandRun, ctx: Context) -> Iterator[tuple[str, str]]:
    """Materialize: a transaction block is read-only (SELECT, SUBSCRIBE, COPY TO), write-only (INSERT
    and COPY FROM into one table) or DDL-only, set by its first statement; a SELECT then a DELETE in
    one block fails, and DELETE/UPDATE are in none of the classes, so they join no multi-statement
    block. Source: doc/user/content/sql/begin.md ("Details": read-only, write-only (insert-only),
    DDL-only transactions)."""
    classes = {"read": "read-only", "copy-to": "read-only", "copy-table-to": "read-only", "insert": "insert-only",
               "copy-from": "insert-only", "ddl": "DDL-only"}
    for unit in run.units:
        if not unit.block or len(unit.statements) < 2:
            continue
        kinds = [_command(s) for s in unit.statements]
        first = classes.get(kinds[0][0])
        tables = {t for k, t in kinds if classes.get(k) == "insert-only"}
        for (kind, table), sql in zip(kinds, unit.statements):
            cls = classes.get(kind)
            if cls != first or kind in ("delete", "update"):
                what = kind.upper().replace("-", " ") + (f" {table}" if table else "")
                yield (f"{what} in a {first or kinds[0][0]} transaction ({_short(unit.statements)})",
                       ("split the block: reads in one transaction, then the writes as insert-only (append-only "
                        "versions instead of DELETE)"))
                break
        else:
            if first == "insert-only" and len(tables) > 1:
                yield (f"an insert-only transaction writes {', '.join(sorted(tables))}",
                       "one table per insert-only transaction")


_RENAME_OR_SWAP = re.compile(r"^alter\s+[a-z ]+?\s+[\w.\"]+\s+(rename\s+to|swap\s+with)\s+[\w\"]+$")


@command_rule("ddl-transaction", "materialize")
def mz_ddl_transaction(run: CommandRun, ctx: Context) -> Iterator[tuple[str, str]]:
    """Materialize: the only DDL statements a transaction block may hold together are ``ALTER ... RENAME
    TO`` and ``ALTER ... SWAP WITH`` (a DDL transaction, committed atomically at COMMIT); CREATE, DROP
    and the other ALTERs run alone (``BEGIN; <one statement>; COMMIT`` at most), else "... cannot be run
    inside a transaction block". Source: MaterializeInc/materialize src/adapter/src/coord/
    command_handler.rs (``handle_execute_inner``: AlterObjectRename and AlterObjectSwap open a DDL
    transaction, the other DDL statements "must be run singly"); dbt-materialize's deploy_promote
    sends its ALTER ... SWAP statements as one block."""
    for unit in run.units:
        if not unit.block or len(unit.statements) < 2:
            continue
        for sql in unit.statements:
            text = " ".join(re.sub(r"--[^\n]*", "", sql).split()).lower().rstrip(";")
            if _command(sql)[0] == "ddl" and not _RENAME_OR_SWAP.match(text):
                yield (f"{text[:60]} in a transaction block with other statements",
                       "run it alone (autocommit); only ALTER ... RENAME TO and ALTER ... SWAP WITH go together")
                break


def _short(statements: Iterable[str]) -> str:
    return " -> ".join(_command(s)[0].upper().replace("-", " ") for s in statements)


@command_rule("write-transaction", "risingwave")
def rw_write_transaction(run: CommandRun, ctx: Context) -> Iterator[tuple[str, str]]:
    """RisingWave has no read-write transactions: ``BEGIN`` succeeds but starts none, so the block's
    writes are not all-or-nothing (only ``BEGIN READ ONLY`` is a transaction). Source: risingwave-docs
    sql/commands/sql-begin.mdx, processing/transactions.mdx."""
    for unit in run.units:
        writes = [k for k, _ in map(_command, unit.statements) if k not in ("read", "copy-to", "set")]
        if unit.block and writes:
            yield (f"a transaction block with writes ({_short(unit.statements)}) is not atomic on RisingWave",
                   "make each write safe on its own (append-only versions), reads in BEGIN READ ONLY")


@command_rule("append-only-write", "risingwave")
def rw_append_only_command(run: CommandRun, ctx: Context) -> Iterator[tuple[str, str]]:
    """RisingWave: UPDATE and DELETE are not valid on a table created APPEND ONLY: risingwave-docs
    sql/commands/sql-create-table.mdx ("Append only")."""
    for unit in run.units:
        for sql in unit.statements:
            yield from _append_only(sql, ctx)


@command_rule("copy", "risingwave")
def rw_copy_command(run: CommandRun, ctx: Context) -> Iterator[tuple[str, str]]:
    """RisingWave's COPY accepts only ``COPY ( query ) TO STDOUT``: risingwave-docs sql/commands/sql-copy.mdx."""
    for unit in run.units:
        for sql in unit.statements:
            yield from _copy(sql)


# ---------------------------------------------------------------- running the rules


_CREATED = re.compile(r"^\s*create\s+(?:table|source)\s+(?:if\s+not\s+exists\s+)?(?P<name>[\w.\"]+)",
                      re.IGNORECASE)


def lint(statements: Iterable[Statement], engine: str, commands: Iterable[CommandRun] = (),
         check_syntax: bool = True, growing: Iterable[str] = (), created_grow: bool = True) -> list[Finding]:
    """Every finding of ``engine``'s rules on ``statements`` and on the ``commands`` runs.

    ``growing``: the relations whose rows keep arriving (the ``unbounded-state`` rule); with
    ``created_grow`` (statements linted without a project) every table or source a ``create table`` or
    ``create source`` statement of this run creates is one too. ``lint_project`` names them exactly."""
    statements = list(statements)
    parsed = [(s, parse(s.sql, engine, check=check_syntax)) for s in statements]
    grows = {_base_name(r) for r in growing}
    if created_grow:
        grows |= {_base_name(m.group("name")) for s in statements if (m := _CREATED.match(s.sql))}
    ctx = Context(engine, {p.append_only.strip('"') for _, p in parsed if p.append_only}, grows)
    findings: list[Finding] = []
    for stmt, p in parsed:
        for rule in STATEMENT_RULES:
            if engine in rule.engines:
                findings += [Finding(stmt.object, rule.name, what, fix) for what, fix in rule.check(p, stmt, ctx)]
    for run in commands:
        for rule in COMMAND_RULES:
            if engine in rule.engines:
                findings += [Finding(run.command, rule.name, what, fix) for what, fix in rule.check(run, ctx)]
    return list(dict.fromkeys(findings))


def project_statements(spec: ProjectSpec, engine: str) -> list[Statement]:
    """The statements ``materializer compile --engine ENGINE`` prints, views marked as maintained."""
    from materializer.sql.compile import compile_project

    return [Statement(o.name, o.sql, maintained=o.kind == "view") for o in compile_project(spec, engine)]


def serve_statements(spec: ProjectSpec, engine: str) -> list[Statement]:
    """The statements ``serve`` sends to follow the monitors' changes (``SUBSCRIBE``, ``CREATE SUBSCRIPTION``,
    ``DECLARE``, ``FETCH``: serve/changes.py), each parsed like a rendered statement."""
    from materializer.db.sequences import serve_runs
    from materializer.engines import get_engine

    setup = set(get_engine(engine).session_setup(spec.serving_cluster))  # the session settings every connection sends
    return [Statement(f"serve:{run.command.removeprefix('serve (stream of ').rstrip(')')}", sql)
            for run in serve_runs(spec, engine) for unit in run.units for sql in unit.statements if sql not in setup]


def lint_project(spec: ProjectSpec, engine: str | None = None) -> list[Finding]:
    """Lint a project's rendered statements, the statements serve's change feeds send, and the statements its
    commands send, for ``engine`` (default: the project's)."""
    engine = engine or spec.engine
    runs = command_runs(spec, engine)
    return lint(project_statements(spec, engine) + serve_statements(spec, engine) + replace_statements(runs),
                engine, runs, growing=growing_relations(spec), created_grow=False)


def replace_statements(runs: Iterable[CommandRun]) -> list[Statement]:
    """The DDL of the modeled replacements (db/swap.py: the ``__next`` views and indexes, the renames, the
    drops), to parse like the compiled statements; the new views' queries are maintained queries."""
    out: dict[str, Statement] = {}
    for run in runs:
        if not run.command.startswith("apply ("):
            continue
        for unit in run.units:
            for sql in unit.statements:
                if _command(sql)[0] == "ddl" and sql not in out:
                    view = re.match(r"create materialized view (\S+)", sql)
                    out[sql] = Statement(f"{run.command}: {view.group(1) if view else sql.split()[0]}", sql,
                                         maintained=view is not None)
    return list(out.values())


def growing_relations(spec: ProjectSpec) -> set[str]:
    """The relations of a project whose rows keep arriving: every source's relation and each monitor's
    scored view (its own, or the dbt model it is served from). Reference tables are not among them:
    they grow only by ``materializer reference``, a version at a time, which no clock bounds."""
    return {s.relation for s in spec.sources.values()} | {m.relation("scored") for m in spec.monitors.values()}


def rules(engine: str | None = None) -> list[Rule]:
    """The rules (of one engine), statement rules first."""
    return [r for r in STATEMENT_RULES + COMMAND_RULES if engine is None or engine in r.engines]

"""Plan and apply: create what is new, replace what changed, never drop data.

The plan compares the project's compiled objects with the database (its
catalog and the ``materializer.applied`` bookkeeping table):

- managed tables are created when missing and gain new columns with
  ``alter table add column``; a table that holds rows is never dropped or
  rewritten unless ``allow_drop_data`` (``--drop-data``) says so;
- row checks (PostgreSQL CHECK constraints, see definitions/row_checks.py) are
  added ``NOT VALID`` and then validated; on a table whose stored rows break
  one, the rows are kept, the check holds for new rows, and the plan says how
  many rows break it;
- views are created when missing and replaced when their SQL changed;
- objects that apply created earlier and the project no longer declares are
  dropped (views, indexes, and empty tables);
- external relations (``relation:``) are never created, altered or dropped.

On PostgreSQL the whole plan runs in one transaction: all of it or none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg

from materializer.errors import DatabaseError, MaterializerError
from materializer.sql.compile import DbObject, compile_project, maintenance_drop, maintenance_tables

if TYPE_CHECKING:
    from materializer.project import Project

STATE_TABLE = "materializer.applied"
STATE_DDL = (
    "create schema if not exists materializer",
    f"create table if not exists {STATE_TABLE} (name text not null, kind text not null, sql text not null)",
)
DROP_FLAG = "--drop-data"


@dataclass
class Action:
    """One step of a plan."""

    verb: str  # create | replace | alter | drop
    kind: str
    name: str
    statements: list[str]
    reason: str = ""
    obj: DbObject | None = None
    #: tried when ``statements`` fail (in a savepoint): e.g. drop + create when `create or replace` cannot
    fallback: list[str] = field(default_factory=list)

    def describe(self) -> str:
        sign = {"create": "+", "replace": "~", "alter": "~", "drop": "-"}[self.verb]
        why = f" ({self.reason})" if self.reason else ""
        return f"{sign} {self.verb} {self.kind.replace('_', ' ')} {self.name}{why}"


@dataclass
class Plan:
    """What apply does: the actions, and how many objects are already up to date."""

    actions: list[Action] = field(default_factory=list)
    unchanged: int = 0
    applied: bool = False
    #: run before the actions: drops of views rebuilt with the views they read (dependents first)
    prelude: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.actions

    def summary(self) -> str:
        if self.empty:
            return f"Nothing to do: {self.unchanged} objects are up to date."
        lines = [a.describe() for a in self.actions]
        done = "Applied" if self.applied else "Would apply"
        counts = f"{done} {len(self.actions)} changes; {self.unchanged} objects unchanged."
        return "\n".join([*lines, counts])

    def sql(self) -> str:
        statements = [*self.prelude, *(s for a in self.actions for s in a.statements)]
        return "\n\n".join(s.rstrip(";") + ";" for s in statements)


def _split(relation: str) -> tuple[str | None, str]:
    schema, _, name = relation.rpartition(".")
    return (schema or None), name


def _relation_info(conn: psycopg.Connection, relation: str) -> tuple[str, dict[str, str]] | None:
    """(kind, {column: type}) of a relation in the current schema (or its own), or None if missing."""
    schema, name = _split(relation)
    row = conn.execute(
        "select table_type from information_schema.tables "
        "where table_schema = coalesce(%s, current_schema()) and table_name = %s",
        [schema, name],
    ).fetchone()
    if row is None:
        return None
    cols = conn.execute(
        "select column_name, data_type, numeric_precision, numeric_scale from information_schema.columns "
        "where table_schema = coalesce(%s, current_schema()) and table_name = %s order by ordinal_position",
        [schema, name],
    ).fetchall()
    types = {}
    for col, dtype, precision, scale in cols:
        if dtype == "timestamp with time zone":
            dtype = "timestamptz"
        elif dtype == "timestamp without time zone":
            dtype = "timestamp"
        elif dtype == "character varying":
            dtype = "text"
        elif dtype == "numeric" and precision is not None:
            dtype = f"numeric({precision},{scale or 0})"
        types[col] = dtype
    kind = "table" if row[0] == "BASE TABLE" else "view"
    return kind, types


def _has_rows(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute(f"select exists (select 1 from {relation})").fetchone()[0]  # relation: validated identifier


def _state(conn: psycopg.Connection) -> dict[str, tuple[str, str]]:
    if _relation_info(conn, STATE_TABLE) is None:
        return {}
    return {name: (kind, sql) for name, kind, sql in conn.execute(f"select name, kind, sql from {STATE_TABLE}")}


def _index_exists(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute(
        "select exists (select 1 from pg_indexes where indexname = %s and schemaname = current_schema())", [name]
    ).fetchone()[0]


def _check_exists(conn: psycopg.Connection, table: str, name: str) -> bool:
    return conn.execute(
        "select exists (select 1 from pg_constraint where conrelid = to_regclass(%s) and conname = %s "
        "and contype = 'c')", [table, name],
    ).fetchone()[0]


def _check_action(conn: psycopg.Connection, obj: DbObject, state: dict[str, tuple[str, str]],
                  new_tables: set[str]) -> Action | None:
    """Adding a row check: NOT VALID, then validated unless stored rows break it (they are kept)."""
    assert obj.check is not None
    table, column, condition = obj.check
    validate = f"alter table {table} validate constraint {obj.name}"
    if table in new_tables:
        return Action("create", "check", obj.name, [obj.sql, validate], obj=obj)
    exists = _check_exists(conn, table, obj.name)
    if exists and state.get(obj.name, (None, None))[1] == obj.sql:
        return None
    verb = "replace" if exists else "create"
    info = _relation_info(conn, table)
    if info is not None and column in info[1]:
        broken = conn.execute(f"select count(*) from {table} where not ({condition})").fetchone()[0]
    else:  # a column this plan adds: null in every stored row, which only the event time refuses
        broken = conn.execute(f"select count(*) from {table}").fetchone()[0] if condition.endswith(
            " is not null") else 0
    if broken:
        rows = f"{broken} stored row{'s' if broken != 1 else ''} break{'s' if broken == 1 else ''} it"
        return Action(verb, "check", obj.name, [obj.sql],
                      reason=f"{rows}: kept as they are, the check holds for new rows", obj=obj)
    # a row written since the count would fail the validation: then the check holds for new rows only
    return Action(verb, "check", obj.name, [obj.sql, validate], obj=obj, fallback=[obj.sql])


_CHECK_TABLE = re.compile(r"alter table (\S+)\s")


_READERS_FIRST = ("__versions", "__metrics", "__timeseries", "__drift", "__scored")


def _drop_rank(name: str) -> int:
    """Drop order of objects no longer declared: views that read other views first."""
    for rank, suffix in enumerate(_READERS_FIRST):
        if name.endswith(suffix):
            return rank
    return len(_READERS_FIRST)


def plan(project: "Project", allow_drop_data: bool = False) -> Plan:
    """Compare the project with the database and list the actions apply would take."""
    conn = project.db.conn
    engine = project.db.engine
    desired = compile_project(project.spec)
    state = _state(conn)
    result = Plan()
    recreated_sources: set[str] = set()
    drops: list[Action] = []
    table_actions: list[Action] = []
    later: list[Action] = []
    setup: list[Action] = []
    rebuilt: set[str] = set()

    for obj in desired:
        if obj.kind in ("schema", "function"):
            if state.get(obj.name, (None, None))[1] != obj.sql:
                setup.append(Action("create" if obj.name not in state else "replace", obj.kind, obj.name,
                                       [obj.sql], obj=obj))
            else:
                result.unchanged += 1
            continue
        if obj.kind == "table":
            info = _relation_info(conn, obj.name)
            if info is None:
                table_actions.append(Action("create", "table", obj.name, [obj.sql], obj=obj))
                continue
            kind, existing = info
            if kind != "table":
                raise MaterializerError(
                    f"'{obj.name}' exists in the database as a {kind}, not a table; rename the source "
                    f"or declare it with `relation: {obj.name}` to use it as an external source")
            wanted = dict(obj.columns)
            added = [c for c in wanted if c not in existing]
            changed = [c for c in wanted if c in existing and existing[c] != wanted[c]]
            if changed:
                detail = ", ".join(f"{c} is {existing[c]} in the database but {wanted[c]} in the project"
                                   for c in changed)
                if _has_rows(conn, obj.name) and not allow_drop_data:
                    raise MaterializerError(
                        f"table {obj.name} holds rows and its columns changed ({detail}); materializer never "
                        f"rewrites a table that holds data. Change the project back, migrate the table by hand, "
                        f"or rerun with {DROP_FLAG} to drop it and lose its rows")
                if obj.source:
                    recreated_sources.add(obj.source)
                table_actions.append(Action("replace", "table", obj.name,
                                            [f"drop table {obj.name} cascade", obj.sql],
                                            reason=f"columns changed: {detail}", obj=obj))
                continue
            if added:
                stmts = [f"alter table {obj.name} add column {c} {wanted[c]}" for c in added]
                table_actions.append(Action("alter", "table", obj.name, stmts,
                                            reason=f"new columns: {', '.join(added)}", obj=obj))
            elif state.get(obj.name, (None, None))[1] != obj.sql:
                # adopted: the table exists with the right columns but apply did not record it
                table_actions.append(Action("alter", "table", obj.name, [], reason="recorded", obj=obj))
            else:
                result.unchanged += 1
            continue
        if obj.kind == "maintenance":
            # derived tables, functions and triggers: rebuilt from the sources whenever they change
            state_table = maintenance_tables(obj.name.removesuffix("__maintenance"))[0]
            exists = obj.name in state and _relation_info(conn, state_table) is not None
            recreated = [s for s in obj.sources if s in recreated_sources]
            if not exists or recreated or state[obj.name][1] != obj.sql:
                reason = ("its source was recreated" if recreated else "definition changed") if exists else ""
                later.append(Action("replace" if exists else "create", "maintenance", obj.name, [obj.sql],
                                    reason=reason, obj=obj))
                rebuilt.add(obj.name)
            else:
                result.unchanged += 1
            continue
        if obj.kind == "check":
            new_tables = {a.name for a in table_actions if a.verb in ("create", "replace")}
            action = _check_action(conn, obj, state, new_tables)
            if action is None:
                result.unchanged += 1
            else:
                later.append(action)
            continue
        if obj.kind in ("index", "view_index"):
            exists = _index_exists(conn, obj.name) if not engine.materialized or obj.kind == "index" else (
                obj.name in state)
            if obj.source in recreated_sources or not exists or state.get(obj.name, (None, None))[1] != obj.sql:
                later.append(Action("create", obj.kind, obj.name, [obj.sql], obj=obj))
            else:
                result.unchanged += 1
            continue
        if obj.kind == "view":
            info = _relation_info(conn, obj.name)
            if info is not None and info[0] == "table":
                raise MaterializerError(
                    f"'{obj.name}' exists in the database as a table; a feature view cannot replace it. "
                    "Rename the feature view")
            exists = info is not None or (engine.materialized and obj.name in state)
            changed = state.get(obj.name, (None, None))[1] != obj.sql
            rebuilt_inputs = [d for d in obj.depends_on if d in rebuilt]
            has_dependents = any(obj.name in o.depends_on for o in desired)
            if not exists:
                later.append(Action("create", "view", obj.name, [obj.sql], obj=obj))
                rebuilt.add(obj.name)
            elif obj.source in recreated_sources:
                later.append(Action("create", "view", obj.name, [obj.sql], reason="its source was recreated",
                                    obj=obj))
                rebuilt.add(obj.name)
            elif rebuilt_inputs or (changed and has_dependents):
                # views that read each other are dropped (readers first) and created again in order
                result.prelude.insert(0, engine.drop_view(obj.name))
                reason = f"{rebuilt_inputs[0]} is rebuilt" if rebuilt_inputs else "definition changed"
                later.append(Action("replace", "view", obj.name, [obj.sql], reason=reason, obj=obj))
                rebuilt.add(obj.name)
            elif changed:
                drop_create = [engine.drop_view(obj.name), obj.sql]
                replace = engine.replace_view(obj.sql)
                later.append(Action("replace", "view", obj.name, [replace] if replace else drop_create,
                                    reason="definition changed", obj=obj, fallback=drop_create if replace else []))
            else:
                result.unchanged += 1

    wanted_names = {o.name for o in desired}
    for name, (kind, _sql) in sorted(state.items(), key=lambda item: _drop_rank(item[0])):
        if name in wanted_names:
            continue
        if kind == "view":
            drops.append(Action("drop", "view", name, [engine.drop_view(name)], reason="no longer in the project"))
        elif kind == "maintenance":
            drops.append(Action("drop", kind, name, maintenance_drop(name), reason="no longer in the project"))
        elif kind == "check":
            m = _CHECK_TABLE.match(_sql)
            statements = [f"alter table if exists {m.group(1)} drop constraint if exists {name}"] if m else []
            drops.append(Action("drop", kind, name, statements, reason="no longer in the project"))
        elif kind in ("index", "view_index"):
            drops.append(Action("drop", kind, name, [f"drop index if exists {name}"], reason="no longer in the project"))
        elif kind == "table":
            if _relation_info(conn, name) is None:
                drops.append(Action("drop", "table", name, [], reason="already gone"))
            elif _has_rows(conn, name) and not allow_drop_data:
                raise MaterializerError(
                    f"source table {name} is no longer in the project but holds rows; materializer never drops "
                    f"data. Put the source back, drop the table by hand, or rerun with {DROP_FLAG}")
            else:
                drops.append(Action("drop", "table", name, [f"drop table {name} cascade"],
                                    reason="no longer in the project"))
    # views first (they depend on tables), then tables, then what depends on tables
    result.actions = setup + drops + table_actions + later
    return result


def _record(conn: psycopg.Connection, action: Action) -> None:
    if action.verb == "drop":
        conn.execute(f"delete from {STATE_TABLE} where name = %s", [action.name])
    elif action.obj is not None:
        # delete + insert rather than `on conflict`, which Materialize and RisingWave lack
        conn.execute(f"delete from {STATE_TABLE} where name = %s", [action.obj.name])
        conn.execute(f"insert into {STATE_TABLE} (name, kind, sql) values (%s, %s, %s)",
                     [action.obj.name, action.obj.kind, action.obj.sql])


def apply(project: "Project", allow_drop_data: bool = False) -> Plan:
    """Run the plan: on PostgreSQL in one transaction, elsewhere statement by statement."""
    conn = project.db.conn
    engine = project.db.engine
    try:
        if engine.transactional_ddl:
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(hashtext('materializer.apply'))")
                for statement in STATE_DDL:
                    conn.execute(statement)
                result = plan(project, allow_drop_data)
                for statement in result.prelude:
                    conn.execute(statement)
                for action in result.actions:
                    if action.fallback:
                        try:
                            with conn.transaction():  # a savepoint
                                for statement in action.statements:
                                    conn.execute(statement)
                        except psycopg.Error:
                            for statement in action.fallback:
                                conn.execute(statement)
                    else:
                        for statement in action.statements:
                            conn.execute(statement)
                    _record(conn, action)
        else:
            for statement in STATE_DDL:
                conn.execute(statement)
            result = plan(project, allow_drop_data)
            for statement in result.prelude:
                conn.execute(statement)
            for action in result.actions:
                for statement in action.statements:
                    conn.execute(statement)
                _record(conn, action)
    except psycopg.Error as exc:
        message = " ".join(str(exc).split())
        outcome = "and changed nothing" if engine.transactional_ddl else "part way (rerun apply to finish)"
        raise DatabaseError(f"apply failed on {project.db.where} {outcome}: {message}") from None
    result.applied = True
    return result

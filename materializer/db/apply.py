"""Plan and apply: create what is new, replace what changed, never drop data.

The plan compares the project's compiled objects with the database (its
catalog and the ``materializer.applied`` bookkeeping table):

- managed tables are created when missing and gain new columns with
  ``alter table add column``; a column removed from the project stays (apply
  says so, with the statement to drop it by hand); a table that holds rows is
  never dropped or rewritten unless ``allow_drop_data`` (``--drop-data``) says so;
- row checks (PostgreSQL CHECK constraints, see definitions/row_checks.py) are
  added ``NOT VALID`` and then validated; on a table whose stored rows break
  one, the rows are kept, the check holds for new rows, and the plan says how
  many rows break it;
- views are created when missing and replaced when their SQL changed (the
  features added and removed are named) or when the view in the database was
  edited by hand (its definition differs from the project's);
- views that are not the project's but read one of its views are found at
  plan time (pg_depend): a replacement they would block is an error naming
  them, in the dry run as in apply;
- objects that apply created earlier and the project no longer declares are
  dropped (views, indexes, and empty tables);
- external relations (``relation:``) are never created, altered or dropped;
- the objects of streaming sources (a Kafka connection, a source, its typed view or table, the
  union view of a backfill on the streaming engines: sql/streams.py) are created when missing and
  never replaced or dropped: a changed definition is refused with what to do by hand.

On PostgreSQL the whole plan runs in one transaction: all of it or none. A
table that may be dropped is locked before its rows are counted (writers with
uncommitted rows finish first), so the check and the drop see the same rows;
the dry run takes a share lock for the same reason and rolls back.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from materializer.db.clusters import missing_clusters
from materializer.db.connection import server_message, translate_error
from materializer.db.swap import await_hydrated, hydration_query, index_move_steps, swap_steps, upstream_views
from materializer.definitions import names
from materializer.engines import Engine
from materializer.errors import DatabaseError, MaterializerError
from materializer.sql.compile import DbObject, compile_project, maintenance_drop, maintenance_tables
from materializer.sql.streams import STREAM_KINDS

if TYPE_CHECKING:
    from materializer.definitions.deployment import Cluster
    from materializer.project import Project

STATE_TABLE = "materializer.applied"
STATE_DDL = (
    "create schema if not exists materializer",
    f"create table if not exists {STATE_TABLE} (name text not null, kind text not null, sql text not null)",
)
DROP_FLAG = "--drop-data"
#: How long apply waits for the writers of a table it may drop (a push still loading, an open transaction).
LOCK_TIMEOUT = "10s"


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
    #: run the statements in one transaction block (Materialize: the renames of a swap, db/swap.py)
    block: bool = False
    #: wait until these objects are hydrated before the statements (Materialize, db/swap.py)
    hydrate: tuple[str, ...] = ()
    #: objects recorded once the action ran, besides ``obj`` (a swap records every view it puts in place)
    records: tuple[DbObject, ...] = ()
    #: names whose records are deleted before the statements (RisingWave's swaps, db/swap.py)
    forgets: tuple[str, ...] = ()

    def describe(self) -> str:
        sign = {"create": "+", "replace": "~", "alter": "~", "drop": "-", "build": "~", "await": "=",
                "swap": "~"}[self.verb]
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
        n = len(self.actions)
        counts = f"{done} {n} change{'' if n == 1 else 's'}; {self.unchanged} objects unchanged."
        return "\n".join([*lines, counts])

    def sql(self) -> str:
        statements = list(self.prelude)
        for a in self.actions:
            if a.hydrate:
                statements.append(f"-- wait until hydrated, polling: {', '.join(a.hydrate)}\n"
                                  + hydration_query(len(a.hydrate)))
            statements += ["begin", *a.statements, "commit"] if a.block else a.statements
        return "\n\n".join(s.rstrip(";") + ";" for s in statements)


def _split(relation: str) -> tuple[str | None, str]:
    schema, _, name = relation.rpartition(".")
    return (schema or None), name


#: apply's catalog query of a relation's columns. PostgreSQL answers with each numeric's precision and
#: scale; RisingWave and Materialize answer NULL for both and name types their own way (the sources
#: are cited at ``catalog_numeric_precision`` and ``catalog_reads_as`` in materializer/engines/; the
#: answers, row by row, are the fixtures of tests/engine_catalogs.py).
COLUMNS_QUERY = (
    "select column_name, data_type, numeric_precision, numeric_scale from information_schema.columns "
    "where table_schema = coalesce(%s, current_schema()) and table_name = %s order by ordinal_position")
#: apply's catalog query of a relation's kind (one row, or none when it is missing)
TABLE_TYPE_QUERY = ("select table_type from information_schema.tables "
                    "where table_schema = coalesce(%s, current_schema()) and table_name = %s")


def catalog_columns(engine: Engine, rows: list[tuple[str, str, int | None, int | None]]) -> dict[str, str]:
    """{column: canonical type} of the rows of COLUMNS_QUERY, read through the engine's catalog
    (RisingWave has no precision and stores uuid as varchar; see Engine.catalog_type)."""
    return {column: engine.catalog_type(data_type, precision, scale)
            for column, data_type, precision, scale in rows}


def changed_columns(engine: Engine, declared: dict[str, str], existing: dict[str, str]) -> list[str]:
    """The declared columns whose type differs from the table's (catalog_columns), compared as the
    engine's catalog can tell them apart (Engine.stored_type)."""
    return [c for c, t in declared.items() if c in existing and existing[c] != engine.stored_type(t)]


def _relation_info(conn: psycopg.Connection, relation: str, engine: Engine | None = None
                   ) -> tuple[str, dict[str, str]] | None:
    """(kind, {column: type}) of a relation in the current schema (or its own), or None if missing."""
    schema, name = _split(relation)
    row = conn.execute(TABLE_TYPE_QUERY, [schema, name]).fetchone()
    if row is None:
        return None
    types = catalog_columns(engine or Engine(), conn.execute(COLUMNS_QUERY, [schema, name]).fetchall())
    kind = "table" if row[0] == "BASE TABLE" else "view"
    return kind, types


def _has_rows(conn: psycopg.Connection, relation: str) -> bool:
    return conn.execute(f"select exists (select 1 from {relation})").fetchone()[0]  # relation: validated identifier


def _lock_table(conn: psycopg.Connection, table: str, mode: str | None) -> None:
    """Lock ``table`` until the transaction ends, waiting at most LOCK_TIMEOUT for its writers.

    Rows of a writer that has not committed are invisible to a row count; once the lock is held,
    every writer has committed or rolled back and no new one can start, so the count and the drop
    that follows see the same rows. ``mode`` None: no lock (engines without transactional DDL).
    """
    if mode is None:
        return
    previous = conn.execute("select current_setting('lock_timeout')").fetchone()[0]
    conn.execute("select set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])
    try:
        with conn.transaction():  # a savepoint: a timeout leaves apply's transaction usable
            conn.execute(f"lock table {table} in {mode} mode")  # table: a validated identifier
    except psycopg.errors.LockNotAvailable:
        holders = conn.execute(
            "select distinct a.pid, coalesce(nullif(a.application_name, ''), a.usename), a.state, "
            "extract(epoch from now() - a.xact_start)::int "
            "from pg_locks as l join pg_stat_activity as a on a.pid = l.pid "
            "where l.relation = to_regclass(%s) and l.granted and l.pid <> pg_backend_pid() order by a.pid",
            [table],
        ).fetchall()
        who = ", ".join(f"pid {pid} ({name}, {state or 'unknown state'} for {age or 0}s)"
                        for pid, name, state, age in holders) or "another session"
        raise DatabaseError(
            f"table {table} is in use by {who}: apply waited {LOCK_TIMEOUT} to check its rows and changed "
            f"nothing; rerun apply once that session has committed or rolled back (a push may still be loading)"
        ) from None
    finally:
        conn.execute("select set_config('lock_timeout', %s, true)", [previous])


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


def plan(project: Project, allow_drop_data: bool = False) -> Plan:
    """Compare the project with the database and list the actions apply would take (changes nothing).

    On PostgreSQL the comparison runs in a transaction that is rolled back, taking share locks on
    the tables it may drop, so that it sees the rows apply would see.
    """
    conn = project.db.conn
    if not project.db.engine.transactional_ddl:
        return _plan(project, allow_drop_data, lock_mode=None)
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("set transaction isolation level read committed")
            return _plan(project, allow_drop_data, lock_mode="share")
    except psycopg.Error as exc:
        translated = translate_error(exc, project.db.dsn)
        message = server_message(exc, project.db.dsn)
        raise type(translated)(f"planning apply failed on {project.db.where}: {message}") from None


def _plan(project: Project, allow_drop_data: bool, lock_mode: str | None) -> Plan:
    """The plan; ``lock_mode`` locks each table that may be dropped before its rows are counted."""
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
    swapped: list[DbObject] = []  # views replaced by a swap (Materialize, db/swap.py), in creation order
    swap_reasons: dict[str, str] = {}
    ours = sorted({o.name for o in desired} | set(state))

    def foreign(view: str) -> list[str]:
        """Views that read ``view`` and are not the project's (a user's own views), on PostgreSQL."""
        return [] if lock_mode is None else _foreign_dependents(conn, view, ours)

    _check_external_sources(project, lock_mode is not None)
    if engine.has_clusters:
        setup += [_cluster_action(cluster) for cluster in missing_clusters(conn, project.spec, project.db.where)]

    for obj in desired:
        if obj.kind in ("schema", "function"):
            if state.get(obj.name, (None, None))[1] != obj.sql:
                setup.append(Action("create" if obj.name not in state else "replace", obj.kind, obj.name,
                                       [obj.sql], obj=obj))
            else:
                result.unchanged += 1
            continue
        if obj.kind == "table":
            info = _relation_info(conn, obj.name, engine)
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
            changed = changed_columns(engine, wanted, existing)
            if changed:
                _lock_table(conn, obj.name, lock_mode)
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
                                            reason=f"columns changed: {detail}{_cascade_note(foreign(obj.name))}",
                                            obj=obj))
                continue
            removed = [c for c in existing if c not in wanted]
            if added or state.get(obj.name, (None, None))[1] != obj.sql:
                # columns no longer declared stay (they hold data): said once, when the change is recorded
                stmts = [f"alter table {obj.name} add column {c} {engine.ddl_type(wanted[c])}" for c in added]
                notes = [f"new columns: {', '.join(added)}"] if added else []
                if removed:
                    notes.append(_kept_columns_note(obj.name, removed))
                # neither: adopted, the table exists with the right columns but apply did not record it
                table_actions.append(Action("alter", "table", obj.name, stmts,
                                            reason="; ".join(notes) or "recorded", obj=obj))
            else:
                result.unchanged += 1
            continue
        if obj.kind in STREAM_KINDS:
            action = _stream_action(conn, obj, state)
            if action is None:
                result.unchanged += 1
            else:
                # connections before their sources, sources before the views over them: compile's order
                table_actions.append(action)
                rebuilt.add(obj.name)
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
        if obj.kind == "cluster":  # created when absent (never altered or dropped): db/clusters.py
            continue
        if obj.kind == "view_index" and obj.name in {names.view_index(v.name) for v in swapped}:
            continue  # built on the new view and renamed with it
        if obj.kind in ("index", "view_index"):
            exists = _index_exists(conn, obj.name) if not engine.materialized or obj.kind == "index" else (
                obj.name in state)
            if (obj.kind == "view_index" and engine.replaces_by_swap and exists and obj.source not in recreated_sources
                    and state[obj.name][1] != obj.sql):
                # moved (another serving cluster): the new index is built and hydrated before the old one goes
                later += [Action(s.verb, obj.kind, s.name, s.statements, reason=s.reason, hydrate=s.hydrate,
                                 records=s.records) for s in index_move_steps(obj, engine)]
            elif obj.source in recreated_sources or not exists or state.get(obj.name, (None, None))[1] != obj.sql:
                later.append(Action("create", obj.kind, obj.name, [obj.sql], obj=obj))
            else:
                result.unchanged += 1
            continue
        if obj.kind in ("view", "backfill_view"):
            info = _relation_info(conn, obj.name)
            if info is not None and info[0] == "table":
                raise MaterializerError(
                    f"'{obj.name}' exists in the database as a table; a feature view cannot replace it. "
                    "Rename the feature view")
            exists = info is not None or (engine.materialized and obj.name in state)
            changed = state.get(obj.name, (None, None))[1] != obj.sql
            edited = exists and not changed and lock_mode is not None and _edited(conn, obj)
            rebuilt_inputs = [d for d in obj.depends_on if d in rebuilt]
            has_dependents = any(obj.name in o.depends_on for o in desired)
            reason = "edited in the database since the last apply" if edited else _view_change(
                project, obj.name, info[1] if info else None)
            if not exists:
                later.append(Action("create", "view", obj.name, [obj.sql], obj=obj))
                rebuilt.add(obj.name)
            elif engine.replaces_by_swap and obj.source not in recreated_sources and (
                    rebuilt_inputs or changed or edited):
                swap_reasons[obj.name] = f"{rebuilt_inputs[0]} is rebuilt" if rebuilt_inputs else reason
                swapped.append(obj)
                rebuilt.add(obj.name)
            elif obj.source in recreated_sources:
                later.append(Action("create", "view", obj.name, [obj.sql], reason="its source was recreated",
                                    obj=obj))
                rebuilt.add(obj.name)
            elif rebuilt_inputs or ((changed or edited) and has_dependents):
                # views that read each other are dropped (readers first) and created again in order
                reason = f"{rebuilt_inputs[0]} is rebuilt" if rebuilt_inputs else reason
                _refuse_blocked_drop(obj.name, foreign(obj.name), f"must be dropped and created again ({reason})")
                result.prelude.insert(0, engine.drop_view(obj.name))
                later.append(Action("replace", "view", obj.name, [obj.sql], reason=reason, obj=obj))
                rebuilt.add(obj.name)
            elif changed or edited:
                drop_create = [engine.drop_view(obj.name), obj.sql]
                replace = engine.replace_view(obj.sql)
                blockers = foreign(obj.name)
                if blockers and replace:
                    # `create or replace` keeps dependent views when the columns are compatible: try it
                    _try_replace(conn, obj.name, replace, blockers,
                                 [s for a in table_actions if a.verb == "alter" for s in a.statements])
                elif blockers:
                    _refuse_blocked_drop(obj.name, blockers, f"must be dropped and created again ({reason})")
                later.append(Action("replace", "view", obj.name, [replace] if replace else drop_create,
                                    reason=reason, obj=obj, fallback=drop_create if replace and not blockers else []))
            else:
                result.unchanged += 1

    indexes = {v.name: o for v in swapped for o in desired
               if o.kind == "view_index" and o.name == names.view_index(v.name)}
    for step in swap_steps(swapped, indexes, engine, swap_reasons, taken={o.name for o in desired} | set(state),
                           upstream=upstream_views(desired, swapped)):
        later.append(Action(step.verb, "view", step.name, step.statements, reason=step.reason, block=step.block,
                            hydrate=step.hydrate, records=step.records, forgets=step.forgets))
    wanted_names = {o.name for o in desired}
    for name, (kind, _sql) in sorted(state.items(), key=lambda item: _drop_rank(item[0])):
        if name in wanted_names:
            continue
        if kind in ("view", "backfill_view"):
            _refuse_blocked_drop(name, foreign(name), "is no longer in the project")
            drop = engine.drop_view(name)
            if kind == "backfill_view":  # the views reading it read the table now: they are rebuilt below
                drop = f"drop view if exists {name} cascade"
            drops.append(Action("drop", "view", name, [drop], reason="no longer in the project"))
        elif kind == "maintenance":
            drops.append(Action("drop", kind, name, maintenance_drop(name), reason="no longer in the project"))
        elif kind == "check":
            m = _CHECK_TABLE.match(_sql)
            statements = [f"alter table if exists {m.group(1)} drop constraint if exists {name}"] if m else []
            drops.append(Action("drop", kind, name, statements, reason="no longer in the project"))
        elif kind in ("index", "view_index"):
            drops.append(Action("drop", kind, name, [f"drop index if exists {name}"], reason="no longer in the project"))
        elif kind in STREAM_KINDS:
            continue  # a stream's objects hold or feed data: never dropped (drop them by hand)
        elif kind == "table":
            if _relation_info(conn, name) is None:
                drops.append(Action("drop", "table", name, [], reason="already gone"))
                continue
            _lock_table(conn, name, lock_mode)
            if _has_rows(conn, name) and not allow_drop_data:
                raise MaterializerError(
                    f"source table {name} is no longer in the project but holds rows; materializer never drops "
                    f"data. Put the source back, drop the table by hand, or rerun with {DROP_FLAG}")
            else:
                drops.append(Action("drop", "table", name, [f"drop table {name} cascade"],
                                    reason=f"no longer in the project{_cascade_note(foreign(name))}"))
    # views first (they depend on tables), then tables, then what depends on tables
    result.actions = setup + drops + table_actions + later
    return result


def _cluster_action(cluster: Cluster) -> Action:
    """Creating a missing cluster of ``deployment:`` (missing_clusters gives only those with a size)."""
    return Action("create", "cluster", cluster.name, [cluster.create_sql() or ""], reason=f"size {cluster.size}")


_STREAM_WHAT = {"connection": ("Kafka connection", "connection"), "source": ("source", "source"),
                "stream_table": ("table", "table"), "source_view": ("view", "view")}


def _stream_action(conn: psycopg.Connection, obj: DbObject, state: dict[str, tuple[str, str]]) -> Action | None:
    """A stream object (sql/streams.py) is created when missing and never replaced: a source holds
    the events ingested so far (a Kafka source's start offset is fixed at creation), and a view
    over it carries the project's materialized views, so a changed definition is refused with what
    to do rather than dropped."""
    what, verb = _STREAM_WHAT[obj.kind]
    recorded = state.get(obj.name)
    # a table or view is looked up in the catalog; a connection or a Materialize source by the record
    missing = recorded is None or (obj.kind in ("stream_table", "source_view") and _relation_info(conn, obj.name) is None)
    if missing:
        return Action("create", obj.kind, obj.name, [obj.sql], obj=obj)
    if recorded[1] == obj.sql:
        return None
    source = f" (source {obj.source})" if obj.source else ""
    if recorded[0] != obj.kind:  # e.g. a managed table that now reads a topic
        was = {"table": "table", "view": "view", "backfill_view": "view"}.get(recorded[0], recorded[0].replace("_", " "))
        raise MaterializerError(
            f"{obj.name}{source} is a {was} that an earlier apply created, and the project now makes it a {what}; "
            f"materializer never drops it (it may hold rows). Drop it by hand (drop {was} {obj.name} cascade, "
            f"which also drops the views that read it; copy its rows first if you need them) and rerun apply, or "
            f"change the project back")
    raise MaterializerError(
        f"{what} {obj.name}{source} changed in the project since apply created it; materializer never drops "
        f"a stream's objects (they hold the events ingested so far, and a Kafka start offset is fixed when the "
        f"source is created). Change the project back, or drop it by hand (drop {verb} {obj.name} cascade, which "
        f"also drops the views that read it) and rerun apply to create it and its views again")


def _check_external_sources(project: Project, postgres: bool) -> None:
    """Refuse, before anything is created, a project whose views read an external relation that is missing."""
    conn = project.db.conn
    spec = project.spec
    read = {v.source.name for v in spec.feature_views.values()}
    read |= {side.source.name for m in spec.monitors.values() for side in (m.predictions, m.outcomes)}
    def found(relation: str) -> bool:
        if postgres:  # resolved on the search path, as the views will resolve it
            return conn.execute("select to_regclass(%s) is not null", [relation]).fetchone()[0]
        return _relation_info(conn, relation) is not None

    for source in spec.sources.values():
        if source.backfill is not None and not found(source.backfill.relation):
            # read by the union view, whatever reads the source
            raise MaterializerError(
                f"sources.{source.name}.backfill.relation: relation {source.backfill.relation} does not exist on "
                f"{project.db.where}; create it with the source's columns ({', '.join(source.columns or {})}) and "
                f"load the events before {source.backfill.until} into it, or fix `backfill.relation:` in the "
                f"project file")
        if source.managed or source.name not in read:
            continue
        if not found(source.relation):
            raise MaterializerError(
                f"sources.{source.name}: relation {source.relation} does not exist on {project.db.where}; "
                f"create it (materializer never creates external relations) or fix `relation:` in the project "
                f"file (a source with `columns:` instead is a table that apply creates)")


def _kept_columns_note(table: str, columns: list[str]) -> str:
    """What apply says about columns removed from the project: they stay, and how to drop them."""
    listed = ", ".join(columns)
    verb = "stays" if len(columns) == 1 else "stay"
    drop = ", ".join(f"drop column {c}" for c in columns)
    return (f"{listed} {verb} in the table although the project no longer declares "
            f"{'it' if len(columns) == 1 else 'them'}: materializer never drops data; "
            f"to drop by hand: alter table {table} {drop}")


def _view_change(project: Project, name: str, existing: dict[str, str] | None) -> str:
    """Why a view is replaced: the features added and removed of a feature view, else `definition changed`."""
    view = project.spec.feature_views.get(name)
    if view is None or not existing:
        return "definition changed"
    old = [c for c in existing if c not in view.entity and not c.startswith("_")]
    new = view.feature_names
    added = [f for f in new if f not in old]
    removed = [f for f in old if f not in new]
    parts = [f"added: {', '.join(added)}"] if added else []
    parts += [f"removed: {', '.join(removed)}"] if removed else []
    return ("features " + "; ".join(parts)) if parts else "definition changed"


def _foreign_dependents(conn: psycopg.Connection, relation: str, ours: list[str]) -> list[str]:
    """Views and materialized views reading ``relation``, directly or through other views (pg_depend
    through their rewrite rules), that are not among ``ours``: a drop of ``relation`` fails because of
    them, or takes them along with `cascade`."""
    rows = conn.execute(
        "with recursive readers (oid) as ("
        " select r.ev_class from pg_depend as d join pg_rewrite as r on r.oid = d.objid"
        " where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass"
        " and d.refobjid = to_regclass(%s) and r.ev_class <> d.refobjid"
        " union"
        " select r.ev_class from readers join pg_depend as d on d.refobjid = readers.oid"
        " join pg_rewrite as r on r.oid = d.objid"
        " where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass"
        " and r.ev_class <> d.refobjid"
        ") "
        "select oid::regclass::text from readers "
        "where oid not in (select to_regclass(n) from unnest(%s::text[]) as n where to_regclass(n) is not null) "
        "order by 1",
        [relation, ours],
    ).fetchall()
    return [r[0] for r in rows]


def _cascade_note(blockers: list[str]) -> str:
    """Said of a `drop table ... cascade` that takes views that are not the project's with it."""
    if not blockers:
        return ""
    verb = "reads" if len(blockers) == 1 else "read"
    return f"; also drops {_listed(blockers)}, not part of the project, that {verb} it"


def _blocked_fix(blockers: list[str]) -> str:
    drops = "; ".join(f"drop view {b}" for b in blockers)
    if len(blockers) == 1:
        return (f"save its definition (select pg_get_viewdef('{blockers[0]}')), drop it ({drops}), rerun apply, "
                "then create it again")
    return (f"save their definitions (select pg_get_viewdef('{blockers[0]}'), ...), drop them ({drops}), "
            "rerun apply, then create them again")


def _not_ours(blockers: list[str]) -> str:
    """`view x that is not part of the project depends` / `views x, y that are not ... depend`."""
    if len(blockers) == 1:
        return f"{_listed(blockers)}, which is not part of the project, depends"
    return f"{_listed(blockers)}, which are not part of the project, depend"


def _refuse_blocked_drop(view: str, blockers: list[str], why: str) -> None:
    """A clear error, at plan time, when views that are not the project's would block dropping ``view``."""
    if blockers:
        raise MaterializerError(f"view {view} {why} but {_not_ours(blockers)} on it; {_blocked_fix(blockers)}")


def _try_replace(conn: psycopg.Connection, view: str, replace: str, blockers: list[str], before: list[str]) -> None:
    """Check, in a savepoint that is rolled back, that `create or replace` keeps the views in ``blockers``;
    ``before`` are the table changes planned earlier (new columns the view may read)."""
    try:
        with conn.transaction(force_rollback=True):
            for statement in [*before, replace]:
                conn.execute(statement)
    except psycopg.Error as exc:
        reason = exc.diag.message_primary or " ".join(str(exc).split()) or type(exc).__name__
        raise MaterializerError(
            f"view {view} cannot be replaced in place ({reason}) and {_not_ours(blockers)} on it; "
            f"{_blocked_fix(blockers)}") from None


def _listed(blockers: list[str]) -> str:
    return ("view " if len(blockers) == 1 else "views ") + ", ".join(blockers)


_PROBE = "materializer_probe"


def _edited(conn: psycopg.Connection, obj: DbObject) -> bool:
    """Whether the view in the database differs from the one apply created (edited by hand): its
    definition is compared with that of a temporary view created from the project's SQL, in a
    savepoint that is rolled back (PostgreSQL normalizes both the same way)."""
    head, sep, body = obj.sql.partition(" as\n")
    if not sep or head != f"create view {obj.name}":
        return False
    with conn.transaction(force_rollback=True):
        conn.execute(f"create temporary view {_PROBE} as\n{body}")
        ours, theirs = conn.execute(
            "select pg_get_viewdef(to_regclass(%s)), pg_get_viewdef(to_regclass(%s))",
            [f"pg_temp.{_PROBE}", obj.name],
        ).fetchone()
    return ours != theirs


#: a record of ``materializer.applied`` deleted, and inserted (delete + insert rather than `on
#: conflict`, which Materialize and RisingWave lack)
RECORD_DELETE = f"delete from {STATE_TABLE} where name = %s"
RECORD_INSERT = f"insert into {STATE_TABLE} (name, kind, sql) values (%s, %s, %s)"


def _forget(conn: psycopg.Connection, action: Action) -> None:
    for name in action.forgets:
        conn.execute(RECORD_DELETE, [name])


def _store(conn: psycopg.Connection, obj: DbObject) -> None:
    conn.execute(RECORD_DELETE, [obj.name])
    conn.execute(RECORD_INSERT, [obj.name, obj.kind, obj.sql])


def _record(conn: psycopg.Connection, action: Action) -> None:
    if action.records:
        for obj in action.records:
            _store(conn, obj)
    elif action.verb == "drop":
        conn.execute(RECORD_DELETE, [action.name])
    elif action.obj is not None:
        _store(conn, action.obj)


def apply(project: Project, allow_drop_data: bool = False) -> Plan:
    """Run the plan: on PostgreSQL in one transaction, elsewhere statement by statement."""
    conn = project.db.conn
    engine = project.db.engine
    doing = ""  # the action under way, named if a statement fails
    try:
        if engine.transactional_ddl:
            with conn.transaction():
                # each statement sees what committed before it: rows counted after a lock include the writer's
                conn.execute("set transaction isolation level read committed")
                conn.execute("select pg_advisory_xact_lock(hashtext('materializer.apply'))")
                for statement in STATE_DDL:
                    conn.execute(statement)
                result = _plan(project, allow_drop_data, lock_mode="access exclusive")
                doing = "dropping the views rebuilt in order"
                for statement in result.prelude:
                    conn.execute(statement)
                for action in result.actions:
                    doing = _doing(action)
                    _forget(conn, action)
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
            created = []
            if engine.has_clusters:  # first: reading the bookkeeping table needs the session's cluster
                for cluster in missing_clusters(conn, project.spec, project.db.where):
                    action = _cluster_action(cluster)
                    doing = _doing(action)
                    for statement in action.statements:
                        conn.execute(statement)
                    created.append(action)
            for statement in STATE_DDL:
                conn.execute(statement)
            result = _plan(project, allow_drop_data, lock_mode=None)
            doing = "dropping the views rebuilt in order"
            for statement in result.prelude:
                conn.execute(statement)
            for action in result.actions:
                doing = _doing(action)
                if action.hydrate:
                    await_hydrated(conn, action.hydrate, engine.hydration_query(len(action.hydrate)))
                _forget(conn, action)
                if action.block:
                    _run_block(conn, action.statements, retry=not engine.transactional_ddl)
                else:
                    for statement in action.statements:
                        conn.execute(statement)
                _record(conn, action)
            result.actions = created + result.actions
    except psycopg.Error as exc:
        outcome = "and changed nothing" if engine.transactional_ddl else "part way (rerun apply to finish)"
        translated = translate_error(exc, project.db.dsn)
        message = server_message(exc, project.db.dsn)
        at = f"{doing}: " if doing else ""
        raise type(translated)(f"apply failed on {project.db.where} {outcome}: {at}{message}") from None
    result.applied = True
    return result


#: tries of a block of renames that another session's DDL aborted (SQLSTATE 40001): the first and three
#: retries, a second apart, as dbt-materialize 1.9.11 retries its swap (macros/deploy/deploy_promote.sql:
#: max_retries 3, retry_backoff 1.0)
BLOCK_TRIES = 4
BLOCK_BACKOFF = 1.0


def _run_block(conn: Any, statements: list[str], retry: bool) -> None:
    """``statements`` in one transaction block. On an engine without transactional DDL (Materialize: a
    swap's renames) a block aborted by a concurrent catalog change (serialization failure, 40001)
    changed nothing and is tried again, at most BLOCK_TRIES times in all; other errors are not retried."""
    for attempt in range(1, BLOCK_TRIES + 1):
        try:
            with conn.transaction():
                for statement in statements:
                    conn.execute(statement)
            return
        except psycopg.errors.SerializationFailure:
            if not retry or attempt == BLOCK_TRIES:
                raise
            time.sleep(BLOCK_BACKOFF)


def _doing(action: Action) -> str:
    return f"{action.verb} {action.kind.replace('_', ' ')} {action.name}"


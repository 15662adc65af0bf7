"""Replacing changed views on Materialize and RisingWave without downtime: build under new names, wait,
swap the names, drop.

On PostgreSQL apply replaces a changed view in one transaction (``create or replace view``, or drop
and create), so readers never miss it. Materialize runs DDL outside transaction blocks and a
materialized view created anew answers nothing until it has hydrated: "queries that use the
hydrating objects will hang until the objects finish hydrating" (doc/user/content/concepts/
hydration.md). A drop and create there leaves lookups failing, then hanging, for as long as the
view takes to compute. So for each changed view and every view of the project that reads it
(directly or not: they read the old one by reference, and must be rebuilt on the new one), apply:

1. **builds** ``<view>__next`` (leftovers of an interrupted run dropped first), in the compute
   cluster, reading the other ``__next`` views, and the lookup index of a feature view on it, in the
   serving cluster; each statement alone (DDL runs outside transaction blocks);
2. **waits** until every new view and index is hydrated on a replica of its cluster, reading
   ``mz_internal.mz_hydration_statuses`` (the documented status: concepts/hydration.md "Hydration
   duration and status"; the same relation dbt-materialize's ``deploy_await`` polls, macros/utils/
   are_clusters_ready.sql in dbt-materialize 1.9.11);
3. **swaps** in one transaction block: each old view renamed ``<view>__old`` and each new one renamed
   to the served name (indexes likewise). Materialize runs ``ALTER ... RENAME`` and ``ALTER ... SWAP``
   statements together in a DDL transaction committed at ``COMMIT``, every other DDL statement alone
   (src/adapter/src/coord/command_handler.rs, ``handle_execute_inner``; dbt-materialize's
   ``deploy_promote`` sends its swaps as one ``BEGIN; ...; COMMIT;``). Renames keep what an object
   is (doc/user/content/sql/alter-rename.md, identifiers.md "Renaming restrictions"), so a session
   looking up ``<view>`` reads the old view until the commit and the hydrated new one after it;
4. **drops** the ``__old`` views (and their indexes), readers first, without ``cascade``: a view of the
   user's own that still reads one makes the drop fail with its name, rather than being dropped with it.

On RisingWave, which documents ``ALTER MATERIALIZED VIEW name SWAP WITH target_name`` (risingwave-docs
sql/commands/sql-alter-materialized-view.mdx, sql/commands/sql-alter-swap.mdx; RisingWave v2.2.0 and
later), the engine's hooks (``Engine.swap_names``, ``Engine.build_setup``) make the same plan:

1. **builds** every ``<view>__next`` after ``set background_ddl = false``: RisingWave's foreground DDL
   "will be blocking and only return until the backfill process is completed" (sql/commands/
   sql-set-background-ddl.mdx), so once the builds have returned the new views hold their results and
   there is nothing to poll (no await step). Leftover ``__next`` views of an interrupted run are
   dropped first, readers first, without ``cascade``;
2. **swaps** each view with its ``__next`` one, in creation order (the views read first), one
   statement each: RisingWave has no transaction blocks for DDL (``BEGIN`` starts none: sql/commands/
   sql-begin.mdx), and each swap is atomic in its catalog. What reads a view follows the view, not the
   name (the swap rewrites its readers' definitions: src/meta/src/controller/catalog/alter_op.rs), so
   every old view keeps reading old views and every new view new ones, whatever the order; between
   two swaps a lookup of a swapped view reads the new version and one of a view not yet swapped the
   old one. Before the first swap the records of every view to swap are deleted, and each is recorded
   after its own swap: a run stopped between two swaps leaves the views not yet swapped unrecorded,
   so the next apply rebuilds and swaps them on the new views already in place;
3. **drops** the old versions, now named ``<view>__next``, readers first, without ``cascade``; then
   any ``__next`` view left by such a stopped run of a view that the replaced ones read.
   A drop refused names what still reads the view ("materialized view <schema>.<name> depends on
   it": src/meta/src/controller/utils.rs ``check_object_refer_for_drop``). If a run stops between a
   swap and its record, the next apply's build cannot drop that ``<view>__next`` (the old version, read
   by the old versions of its readers) and stops there; swapping the two back by hand lets it start
   over (README, "Changing a view on RisingWave without downtime").

Nothing of this runs here against Materialize or RisingWave (no engine runs where the project is
built): the statements pass ``materializer lint`` (the parsers and the command rules, which model the
transaction classes above; ``SWAP WITH`` in its documented form, sql/syntax.py), and both sequences
are executed on PostgreSQL by the tests, with lookups running throughout (RisingWave's swap emulated
there by three renames in one transaction).
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from dataclasses import dataclass, field

import psycopg

from materializer.definitions import names
from materializer.engines import Engine
from materializer.errors import DatabaseError, MaterializerError
from materializer.sql.compile import DbObject

NEXT = "__next"
OLD = "__old"
#: How long apply waits for the new views to hydrate before it gives up (nothing served changes then).
HYDRATION_TIMEOUT = 30 * 60.0
POLL_INTERVAL = 2.0


def hydration_query(count: int) -> str:
    """The hydration of ``count`` objects of the current schema named by parameters: one row per object
    found, (name, hydrated on at least one replica). An object of a cluster without replicas has no
    status row and reads as not hydrated (mz_internal.mz_hydration_statuses: doc/user/content/sql/
    system-catalog/mz_internal.md). The schema is the current database's: ``mz_schemas`` lists the
    schemas of every database (its ``database_id``: doc/user/content/sql/system-catalog/mz_catalog.md),
    and another database's ``public.<view>__next`` must not answer for this one's."""
    placeholders = ", ".join(["%s"] * count)
    return ("select o.name, count(*) filter (where h.hydrated) > 0 from mz_catalog.mz_objects as o "
            "join mz_catalog.mz_schemas as s on s.id = o.schema_id "
            "join mz_catalog.mz_databases as d on d.id = s.database_id "
            "left join mz_internal.mz_hydration_statuses as h on h.object_id = o.id "
            "where d.name = current_database() and s.name = current_schema() "
            f"and o.name in ({placeholders}) group by o.name")


@dataclass
class SwapStep:
    """One step of a swap: statements (each alone, or together in one block), or a wait for objects."""

    verb: str  # build | await | swap | drop
    name: str
    statements: list[str] = field(default_factory=list)
    block: bool = False
    hydrate: tuple[str, ...] = ()
    records: tuple[DbObject, ...] = ()  # what apply records once the step ran (the swap: the served objects)
    reason: str = ""
    forgets: tuple[str, ...] = ()  # names whose records apply deletes before the step's statements


def _rename_all(sql: str, renames: dict[str, str]) -> str:
    """``sql`` with every reference to a renamed object replaced (names are validated identifiers; a
    name is replaced only where it stands alone, not inside a longer name or after a qualifier)."""
    if not renames:
        return sql
    pattern = re.compile(r"(?<![\w.\"])(" + "|".join(re.escape(n) for n in sorted(renames, key=len, reverse=True))
                         + r")(?![\w\"])")
    return pattern.sub(lambda m: renames[m.group(1)], sql)


def replaced_views(objects: list[DbObject], changed: set[str]) -> list[DbObject]:
    """The views of ``objects`` (a compiled project, in creation order) named in ``changed`` and every
    view reading one of them, directly or through others, in creation order: what a swap rebuilds."""
    out: list[DbObject] = []
    names_out: set[str] = set()
    for obj in objects:
        if obj.kind == "view" and (obj.name in changed or names_out.intersection(obj.depends_on)):
            out.append(obj)
            names_out.add(obj.name)
    return out


def upstream_views(objects: list[DbObject], changed: list[DbObject]) -> list[str]:
    """The views of ``objects`` (in creation order) that the views ``changed`` read, directly or through
    others, and that are not among them."""
    wanted = {d for o in changed for d in o.depends_on}
    out: list[str] = []
    for obj in reversed(objects):
        if obj.kind == "view" and obj.name in wanted:
            wanted.update(obj.depends_on)
            if obj not in changed:
                out.append(obj.name)
    return out[::-1]


def swap_steps(changed: list[DbObject], indexes: dict[str, DbObject], engine: Engine,
               reasons: dict[str, str] | None = None, taken: Collection[str] = (),
               upstream: Collection[str] = ()) -> list[SwapStep]:
    """The steps replacing the views ``changed`` (every changed view and every project view reading one,
    in creation order) with new ones; ``indexes`` maps a view to its lookup index object. ``taken``: the
    names of the project's objects, none of which may be a name the swap uses for a while.
    ``upstream``: the views the replaced ones read (``upstream_views``), on an engine that swaps names."""
    if not changed:
        return []
    exchanging = engine.swap_names(changed[0].name, changed[0].name + NEXT) is not None
    for obj in changed:
        for temporary in (obj.name + NEXT,) if exchanging else (obj.name + NEXT, obj.name + OLD):
            if temporary in taken:
                raise MaterializerError(
                    f"{temporary} is the name apply gives a version of {obj.name} while it replaces it on "
                    f"{engine.title}, and the project already has an object of that name; rename it")
    reasons = reasons or {}
    if exchanging:
        if indexes:  # RisingWave creates none: a feature view's group keys are its primary key
            raise MaterializerError(f"{engine.title} swaps views, not the lookup indexes on them "
                                    f"({', '.join(i.name for i in indexes.values())})")
        return _exchange_steps(changed, engine, reasons, upstream)
    renames = {o.name: o.name + NEXT for o in changed}
    index_renames = {indexes[o.name].name: names.fit(indexes[o.name].name + NEXT) for o in changed if o.name in indexes}
    steps: list[SwapStep] = []
    built: list[str] = []
    for obj in changed:
        new = renames[obj.name]
        # leftovers of an interrupted run: our own __next views, and an __old one kept by a failed drop
        index = indexes.get(obj.name)
        statements = [engine.drop_view(new),
                      *([f"drop index if exists {names.fit(index.name + OLD)}"] if index is not None else []),
                      f"drop {engine.view_keyword} if exists {obj.name}{OLD}",
                      _rename_all(obj.sql, renames)]
        built.append(new)
        if index is not None:
            new_index = index_renames[index.name]
            statements.append(_rename_all(_rename_all(index.sql, {index.name: new_index}), renames))
            built.append(new_index)
        why = reasons.get(obj.name, "definition changed")
        steps.append(SwapStep("build", obj.name, statements, reason=f"{why}; built as {new}"))
    steps.append(SwapStep("await", ", ".join(o.name + NEXT for o in changed), hydrate=tuple(built),
                          reason="until hydrated"))
    swap: list[str] = []
    records: list[DbObject] = []
    for obj in changed:
        swap += [f"alter {engine.view_keyword} {obj.name} rename to {obj.name}{OLD}",
                 f"alter {engine.view_keyword} {obj.name}{NEXT} rename to {obj.name}"]
        records.append(obj)
        index = indexes.get(obj.name)
        if index is not None:
            swap += [f"alter index {index.name} rename to {names.fit(index.name + OLD)}",
                     f"alter index {index_renames[index.name]} rename to {index.name}"]
            records.append(index)
    steps.append(SwapStep("swap", ", ".join(o.name for o in changed), swap, block=True, records=tuple(records),
                          reason="in one transaction"))
    # readers first; each old view's index before it (so that the drop needs no cascade whatever the
    # version's RESTRICT counts as a dependent: doc/user/content/sql/drop-materialized-view.md)
    drops = []
    for o in reversed(changed):
        if o.name in indexes:
            drops.append(f"drop index if exists {names.fit(indexes[o.name].name + OLD)}")
        drops.append(f"drop {engine.view_keyword} if exists {o.name}{OLD}")
    steps.append(SwapStep("drop", ", ".join(o.name + OLD for o in reversed(changed)), drops,
                          reason="the replaced views"))
    return steps


def _exchange_steps(changed: list[DbObject], engine: Engine, reasons: dict[str, str],
                    upstream: Collection[str]) -> list[SwapStep]:
    """The steps on an engine that exchanges two views' names in one statement (RisingWave: see the
    module's docstring): build, swap each view, drop the old versions."""
    renames = {o.name: o.name + NEXT for o in changed}
    leftovers = [f"drop {engine.view_keyword} if exists {o.name}{NEXT}" for o in reversed(changed)]
    steps: list[SwapStep] = []
    for i, obj in enumerate(changed):
        first = [*engine.build_setup(), *leftovers] if i == 0 else []
        why = reasons.get(obj.name, "definition changed")
        steps.append(SwapStep("build", obj.name, [*first, _rename_all(obj.sql, renames)],
                              reason=f"{why}; built as {obj.name}{NEXT}"))
    for i, obj in enumerate(changed):
        statements, block = engine.swap_names(obj.name, obj.name + NEXT) or ([], False)
        steps.append(SwapStep("swap", obj.name, statements, block=block, records=(obj,),
                              forgets=tuple(o.name for o in changed) if i == 0 else (),
                              reason=f"with {obj.name}{NEXT}"))
    drops = [f"drop {engine.view_keyword} if exists {o.name}{NEXT}" for o in reversed(changed)]
    drops += [f"drop {engine.view_keyword} if exists {name}{NEXT}" for name in reversed(list(upstream))]
    steps.append(SwapStep("drop", ", ".join(o.name + NEXT for o in reversed(changed)), drops,
                          reason="the old versions, named so since the swap"))
    return steps


def index_move_steps(index: DbObject, engine: Engine) -> list[SwapStep]:
    """Moving a lookup index to another cluster (``deployment.serving_cluster`` changed): the new one
    built as ``<index>__next``, awaited, then the old one dropped and the new one renamed (a DROP runs
    alone, so these are two statements: between them the view has its new index under another name)."""
    new = names.fit(index.name + NEXT)
    build = [f"drop index if exists {new}", _rename_all(index.sql, {index.name: new})]
    return [SwapStep("build", index.name, build, reason=f"moved to another cluster; built as {new}"),
            SwapStep("await", new, hydrate=(new,), reason="until hydrated"),
            SwapStep("swap", index.name, [f"drop index if exists {index.name}", f"alter index {new} rename to {index.name}"],
                     records=(index,), reason="the old index dropped, the new one renamed")]


def await_hydrated(conn: psycopg.Connection, objects: tuple[str, ...], query: str | None = None,
                   timeout: float = HYDRATION_TIMEOUT, interval: float = POLL_INTERVAL) -> None:
    """Return once every object is hydrated (``query``: the engine's, by default Materialize's
    ``hydration_query``); a DatabaseError naming the others after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    query = query or hydration_query(len(objects))
    while True:
        rows: dict[str, bool] = dict(conn.execute(query, list(objects)).fetchall())
        waiting = [o for o in objects if not rows.get(o)]
        if not waiting:
            return
        if time.monotonic() >= deadline:
            raise DatabaseError(
                f"{', '.join(waiting)} did not hydrate within {timeout:g} s (a cluster without replicas, or "
                "one too small for them?); nothing served has changed: the views being built stay under "
                f"their {NEXT} names until the next apply drops and builds them again")
        time.sleep(interval)

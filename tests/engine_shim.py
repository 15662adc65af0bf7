"""Run the Materialize and RisingWave text of a project on PostgreSQL (tests only).

The views are rendered by the Materialize or the RisingWave renderer, exactly as `materializer compile
--engine ...` prints them, and created in a schema of their own (``mz`` or ``rw``) with the source
tables and their rows; read at a time ``t`` they must give the rows PostgreSQL's own views give.
The shim changes the text only where PostgreSQL has no equivalent syntax, never the macros:

- the engines' clocks: ``mz_now()`` and ``now()`` are functions of a schema placed before
  ``pg_catalog`` on the search path while the objects are created, both returning the clock that
  ``materializer.as_of`` pins (PostgreSQL binds a function when it creates a view, so later reads
  need no search path);
- ``create materialized view ... [in cluster c] as`` becomes ``create view ... as``: a PostgreSQL
  materialized view is a snapshot, while the engines' views are maintained, so what they hold at
  ``t`` is what a plain view computes at ``t``;
- ``append only`` after a RisingWave ``create table`` is dropped (PostgreSQL tables take any write);
- ``asof left join r as e on <keys> and e.ts <= p._ts`` (RisingWave's point-in-time join, used by
  one training form) becomes its documented meaning, the newest match: ``left join lateral (select *
  from r as e where <keys> and e.ts <= p._ts order by e.ts desc limit 1) as e on true``
  (risingwave-docs processing/sql/joins.mdx, "ASOF joins").

What cannot run on PostgreSQL and is skipped: Materialize's ``create index ... in cluster c on
<materialized view>`` (PostgreSQL indexes tables, not views; an index changes no result).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from materializer.definitions.spec import ProjectSpec
from materializer.sql.compile import compile_project

SHIM = "engine_shim"
SCHEMAS = {"materialize": "mz", "risingwave": "rw"}
CLOCK = "coalesce(nullif(current_setting('materializer.as_of', true), '')::timestamptz, pg_catalog.now())"

_VIEW = re.compile(r"^create materialized view (\S+)(?: in cluster \S+)? as\n")
_APPEND_ONLY = re.compile(r"\)\s*append only\s*$")
_ASOF = re.compile(r"asof left join (\S+) as (\w+)\n\s+on (.+?)(\w+)\.(\w+) <= (\S+)\n")


def install_clocks(conn: psycopg.Connection) -> None:
    """``engine_shim.mz_now()`` and ``engine_shim.now()``: the pinned clock (``materializer.as_of``) or now()."""
    conn.execute(f"create schema if not exists {SHIM}")
    for name in ("mz_now", "now"):
        conn.execute(f"create or replace function {SHIM}.{name}() returns timestamptz language sql stable "
                     f"as $$ select {CLOCK} $$")


def asof_as_lateral(sql: str) -> str:
    """RisingWave's ``ASOF LEFT JOIN`` as PostgreSQL's newest-match ``LEFT JOIN LATERAL ... LIMIT 1``."""
    def lateral(m: re.Match[str]) -> str:
        relation, alias, keys, ts_alias, ts, bound = m.groups()
        return (f"left join lateral (\n        select * from {relation} as {alias}\n        where {keys}"
                f"{ts_alias}.{ts} <= {bound}\n        order by {ts_alias}.{ts} desc\n        limit 1\n"
                f"    ) as {alias} on true\n")
    return _ASOF.sub(lateral, sql)


def postgres_text(sql: str) -> str:
    """The engine's statement with only the clauses PostgreSQL lacks replaced (see the module docstring)."""
    sql = _VIEW.sub(r"create view \1 as\n", sql)
    sql = _APPEND_ONLY.sub(")", sql.rstrip())
    return asof_as_lateral(sql)


@contextmanager
def engine_path(conn: psycopg.Connection, schema: str) -> Iterator[None]:
    """Objects created inside go to ``schema``; ``now()`` and ``mz_now()`` resolve to the shim's clock."""
    before = conn.execute("select current_setting('search_path')").fetchone()[0]
    conn.execute("select set_config('search_path', %s, false)", [f"{schema}, {SHIM}, pg_catalog, public"])
    try:
        yield
    finally:
        conn.execute("select set_config('search_path', %s, false)", [before])


def create_engine_objects(conn: psycopg.Connection, spec: ProjectSpec, engine: str,
                          copy_rows: bool = True) -> str:
    """Every object of ``spec`` as ``engine`` creates it, in the schema ``mz`` or ``rw`` (made anew), the
    managed tables filled with the rows of their PostgreSQL namesakes in ``public``; returns the schema."""
    schema = SCHEMAS[engine]
    install_clocks(conn)
    conn.execute(f"drop schema if exists {schema} cascade")
    conn.execute(f"create schema {schema}")
    with engine_path(conn, schema):
        for obj in compile_project(spec, engine):
            if obj.kind in ("view_index", "cluster"):
                continue  # an index on a materialized view, a cluster: no PostgreSQL equivalent, no effect on results
            assert obj.kind in ("table", "view"), f"{engine} compiles a {obj.kind} ({obj.name}): no shim for it"
            conn.execute(postgres_text(obj.sql))
            if obj.kind == "table" and copy_rows:
                columns = ", ".join(name for name, _ in obj.columns)
                public = conn.execute("select to_regclass(%s)", [f"public.{obj.name}"]).fetchone()[0]
                if public is not None:
                    conn.execute(f"insert into {schema}.{obj.name} ({columns}) select {columns} from public.{obj.name}")
    return schema

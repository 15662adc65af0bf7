"""Rows pushed over HTTP: ``POST /push/{source}`` and Feast's ``POST /push``.

The rows come as a JSON list of objects (``[{"cc_num": "a", "ts": "..."}]``), as
``{"rows": [...]}``, or column-wise as Feast sends them (``{"df": {"cc_num": ["a"], ...}}``).
Every value is checked against its column's type before anything is written; the first bad
value is refused with its row and column (HTTP 422) and nothing is inserted. The good rows go
in with one ``COPY`` inside one transaction, so a push is all or nothing and is visible to the
next lookup once it is answered. RisingWave has neither: the rows go in multi-row INSERTs of up
to 32767 values (one INSERT for most pushes), and a failure after the first says which rows stay.
A ``kafka:`` or ``webhook:`` source on Materialize or RisingWave gets the checked rows on its topic
or webhook (db/streams.py).
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.types.json import Jsonb

from materializer.definitions.row_checks import column_rules, refusal, row_checks
from materializer.definitions.spec import ProjectSpec, Source
from materializer.definitions.values import coerce
from materializer.errors import InputError, PushError, did_you_mean

if TYPE_CHECKING:
    from materializer.project import Project
    from materializer.serve.database import ConnectionPool

FEAST_TO = ("online", "offline", "online_and_offline")


def managed(project: Project, name: Any) -> Source:
    """The managed source a push names (404 unknown, 422 external)."""
    from materializer.db.push import managed_source

    return managed_source(project, name)


def rows_of(body: Any) -> list[Any]:
    """The rows of a push body, in any of the accepted shapes."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and set(body) == {"rows"} and isinstance(body["rows"], list):
        return body["rows"]
    if isinstance(body, dict) and set(body) == {"df"}:
        return columns_to_rows(body["df"], "df")
    raise InputError("the body must be a JSON list of row objects, {\"rows\": [...]}, or {\"df\": {column: [...]}}")


def columns_to_rows(df: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(df, dict) or not df:
        raise InputError(f"{what} must be an object of columns, for example {{\"cc_num\": [\"a\"], \"ts\": [...]}}")
    lengths = set()
    for name, values in df.items():
        if not isinstance(values, list):
            raise InputError(f"{what}.{name} must be a list of values")
        lengths.add(len(values))
    if len(lengths) > 1:
        raise InputError(f"every column of {what} must have the same length")
    names = list(df)
    return [dict(zip(names, row)) for row in zip(*(df[n] for n in names))]


def check_rows(spec: ProjectSpec, source: Source, rows: list[Any]) -> tuple[list[str], list[list[Any]]]:
    """Columns (in the source's order) and typed rows; InputError names the first bad row and column.

    Each value must fit its column's type and the source's row rules (``definitions.row_checks``:
    no missing event time, no infinite or out-of-range time, no NaN or infinity, binary labels 0 or 1),
    the same rules a file push and the database's CHECK constraints hold."""
    columns = source.columns or {}
    rules = column_rules(row_checks(spec, source), source)
    if not rows:
        raise InputError("no rows to push")
    used: dict[str, None] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise InputError(f"rows[{i}]: expected an object of column values")
        for key in row:
            if key not in columns:
                raise InputError(f"rows[{i}]: unknown column {key!r}{did_you_mean(str(key), columns)}; "
                                 f"columns of {source.name}: {', '.join(columns)}")
            used[key] = None
    names = [c for c in columns if c in used]
    out = []
    for i, row in enumerate(rows):
        if row.get(source.timestamp) is None:
            raise InputError(f"rows[{i}]: no {source.timestamp!r}; every event needs its time")
        typed = []
        for name in names:
            raw = row.get(name)
            refused = refusal(raw, rules[name]) if name in rules else None
            if refused is not None:
                raise InputError(f"rows[{i}].{name}: {refused}")
            value = coerce(raw, columns[name], f"rows[{i}].{name}")
            typed.append(Jsonb(value) if columns[name] == "jsonb" and value is not None else value)
        out.append(typed)
    return names, out


def streamed(pool: ConnectionPool, source: Source) -> bool:
    """Whether a push to ``source`` goes to its Kafka topic or webhook (db/streams.py), not to a table."""
    return pool.engine.materialized and source.streaming


async def stream(pool: ConnectionPool, spec: ProjectSpec, source: Source, names: list[str],
                 rows: list[list[Any]]) -> int:
    """Send checked rows to the source's topic or webhook (in a worker thread: the client blocks)."""
    import asyncio

    from materializer.db.streams import send_rows

    place = None
    if source.kafka is None:  # the webhook's URL names the database and schema the source is in
        async with pool.connection() as conn:
            cur = await conn.execute("select current_database(), current_schema()")
            place = await cur.fetchone()
    return await asyncio.to_thread(send_rows, spec, source, names, rows, pool.dsn, place)


async def insert(pool: ConnectionPool, source: Source, names: list[str], rows: list[list[Any]]) -> int:
    """Insert checked rows all or nothing; a value the database refuses is a PushError naming its row.

    Without COPY the rows go in multi-row INSERTs as large as the engine allows (db/inserts.py); on an
    engine without transactions (RisingWave) a failure after the first INSERT says which rows stay."""
    from materializer.db.inserts import statement_rows

    engine = pool.engine
    column_list = ", ".join(names)
    async with pool.connection() as conn:
        try:
            async with conn.transaction() if engine.supports_copy or engine.insert_transactions else nullcontext():
                if engine.supports_copy:
                    async with conn.cursor() as cur:
                        async with cur.copy(f"copy {source.table} ({column_list}) from stdin") as copy:
                            for row in rows:
                                await copy.write_row(row)
                else:
                    placeholders = "(" + ", ".join(engine.lookup_param(source.column_type(c)) for c in names) + ")"
                    head = f"insert into {source.table} ({column_list}) values "
                    per = statement_rows(engine, len(names))
                    async with conn.cursor() as cur:
                        for start in range(0, len(rows), per):
                            batch = rows[start:start + per]
                            try:
                                await cur.execute(head + ", ".join([placeholders] * len(batch)),
                                                  [v for row in batch for v in row])
                            except psycopg.Error as exc:
                                if start and not engine.insert_transactions:
                                    raise PushError(_part_way(engine.title, start, start + len(batch) - 1,
                                                              exc)) from None
                                raise
                        for statement in engine.after_insert():
                            await cur.execute(statement)
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
            raise PushError(_refused(exc)) from None
    return len(rows)


async def load(pool: ConnectionPool, spec: ProjectSpec, source: Source, names: list[str],
               rows: list[list[Any]]) -> int:
    """Push checked rows: to the source's topic or webhook when it has one there, else into its table."""
    if streamed(pool, source):
        return await stream(pool, spec, source, names, rows)
    return await insert(pool, source, names, rows)


def _part_way(title: str, start: int, end: int, exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary or str(exc).splitlines()[0]
    return (f"rows[0]-rows[{start - 1}] were inserted before the INSERT of rows[{start}]-rows[{end}] failed: "
            f"{primary}; {title} has no transaction to take them back: to finish, push the rows from rows[{start}] "
            f"on (all of them again would insert rows[0]-rows[{start - 1}] twice)")


def _refused(exc: psycopg.Error) -> str:
    from materializer.db.push import _CONTEXT

    primary = exc.diag.message_primary or str(exc).splitlines()[0]
    m = _CONTEXT.search(exc.diag.context or "")
    where = f"rows[{int(m.group(1)) - 1}]" if m else "a row"
    if m and m.group(2):
        where += f".{m.group(2)}"
    if exc.diag.constraint_name and exc.diag.constraint_name.endswith("__binary"):
        primary = "not a binary label; a binary monitor's label must be 0 or 1 (or true/false), or null"
    return f"{where}: {primary}; nothing was inserted"

"""push on engines without ``COPY FROM STDIN`` (RisingWave): all or nothing by construction.

Every row of the file is checked before anything is written: its row checks
(definitions/row_checks.py, the same messages as the CHECK constraints on PostgreSQL) and every
value against its column's type (definitions/values.py), so what the database would refuse part
way is refused up front with the file's line and column. The rows are then written as multi-row
INSERTs, each as large as the engine allows (``Engine.max_bind_parameters`` values,
``Engine.max_atomic_insert_rows`` rows), each value sent in one canonical text form (ISO times
in UTC, plain decimals, ``true``/``false``) cast to the column's type.

On an engine with transactions (``Engine.insert_transactions``: PostgreSQL, Materialize's insert-only
transactions) the INSERTs run in one transaction. Without (RisingWave: ``BEGIN`` starts none), each
INSERT is its own unit; a file that needs several and fails part way (the connection, the server)
gets an error saying exactly which rows were written before the failure and how to finish, never
"nothing was inserted" when something was.
"""

from __future__ import annotations

import csv
import json
import math
import struct
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from materializer.db.connection import server_message
from materializer.definitions.row_checks import refusal
from materializer.definitions.spec import Source
from materializer.definitions.values import coerce
from materializer.engines import Engine
from materializer.errors import InputError, PushError

if TYPE_CHECKING:
    from materializer.project import Project

#: (the file line where a row starts, its values as text or None)
Record = tuple[int, list[Any]]
_FLOAT4_MAX = struct.unpack("f", struct.pack("I", 0x7F7FFFFF))[0]


def csv_records(path: Path) -> Iterator[Record]:
    """The data rows of a CSV file with the line each starts on (an empty field is None)."""
    with path.open("r", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        start = reader.line_num + 1
        for row in reader:
            yield start, [None if v == "" else v for v in row]
            start = reader.line_num + 1


def insert_file(project: Project, source: Source, path: Path, columns: list[str],
                records: Callable[[], Iterable[Record]], rules: dict[str, tuple[str, ...]]) -> int:
    """Check every record (``records()`` is read twice: checked, then written), then INSERT them;
    returns the row count."""
    engine = project.db.engine
    types = {c: (source.columns or {})[c] for c in columns}
    count = 0
    for line, values in records():
        _check_record(path, line, columns, values, types, rules, engine)
        count += 1
    if count == 0:
        return 0
    per_statement = statement_rows(engine, len(columns))
    placeholders = "(" + ", ".join(engine.lookup_param(types[c]) for c in columns) + ")"
    head = f"insert into {source.table} ({', '.join(columns)}) values "
    conn = project.db.conn
    written = 0
    batch: list[Record] = []
    written_so_far = _Written(path, count, engine)
    try:
        with conn.transaction() if engine.insert_transactions else nullcontext(), conn.cursor() as cur:
            for record in _typed(records(), columns, types):
                batch.append(record)
                if len(batch) == per_statement:
                    written_so_far.sending(batch)
                    cur.execute(head + ", ".join([placeholders] * len(batch)), [v for _, r in batch for v in r])
                    written += len(batch)
                    batch = []
            if batch:
                written_so_far.sending(batch)
                cur.execute(head + ", ".join([placeholders] * len(batch)), [v for _, r in batch for v in r])
                written += len(batch)
            written_so_far.sending([])
    except psycopg.Error as exc:
        raise written_so_far.failed(exc, project.db.dsn) from None
    try:
        for statement in engine.after_insert():
            conn.execute(statement)
    except psycopg.Error as exc:
        raise PushError(f"{path}: all {count} rows were inserted, but `{statement}` failed: "
                        f"{server_message(exc, project.db.dsn)}; the rows are kept: do not push the file "
                        "again") from None
    return written


def statement_rows(engine: Engine, columns: int) -> int:
    """Rows per INSERT: as many as the engine's bind parameters allow, and no more than one INSERT
    writes all or nothing."""
    rows = max(1, engine.max_bind_parameters // max(columns, 1))
    return min(rows, engine.max_atomic_insert_rows) if engine.max_atomic_insert_rows else rows


@dataclass
class _Written:
    """Which rows the INSERTs have written, to say exactly that when one fails."""

    path: Path
    total: int
    engine: Engine
    done: int = 0  # rows of the statements that completed
    first_line: int | None = None  # the file line of row 1
    done_last_line: int | None = None  # the file line of the last row written
    current: tuple[int, int, int, int] | None = None  # rows and lines of the statement under way

    def sending(self, batch: list[Record]) -> None:
        if self.current is not None:
            self.done = self.current[1]
            self.done_last_line = self.current[3]
        if batch:
            if self.first_line is None:
                self.first_line = batch[0][0]
            self.current = (self.done + 1, self.done + len(batch), batch[0][0], batch[-1][0])
        else:
            self.current = None

    def failed(self, exc: psycopg.Error, dsn: str) -> PushError:
        reason = server_message(exc, dsn)
        lost = isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
        if self.current is None:  # the commit of the transaction
            if lost:
                return PushError(f"{self.path}: the connection was lost while the {self.total} rows were being "
                                 f"committed ({reason}): they may or may not have been inserted; count the rows "
                                 "of the source before pushing the file again")
            return PushError(f"{self.path}: the rows could not be committed: {reason}; nothing was inserted")
        start, end, start_line, end_line = self.current
        statement = f"the INSERT of rows {start}-{end} (lines {start_line}-{end_line})"
        if self.engine.insert_transactions:  # the transaction was not committed: it is rolled back
            return PushError(f"{self.path}: {statement} failed: {reason}; nothing was inserted")
        if self.done == 0:
            if lost:
                return PushError(f"{self.path}: the connection was lost during {statement} ({reason}): that INSERT "
                                 "may or may not have been committed; count the rows of the source before pushing "
                                 "the file again")
            return PushError(f"{self.path}: {statement} failed: {reason}; nothing was inserted")
        kept = (f"rows 1-{self.done} of {self.total} (lines {self.first_line}-{self.done_last_line}) were inserted "
                f"before {statement} failed: {reason}")
        finish = (f"{self.engine.title} has no transaction to take them back: to finish, push the rows from line "
                  f"{start_line} on (the whole file again would insert rows 1-{self.done} twice)")
        if lost:
            return PushError(f"{self.path}: {kept}; the connection was lost, so rows {start}-{end} may or may not "
                             f"have been inserted too: count the rows of the source; {finish}")
        return PushError(f"{self.path}: {kept}; {finish}")


def _check_record(path: Path, line: int, columns: list[str], values: list[Any], types: dict[str, str],
                  rules: dict[str, tuple[str, ...]], engine: Engine) -> list[str | None]:
    """The record's values in canonical text (``canonical``), or a PushError naming its line and column."""
    if len(values) != len(columns):
        raise PushError(f"{path}: line {line}: {len(values)} fields where the header names {len(columns)}; "
                        "nothing was inserted")
    texts = []
    for column, value in zip(columns, values):
        message = refusal(value, rules[column]) if column in rules else None
        if message is not None:
            raise PushError(f"{path}: line {line}, column {column}: {message}; nothing was inserted")
        try:
            texts.append(canonical(value, types[column], engine, f"{path}: line {line}, column {column}"))
        except InputError as exc:
            raise PushError(f"{exc}; nothing was inserted") from None
    return texts


def _typed(records: Iterable[Record], columns: list[str], types: dict[str, str]) -> Iterator[Record]:
    for line, values in records:
        yield line, [canonical(v, types[c]) for c, v in zip(columns, values)]


def canonical(value: str | None, sql_type: str, engine: Engine | None = None, what: str = "value") -> str | None:
    """``value`` (text from a file) as the one text form every engine reads the same way for
    ``sql_type``, or an InputError naming ``what`` when the type cannot hold it (``engine``: its limits
    too, such as RisingWave's 28 digits of numeric)."""
    if value is None:
        return None
    kind = sql_type.split("(")[0]
    fail = f"{what}: {_shown(value)} is not a valid {sql_type}"
    if kind == "jsonb":
        try:
            json.loads(value, parse_constant=_no_constant)
        except (ValueError, TypeError):
            raise InputError(f"{fail}; give a JSON value") from None
        return value
    typed = coerce(value, sql_type, what)
    if kind == "text":
        return typed
    if kind in ("smallint", "integer", "bigint", "uuid", "date"):
        return str(typed) if kind != "date" else typed.isoformat()
    if kind == "boolean":
        return "true" if typed else "false"
    if kind == "timestamptz":
        return typed.astimezone(timezone.utc).isoformat(sep=" ")
    if kind == "timestamp":
        return typed.isoformat(sep=" ")
    if kind == "numeric":
        return _numeric(Decimal(typed), sql_type, engine, fail)
    number = float(typed)
    if kind == "real":
        try:
            single = struct.unpack("f", struct.pack("f", number))[0]
        except OverflowError:
            single = math.inf
        if abs(single) > _FLOAT4_MAX or (single == 0 and number != 0):
            raise InputError(f"{fail}: out of range for real")
    elif math.isinf(number) or (number == 0 and Decimal(str(value).strip()) != 0):
        raise InputError(f"{fail}: out of range for double precision")
    return repr(number)


def _numeric(number: Decimal, sql_type: str, engine: Engine | None, fail: str) -> str:
    if "(" in sql_type:  # numeric(p, s) rounds to s places and holds p - s digits before the point
        precision, scale = (int(x) for x in sql_type[sql_type.index("(") + 1:-1].split(","))
        number = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
        if _integer_digits(number) > precision - scale:
            raise InputError(f"{fail}: more than {precision - scale} digits before the decimal point")
    limit = engine.numeric_max_integer_digits if engine is not None else None
    if limit is not None and _integer_digits(number) > limit:
        raise InputError(f"{fail}: {engine.title}'s numeric holds at most {limit} digits before the decimal point")
    return format(number, "f")


def _integer_digits(number: Decimal) -> int:
    return max(number.adjusted() + 1, 0) if number else 0


def _no_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

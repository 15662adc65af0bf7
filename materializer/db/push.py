"""Load a CSV or JSONL file into a managed source: typed by its columns, all or nothing.

CSV is streamed to ``COPY ... FROM STDIN (FORMAT csv, HEADER true)`` so that
PostgreSQL types every value by the table's columns (an unquoted empty field is
null, a quoted one an empty string). One COPY is one statement: a bad value
anywhere aborts it and nothing is inserted; the error names the file's line,
the column and the value. JSONL rows are written through the same COPY.
Engines without ``COPY FROM STDIN`` (RisingWave) get batched INSERTs.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from materializer.definitions.spec import Source
from materializer.errors import PushError, did_you_mean
from materializer.progress import PROGRESS_MIN_BYTES, progress_bar, wants_progress

if TYPE_CHECKING:
    from materializer.project import Project

CHUNK = 1 << 20
# The COPY line of the context; a jsonb value's own "JSON data, line 1" context may precede it.
_CONTEXT = re.compile(r'COPY [^,\n]+, line (\d+)(?:, column (\w+)(?:: "(.*)")?)?', re.S)


def managed_source(project: "Project", name: str) -> Source:
    sources = project.spec.sources
    if name not in sources:
        raise PushError(f"unknown source {name!r}{did_you_mean(name, sources)}; "
                        f"known sources: {', '.join(sources) or '(none)'}")
    source = sources[name]
    if not source.managed:
        raise PushError(f"source {name!r} is external (relation: {source.relation}); push loads managed sources "
                        "only, load external relations with your own pipeline")
    return source


def _check_header(path: Path, source: Source, header: list[str]) -> list[str]:
    columns = source.columns or {}
    if not header or header == [""]:
        raise PushError(f"{path}: line 1: expected a header row naming columns of {source.name}")
    names = [h.strip() for h in header]
    for name in names:
        if name not in columns:
            raise PushError(f"{path}: line 1: unknown column {name!r}{did_you_mean(name, columns)}; "
                            f"columns of {source.name}: {', '.join(columns)}")
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise PushError(f"{path}: line 1: column {sorted(dupes)[0]!r} appears twice in the header")
    if source.timestamp not in names:
        raise PushError(f"{path}: line 1: the header has no {source.timestamp!r} column; every event needs its time")
    return names


def _progress(path: Path, enabled: bool):  # noqa: ANN202
    if not wants_progress(enabled, path.stat().st_size, PROGRESS_MIN_BYTES):
        return progress_bar(False)
    from rich.progress import BarColumn, DownloadColumn, TimeRemainingColumn, TransferSpeedColumn

    return progress_bar(True, BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())


def _csv_file_line(path: Path, record: int) -> int:
    """The file line where CSV record ``record`` starts (the header is record 1).

    COPY numbers records, not lines: a quoted field may span several lines.
    """
    try:
        with path.open("r", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            end = 0
            for n, _ in enumerate(reader, start=1):
                if n == record:
                    return end + 1
                end = reader.line_num
    except (csv.Error, UnicodeDecodeError):
        pass
    return record


def _csv_record(path: Path, record: int) -> list[str] | None:
    """CSV record ``record`` of the file (the header is record 1), or None."""
    try:
        with path.open("r", encoding="utf-8", newline="") as fh:
            for n, row in enumerate(csv.reader(fh), start=1):
                if n == record:
                    return row
    except (csv.Error, UnicodeDecodeError):
        pass
    return None


def _binary_label_column(exc: psycopg.Error, source: Source | None) -> str | None:
    """The label column when ``exc`` is a violation of the CHECK that apply creates for the integer
    label of a binary monitor (``<source>__<column>__binary``, see compile.label_checks)."""
    name = exc.diag.constraint_name or ""
    prefix = f"{source.name}__" if source is not None else ""
    if source is None or exc.diag.sqlstate != "23514" or not name.startswith(prefix) or not name.endswith("__binary"):
        return None
    return name[len(prefix):-len("__binary")] or None


def _copy_error(path: Path, exc: psycopg.Error, line_of: Callable[[int], int] | None = None,
                source: Source | None = None,
                value_of: Callable[[int, str], Any] | None = None) -> PushError:
    """A PushError naming the file, its line and column; ``value_of(record, column)`` reads the bad value
    of a row that broke a binary-label check, so the message can show it."""
    diag = exc.diag
    primary = diag.message_primary or str(exc).splitlines()[0]
    m = _CONTEXT.search(diag.context or "")
    label = _binary_label_column(exc, source)
    if label is not None:
        value = None
        if m and value_of is not None:
            try:
                value = value_of(int(m.group(1)), label)
            except (IndexError, ValueError, KeyError):
                value = None
        got = f"{value!r} is not a binary label" if value is not None else "not a binary label"
        primary = f"{got}; a binary monitor's label must be 0 or 1 (or true/false), or empty for none"
    if m:
        line = int(m.group(1))
        if line_of is not None:
            line = line_of(line)
        where = f"line {line}"
        column = m.group(2) or label
        if column:
            where += f", column {column}"
        return PushError(f"{path}: {where}: {primary}; nothing was inserted")
    if label is not None:
        return PushError(f"{path}: column {label}: {primary}; nothing was inserted")
    return PushError(f"{path}: {primary}; nothing was inserted")


def push_file(project: "Project", source_name: str, path: Path, progress: bool = False) -> int:
    """Load ``path`` (``.csv`` or ``.jsonl``/``.ndjson``) into a managed source; returns the row count."""
    source = managed_source(project, source_name)
    if not path.exists():
        raise PushError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        columns, rows, line_of = _read_jsonl(path, source)
        return _load_rows(project, source, path, columns, rows, line_of)
    if suffix not in (".csv", ".txt"):
        raise PushError(f"{path}: unknown file type {suffix!r}; push reads .csv or .jsonl files")
    with path.open("r", encoding="utf-8", newline="") as fh:
        try:
            header = next(csv.reader([fh.readline()]), [])
        except UnicodeDecodeError:
            raise PushError(f"{path}: line 1: the file is not UTF-8 text") from None
    names = _check_header(path, source, header)
    if not project.db.engine.supports_copy:
        rows = _csv_rows(path)
        return _load_rows(project, source, path, names, rows, None)
    conn = project.db.conn
    sql = f"copy {source.relation} ({', '.join(names)}) from stdin (format csv, header true)"
    total = 0
    try:
        with _progress(path, progress) as bar, conn.transaction(), conn.cursor() as cur:
            task = bar.add_task(f"push {path.name}", total=path.stat().st_size) if bar else None
            with cur.copy(sql) as copy, path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    copy.write(chunk)
                    if bar is not None:
                        bar.advance(task, len(chunk))
            total = cur.rowcount
    except psycopg.Error as exc:
        def value_of(record: int, column: str) -> Any:
            row = _csv_record(path, record)
            return None if row is None else row[names.index(column)]

        raise _copy_error(path, exc, lambda record: _csv_file_line(path, record), source, value_of) from None
    return total


def _csv_rows(path: Path) -> Iterator[list[Any]]:
    with path.open("r", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for row in reader:
            yield [None if v == "" else v for v in row]


def _read_jsonl(path: Path, source: Source) -> tuple[list[str], list[list[Any]], dict[int, int]]:
    columns = list(source.columns or {})
    json_columns = {c for c, t in (source.columns or {}).items() if t == "jsonb"}
    rows: list[list[Any]] = []
    line_of: dict[int, int] = {}
    with path.open("r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise PushError(f"{path}: line {lineno}: not valid JSON ({exc.msg}); nothing was inserted") from None
            if not isinstance(record, dict):
                raise PushError(f"{path}: line {lineno}: expected a JSON object; nothing was inserted")
            for key in record:
                if key not in columns:
                    raise PushError(f"{path}: line {lineno}: unknown column {key!r}{did_you_mean(key, columns)}; "
                                    f"columns of {source.name}: {', '.join(columns)}; nothing was inserted")
            if record.get(source.timestamp) is None:
                raise PushError(f"{path}: line {lineno}: no {source.timestamp!r}; every event needs its time; "
                                "nothing was inserted")
            rows.append([_text(record.get(c), json_column=c in json_columns) for c in columns])
            line_of[len(rows)] = lineno
    return columns, rows, line_of


def _text(value: Any, json_column: bool = False) -> str | None:
    if value is None:
        return None
    if json_column:  # any JSON value, a string or a number included, is stored as that JSON value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _load_rows(project: "Project", source: Source, path: Path, columns: list[str], rows: Any,
               line_of: dict[int, int] | None) -> int:
    conn = project.db.conn
    engine = project.db.engine
    count = 0
    try:
        if engine.supports_copy:
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(f"copy {source.relation} ({', '.join(columns)}) from stdin") as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
            return count
        types = source.columns or {}
        placeholders = ", ".join(engine.lookup_param(types.get(c)) for c in columns)
        sql = f"insert into {source.relation} ({', '.join(columns)}) values ({placeholders})"
        with conn.cursor() as cur:
            batch: list[list[Any]] = []
            for row in rows:
                batch.append(row)
                if len(batch) >= 1000:
                    cur.executemany(sql, batch)
                    count += len(batch)
                    batch = []
            if batch:
                cur.executemany(sql, batch)
                count += len(batch)
            cur.execute("flush")
        return count
    except psycopg.Error as exc:
        kept = rows if isinstance(rows, list) else None

        def value_of(record: int, column: str) -> Any:
            return None if kept is None else kept[record - 1][columns.index(column)]

        raise _copy_error(path, exc, None if line_of is None else (lambda n: line_of.get(n, n)), source,
                          value_of) from None

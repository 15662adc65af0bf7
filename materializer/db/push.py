"""Load a CSV or JSONL file into a managed source: typed by its columns, checked, all or nothing.

CSV is streamed to ``COPY ... FROM STDIN (FORMAT csv, HEADER true)`` so that
PostgreSQL types every value by the table's columns (an unquoted empty field is
null, a quoted one an empty string). One COPY is one statement: a bad value
anywhere aborts it and nothing is inserted; the error names the file's line,
the column and the value. JSONL rows are written through the same COPY.
A ``kafka:`` or ``webhook:`` source on Materialize or RisingWave is written to its topic or webhook
instead, every row checked and typed first (db/streams.py).
Engines without ``COPY FROM STDIN`` (RisingWave) get multi-row INSERTs, every row checked and
typed before the first is written (db/inserts.py).

What is refused (definitions/row_checks.py), whatever the format or the path, because
it is stored fine but breaks what reads it later:

============================  ===============================================================
column                        refused
============================  ===============================================================
the event time (timestamp:)   null (an empty CSV field, a missing or null JSON key): an event
                              without a time is in no window, no training point, no cohort
timestamptz, timestamp, date  ``infinity``, ``-infinity``, BC dates, years after 9999 (Python
                              cannot read them back: lookups, training sets and time series
                              fail); the words ``now``, ``today``, ``tomorrow``, ``yesterday``
                              and ``epoch``, which PostgreSQL turns into a time as it reads
                              them (the same file would load other times on every push)
numeric, real, double         ``NaN``, ``Infinity``, ``-Infinity`` (and JSON's NaN/Infinity):
                              one turns every sum and ``avg`` of its window into NaN, wins every
                              ``max``, poisons a monitor's metrics, and cannot be sent as JSON
a binary monitor's label      anything but 0 and 1 (integer labels)
integer, text, boolean,       whatever the type accepts
uuid, jsonb
============================  ===============================================================

How, without slowing a large CSV down: on PostgreSQL apply puts each rule on the
table as a CHECK constraint, so COPY enforces it at no extra pass and a failure
names the record (and the constraint names the column). The words a CHECK
cannot see (``now`` is stored as an ordinary time) are looked for in the bytes
streamed to COPY, a ``find`` per chunk; only when one shows up does the COPY stop
and the file get checked row by row (a word in a text column is a false alarm:
the COPY then runs again). JSONL rows, and every row on engines without CHECK
constraints (Materialize, RisingWave), are checked in Python before anything is
written, with the same messages.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from materializer.db.inserts import Record, csv_records, insert_file
from materializer.db.streams import send_file
from materializer.definitions.row_checks import TIME_WORDS, RowCheck, column_rules, refusal, row_checks
from materializer.definitions.spec import Source
from materializer.engines import get_engine
from materializer.errors import NotFoundError, PushError, did_you_mean
from materializer.progress import PROGRESS_MIN_BYTES, progress_bar, wants_progress

if TYPE_CHECKING:
    from materializer.project import Project

CHUNK = 1 << 20
# The COPY line of the context; a jsonb value's own "JSON data, line 1" context may precede it.
_CONTEXT = re.compile(r'COPY [^,\n]+, line (\d+)(?:, column (\w+)(?:: "(.*)")?)?', re.DOTALL)
_TIME_WORDS = tuple(w.encode() for w in TIME_WORDS)
_TIME_WORD = re.compile(rb"\b(?:" + b"|".join(_TIME_WORDS) + rb")\b")
_LOWER = bytes.maketrans(bytes(range(65, 91)), bytes(range(97, 123)))  # twice as fast as bytes.lower()


class _TimeWord(Exception):
    """The bytes streamed to COPY hold one of the time words: stop, and check the file row by row."""


class _WordScan:
    """Looks for the time words in a byte stream, chunk by chunk: a ``find`` per word on the
    lowered chunk (about 0.4 s for a million rows of 78 bytes), and a word-boundary search only
    on a chunk that holds one."""

    def __init__(self) -> None:
        self.tail = b""

    def seen(self, chunk: bytes) -> bool:
        text = self.tail + chunk.translate(_LOWER)
        self.tail = text[-16:]  # a word cut by the chunk's end is whole in the next one
        return any(w in text for w in _TIME_WORDS) and _TIME_WORD.search(text) is not None


class UnknownSource(PushError, NotFoundError):
    """A push to a source the project does not declare (HTTP 404)."""


def managed_source(project: Project, name: object) -> Source:
    """The managed source called ``name``: an unknown name or an external source is refused."""
    sources = project.spec.sources
    if not isinstance(name, str) or name not in sources:
        raise UnknownSource(f"unknown source {name!r}{did_you_mean(str(name), sources)}; "
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


def _progress(path: Path, enabled: bool):
    if not wants_progress(enabled, path.stat().st_size, PROGRESS_MIN_BYTES):
        return progress_bar(False)
    from rich.progress import BarColumn, DownloadColumn, TimeRemainingColumn, TransferSpeedColumn

    return progress_bar(True, BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())


def _csv_at(path: Path, copy_line: int) -> tuple[int, list[str]] | None:
    """The file line where the record COPY reports at ``copy_line`` starts, and its fields (or None).

    COPY counts a line at every end of line of the kind that ends the header, inside a quoted
    field too (PostgreSQL's CopyReadLineText), and reports the line where the record ends: in a
    file of ``\\r\\n`` lines whose fields hold ``\\n``, that is a count of records, not of lines.
    """
    try:
        with path.open("rb") as fh:
            first = fh.readline()
        inner = "\n" if first.endswith(b"\n") and not first.endswith(b"\r\n") else "\r"
        with path.open("r", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            counted, start = 0, 1
            for row in reader:
                counted += 1 + sum(field.count(inner) for field in row)
                if counted >= copy_line:
                    return start, row
                start = reader.line_num + 1
    except (csv.Error, UnicodeDecodeError, OSError):
        pass
    return None


def _broken_check(exc: psycopg.Error, checks: dict[str, RowCheck]) -> RowCheck | None:
    """The row check (a CHECK constraint apply created, see definitions/row_checks.py) that ``exc`` reports."""
    if exc.diag.sqlstate != "23514":
        return None
    return checks.get(exc.diag.constraint_name or "")


def _copy_error(path: Path, exc: psycopg.Error, line_of: Callable[[int], int] | None = None,
                checks: dict[str, RowCheck] | None = None,
                value_of: Callable[[int, str], Any] | None = None) -> PushError:
    """A PushError naming the file, its line and column; ``value_of(record, column)`` reads the bad value
    of a row that broke a row check, so the message can show it."""
    diag = exc.diag
    primary = diag.message_primary or str(exc).splitlines()[0]
    m = _CONTEXT.search(diag.context or "")
    check = _broken_check(exc, checks or {})
    if check is not None:
        value = None
        if m and value_of is not None:
            try:
                value = value_of(int(m.group(1)), check.column)
            except (IndexError, ValueError, KeyError):
                value = None
        primary = check.message(None if value == "" else value)
    column = check.column if check is not None else None
    if m:
        line = int(m.group(1))
        if line_of is not None:
            line = line_of(line)
        where = f"line {line}"
        column = m.group(2) or column
        if column:
            where += f", column {column}"
        return PushError(f"{path}: {where}: {primary}; nothing was inserted")
    if column is not None:
        return PushError(f"{path}: column {column}: {primary}; nothing was inserted")
    return PushError(f"{path}: {primary}; nothing was inserted")


def _refused(path: Path, line: int, column: str, message: str) -> PushError:
    return PushError(f"{path}: line {line}, column {column}: {message}; nothing was inserted")


def _check_csv(path: Path, names: list[str], rules: dict[str, tuple[str, ...]]) -> None:
    """Every field of the file against the row checks of its column (one pass with the csv module)."""
    checked = [(i, name, rules[name]) for i, name in enumerate(names) if name in rules]
    if not checked:
        return
    with path.open("r", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)
        start = reader.line_num + 1
        for row in reader:
            for i, name, column_rules_ in checked:
                value = row[i] if i < len(row) else None
                message = refusal(value or None, column_rules_)
                if message is not None:
                    raise _refused(path, start, name, message)
            start = reader.line_num + 1


def push_file(project: Project, source_name: str, path: Path, progress: bool = False) -> int:
    """Load ``path`` (``.csv`` or ``.jsonl``/``.ndjson``) into a managed source; returns the row count."""
    source = managed_source(project, source_name)
    if not path.exists():
        raise PushError(f"{path}: no such file")
    checks = row_checks(project.spec, source)
    rules = column_rules(checks, source)
    suffix = path.suffix.lower()
    stream_engine = get_engine(project.engine)
    streamed = stream_engine.materialized and source.streaming  # to the topic or webhook (db/streams.py)
    if suffix in (".jsonl", ".ndjson", ".json"):
        columns, rows, line_of = _read_jsonl(path, source, rules)

        def records() -> Iterator[Record]:
            return ((line_of[n], row) for n, row in enumerate(rows, start=1))

        if streamed:
            return send_file(project, source, stream_engine, path, columns, records, rules)
        if not project.db.engine.supports_copy:
            return insert_file(project, source, path, columns, records, rules)
        return _load_rows(project, source, path, columns, rows, line_of, checks)
    if suffix not in (".csv", ".txt"):
        raise PushError(f"{path}: unknown file type {suffix!r}; push reads .csv or .jsonl files")
    with path.open("r", encoding="utf-8", newline="") as fh:
        try:
            header = next(csv.reader([fh.readline()]), [])
        except UnicodeDecodeError:
            raise PushError(f"{path}: line 1: the file is not UTF-8 text") from None
    names = _check_header(path, source, header)
    if streamed:
        return send_file(project, source, stream_engine, path, names, lambda: csv_records(path), rules)
    engine = project.db.engine
    if not engine.supports_copy:
        return insert_file(project, source, path, names, lambda: csv_records(path), rules)
    if not engine.enforces_checks:
        _check_csv(path, names, rules)
    scan = engine.enforces_checks and any("time_words" in rules.get(n, ()) for n in names)
    try:
        return _copy_csv(project, source, path, names, checks, progress, scan)
    except _TimeWord:
        _check_csv(path, names, rules)  # names the line and column of the word
        # a false alarm (the word is in a text column, or part of a time PostgreSQL reads as written)
        return _copy_csv(project, source, path, names, checks, progress, scan=False)


def _copy_csv(project: Project, source: Source, path: Path, names: list[str], checks: list[RowCheck],
              progress: bool, scan: bool) -> int:
    """Stream the file to COPY; with ``scan``, stop (raising _TimeWord) at the first time word in it."""
    conn = project.db.conn
    sql = f"copy {source.table} ({', '.join(names)}) from stdin (format csv, header true)"
    words = _WordScan() if scan else None
    try:
        with _progress(path, progress) as bar, conn.transaction(), conn.cursor() as cur:
            task = bar.add_task(f"push {path.name}", total=path.stat().st_size) if bar else None
            with cur.copy(sql) as copy, path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    if words is not None and words.seen(chunk):
                        raise _TimeWord
                    copy.write(chunk)
                    if bar is not None:
                        bar.advance(task, len(chunk))
            return cur.rowcount
    except psycopg.Error as exc:
        def line_of(copy_line: int) -> int:
            found = _csv_at(path, copy_line)
            return copy_line if found is None else found[0]

        def value_of(copy_line: int, column: str) -> Any:
            found = _csv_at(path, copy_line)
            return None if found is None else found[1][names.index(column)]

        raise _copy_error(path, exc, line_of, {c.name: c for c in checks}, value_of) from None


def _read_jsonl(path: Path, source: Source,
                rules: dict[str, tuple[str, ...]]) -> tuple[list[str], list[list[Any]], dict[int, int]]:
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
            for column, column_rules_ in rules.items():
                message = refusal(record.get(column), column_rules_)
                if message is not None:
                    raise _refused(path, lineno, column, message)
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


def _load_rows(project: Project, source: Source, path: Path, columns: list[str], rows: Any,
               line_of: dict[int, int] | None, checks: list[RowCheck]) -> int:
    """Rows of text through one COPY (JSONL on engines with COPY FROM STDIN): all or nothing."""
    conn = project.db.conn
    count = 0
    try:
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(f"copy {source.table} ({', '.join(columns)}) from stdin") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        return count
    except psycopg.Error as exc:
        kept = rows if isinstance(rows, list) else None

        def value_of(record: int, column: str) -> Any:
            return None if kept is None else kept[record - 1][columns.index(column)]

        raise _copy_error(path, exc, None if line_of is None else (lambda n: line_of.get(n, n)),
                          {c.name: c for c in checks}, value_of) from None

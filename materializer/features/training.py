"""Point-in-time training sets from the same definitions that serve online (DESIGN §5, §6).

The spine (CSV, Parquet, a pandas DataFrame or a query) is loaded into a
temporary table with its columns kept as text and a row number; every
requested feature view is evaluated at each spine row's own timestamp by the
``training_windowed`` / ``training_latest`` macros (only the requested
features; the points sorted by entity and time, so consecutive index probes
share pages); the result is streamed through a server-side cursor in the
spine's order, so memory does not grow with the output. The output has the
spine's columns unchanged, then one column per feature named ``view__feature``.

A windowed view has two PostgreSQL forms (see the macro): ``frames`` sorts the
points with the events (cost ~ (points + events) * log) and ``probes`` reads
each point's window through the index (cost ~ points * events per window).
``_windowed_method`` picks one from a sample of the points, with costs per row
measured by ``bench/training_set.py``. From PARALLEL_MIN_POINTS spine rows the
views are evaluated in parts (by a hash of the key) on two connections at once,
through unlogged work tables dropped at the end.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from materializer.definitions.names import fit
from materializer.definitions.spec import FeatureView, OnDemandView
from materializer.definitions.values import check_text, coerce
from materializer.errors import InputError, MaterializerError, did_you_mean
from materializer.extras import optional
from materializer.features.online import native
from materializer.features.refs import resolve_features
from materializer.progress import PROGRESS_MIN_BYTES, PROGRESS_MIN_ROWS, Phases
from materializer.sql.compile import feature_args, window_args
from materializer.sql.render import renderer

if TYPE_CHECKING:
    from materializer.project import Project

SPINE = "_materializer_spine"
TIMESTAMP_COLUMN = "event_timestamp"
# None: pick the windowed form by estimated cost; 'frames' or 'probes' forces one (the tests run both).
WINDOWED_METHOD: str | None = None
# Microseconds per unit, from explain analyze on bench/training_set.py's data (10M events appended
# in time order, 100k keys, 1M points, 2 cores, BENCHMARKS.md): a probe costs about 1.3 us per
# (point, event in its window) pair; frames cost about 0.85 us per sorted row (points and
# events), 0.5 us more per row and RANGE frame (one frame per window), and 0.45 us per event of the
# relation, which they scan once (a hash join on the keys).
PROBE_US_PER_PAIR = 1.3
FRAMES_US_PER_ROW = 0.85
FRAMES_US_PER_ROW_AND_FRAME = 0.5
FRAMES_US_PER_SCANNED_EVENT = 0.45
SAMPLE_POINTS = 1000
# From this many spine rows the views are evaluated on WORKERS connections at once, each in PARTS
# by key (PostgreSQL runs one query on one core; the tables are then shared, unlogged).
PARALLEL_MIN_POINTS = 200_000
WORKERS = 2
PARTS = 2
# Type oids whose COPY text is what the CSV should hold: int2/4/8, numeric, float4/8, text,
# varchar, bpchar (float8 prints its shortest exact form, as in JSON).
PLAIN_TEXT_TYPES = frozenset({21, 23, 20, 1700, 700, 701, 25, 1043, 1042})
PROGRESS_STEP = 10_000  # rows written between two updates of the bar
MAX_SPINE_COLUMNS = 1599  # PostgreSQL's 1600 columns per table, less the row number


# The COPY line (and column) of an error loading a spine: "COPY _materializer_spine, line 3, column c1: ..."
_COPY_CONTEXT = re.compile(r"COPY \S+, line (\d+)(?:, column c(\d+))?")


def _csv_line(path: Path, record: int) -> int:
    """The file line where CSV record ``record`` starts (the header is record 1; a quoted field may
    span lines), or ``record`` when the file cannot be read that far."""
    try:
        with path.open("r", encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            end = 0
            for n, _ in enumerate(reader, start=1):
                if n == record:
                    return end + 1
                end = reader.line_num
    except (csv.Error, UnicodeDecodeError, OSError):
        pass
    return record


def _load_csv(conn: psycopg.Connection, path: Path) -> list[str]:
    try:
        with path.open("rb") as fh:
            header = next(csv.reader([fh.readline().decode("utf-8")]), [])
    except UnicodeDecodeError:
        raise InputError(f"{path}: line 1: not UTF-8 text; save the spine as UTF-8 CSV") from None
    except csv.Error as exc:
        raise InputError(f"{path}: line 1: {exc}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the spine: {exc.strerror or exc}") from None
    if not header or header == [""]:
        raise InputError(f"{path}: line 1: expected a header row naming the spine's columns")
    _create_spine(conn, header)
    cols = ", ".join(f"c{i}" for i in range(len(header)))
    try:
        with conn.cursor() as cur, cur.copy(f"copy {SPINE} ({cols}) from stdin (format csv, header true)") as copy, \
                path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
    except psycopg.Error as exc:
        reason = " ".join((exc.diag.message_primary or str(exc)).split())
        m = _COPY_CONTEXT.search(exc.diag.context or "")
        where = ""
        if m:
            where = f" line {_csv_line(path, int(m.group(1)))}"
            if m.group(2) is not None and int(m.group(2)) < len(header):
                where += f", column {header[int(m.group(2))]}"
            where += ":"
        if "0x00" in reason:
            reason = "a NUL byte (0x00), which text cannot hold; remove it"
        elif "invalid byte sequence" in reason:
            reason += " (not UTF-8 text; save the spine as UTF-8 CSV)"
        raise InputError(f"{path}:{where} {reason}") from None
    return header


def _create_spine(conn: psycopg.Connection, header: list[str]) -> None:
    if len(header) > MAX_SPINE_COLUMNS:
        raise InputError(f"the spine has {len(header)} columns; at most {MAX_SPINE_COLUMNS} fit in a table")
    for name in header:
        check_text(name, "a spine column name")
    seen: set[str] = set()
    dupes = sorted({h for h in header if h in seen or seen.add(h)})
    if dupes:
        raise InputError(f"the spine has the column {dupes[0]!r} twice")
    cols = ", ".join(f"c{i} text" for i in range(len(header)))
    conn.execute(f"drop table if exists {SPINE}")
    conn.execute(f"create temporary table {SPINE} (_row bigint generated always as identity, {cols})")


def _missing(value: Any) -> bool:
    """None, NaN, and pandas' NA and NaT (told apart by type name: pandas is optional)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ in (
        "NAType", "NaTType")


def _text(value: Any) -> str | None:
    """A spine value as the text stored for it: None, NaN, NA and NaT (pandas' missing values) are null."""
    if _missing(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _load_rows(conn: psycopg.Connection, header: list[str], rows: Iterator[list[Any]],
               typed: dict[str, str | None] | None = None) -> None:
    """Rows of Python values into the spine table; the values of ``typed`` columns (keys and request
    fields, by their SQL type) are checked as online lookups check them: text is parsed, other values
    must have the column's kind (an int is not a text key)."""
    _create_spine(conn, header)
    cols = ", ".join(f"c{i}" for i in range(len(header)))
    checks = [(i, name, (typed or {})[name]) for i, name in enumerate(header) if name in (typed or {})]
    with conn.cursor() as cur, cur.copy(f"copy {SPINE} ({cols}) from stdin") as copy:
        for n, row in enumerate(rows, start=1):
            values = list(row)
            for i, name, sql_type in checks:
                value = native(values[i])
                values[i] = None if _missing(value) else coerce(value, sql_type, f"spine row {n}, column {name}")
            texts = [_text(v) for v in values]
            for name, text in zip(header, texts):
                if text is not None:
                    check_text(text, f"spine row {n}, column {name}")
            copy.write_row(texts)


def load_spine(project: Project, spine: Any = None, spine_sql: str | None = None,
               typed: dict[str, str | None] | None = None) -> list[str]:
    """Load the spine into a temporary table; returns its column names. ``typed``: the SQL types of
    the key and request columns, whose Python values (DataFrame, Parquet, dicts) are checked."""
    conn = project.db.conn
    if spine_sql is not None:
        check_text(spine_sql, "--spine-sql")
        try:
            cur = conn.execute(f"select * from ({spine_sql}) as spine limit 0")
            header = [d.name for d in cur.description or []]
            _create_spine(conn, header)
            cols = ", ".join(f"c{i}" for i in range(len(header)))
            casts = ", ".join(f"cast(spine.{psycopg.sql.Identifier(h).as_string(conn)} as text)" for h in header)
            conn.execute(f"insert into {SPINE} ({cols}) select {casts} from ({spine_sql}) as spine")
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError):  # the connection, not the query
                raise
            reason = " ".join((exc.diag.message_primary or str(exc)).split())
            raise InputError(f"--spine-sql: {reason}; give one SELECT query that returns the spine") from None
        return header
    if isinstance(spine, (str, Path)):
        path = Path(spine)
        if "\x00" in str(path):
            raise InputError(f"the spine's path {str(path)!r} holds a NUL character (\\x00), which no file name can")
        if not path.exists():
            raise InputError(f"{path}: no such spine file")
        if path.suffix.lower() == ".parquet":
            pd = optional("pandas", "a Parquet spine")
            optional("pyarrow", "a Parquet spine")
            try:
                frame = pd.read_parquet(path)
            except (OSError, ValueError) as exc:
                raise InputError(f"{path}: not a readable Parquet file: {' '.join(str(exc).split())}") from None
            header = [str(c) for c in frame.columns]
            _load_rows(conn, header, frame.itertuples(index=False, name=None), typed)
            return header
        return _load_csv(conn, path)
    if hasattr(spine, "itertuples") and hasattr(spine, "columns"):
        header = [str(c) for c in spine.columns]
        _load_rows(conn, header, spine.itertuples(index=False, name=None), typed)
        return header
    if isinstance(spine, (list, tuple)) and spine and all(isinstance(row, Mapping) for row in spine):
        header = list(dict.fromkeys(str(c) for row in spine for c in row))
        _load_rows(conn, header, ([row.get(c) for c in header] for row in spine), typed)
        return header
    raise MaterializerError("the spine must be a CSV or Parquet path, a pandas DataFrame, a non-empty list of "
                            "dicts (one per row), or --spine-sql")


def _check_spine(project: Project, header: list[str], views: list[FeatureView], ts_column: str
                 ) -> tuple[dict[str, int], int]:
    """The position of each spine column, and how many spine times have no time zone."""
    position = {name: i for i, name in enumerate(header)}
    needed = [ts_column] + [k for v in views for k in v.entity]
    for name in needed:
        if name not in position:
            what = "timestamp column (--timestamp-column)" if name == ts_column else "entity column"
            raise MaterializerError(f"the spine has no {what} {name!r}{did_you_mean(name, header)}; "
                                    f"its columns: {', '.join(header) or '(none)'}")
    conn = project.db.conn
    ts = f"c{position[ts_column]}"
    # PostgreSQL also reads 'now', 'yesterday' or 'epoch' as times: a spine must name its times
    first_bad, naive = conn.execute(
        f"select min(_row) filter (where {ts} is null or {ts} !~ '^\\s*[0-9]' "
        f"or not pg_input_is_valid({ts}, 'timestamptz')), "
        f"count(*) filter (where {ts} !~ '([zZ]|[+-][0-9]{{2}}(:?[0-9]{{2}})?)$') from {SPINE}").fetchone()
    if first_bad is not None:
        value = conn.execute(f"select {ts} from {SPINE} where _row = %s", [first_bad]).fetchone()[0]
        raise MaterializerError(f"spine row {first_bad} (line {first_bad + 1} of a CSV): {ts_column} = {value!r} is "
                                "not a timestamp; use ISO 8601, for example 2026-01-01T12:00:00Z")
    return position, naive


def _check_types(project: Project, position: dict[str, int], typed: dict[str, str | None],
                 spine: Any) -> None:
    """Every non-null value of a key or request column must be valid input for its type: the first
    that is not is an InputError naming the spine line (CSV) or row and the column."""
    checked = [(name, sql_type) for name, sql_type in typed.items()
               if name in position and sql_type and sql_type.split("(")[0].strip().lower() != "text"]
    if not checked:
        return
    conn = project.db.conn
    firsts = ", ".join(f"min(_row) filter (where c{position[name]} is not null and "
                       f"not pg_input_is_valid(c{position[name]}, %s))" for name, _ in checked)
    found = conn.execute(f"select {firsts} from {SPINE}", [t for _, t in checked]).fetchone()
    bad = [(row, name, sql_type) for row, (name, sql_type) in zip(found, checked) if row is not None]
    if not bad:
        return
    row, name, sql_type = min(bad)
    value = conn.execute(f"select c{position[name]} from {SPINE} where _row = %s", [row]).fetchone()[0]
    if isinstance(spine, (str, Path)) and Path(spine).suffix.lower() != ".parquet":
        where = f"{spine}: line {_csv_line(Path(spine), row + 1)}, column {name}"
    else:
        where = f"spine row {row}, column {name}"
    shown = repr(value) if len(value) <= 60 else repr(value[:57]) + "..."
    raise InputError(f"{where}: {shown} is not a valid {sql_type}")


# Key types whose values the frames form may sort bytewise (collate "C"): equality is the same in
# any deterministic collation, and byte order sorts fastest (about 15% of the query at 1M points).
TEXT_TYPES = ("text", "varchar", "character varying", "char", "character", "bpchar")


def key_types(conn: psycopg.Connection | None, view: FeatureView) -> dict[str, str]:
    """The types of a view's keys: declared for a managed source; for an existing table (whose columns
    the project does not declare), read from the catalog, so that the points compare with its keys
    (`numeric = text` has no operator); text when neither is known."""
    types = {k: view.source.column_type(k) for k in view.entity}
    missing = [k for k, t in types.items() if t is None]
    if missing and conn is not None:
        rows = conn.execute(
            "select attname, format_type(atttypid, atttypmod) from pg_attribute "
            "where attrelid = to_regclass(%s) and attname = any(%s) and attnum > 0 and not attisdropped",
            [view.source.relation, missing]).fetchall()
        types.update(dict(rows))
    return {k: t or "text" for k, t in types.items()}


def _byte_sorted_keys(view: FeatureView, types: dict[str, str] | None = None) -> list[str]:
    """The entity columns of plain text types (the points carry undeclared types as text)."""
    types = types or key_types(None, view)
    return [k for k in view.entity if types[k].split("(")[0].strip().lower() in TEXT_TYPES]


def _view_sql(view: FeatureView, points: str, engine: str, outputs: list[str] | None = None,
              method: str = "frames", types: dict[str, str] | None = None) -> str:
    """The training query of one view; ``outputs`` limits it to these feature columns (None: all);
    ``types`` are the keys' types (key_types)."""
    r = renderer(engine)
    if view.kind == "latest":
        features = [f for f in feature_args(view) if outputs is None or f["name"] in outputs]
        return r.call("training_latest", points=points, relation=view.source.relation, entity=list(view.entity),
                      timestamp=view.source.timestamp, features=features,
                      max_age=view.max_age.sql_interval if view.max_age else None, tie_break=view.tie_break)
    return r.call("training_windowed", points=points, relation=view.source.relation, entity=list(view.entity),
                  timestamp=view.source.timestamp, windows=window_args(view), features=feature_args(view),
                  columns=view.columns_read, outputs=outputs, method=method,
                  byte_sorted=_byte_sorted_keys(view, types))


def _windowed_method(conn: psycopg.Connection, view: FeatureView, points: str, outputs: list[str] | None) -> str:
    """'probes' or 'frames' for one windowed view, whichever is estimated cheaper at these points.

    From about SAMPLE_POINTS points spread over the spine: the events each one's longest window
    holds (what probes read) and the events of its key between the key's first point minus that
    window and its last point, divided among the key's points (what frames sort), scaled to the
    spine; the relation's size (pg_class.reltuples) for the scan frames make; then the costs above.
    """
    chosen = [o for o in view.output_features if outputs is None or o.name in outputs]
    framed = {o.window.text for o in chosen if o.window is not None and o.feature.agg != "count_distinct"}
    if WINDOWED_METHOD is not None:
        return WINDOWED_METHOD
    if not framed or view.columns_read is None:
        return "probes"
    longest = max((o.window for o in chosen if o.window is not None), key=lambda w: w.seconds)
    n = conn.execute(f"select count(*) from {points}").fetchone()[0]
    if n == 0:
        return "probes"
    rel, ts = view.source.relation, view.source.timestamp
    keys = list(view.entity)
    same = " and ".join(f"e.{k} = s.{k}" for k in keys)
    # CTE and column names no source or key can have (a CTE would hide a table of its name)
    sql = f"""
        with _materializer_sampled as (
            select _ts, {', '.join(keys)} from {points} where _row %% %(step)s = 0
        ),
        _materializer_per_key as (
            select {', '.join(f'p.{k}' for k in keys)}, count(*) as _materializer_points,
                min(p._ts) - {longest.sql_interval} as _materializer_since, max(p._ts) as _materializer_until
            from {points} as p
            where ({', '.join(f'p.{k}' for k in keys)}) in (select {', '.join(keys)} from _materializer_sampled)
            group by {', '.join(f'p.{k}' for k in keys)}
        )
        select
            count(*),
            sum((select count(*) from {rel} as e where {same} and e.{ts} <= s._ts
                 and e.{ts} >= s._ts - {longest.sql_interval})),
            sum((select count(*) from {rel} as e where {same} and e.{ts} >= k._materializer_since
                 and e.{ts} <= k._materializer_until) / k._materializer_points::float8)
        from _materializer_sampled as s
        inner join _materializer_per_key as k using ({', '.join(keys)})
    """
    sampled, pairs, events = conn.execute(sql, {"step": max(1, n // SAMPLE_POINTS)}).fetchone()
    if not sampled:
        return "probes"
    scanned = conn.execute("select greatest(coalesce(sum(reltuples), 0), 0) from pg_class where oid = "
                           "to_regclass(%s)", [rel]).fetchone()[0]
    pairs_total = n * float(pairs) / sampled
    rows_total = n + n * float(events) / sampled
    probes = pairs_total * PROBE_US_PER_PAIR
    frames = (rows_total * (FRAMES_US_PER_ROW + FRAMES_US_PER_ROW_AND_FRAME * len(framed))
              + float(scanned) * FRAMES_US_PER_SCANNED_EVENT)
    return "probes" if probes <= frames else "frames"


def _create_points(conn: psycopg.Connection, view: FeatureView, position: dict[str, int], timestamp_column: str,
                   points: str, kind: str = "temporary", where: str = "", spine: str = SPINE) -> None:
    """The spine's rows as a view's points (``_row``, ``_ts``, typed keys), sorted by entity and
    time: a view's probes for one key then walk the same index and heap pages."""
    types = key_types(conn, view)
    keys = ", ".join(f"cast(c{position[k]} as {types[k]}) as {k}" for k in view.entity)
    conn.execute(f"drop table if exists {points}")
    conn.execute(f"create {kind} table {points} as select _row, cast(c{position[timestamp_column]} as "
                 f"timestamptz) as _ts, {keys} from {spine} {where} order by {', '.join(view.entity)}, _ts")
    conn.execute(f"analyze {points}")


def _evaluate_points(project: Project, conn: psycopg.Connection, view: FeatureView, points: str, result: str,
                     kind: str = "temporary", outputs: list[str] | None = None) -> None:
    """One view at the given points into the table ``result``."""
    method = "frames" if view.kind == "latest" else _windowed_method(conn, view, points, outputs)
    conn.execute(f"drop table if exists {result}")
    sql = _view_sql(view, points, project.engine, outputs, method, key_types(conn, view))
    conn.execute(f"create {kind} table {result} as {sql}")
    conn.execute(f"analyze {result}")  # the final query then hash-joins the results to the spine


def _evaluate_view(project: Project, view: FeatureView, position: dict[str, int], timestamp_column: str,
                   outputs: list[str] | None = None) -> str:
    """Evaluate one feature view (``outputs``: only these features) at every spine row into a
    temporary table; returns its name."""
    conn = project.db.conn
    points, result = fit(f"_materializer_points_{view.name}"), fit(f"_materializer_features_{view.name}")
    _create_points(conn, view, position, timestamp_column, points)
    _evaluate_points(project, conn, view, points, result, "temporary", outputs)
    return result


def _drop_leftovers(conn: psycopg.Connection) -> None:
    """Drop the shared work tables of training sets whose session has ended (a killed process)."""
    rows = conn.execute(
        "select c.relname from pg_class as c where c.relname ~ '^_mzt_[0-9]+_[0-9]+_[prs][0-9]+$' "
        "and c.relkind = 'r' and c.relnamespace = current_schema()::regnamespace "
        "and split_part(c.relname, '_', 3)::int not in (select pid from pg_stat_activity)").fetchall()
    for (name,) in rows:
        conn.execute(f"drop table if exists {name}")  # names matched '_mzt_<pid>_...' in pg_class


def _drop(conn: psycopg.Connection, tables: list[str]) -> None:
    """Drop the work tables a training set created (names built from integers only)."""
    for name in tables:
        conn.execute(f"drop table if exists {name}")
    tables.clear()


def _evaluate_shared(project: Project, views: list[FeatureView], position: dict[str, int],
                     timestamp_column: str, outputs: dict[str, list[str] | None],
                     created: list[str]) -> dict[str, str]:
    """Evaluate the views on WORKERS connections at once, each view in PARTS by a hash of its first
    key (so that one key's points stay together: frames sort a key's events once; any split gives
    the same values). Points and results are unlogged tables ``_mzt_<backend pid>_<view>_p<part>``
    and ``..._r<part>``, made by each connection from a shared copy of the spine's columns
    (``_mzt_<pid>_0_s0``); their names go to ``created`` for the caller to drop. Returns
    {view: a relation of its results}."""
    from concurrent.futures import ThreadPoolExecutor
    from queue import Queue

    from materializer.db.connection import connect

    conn = project.db.conn
    pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    _drop_leftovers(conn)
    # the spine's columns the views read, shared, so that each connection makes its own points
    spine = f"_mzt_{pid}_0_s0"
    created.append(spine)
    used = sorted({position[timestamp_column], *(position[k] for v in views for k in v.entity)})
    conn.execute(f"create unlogged table {spine} as select _row, {', '.join(f'c{i}' for i in used)} from {SPINE}")
    tasks: list[tuple[FeatureView, str, str, str]] = []
    tables: dict[str, str] = {}
    for i, view in enumerate(views):
        first = f"c{position[view.entity[0]]}"
        parts = []
        for part in range(PARTS):
            points, result = f"_mzt_{pid}_{i}_p{part}", f"_mzt_{pid}_{i}_r{part}"
            created += [points, result]
            where = f"where mod(hashtext(coalesce({first}, ''))::bigint + 2147483648, {PARTS}) = {part}"
            tasks.append((view, points, result, where))
            parts.append(f"select * from {result}")
        tables[view.name] = f"({' union all '.join(parts)})"
    pool: Queue = Queue()
    pool.put(conn)
    extra = [connect(project.db.dsn, project.db.engine, project.db.cluster) for _ in range(WORKERS - 1)]
    for c in extra:
        pool.put(c)

    def run(task: tuple[FeatureView, str, str, str]) -> None:
        view, points, result, where = task
        c = pool.get()
        try:
            _create_points(c, view, position, timestamp_column, points, "unlogged", where, spine)
            _evaluate_points(project, c, view, points, result, "unlogged", outputs[view.name])
        finally:
            pool.put(c)

    try:
        with ThreadPoolExecutor(max_workers=WORKERS) as executor:
            for future in [executor.submit(run, task) for task in tasks]:
                future.result()
    finally:
        for c in extra:
            c.close()
    return tables


def _evaluate_on_demand(project: Project, od: OnDemandView, position: dict[str, int], tables: dict[str, str],
                        header: list[str]) -> str:
    """Evaluate an on-demand view at every spine row: request fields from the spine's columns."""
    from materializer.features.on_demand import REQUEST, select_list

    views = {v: project.spec.feature_views[v] for v in od.inputs}
    # aliases that no view can have: the joined views are aliased with their own names
    spine = "_materializer_spine_row"
    request = ", ".join(f"cast({spine}.c{position[f]} as {t}) as {f}" for f, t in od.request.items()) or "1 as _none"
    joins = " ".join(f"left join {tables[v]} as {v} on {v}._row = {spine}._row" for v in od.inputs)
    result = fit(f"_materializer_features_{od.name}")
    conn = project.db.conn
    conn.execute(f"drop table if exists {result}")
    conn.execute(f"create temporary table {result} as select {spine}._row, {select_list(od, views)} "
                 f"from {SPINE} as {spine} cross join lateral (select {request}) as {REQUEST} {joins}")
    conn.execute(f"analyze {result}")
    return result


def _spine_size(spine: Any) -> tuple[int | None, int]:
    """(size, the size from which a bar is shown): bytes of a spine file, rows of a DataFrame."""
    if isinstance(spine, (str, Path)) and Path(spine).exists():
        return Path(spine).stat().st_size, PROGRESS_MIN_BYTES
    if hasattr(spine, "itertuples") and hasattr(spine, "columns"):
        return len(spine), PROGRESS_MIN_ROWS
    return None, PROGRESS_MIN_ROWS


def refuse_engine(project: Project, what: str) -> None:
    """A one-line MaterializerError, before any connection, when the project's engine cannot run
    training sets (``Engine.training_sets_refused`` says why); ``what`` names what needs them.

    The feature queries themselves are one-off SELECTs the streaming engines could run (the
    training macros have Materialize and RisingWave forms: correlated subqueries, ASOF JOIN). The
    sequence around them is PostgreSQL's: the spine loaded with COPY FROM STDIN into a temporary
    table numbered by an identity column, the points and results as work tables made with CREATE
    TABLE AS and ANALYZE, pg_input_is_valid in the spine's checks, pg_class and pg_stat_activity in
    the estimate and the parallel evaluation; the refusal names the first step an engine lacks.
    """
    from materializer.engines import get_engine

    engine = get_engine(project.engine)
    if engine.training_sets_refused is None:
        return
    raise MaterializerError(
        f"{what} run on PostgreSQL, not on {engine.title}: {engine.training_sets_refused}; copy the sources into "
        "a PostgreSQL (`materializer db start`, then `materializer push`) and run it there with `engine: postgres`: "
        "the same definitions give the same values")


def build(project: Project, spine: Any, features: list[str], timestamp_column: str = TIMESTAMP_COLUMN,
          spine_sql: str | None = None, phases: Phases | None = None,
          as_text: bool = False, cleanup: list[str] | None = None) -> tuple[list[str], list[str], str]:
    """Load the spine and evaluate the features; returns (spine header, feature columns, the final query).

    ``cleanup`` collects the shared work tables the query reads (large spines): drop them with
    ``_drop`` once the query has run. Without a list, large spines are evaluated on one connection.

    ``as_text``: the query gives every feature as its JSON text (numbers as PostgreSQL prints them,
    true/false, ISO 8601 times), as COPY writes it to CSV.
    """
    refuse_engine(project, "training sets")
    phases = phases or Phases()
    wanted = resolve_features(project, features)
    on_demand = {n: project.spec.on_demand[n] for n in wanted if n in project.spec.on_demand}
    stored = [n for n in wanted if n not in on_demand]
    for od in on_demand.values():
        stored += [v for v in od.inputs if v not in stored]
    views = [project.spec.feature_views[n] for n in stored]
    # only the requested features, except for the inputs of on-demand views (their expressions
    # may read any feature)
    inputs = {v for od in on_demand.values() for v in od.inputs}
    outputs = {v.name: None if v.name in inputs else wanted[v.name] for v in views}
    phases.start(*_spine_size(spine))
    phases.phase("loading the spine")
    typed: dict[str, str | None] = {k: t for v in views for k, t in key_types(project.db.conn, v).items()}
    typed.update({f: t for od in on_demand.values() for f, t in od.request.items()})
    header = load_spine(project, spine, spine_sql, typed)
    position, naive = _check_spine(project, header, views, timestamp_column)
    for od in on_demand.values():
        for field_name in od.request:
            if field_name not in position:
                raise InputError(f"the spine has no column {field_name!r}, a request field of {od.name}"
                                 f"{did_you_mean(field_name, header)}; its columns: {', '.join(header)}")
    _check_types(project, position, typed, spine)
    if naive:  # once the spine is known to be good: an error is then the only line
        print(f"warning: {naive} spine timestamps have no time zone; they are read as UTC", file=sys.stderr)
    project.db.conn.execute(f"analyze {SPINE}")
    rows = project.db.conn.execute(f"select count(*) from {SPINE}").fetchone()[0]
    phases.start(rows, PROGRESS_MIN_ROWS)
    tables: dict[str, str] = {}
    if cleanup is not None and rows >= PARALLEL_MIN_POINTS and views:
        phases.phase(f"evaluating {', '.join(v.name for v in views)}")
        tables = _evaluate_shared(project, views, position, timestamp_column, outputs, cleanup)
    for view in views:
        if view.name not in tables:
            phases.phase(f"evaluating {view.name}")
            tables[view.name] = _evaluate_view(project, view, position, timestamp_column, outputs[view.name])
    for od in on_demand.values():
        phases.phase(f"evaluating {od.name}")
        tables[od.name] = _evaluate_on_demand(project, od, position, tables, header)
    phases.done()
    joins, values, out_names = [], [], []
    for i, name in enumerate(wanted):
        joins.append(f"left join {tables[name]} as f{i} on f{i}._row = s._row")
        view = project.spec.feature_views.get(name)
        for feature in wanted[name]:
            counted = view is not None and any(o.name == feature and o.is_count for o in view.output_features)
            values.append(f"coalesce(f{i}.{feature}, 0)" if counted else f"f{i}.{feature}")
            out_names.append(f"{name}__{feature}")
    spine_cols = ", ".join(f"s.c{i}" for i in range(len(header)))
    source = f"from {SPINE} as s {' '.join(joins)}"
    if as_text:
        # numbers and text as COPY prints them; anything else (booleans, times) as its JSON text
        described = project.db.conn.execute(f"select {', '.join(values)} {source} limit 0").description or []
        values = [v if d.type_code in PLAIN_TEXT_TYPES else f"to_json({v}) #>> '{{}}'"
                  for v, d in zip(values, described)]
    selects = ", ".join(f"{v} as {out}" for v, out in zip(values, out_names))
    query = f"select {spine_cols}, {selects} {source} order by s._row"
    return header, out_names, query


def stream_rows(project: Project, query: str, batch: int = 10000) -> Iterator[tuple]:
    """Rows of the final query through a server-side cursor (constant memory)."""
    conn = project.db.conn
    with conn.transaction(), conn.cursor(name="materializer_training_set") as cur:
        cur.itersize = batch
        cur.execute(query)
        yield from cur


def write_csv(project: Project, spine: Any, features: list[str], out: Path | None = None,
              timestamp_column: str = TIMESTAMP_COLUMN, spine_sql: str | None = None,
              progress: bool = False, console: Any = None) -> int:
    """Write the training set as CSV to ``out`` (stdout when None); returns the number of rows.

    The rows are PostgreSQL's ``COPY ... TO STDOUT (FORMAT csv)`` bytes, streamed as they come (an
    empty field is null, a quoted empty one the empty text); ``progress`` shows the phases on
    stderr (or ``console``) when the spine is large.
    """
    parquet = out is not None and out.suffix.lower() == ".parquet"
    if out is not None:
        check_output(out)
        if parquet:
            optional("pandas", "a Parquet output")
            optional("pyarrow", "a Parquet output")
    phases = Phases(progress, console)
    cleanup: list[str] = []
    try:
        header, names, query = build(project, spine, features, timestamp_column, spine_sql, phases,
                                     as_text=not parquet, cleanup=cleanup)
        total = project.db.conn.execute(f"select count(*) from {SPINE}").fetchone()[0]
        phases.phase("writing rows", total=total)
        if parquet:
            frame = to_frame(project, header, names, query, phases)
            try:
                frame.to_parquet(out, index=False)
            except OSError as exc:
                raise InputError(f"--out {out}: cannot write it: {exc.strerror or exc}") from None
            return len(frame)
        try:
            fh = out.open("wb") if out is not None else sys.stdout.buffer
        except OSError as exc:
            raise InputError(f"--out {out}: cannot write it: {exc.strerror or exc}") from None
        try:
            line = io.StringIO()
            csv.writer(line, lineterminator="\n").writerow([*header, *names])
            fh.write(line.getvalue().encode("utf-8"))
            return copy_csv(project, query, fh, phases)
        finally:
            if out is not None:
                fh.close()
            else:
                fh.flush()
    finally:
        phases.close()
        if cleanup:
            _drop(project.db.conn, cleanup)


def check_output(out: Path) -> None:
    """An InputError unless ``out`` is a .csv or .parquet file that can be created (checked before any
    work, so that a typo does not cost a training set)."""
    if "\x00" in str(out):
        raise InputError(f"--out {str(out)!r} holds a NUL character (\\x00), which no file name can")
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InputError(f"--out {out}: unknown file type {suffix or '(none)'}; a training set is written as "
                         ".csv or .parquet")
    if out.is_dir():
        raise InputError(f"--out {out}: is a folder; give a file name ending in {suffix}")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: the folder {out.parent} does not exist")


def copy_csv(project: Project, query: str, fh: Any, phases: Phases | None = None) -> int:
    """Stream the CSV rows of ``query`` into the binary file ``fh`` (constant memory); returns the count."""
    conn = project.db.conn
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(f"copy ({query}) to stdout (format csv)") as copy:
            for chunk in copy:
                fh.write(chunk)
                if phases is not None:
                    phases.advance(bytes(chunk).count(b"\n"))
        return cur.rowcount


def to_frame(project: Project, header: list[str], names: list[str], query: str, phases: Phases | None = None) -> Any:
    pd = optional("pandas", "a training set as a DataFrame or Parquet file")

    rows = []
    for row in stream_rows(project, query):
        rows.append(row)
        if phases is not None and len(rows) % PROGRESS_STEP == 0:
            phases.advance(PROGRESS_STEP)
    frame = pd.DataFrame.from_records(rows, columns=[*header, *names]) if rows else pd.DataFrame(
        columns=[*header, *names])
    for name in names:
        frame[name] = frame[name].map(lambda v: float(v) if isinstance(v, Decimal) else v)
    return frame


def training_frame(project: Project, spine: Any, features: list[str], timestamp_column: str = TIMESTAMP_COLUMN,
                   spine_sql: str | None = None) -> Any:
    """The training set as a pandas DataFrame: a DataFrame spine keeps its own columns and dtypes."""
    pd = optional("pandas", "project.training_set() (it returns a DataFrame; project.write_training_set() "
                            "writes CSV without it)")

    cleanup: list[str] = []
    try:
        header, names, query = build(project, spine, features, timestamp_column, spine_sql, cleanup=cleanup)
        frame = to_frame(project, header, names, query)
    finally:
        if cleanup:
            _drop(project.db.conn, cleanup)
    if hasattr(spine, "itertuples") and hasattr(spine, "columns"):
        return pd.concat([spine.reset_index(drop=True), frame[names]], axis=1)
    return frame

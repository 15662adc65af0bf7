"""The ``materializer`` command line: a thin layer over :class:`materializer.Project`.

Data goes to stdout, diagnostics to stderr. A MaterializerError is printed on
one line (no traceback) and exits 1.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from materializer.console import err_console, out_console
from materializer.db import embedded
from materializer.errors import InputError, MaterializerError
from materializer.project import PROJECT_FILE, Project, project_file

# control characters (a newline or an escape sequence in a file name or a value), line and paragraph
# separators, invisible and bidirectional formatting characters, and lone surrogates
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")
# the head of a project file's list of problems (definitions/checks.py), one problem per line after it
_PROBLEMS = re.compile(r"invalid project file \((\d+) problems\):\n")


def _printable(line: str) -> str:
    """``line`` with control characters and lone surrogates written as escapes: one terminal line."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), line)


def _print_error(exc: BaseException) -> None:
    from rich.text import Text

    from materializer.errors import ProjectError

    # one line; only a project file's list of problems has one line per problem, after a line counting them
    message = str(exc)
    lines = [message]
    head = _PROBLEMS.match(message)
    if isinstance(exc, ProjectError) and head and message.count("\n") == int(head.group(1)):
        lines = message.split("\n")
    err_console.print(Text("error: ", style="bold red") + Text("\n".join(_printable(line) for line in lines)))


class _Group(TyperGroup):
    """Prints a MaterializerError on one line and exits 1 (also under typer's CliRunner)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except MaterializerError as exc:
            _print_error(exc)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="materializer",
    cls=_Group,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
db_app = typer.Typer(help="The embedded PostgreSQL (data in .materializer/pgdata).", no_args_is_help=True)
app.add_typer(db_app, name="db")
dashboards_app = typer.Typer(help="Dashboards generated from the project file (Grafana provisioning).",
                             no_args_is_help=True)
app.add_typer(dashboards_app, name="dashboards")


class _State:
    project_path: Path = Path(PROJECT_FILE)


state = _State()


@app.callback()
def _main(
    project: Annotated[
        Path | None,
        typer.Option("--project", "-p", help="The project file, or a folder holding materializer.yml.",
                     envvar="MATERIALIZER_PROJECT", show_default=False),
    ] = None,
) -> None:
    """A feature store and ML monitor in pure SQL, on PostgreSQL, Materialize or RisingWave.

    Example: materializer init fraud && cd fraud && materializer apply
    """
    state.project_path = project or Path(PROJECT_FILE)


def _project_file() -> Path:
    return project_file(state.project_path)


def _root() -> Path:
    """The folder whose .materializer/ holds the embedded database: the project's, or the current one."""
    path = state.project_path
    try:
        exists = path.exists()
    except (OSError, ValueError) as exc:  # a name too long for the system
        raise MaterializerError(f"{path}: {getattr(exc, 'strerror', None) or exc}; --project (or "
                                "MATERIALIZER_PROJECT) takes the project file or the folder that holds it") from None
    if path != Path(PROJECT_FILE) and not exists:
        raise MaterializerError(f"{path}: no such file or folder; --project (or MATERIALIZER_PROJECT) takes the "
                                f"project file or the folder that holds it")
    return _project_file().resolve().parent


def _load(dbt_manifest: Path | None = None) -> Project:
    """The project of --project, or the feature views and monitors of a dbt manifest."""
    from materializer.project import load_project

    return load_project(_project_file(), dbt_manifest)


#: ``--dbt-manifest``: read the feature views and monitors a dbt project deployed instead of materializer.yml
DbtManifest = Annotated[
    Path | None,
    typer.Option("--dbt-manifest", envvar="MATERIALIZER_DBT_MANIFEST", show_default=False,
                 help="Read the feature views and monitors of a dbt project from its target/manifest.json "
                      "(models with meta.materializer) instead of materializer.yml."),
]


def _json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, default=str, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------- db


@db_app.command("start")
def db_start() -> None:
    """Start the embedded PostgreSQL (reused if running).

    Example: materializer db start
    """
    current = embedded.status(_root())
    if current.running:
        err_console.print(f"already running (pid {current.pid}) in {current.pgdata}")
    else:
        current = embedded.start(_root())
        err_console.print(f"started (pid {current.pid}) in {current.pgdata}")
    out_console.print(current.uri)


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL (its data stays in .materializer/pgdata).

    Example: materializer db stop
    """
    stopped = embedded.stop(_root())
    err_console.print("stopped" if stopped else "not running")


@db_app.command("status")
def db_status() -> None:
    """Say whether the embedded PostgreSQL is running; exit 1 when it is not.

    Example: materializer db status
    """
    current = embedded.status(_root())
    if current.running:
        out_console.print(f"running (pid {current.pid}) in {current.pgdata}: {current.uri}")
    else:
        out_console.print(f"not running ({current.pgdata})")
        raise typer.Exit(1)


@db_app.command("url")
def db_url() -> None:
    """Print the embedded PostgreSQL's connection URL (starting it if needed).

    Example: psql "$(materializer db url)"
    """
    current = embedded.status(_root())
    if not current.running:
        current = embedded.start(_root())
    out_console.print(current.uri)


@db_app.command("env")
def db_env() -> None:
    """Print `export PG...` lines naming the database, for dbt, psql and other libpq tools.

    The embedded PostgreSQL (started if needed), or the server of MATERIALIZER_DSN. PGHOST, PGPORT,
    PGUSER and PGDATABASE always; PGPASSWORD only when MATERIALIZER_DSN holds a password, which the
    output then contains in clear: evaluate it, do not paste it into logs.

    Example: eval "$(materializer db env)" && dbt build --profiles-dir .
    """
    import os
    import shlex

    from materializer.db.connection import DSN_ENV, libpq_environment, resolve_dsn

    dsn = os.environ.get(DSN_ENV) or resolve_dsn(_root(), quiet=True)
    variables = libpq_environment(dsn)
    if "PGPASSWORD" in variables:
        err_console.print(f"note: PGPASSWORD is the password of {DSN_ENV}, printed because these lines are meant "
                          "for eval; keep them out of logs")
    for name, value in variables.items():
        out_console.print(f"export {name}={shlex.quote(value)}", markup=False, highlight=False, soft_wrap=True)


# ---------------------------------------------------------------- project


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path("."),
    force: Annotated[bool, typer.Option(help="Overwrite an existing materializer.yml.")] = False,
) -> None:
    """Scaffold a working fraud-detection project (project file and sample data).

    Example: materializer init fraud && cd fraud && materializer apply
    """
    from materializer.demo.scaffold import scaffold

    created = scaffold(directory, force=force)
    for path in created:
        err_console.print(f"created {path}")
    cd = "" if directory.resolve() == Path.cwd() else f"cd {directory} && "
    err_console.print(f"next: {cd}materializer apply && materializer push transactions data/transactions.csv")


@app.command()
def validate(
    dbt_manifest: DbtManifest = None,
) -> None:
    """Check the project file (or a dbt project's manifest); print every problem with its key path and fix.

    Example: materializer validate
    """
    project = _load(dbt_manifest)
    spec = project.spec
    out_console.print(
        f"{dbt_manifest or _project_file()}: ok ({len(spec.sources)} sources, {len(spec.feature_views)} feature "
        f"views, {len(spec.monitors)} monitors, engine {spec.engine})"
    )


@app.command()
def compile(
    engine: Annotated[str | None, typer.Option("--engine", "-e",
                                                  help="postgres, materialize or risingwave (default: the project's).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write one .sql file per object here.")] = None,
) -> None:
    """Print (or write) the SQL of the project for any engine, without a database.

    Example: materializer compile --engine materialize
    """
    from materializer.sql.compile import compile_project, compile_sql

    project = _load()
    if out is None:
        sys.stdout.write(compile_sql(project.spec, engine))
        return
    out.mkdir(parents=True, exist_ok=True)
    for i, obj in enumerate(compile_project(project.spec, engine), start=1):
        path = out / f"{i:02d}_{obj.kind}_{obj.name}.sql"
        path.write_text(obj.statement + "\n", encoding="utf-8")
        err_console.print(f"wrote {path}")


@app.command()
def lint(
    engine: Annotated[str | None, typer.Option("--engine", "-e",
                                                  help="postgres, materialize or risingwave (default: the project's).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Check the SQL rendered for an engine, and what each command sends, against the engine's rules;
    one line per problem (object, rule, what, fix), exit 1 on any. Needs the lint extra.

    Example: materializer lint --engine risingwave
    """
    from materializer.engines import get_engine
    from materializer.sql.lint import lint_project, project_statements

    spec = _load().spec
    name = get_engine(engine or spec.engine).name
    findings = lint_project(spec, name)
    checked = len(project_statements(spec, name))
    if as_json:
        _json({"project": spec.name, "engine": name, "statements": checked,
               "findings": [f.to_dict() for f in findings]})
    else:
        for finding in findings:
            out_console.print(str(finding), markup=False, highlight=False, soft_wrap=True)
        problems = f"{len(findings)} problem{'' if len(findings) == 1 else 's'}" if findings else "no problems"
        err_console.print(f"{spec.name} on {name}: {checked} statements and the commands' transactions checked, "
                          f"{problems}", markup=False, highlight=False)
    if findings:
        raise typer.Exit(1)


@app.command()
def apply(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan and its SQL; change nothing.")] = False,
    drop_data: Annotated[bool, typer.Option("--drop-data",
                                            help="Allow dropping or rewriting source tables that hold rows.")] = False,
) -> None:
    """Create or replace the project's tables and views (idempotent; never drops data).

    Example: materializer apply --dry-run
    """
    with _load() as project:
        if dry_run:
            plan = project.plan(allow_drop_data=drop_data)
            out_console.print(plan.summary())
            if not plan.empty:
                sys.stdout.write("\n" + plan.sql() + "\n")
            return
        plan = project.apply(allow_drop_data=drop_data)
        out_console.print(plan.summary())


@app.command()
def push(
    source: Annotated[str, typer.Argument(help="A managed source of the project.")],
    file: Annotated[Path, typer.Argument(help="A .csv (with a header) or .jsonl file.")],
) -> None:
    """Load a CSV or JSONL file into a source: all rows or none.

    Example: materializer push transactions data/transactions.csv
    """
    with _load() as project:
        count = project.push(source, file, progress=sys.stderr.isatty())
        err_console.print(f"pushed {count} rows into {source}")


def _parse_keys(keys: list[str], option: str = "--key") -> dict[str, str]:
    out: dict[str, str] = {}
    for item in keys:
        name, sep, value = item.partition("=")
        if not sep or not name:
            what, example = ("COLUMN", "cc_num=4111") if option == "--key" else ("FIELD", "amount=120")
            raise InputError(f"{option} {item!r}: expected {what}=VALUE, for example {option} {example}")
        name = name.strip()
        if name in out:
            raise InputError(f"{option} {name} is given twice ({out[name]!r} and {value!r}); give it once")
        out[name] = value
    return out


@app.command()
def features(
    view: Annotated[str, typer.Argument(help="A feature view of the project.")],
    key: Annotated[list[str], typer.Option("--key", "-k", help="An entity key, COLUMN=VALUE (repeat for each key).")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Evaluate at this time (PostgreSQL only).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    request: Annotated[list[str] | None, typer.Option("--request", "-r", help="A request field of an on-demand "
                                                                              "view, NAME=VALUE (repeat).")] = None,
    dbt_manifest: DbtManifest = None,
) -> None:
    """Look up the current features of one entity (Feast-style statuses).

    Example: materializer features card_activity --key cc_num=4111-0001 --json
    """
    from rich.table import Table

    with _load(dbt_manifest) as project:
        result = project.online_features(view, _parse_keys(key), as_of=as_of,
                                         request=_parse_keys(request or [], "--request") if request else None)
    if as_json:
        _json(result.to_dict())
        return
    keys = ", ".join(f"{k}={v}" for k, v in result.entity.items())
    from rich.markup import escape

    table = Table(title=escape(f"{result.view} [{keys}] as of {result.as_of.isoformat()}"), title_justify="left")
    table.add_column("feature")
    table.add_column("value", justify="right")
    table.add_column("status")
    for name, value in result.features.items():
        status = result.statuses[name]
        table.add_row(name, escape("null" if value is None else f"{value:,.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)),
                      status if status == "PRESENT" else f"[yellow]{status}[/]")
    out_console.print(table)


@app.command("training-set")
def training_set(
    features: Annotated[str, typer.Option("--features", "-f", help="view:feature, view:* or feature services, "
                                                                     "comma-separated.")],
    spine: Annotated[Path | None, typer.Option("--spine", help="A CSV or Parquet file of entity keys and "
                                                                  "timestamps.")] = None,
    spine_sql: Annotated[str | None, typer.Option("--spine-sql", help="A query giving the spine, run on the "
                                                                          "engine.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here (.csv or .parquet); "
                                                                    "default stdout.")] = None,
    timestamp_column: Annotated[str, typer.Option("--timestamp-column", help="The spine's time column.")] =
        "event_timestamp",
    dbt_manifest: DbtManifest = None,
) -> None:
    """Build a point-in-time-correct training set: spine rows + features as of each row's time.

    Example: materializer training-set --spine spine.csv --features card_activity:*,card_last_tx:last_amount -o train.csv
    """
    if (spine is None) == (spine_sql is None):
        raise MaterializerError("give the spine with exactly one of --spine FILE or --spine-sql QUERY")
    with _load(dbt_manifest) as project:
        count = project.write_training_set(spine, features.split(","), out=out, timestamp_column=timestamp_column,
                                           spine_sql=spine_sql, progress=sys.stderr.isatty())
    err_console.print(f"wrote {count} rows" + (f" to {out}" if out else ""))


@app.command()
def verify(
    entities: Annotated[int, typer.Option("--entities", "-n", help="Entities sampled per feature view.")] = 20,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Compare at this time (default: now).")] = None,
) -> None:
    """Check that online values equal training-set values (train/serve skew); exit 1 on any mismatch.

    Example: materializer verify --entities 50
    """
    with _load() as project:
        report = project.verify(entities=entities, as_of=as_of)
    for m in report.mismatches[:20]:
        keys = ", ".join(f"{k}={v}" for k, v in m.entity.items())
        err_console.print(f"mismatch {m.view}:{m.feature} [{keys}]: online {m.online!r}, offline {m.offline!r}",
                          markup=False)
    summary = (f"{report.checked} values of {report.entities} entities checked at {report.as_of.isoformat()}: "
               f"{len(report.mismatches)} mismatches")
    out_console.print(summary)
    if not report.ok:
        raise typer.Exit(1)


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _metrics_view(project: Project, monitor: str, window: str | None, by: str | None,
                  as_of: str | None) -> Any:
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table

    result = project.metrics(monitor, window=window, by=by, as_of=as_of)
    table = Table(title=escape(f"{monitor}: window {result.window} as of {result.as_of.isoformat()}"),
                  title_justify="left")
    table.add_column("metric")
    for group in result.groups:
        label = ", ".join(f"{k}={v}" for k, v in group["by"].items()) or "all"
        table.add_column(escape(label), justify="right")
    names = list(result.groups[0]["metrics"]) if result.groups else []
    for name in names:
        table.add_row(name, *(_fmt(g["metrics"][name]) for g in result.groups))
    parts: list[Any] = [table]
    compared = project.versions(monitor, window=result.window, as_of=as_of)
    if compared:
        vt = Table(title="versions compared", title_justify="left")
        for col in ("metric", "a", "b", "value a", "value b", "statistic", "significant"):
            vt.add_column(col, justify="left" if col in ("metric", "a", "b") else "right")
        for row in compared:
            vt.add_row(row["metric"], escape(str(row["version_a"])), escape(str(row["version_b"])),
                       _fmt(row["value_a"]), _fmt(row["value_b"]), _fmt(row["statistic"]),
                       "yes" if row["significant"] else "no" if row["significant"] is not None else "n/a")
        parts.append(vt)
    drifted = project.drift(monitor, window=result.window, as_of=as_of)
    if drifted:
        dt = Table(title="drift against the reference", title_justify="left")
        for col in ("column", "n", "psi", "js", "ks"):
            dt.add_column(col, justify="left" if col == "column" else "right")
        for row in drifted:
            dt.add_row(escape(row["column_name"]), _fmt(row["n"]), _fmt(row["psi"]), _fmt(row["js"]), _fmt(row["ks"]))
        parts.append(dt)
    return result, Group(*parts)


@app.command()
def metrics(
    monitor: Annotated[str, typer.Argument(help="A monitor of the project.")],
    window: Annotated[str | None, typer.Option("--window", "-w", help="One of the monitor's windows "
                                                                         "(default: its first).")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Slice by `version` or a segment column.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Evaluate at this time (PostgreSQL only).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    watch: Annotated[float | None, typer.Option("--watch", help="Refresh every N seconds until Ctrl-C.",
                                                   show_default=False)] = None,
    show: Annotated[str, typer.Option("--show", help="metrics, timeseries (per bucket), versions (compared) or "
                                                     "drift.")] = "metrics",
    since: Annotated[str | None, typer.Option("--since", help="With --show timeseries: leave out older "
                                                                 "buckets.")] = None,
    dbt_manifest: DbtManifest = None,
) -> None:
    """Live model quality: metrics of a window, overall or by version or segment.

    Example: materializer metrics fraud_model --window 1d --by version
    """
    import time

    shows = ("metrics", "timeseries", "versions", "drift")
    if show not in shows:
        raise MaterializerError(f"--show {show!r}: use one of {', '.join(shows)}")
    with _load(dbt_manifest) as project:
        if show != "metrics":
            _monitor_rows(project, monitor, show, window, by, as_of, since, as_json)
            return
        if as_json:
            _json(project.metrics(monitor, window=window, by=by, as_of=as_of).to_dict())
            return
        _, view = _metrics_view(project, monitor, window, by, as_of)
        if watch is None:
            out_console.print(view)
            return
        from rich.live import Live

        with Live(view, console=out_console, auto_refresh=False) as live:
            try:
                while True:
                    time.sleep(max(watch, 0.2))
                    live.update(_metrics_view(project, monitor, window, by, as_of)[1], refresh=True)
            except KeyboardInterrupt:
                pass


def _monitor_rows(project: Project, monitor: str, show: str, window: str | None, by: str | None,
                  as_of: str | None, since: str | None, as_json: bool) -> None:
    """``metrics --show timeseries|versions|drift``: the JSON of the HTTP routes of the same names, or a table."""
    from rich.markup import escape
    from rich.table import Table

    from materializer.monitoring import metrics as reads

    if show == "timeseries":
        if window is not None:
            raise MaterializerError("--window does not apply to --show timeseries (one row per bucket)")
        doc = reads.timeseries_doc(project, monitor, by=by, as_of=as_of, since=since)
        rows = [{"bucket_start": b["bucket_start"], **b["by"], **b["metrics"]} for b in doc["buckets"]]
    else:
        if by is not None or since is not None:
            raise MaterializerError(f"--by and --since do not apply to --show {show}")
        fn = reads.versions_doc if show == "versions" else reads.drift_doc
        doc = fn(project, monitor, window=window, as_of=as_of)
        rows = doc["comparisons" if show == "versions" else "columns"]
    if as_json:
        _json(doc)
        return
    table = Table(title=escape(f"{monitor}: {show} as of {doc['as_of']}"), title_justify="left", box=None,
                  padding=(0, 2, 0, 0))
    headline = (("accuracy", "recall", "roc_auc", "cost") if project.spec.monitors[monitor].binary
                else ("mae", "rmse", "r2"))
    wanted = {"timeseries": ("bucket_start", *(by and [by] or []), "n", "coverage", "pending", *headline),
              "versions": ("metric", "version_a", "version_b", "n_a", "n_b", "value_a", "value_b", "statistic",
                           "significant"),
              "drift": ("column_name", "n", "psi", "js", "ks")}[show]
    names = [n for n in wanted if rows and n in rows[0]]
    short = {"version_a": "a", "version_b": "b", "statistic": "stat", "significant": "signif.", "coverage": "cov."}
    for name in names:
        table.add_column(short.get(name, name), no_wrap=True,
                         justify="left" if name in ("bucket_start", "metric", "column_name") else "right")
    for row in rows:
        cells = [row[n][:16].replace("T", " ") if n == "bucket_start" else row[n] for n in names]
        table.add_row(*(escape(_fmt(c)) for c in cells))
    out_console.print(table if rows else f"{monitor}: no {show} rows")


@app.command()
def reference(
    monitor: Annotated[str, typer.Argument(help="A monitor with a `reference:`.")],
) -> None:
    """Store the fixed drift bins of a monitor's reference (deciles, computed once).

    Example: materializer reference fraud_model
    """
    with _load() as project:
        counts = project.store_reference(monitor)
    for column, n in counts.items():
        err_console.print(f"stored 10-bin reference of {column} from {n} rows")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 exposes the server to the network.")] =
        "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (one per core serves the most requests).")] = 1,
    token: Annotated[str | None, typer.Option(envvar="MATERIALIZER_API_TOKEN", show_default=False,
                                                 help="Require Authorization: Bearer TOKEN on every route but "
                                                      "/healthz and /readyz.")] = None,
    max_entities: Annotated[int, typer.Option(help="Entity rows allowed in one lookup request.")] = 1000,
    max_body: Annotated[int, typer.Option(help="Largest lookup body, in bytes.")] = 1 << 20,
    max_push: Annotated[int, typer.Option(help="Largest push body, in bytes.")] = 32 << 20,
    statement_timeout: Annotated[float, typer.Option(help="Seconds a query may run (PostgreSQL).")] = 5.0,
    pool_size: Annotated[int, typer.Option(help="Database connections per worker.")] = 4,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Serve the state at this time (PostgreSQL only): "
                                                                 "replays, audits.")] = None,
    stream_interval: Annotated[float, typer.Option(help="Seconds between two readings of a streamed monitor "
                                                        "whose changes the engine does not push (a PostgreSQL "
                                                        "monitor over an external relation), or while its change "
                                                        "feed is disconnected.")] = 2.0,
    stream_heartbeat: Annotated[float, typer.Option(help="Seconds between heartbeats of a quiet stream (below "
                                                         "your proxies' idle timeout).")] = 15.0,
    stream_fallback: Annotated[float, typer.Option(help="Seconds between two readings of a streamed monitor whose "
                                                        "changes the engine pushes (the windows slide with the "
                                                        "clock).")] = 30.0,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    dbt_manifest: DbtManifest = None,
) -> None:
    """Serve online features (Feast's JSON), push, the catalog and monitors over HTTP.

    Example: materializer serve --port 8000 && curl localhost:8000/catalog
    """
    from materializer.db.connection import describe_dsn, resolve_dsn
    from materializer.serve.app import ServeSettings
    from materializer.serve.run import serve as run_server

    project = _load(dbt_manifest)
    for name, value in (("--workers", workers), ("--max-entities", max_entities), ("--max-body", max_body),
                        ("--max-push", max_push), ("--pool-size", pool_size)):
        if value < 1:
            raise MaterializerError(f"{name} must be at least 1")
    for name, value in (("--stream-interval", stream_interval), ("--stream-heartbeat", stream_heartbeat),
                        ("--stream-fallback", stream_fallback)):
        if not 0.05 <= value <= 3600:
            raise MaterializerError(f"{name} {value:g}: use between 0.05 and 3600 seconds")
    if not 0 < port < 65536:
        raise MaterializerError(f"--port {port} is not a port number (1-65535)")
    from materializer.engines import get_engine

    dsn = resolve_dsn(project.root, None, engine=get_engine(project.engine))
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        err_console.print(f"warning: serving on {host} without a token; anyone who can reach it can read and push. "
                          "Set --token or MATERIALIZER_API_TOKEN")
    settings = ServeSettings(token=token or None, max_entities=max_entities, max_body_bytes=max_body,
                             max_push_bytes=max_push, statement_timeout=statement_timeout, pool_size=pool_size,
                             as_of=as_of, stream_interval=stream_interval, stream_heartbeat=stream_heartbeat,
                             stream_fallback=stream_fallback)
    err_console.print(f"serving {project.name} from {describe_dsn(dsn)} on http://{host}:{port} "
                      f"({workers} worker{'s' if workers > 1 else ''}); API description at /docs")
    run_server(_project_file(), dsn, host, port, workers, settings, log_level=log_level, access_log=access_log,
               dbt_manifest=dbt_manifest)


@app.command()
def catalog(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
    dbt_manifest: DbtManifest = None,
) -> None:
    """List every source, feature view, feature, service and monitor, with each view's freshness.

    Example: materializer catalog --json
    """
    from rich.markup import escape
    from rich.table import Table

    from materializer.features.catalog import catalog as read_catalog

    with _load(dbt_manifest) as project:
        doc = read_catalog(project)
    if as_json:
        _json(doc)
        return
    from datetime import datetime

    now = datetime.fromisoformat(doc["as_of"])
    out_console.print(f"{escape(doc['project'])} ({doc['engine']}) as of {now:%Y-%m-%d %H:%M:%S %Z}")
    for source in doc["sources"]:  # only the sources that read a stream or have a backfill
        if line := _source_line(source):
            out_console.print(escape(line))
    for view in doc["feature_views"]:
        newest = view["newest_event"]
        when = (f"newest event {datetime.fromisoformat(newest):%Y-%m-%d %H:%M:%S}, {_age(view['age_seconds'])} ago"
                if newest else "no events yet")
        shape = f"windows {', '.join(view['windows'])}" if view["windows"] else f"max age {view['max_age'] or 'none'}"
        table = Table(title=escape(f"{view['name']} (key {', '.join(view['entity'])}; {shape}; {when})"),
                      title_justify="left", box=None, padding=(0, 2, 0, 0))
        for col in ("feature", "type", "aggregate", "column", "window", "filter"):
            table.add_column(col)
        for f in view["features"]:
            table.add_row(escape(f["name"]), f["type"] or "", f["aggregate"], escape(f["column"] or ""),
                          f["window"] or "", escape(f["filter"] or ""))
        out_console.print()
        out_console.print(table)
    for od in doc["on_demand_features"]:
        out_console.print(f"\non-demand {escape(od['name'])} (key {', '.join(od['entity'])}; request "
                          f"{escape(', '.join(od['request']))}): {escape(', '.join(f['name'] for f in od['features']))}")
    if doc["feature_services"]:
        out_console.print()
    for service in doc["feature_services"]:
        out_console.print(f"feature service {escape(service['name'])}: {escape(', '.join(service['features']))}")
    for m in doc["monitors"]:
        out_console.print(f"\nmonitor {escape(m['name'])} ({m['task']}, {m['label_policy']}; windows "
                          f"{', '.join(m['windows'])}): views {escape(', '.join(m['views'].values()))}")


def _source_line(source: dict) -> str | None:
    """A source's stream and backfill settings in one line of the catalog's text (None: it has neither)."""
    stream, backfill = source.get("stream"), source.get("backfill")
    parts = []
    if stream and stream["kind"] == "kafka":
        parts.append(f"kafka topic {stream['topic']} at {stream['broker']} (start {stream['start']})")
    elif stream:
        parts.append(stream["kind"])
    if backfill:
        parts.append(f"backfill from {backfill['relation']} until {backfill['until']}")
    return f"source {source['name']}: {'; '.join(parts)}" if parts else None


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


@dashboards_app.command("grafana")
def dashboards_grafana(
    out: Annotated[Path, typer.Option("--out", "-o", help="The folder to write (created if missing): "
                                                          "Grafana reads its datasources/ and dashboards/.")],
    engine: Annotated[str | None, typer.Option("--engine", "-e", help="postgres, materialize or risingwave "
                                                                         "(default: the project's).")] = None,
    dsn: Annotated[str | None, typer.Option("--dsn", help="The database as Grafana reaches it, without a "
                                               "password (default: the engine's service in docker-compose.yml).",
                                               show_default=False)] = None,
) -> None:
    """Write Grafana provisioning: a datasource, a dashboard per monitor and one for feature freshness.

    Example: materializer dashboards grafana --out grafana --engine materialize
    """
    from materializer.monitoring.grafana import PASSWORD_ENV, provisioning, write

    prov = provisioning(_load().spec, engine, dsn)
    written, removed = write(prov, out)
    panels = {f"dashboards/{prov.folder}/{d.file}": len(d.panels) for d in prov.dashboards}
    ds = prov.datasource
    for path in written:
        relative = path.relative_to(out).as_posix()
        note = (f" ({prov.engine} at {ds.url}/{ds.database} as {ds.user}; password from {PASSWORD_ENV})"
                if relative.startswith("datasources/") else
                f" ({panels[relative]} panels)" if relative in panels else "")
        err_console.print(f"wrote {path}{note}", markup=False, highlight=False)
    for path in removed:
        err_console.print(f"removed {path} (its monitor is gone)", markup=False, highlight=False)


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where to create the demo project.")] = Path(
        "materializer-demo"),
    duration: Annotated[float, typer.Option(help="Seconds to stream transactions.")] = 30.0,
    rate: Annotated[float, typer.Option(help="Transactions per second.")] = 40.0,
) -> None:
    """Create the fraud example, stream transactions into it and show live features.

    Example: materializer demo --duration 20
    """
    from materializer.demo.runner import run_demo

    run_demo(directory, duration=duration, rate=rate)


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()

"""The command line never ends in a traceback: hostile values through every command (hypothesis).

Names, keys, times, files (binary, empty, huge lines, wrong encodings), connection strings with
passwords and project files go through validate, compile, apply --dry-run, push, features, metrics
(every --show), training-set, verify, reference, catalog and db, always with the options a command
requires (a missing option is click's usage error, exit 2). Every invocation must exit 0 or 1; on 1,
stderr holds one message, `error: ...` (a project file's list of problems has one line per problem),
with no traceback; a password is never printed. Each test applies one project on the real
PostgreSQL and shares it between its examples; examples are few (25; MATERIALIZER_CLI_EXAMPLES=200
explores more) and bounded, so that this runs on every push in about half a minute.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from materializer.cli import app
from tests.test_cli_errors import EVENTS, PROJECT

PASSWORD = "pw-S3cret"
FAST = settings(max_examples=int(os.environ.get("MATERIALIZER_CLI_EXAMPLES", "25")), deadline=timedelta(seconds=10),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
                print_blob=True)

# ---------------------------------------------------------------- hostile values

EDGE = [
    "", " ", "'", '"', "\\", "--", "'; drop table events; --", "%s", "%(x)s", "{}", "{x}", "[bold]x[/]", "[/]",
    "\n", "\r\n", "\t", "\x1b[31mred", "\x7f", "\u0085", "\u2028", "\ufeff", "é", "ünï-キー-💳", "\udcff", "a\udc80b",
    "a" * 5000, "-1", "-x", "--help", "0", "1.5", "1e309", "NaN", "nan", "Infinity", "-infinity", "1_000", "٣",
    "9223372036854775808", "-9223372036854775809", "true", "null", "None", "0001-01-01", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00", "2026-02-30", "2026-01-01T25:00:00Z", "now", "epoch", "yesterday", "allballs",
    "2026-01-01 00:00:00 BC", "1970-01-01T00:00:00+99:00", "00000000-0000-0000-0000-000000000000",
    "account", "totals", "model", "version", "1d", "1h", "events", "ref",
]
# what a command line can carry: any text without NUL (argv is C strings); bytes that are not UTF-8
# arrive as lone surrogates, which EDGE holds
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)
HOSTILE = st.one_of(st.sampled_from(EDGE), TEXT)
TIMES = st.one_of(st.sampled_from(["2026-01-01T01:00:00Z", "2026-01-01", "2026-01-01T00:10:00+05:30"]), HOSTILE)
VIEWS = st.one_of(st.sampled_from(["totals", "last", "risk"]), HOSTILE)
KEY_VALUES = st.one_of(st.sampled_from(["1", "2", "42", " 7 "]), HOSTILE, st.integers().map(str))


def hostile_bytes() -> st.SearchStrategy[bytes]:
    """File contents: binary, empty, huge lines, other encodings, and CSV/JSONL with hostile cells."""
    cells = st.lists(st.one_of(HOSTILE, KEY_VALUES, TIMES), min_size=1, max_size=5)
    csv_rows = st.lists(cells, max_size=4).map(lambda rows: "\n".join(",".join(r) for r in rows))

    def csv_text(header: list[str]) -> st.SearchStrategy[str]:
        return csv_rows.map(lambda body: ",".join(header) + "\n" + body + "\n")

    def encodings(text: str) -> st.SearchStrategy[bytes]:
        return st.sampled_from(["utf-8", "utf-16", "latin-1", "utf-8-sig"]).map(
            lambda enc: text.encode(enc, errors="surrogateescape" if enc == "utf-8" else "replace"))

    jsonl = st.lists(st.dictionaries(st.sampled_from(["account", "amount", "note", "ts", "x"]),
                                     st.one_of(HOSTILE, st.integers(), st.floats(), st.none(), st.booleans(),
                                               st.lists(st.integers(), max_size=2)), max_size=5), max_size=4)
    return st.one_of(
        st.binary(max_size=300),
        st.just(b""),
        st.sampled_from([b"\n", b"\xff\xfe", b"\x00" * 10, b"a" * 300_000, b"account,ts\n" + b"1," * 70_000 + b"\n",
                         b"account,event_timestamp\n" + b"1,2026-01-01T00:00:00Z\n" * 3 + b"x" * 200_000]),
        st.one_of(csv_text(["account", "amount", "note", "ts"]), csv_text(["account", "event_timestamp"]),
                  csv_text(["account", "event_timestamp", "amount", "flag"]),
                  st.lists(HOSTILE, min_size=1, max_size=4).flatmap(csv_text),
                  jsonl.map(lambda rows: "\n".join(yaml.safe_dump(r, default_flow_style=True, width=10**6).strip()
                                                    if r else "{}" for r in rows) + "\n")).flatmap(encodings),
    )


def mutated_project() -> st.SearchStrategy[bytes]:
    """Project files: the valid one with one value replaced by a hostile one, or broken YAML."""
    base = yaml.safe_load(PROJECT)
    paths: list[tuple] = []

    def walk(node: object, path: tuple) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))

    walk(base, ())
    scalar = st.one_of(TEXT, st.sampled_from([e for e in EDGE if not re.search(r"[\ud800-\udfff]", e)]),
                       st.integers(), st.floats(), st.booleans(), st.none())
    value = st.recursive(scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                          st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)

    def replace(path: tuple, new: object) -> bytes:
        doc = yaml.safe_load(PROJECT)
        if not path:
            doc = new
        else:
            node = doc
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = new
        return yaml.safe_dump(doc, allow_unicode=True).encode("utf-8")

    raw = st.sampled_from([
        b"", b"\xff\xfe\x00", b"[" * 3000, b"{", b"name: [", b"a: !!python/object:os.system x", b"\tname: x",
        b"name: x\nname: y\n", PROJECT.encode("latin-1", "replace").replace(b"accounts", b"compt\xe9s"),
        PROJECT.encode("utf-16"), b"\xef\xbb\xbf" + PROJECT.encode(), PROJECT.encode() + b"\x00",
        b"name: &a [*a]", b"x: " + b"y" * 200_000, b"- 1\n- 2\n", b"~", b"42",
    ])
    mutations = st.tuples(st.sampled_from(paths), value)
    return st.one_of(raw, mutations.map(lambda pv: replace(*pv)), st.binary(max_size=200))


# ---------------------------------------------------------------- the check


def check(result, secrets: tuple[str, ...] = (PASSWORD,)) -> None:
    """Exit 0 or 1; on 1 one message on stderr, `error: ...`; never a traceback or a secret."""
    output = result.output
    where = f"exit {result.exit_code}, exception {result.exception!r}, output {output[-2000:]!r}"
    assert result.exit_code in (0, 1), where
    assert result.exception is None or isinstance(result.exception, SystemExit), where
    assert "Traceback" not in output, where
    for secret in secrets:
        assert secret not in output, where
    if result.exit_code == 1:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines and lines[0].startswith("error: "), where
        if len(lines) > 1:  # a project file's problems, one per line, after a head line that counts them
            head = re.fullmatch(r"error: invalid project file \((\d+) problems\):", lines[0])
            assert head and int(head.group(1)) == len(lines) - 1, where


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture
def applied(cli_env: Path) -> Path:
    """One applied project (bigint key, on-demand view, monitor) with a few rows, shared by a test's examples."""
    (cli_env / "materializer.yml").write_text(PROJECT, encoding="utf-8")
    (cli_env / "events.csv").write_text(EVENTS, encoding="utf-8")
    for args in (["apply"], ["push", "events", "events.csv"]):
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    return cli_env


# ---------------------------------------------------------------- the properties


@FAST
@given(view=VIEWS, keys=st.lists(st.tuples(st.one_of(st.just("account"), HOSTILE), KEY_VALUES), min_size=1,
                                 max_size=3),
       as_of=st.none() | TIMES, request=st.lists(st.tuples(st.sampled_from(["amount", "flag"]) | HOSTILE, HOSTILE),
                                                 max_size=3), as_json=st.booleans())
def test_features(applied: Path, view: str, keys, as_of, request, as_json: bool) -> None:
    args = ["features", *(f"--key={k}={v}" for k, v in keys), *(f"--request={k}={v}" for k, v in request)]
    args += [f"--as-of={as_of}"] if as_of is not None else []
    args += ["--json"] if as_json else []
    check(invoke(*args, "--", view))


@FAST
@given(monitor=st.one_of(st.just("model"), HOSTILE), window=st.none() | st.just("1d") | HOSTILE,
       by=st.none() | st.sampled_from(["version", "v"]) | HOSTILE, as_of=st.none() | TIMES, as_json=st.booleans(),
       show=st.none() | st.sampled_from(["metrics", "timeseries", "versions", "drift"]) | HOSTILE,
       since=st.none() | TIMES)
def test_metrics_and_reference(applied: Path, monitor: str, window, by, as_of, as_json: bool, show, since) -> None:
    args = ["metrics"] + ([f"--window={window}"] if window is not None else []) + (
        [f"--by={by}"] if by is not None else []) + ([f"--as-of={as_of}"] if as_of is not None else [])
    args += ([f"--show={show}"] if show is not None else []) + ([f"--since={since}"] if since is not None else [])
    check(invoke(*args, *(["--json"] if as_json else []), "--", monitor))
    check(invoke("reference", "--", monitor))


@FAST
@given(spine=hostile_bytes(), suffix=st.sampled_from([".csv", ".parquet", ".txt", ""]),
       features=st.lists(st.one_of(st.sampled_from(["totals:*", "totals:n_1d", "last:last_note", "risk:ratio",
                                                    "risk:*"]), HOSTILE), min_size=1, max_size=3),
       out=st.none() | st.sampled_from(["train.csv", "train.parquet", "train.xlsx", "train", "missing/t.csv", "."]),
       timestamp_column=st.none() | st.just("ts") | HOSTILE, spine_sql=st.none() | HOSTILE)
def test_training_set(applied: Path, spine: bytes, suffix: str, features, out, timestamp_column, spine_sql) -> None:
    path = applied / f"spine{suffix}"
    path.write_bytes(spine)
    args = ["training-set", f"--features={','.join(features)}"]
    args += [f"--spine-sql={spine_sql}"] if spine_sql is not None else [f"--spine={path.name}"]
    args += [f"--out={out}"] if out is not None else []
    args += [f"--timestamp-column={timestamp_column}"] if timestamp_column is not None else []
    check(invoke(*args))


@FAST
@given(source=st.one_of(st.sampled_from(["events", "ref", "preds"]), HOSTILE), content=hostile_bytes(),
       suffix=st.sampled_from([".csv", ".jsonl", ".ndjson", ".txt", ".xlsx", ""]))
def test_push(applied: Path, source: str, content: bytes, suffix: str) -> None:
    path = applied / f"rows{suffix}"
    path.write_bytes(content)
    check(invoke("push", "--", source, path.name))


SOURCE_TIMES = st.one_of(TIMES, st.sampled_from(["0044-01-01 00:00:00+00 BC", "294276-12-31T00:00:00Z", "infinity",
                                                 "-infinity", "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59Z"]))


READS = [
    ["features", "totals", "--key=account=1", "--json"], ["features", "last", "--key=account=1"],
    ["features", "risk", "--key=account=2", "--request=amount=1", "--request=flag=t"],
    ["training-set", "--spine=spine.csv", "--features=totals:*,last:*", "--out=train.csv"],
    ["training-set", "--spine=spine.csv", "--features=totals:*,last:*", "--out=train.parquet"],
    ["verify", "--entities=3"], ["catalog"], ["catalog", "--json"],
]


@FAST
@given(rows=st.lists(st.tuples(st.sampled_from(["1", "2", "3"]), st.one_of(KEY_VALUES, st.just("1e300")),
                               HOSTILE, SOURCE_TIMES), min_size=1, max_size=4),
       read=st.sampled_from(READS), as_of=st.none() | TIMES)
def test_rows_that_load_then_read(applied: Path, rows, read: list[str], as_of) -> None:
    """Rows the database accepts (times before year 1 or infinite, huge amounts), then a read; the rows
    of earlier examples stay, so the reads meet them all."""
    import csv
    import io

    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([["account", "amount", "note", "ts"], *rows])
    (applied / "rows.csv").write_text(text.getvalue(), encoding="utf-8", errors="surrogateescape")
    (applied / "spine.csv").write_text("account,event_timestamp\n1,2026-01-01T01:00:00Z\n3,0044-01-01 BC\n",
                                      encoding="utf-8")
    check(invoke("push", "events", "rows.csv"))
    when = [f"--as-of={as_of}"] if as_of is not None and read[0] in ("features", "verify") else []
    check(invoke(*read, *when))


SCORES = st.one_of(st.sampled_from(["0", "1", "0.5", "-1", "2", "NaN", "Infinity", "1e-320", ""]),
                   st.floats(allow_nan=False).map(repr))


@FAST
@given(predictions=st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), SOURCE_TIMES, SCORES,
                                      st.sampled_from(["v1", "v2", "", "ünï"])), min_size=1, max_size=4),
       outcomes=st.lists(st.tuples(st.sampled_from(["a", "b", "c", "z"]), SOURCE_TIMES,
                                   st.sampled_from(["0", "1", "", "2", "-1"])), max_size=3),
       by=st.sampled_from([[], ["--by=version"], ["--by=v"]]), as_of=st.none() | TIMES)
def test_predictions_then_metrics(applied: Path, predictions, outcomes, by: list[str], as_of) -> None:
    """Predictions and outcomes the database accepts (scores out of range, NaN, times before year 1),
    then the monitor's metrics, as a table (versions and drift too) and as JSON."""
    import csv
    import io

    for name, header, rows in (("preds", ["id", "at", "score", "v"], predictions),
                               ("outs", ["id", "at", "y"], outcomes)):
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([header, *rows])
        (applied / f"{name}.csv").write_text(text.getvalue(), encoding="utf-8", errors="surrogateescape")
        check(invoke("push", name, f"{name}.csv"))
    when = [f"--as-of={as_of}"] if as_of is not None else []
    for show in ("metrics", "timeseries", "versions", "drift"):
        check(invoke("metrics", "model", f"--show={show}", *by, *when))
    check(invoke("metrics", "model", "--json", *by, *when))


@FAST
@given(entities=st.integers(min_value=-5, max_value=2**70), as_of=st.none() | TIMES)
def test_verify(applied: Path, entities: int, as_of) -> None:
    check(invoke("verify", f"--entities={entities}", *([f"--as-of={as_of}"] if as_of is not None else [])))


@FAST
@given(content=mutated_project(),
       engine=st.none() | st.sampled_from(["postgres", "materialize", "risingwave"]) | HOSTILE)
def test_project_files(applied: Path, content: bytes, engine) -> None:
    path = applied / "hostile.yml"
    path.write_bytes(content)
    check(invoke("-p", str(path), "validate"))
    check(invoke("-p", str(path), "compile", *([f"--engine={engine}"] if engine is not None else [])))
    check(invoke("-p", str(path), "apply", "--dry-run"))


def check_status(result) -> None:
    """``db status``: exit 1 is its answer "not running" (on stdout), or an error line."""
    if result.exit_code == 1 and not result.stderr:
        assert result.stdout.startswith("not running") and "Traceback" not in result.output, result.output
    else:
        check(result)


@FAST
@given(project=HOSTILE)
def test_project_paths(applied: Path, project: str) -> None:
    check(invoke("-p", project, "validate"))
    check(invoke("features", "totals", "--key", "account=1", env={"MATERIALIZER_PROJECT": project}))
    check_status(invoke("-p", project, "db", "status"))


def test_a_list_as_key_column(applied: Path) -> None:
    (applied / "hostile.yml").write_text(PROJECT.replace("entity: [account]", "entity: [[account]]", 1),
                                         encoding="utf-8")
    check(invoke("-p", str(applied / "hostile.yml"), "validate"))


def well_formed_dsns() -> st.SearchStrategy[str]:
    """Connection strings with a password that libpq can parse, to servers that do not answer."""
    hosts = st.sampled_from(["127.0.0.1", "/nonexistent-socket-dir"])
    ports = st.sampled_from(["1", "99999", "x", ""])
    url = st.builds(lambda h, p, db, q: (f"postgresql://bob:{PASSWORD}@{h}:{p}/{db}?{q}" if h[0] != "/" else
                                         f"postgresql://bob:{PASSWORD}@/{db}?host={h}&{q}"),
                    hosts, ports, st.sampled_from(["fraud", "", "d%20b"]),
                    st.sampled_from(["", "sslmode=bogus", "connect_timeout=1", "options=-c%20x%3Dy"]))
    keywords = st.builds(lambda h, p: f"host={h} port={p or 1} user=bob password={PASSWORD} dbname=fraud",
                         hosts, ports)
    return st.one_of(url, keywords)


@FAST
@given(dsn=well_formed_dsns(), command=st.sampled_from([
    ["features", "totals", "--key", "account=1"], ["apply", "--dry-run"], ["metrics", "model", "--json"],
    ["training-set", "--spine", "spine.csv", "--features", "totals:*"], ["verify"], ["push", "events", "events.csv"],
    ["reference", "model"], ["validate"]]))
def test_connection_strings_never_show_their_password(applied: Path, dsn: str, command: list[str]) -> None:
    (applied / "spine.csv").write_text("account,event_timestamp\n1,2026-01-01T01:00:00Z\n", encoding="utf-8")
    check(invoke(*command, env={"MATERIALIZER_DSN": dsn}))


def test_unparsable_connection_strings_never_show_their_password(applied: Path) -> None:
    for dsn in (f"host=127.0.0.1 port=1 password={PASSWORD} junk", f"postgresql://bob:{PASSWORD}@[::1/x",
                f"password={PASSWORD} port=", f"postgresql://bob:{PASSWORD}@127.0.0.1:1/x?host=a=b",
                f"password='{PASSWORD}"):
        check(invoke("features", "totals", "--key", "account=1", env={"MATERIALIZER_DSN": dsn}))


@FAST
@given(spelling=st.sampled_from(["{root}", "{root}/", "{root}/./", "{root}//"]),
       dsn=st.none() | well_formed_dsns(), pid=st.none() | st.binary(max_size=200))
def test_db_url_and_status(applied: Path, pg_server: str, spelling: str, dsn, pid) -> None:
    """db url on the session's running server under any spelling of its folder; db status of a folder whose
    postmaster.pid is garbage. A DSN in the environment is not theirs to print."""
    from psycopg import conninfo

    socket_dir = Path(conninfo.conninfo_to_dict(pg_server)["host"])  # <root>/.materializer/pgdata
    root = socket_dir.parent.parent
    env = {"MATERIALIZER_DSN": dsn} if dsn is not None else None
    result = invoke("-p", spelling.format(root=root), "db", "url", env=env)
    check(result)
    assert result.exit_code == 0 and result.stdout.strip() == pg_server, result.output
    if pid is not None:
        pgdata = applied / "other" / ".materializer" / "pgdata"
        pgdata.mkdir(parents=True, exist_ok=True)
        (pgdata / "postmaster.pid").write_bytes(pid)
        (applied / "other" / "materializer.yml").write_text(PROJECT, encoding="utf-8")
        result = invoke("-p", str(applied / "other"), "db", "status", env=env)
        check_status(result)
        assert result.exit_code == 1 and result.stdout.startswith("not running")

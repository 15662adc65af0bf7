"""Ordinary mistakes on the command line end in one line `error: ...` and exit 1, never a traceback.

Each test here drives the CLI (typer's CliRunner) against a real PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from materializer.cli import app
from tests.test_cli import one_line_error, write_small


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(app, list(args))


def test_control_characters_in_an_error_stay_on_one_line(cli_env: Path, runner: CliRunner) -> None:
    write_small(cli_env)
    line = one_line_error(invoke(runner, "push", "transactions", "bad\nname\x1b[2J.csv"))
    assert "bad\\nname\\x1b[2J.csv: no such file" in line
    assert "\x1b" not in line
    line = one_line_error(invoke(runner, "push", "transactions", "a\u2028b\u202ec.csv"))  # a line separator, RTL
    assert "a\\u2028b\\u202ec.csv: no such file" in line


# A project with a bigint key, an on-demand view and a monitor whose reference column is text.
PROJECT = """\
name: accounts
sources:
  events:
    columns: {account: bigint, amount: numeric, note: text, ts: timestamptz}
    timestamp: ts
  preds:
    columns: {id: text, at: timestamptz, score: double precision, v: text}
    timestamp: at
  outs:
    columns: {id: text, at: timestamptz, y: integer}
    timestamp: at
  ref:
    columns: {score: double precision, note: text, ts: timestamptz}
    timestamp: ts
feature_views:
  totals:
    source: events
    entity: [account]
    windows: [1h, 1d]
    features:
      n: {agg: count}
      total: {agg: sum, column: amount}
  last:
    source: events
    entity: [account]
    features:
      last_note: {agg: latest, column: note}
on_demand_features:
  risk:
    request: {amount: numeric, flag: boolean}
    features:
      ratio: "{amount} / nullif({totals:total_1d}, 0)"
monitors:
  model:
    task: binary_classification
    predictions: {source: preds, id: id, timestamp: at, score: score, version: v}
    outcomes: {source: outs, id: id, timestamp: at, label: y}
    windows: [1d]
    bucket: 1h
    label_policy: explicit
    reference: {relation: ref, column: note}
"""

EVENTS = "account,amount,note,ts\n1,5,a,2026-01-01T00:00:00Z\n2,7,b,2026-01-01T00:10:00Z\n1,2,c,2026-01-01T00:20:00Z\n"


def write_project(folder: Path) -> Path:
    path = folder / "materializer.yml"
    path.write_text(PROJECT, encoding="utf-8")
    (folder / "events.csv").write_text(EVENTS, encoding="utf-8")
    (folder / "spine.csv").write_text("account,event_timestamp\n1,2026-01-01T01:00:00Z\n", encoding="utf-8")
    return path


@pytest.fixture
def applied(cli_env: Path, runner: CliRunner) -> Path:
    """The project above, applied, with three events."""
    write_project(cli_env)
    result = invoke(runner, "apply")
    assert result.exit_code == 0, result.output
    result = invoke(runner, "push", "events", "events.csv")
    assert result.exit_code == 0, result.output
    return cli_env


@pytest.mark.parametrize("args", [
    ["features", "totals", "--key", "account=1"],
    ["features", "risk", "--key", "account=1", "--request", "amount=1", "--request", "flag=true"],
    ["metrics", "model"],
    ["metrics", "model", "--json"],
    ["training-set", "--spine", "spine.csv", "--features", "totals:*"],
    ["verify"],
])
def test_reads_before_apply_say_to_apply(cli_env: Path, runner: CliRunner, args: list[str]) -> None:
    write_project(cli_env)
    line = one_line_error(invoke(runner, *args))
    assert "does not exist" in line and "run `materializer apply` first" in line


def test_a_missing_external_relation_is_named(make_project) -> None:
    from materializer.errors import DatabaseError

    project = make_project("""
name: ext
sources:
  events:
    relation: raw.events
    timestamp: ts
feature_views:
  totals:
    source: events
    entity: [account]
    windows: [1d]
    features:
      n: {agg: count}
""")
    project.db.conn.execute("create schema raw")
    project.db.conn.execute("create table raw.events (account text, ts timestamptz)")
    project.apply()
    project.db.conn.execute("drop table raw.events cascade")
    with pytest.raises(DatabaseError, match=r'relation "raw.events" does not exist .*external source events; '
                                            r"create it"):
        project.training_set(None, ["totals:n_1d"], spine_sql="select 'a' as account, now() as event_timestamp")


@pytest.mark.parametrize("command", [
    ["features", "totals", "--key", "account=1"],
    ["features", "last", "--key", "account=1", "--json"],
    ["metrics", "model"],
    ["verify"],
])
def test_far_past_and_far_future_as_of(applied: Path, runner: CliRunner, command: list[str]) -> None:
    # year 1 itself works: the views compute t - window in PostgreSQL, which reaches 4713 BC
    result = invoke(runner, *command, "--as-of", "0001-01-01")
    assert result.exit_code == 0, result.output
    for far in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        line = one_line_error(invoke(runner, *command, "--as-of", far))
        assert f"--as-of: '{far}' is out of range" in line


@pytest.mark.parametrize(("spine", "features", "expected"), [
    (b"account,event_timestamp\n1,2026-01-01T01:00:00Z\n\"a\nb\",2026-01-01T01:00:00Z\nabc,2026-01-01T01:00:00Z\n",
     "totals:*", "spine.csv: line 3, column account: 'a\\nb' is not a valid bigint"),
    (b"account,event_timestamp,amount,flag\n1,2026-01-01T01:00:00Z,1,t\n2,2026-01-01T01:00:00Z,x,t\n",
     "risk:*", "spine.csv: line 3, column amount: 'x' is not a valid numeric"),
    (b"account,event_timestamp,amount,flag\n1,2026-01-01T01:00:00Z,1,t\n2,2026-01-01T01:00:00Z,1,maybe\n",
     "risk:*", "spine.csv: line 3, column flag: 'maybe' is not a valid boolean"),
    (b"account,event_timestamp\n1,2026-01-01T01:00:00Z,3\n", "totals:*",
     "spine.csv: line 2: extra data after last expected column"),
    (b"account,event_timestamp\n1,2026-01-01T01:00:00Z\n\xff,2026-01-01T01:00:00Z\n", "totals:*",
     "spine.csv: line 3: invalid byte sequence for encoding \"UTF8\": 0xff (not UTF-8 text"),
    (b"account,event\xfftimestamp\n1,2026-01-01T01:00:00Z\n", "totals:*", "spine.csv: line 1: not UTF-8 text"),
    (b"account,event_timestamp\n1,2026-01-01T01:00:00Z\n\x00,2026-01-01T01:00:00Z\n", "totals:*",
     "spine.csv: line 3: a NUL byte (0x00)"),
    (b"account,event_timestamp\n" + b"1" * 200_000 + b",2026-01-01T01:00:00Z\n", "totals:*",
     "column account: '" + "1" * 57 + "'... is not a valid bigint"),
    (b"account,event_timestamp\n1,2026-01-01 01:00:00\nabc,2026-01-01 01:00:00\n", "totals:*",
     "spine.csv: line 3, column account: 'abc' is not a valid bigint"),  # no warning about the naive times first
    (b"account,event_timestamp\n1,2026-01-01 01:00:00\n", "risk:*", "the spine has no column 'amount', a request "
     "field of risk"),
], ids=["bigint key", "numeric request field", "boolean request field", "extra column", "not UTF-8",
        "header not UTF-8", "NUL byte", "huge line", "naive times and a bad key", "naive times, no request field"])
def test_bad_spine_files_name_the_line_and_column(applied: Path, runner: CliRunner, spine: bytes, features: str,
                                                   expected: str) -> None:
    (applied / "spine.csv").write_bytes(spine)
    line = one_line_error(invoke(runner, "training-set", "--spine", "spine.csv", "--features", features))
    assert expected in line


def test_bad_spine_query_and_outputs(applied: Path, runner: CliRunner) -> None:
    args = ["training-set", "--spine", "spine.csv", "--features", "totals:*"]
    line = one_line_error(invoke(runner, "training-set", "--spine-sql", "select nonsense", "--features", "totals:*"))
    assert line.startswith('error: --spine-sql: column "nonsense" does not exist')
    line = one_line_error(invoke(runner, *args, "--out", "train.xlsx"))
    assert "--out train.xlsx: unknown file type .xlsx" in line and ".csv or .parquet" in line
    assert not (applied / "train.xlsx").exists()
    line = one_line_error(invoke(runner, *args, "--out", "missing/train.csv"))
    assert "the folder missing does not exist" in line
    line = one_line_error(invoke(runner, "training-set", "--spine", ".", "--features", "totals:*"))
    assert "cannot read the spine" in line
    result = invoke(runner, *args, "--out", "train.CSV")
    assert result.exit_code == 0, result.output
    assert (applied / "train.CSV").read_text().startswith("account,event_timestamp,totals__n_1h")


@pytest.mark.parametrize("missing", ["pandas", "pyarrow"])
def test_parquet_without_the_extra_names_it(applied: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                            missing: str) -> None:
    import sys

    import pandas as pd

    pd.DataFrame({"account": [1], "event_timestamp": ["2026-01-01T01:00:00Z"]}).to_parquet(applied / "spine.parquet")
    monkeypatch.setitem(sys.modules, missing, None)  # as on a base install: `import pyarrow` fails
    for args in (["--spine", "spine.csv", "--out", "train.parquet"], ["--spine", "spine.parquet"]):
        line = one_line_error(invoke(runner, "training-set", "--features", "totals:*", *args))
        assert f"needs {missing}, which is not installed; pip install \"materializer[parquet]\"" in line
    assert not (applied / "train.parquet").exists()
    result = invoke(runner, "training-set", "--features", "totals:*", "--spine", "spine.csv", "--out", "train.csv")
    assert result.exit_code == 0, result.output


def test_a_dataframe_without_pandas_points_to_csv(applied: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from materializer.errors import MaterializerError
    from materializer.project import Project

    monkeypatch.setitem(sys.modules, "pandas", None)
    with Project.load(applied) as project:
        with pytest.raises(MaterializerError,
                           match=r"project.training_set\(\) .* needs pandas.*materializer\[parquet\]"):
            project.training_set("spine.csv", ["totals:*"])
        assert project.write_training_set("spine.csv", ["totals:*"], out=applied / "out.csv") == 1


def test_project_files_that_cannot_be_read(cli_env: Path, runner: CliRunner) -> None:
    (cli_env / "latin1.yml").write_bytes(PROJECT.replace("name: accounts", "name: comptes # réglés").encode("latin-1"))
    line = one_line_error(invoke(runner, "-p", "latin1.yml", "validate"))
    assert "latin1.yml: line 1, column 18: byte 0xe9 is not UTF-8 text; save the project file as UTF-8" in line
    (cli_env / "deep.yml").write_text("[" * 5000, encoding="utf-8")
    line = one_line_error(invoke(runner, "-p", "deep.yml", "validate"))
    assert "deep.yml: the YAML is nested too deeply" in line
    write_project(cli_env)
    line = one_line_error(invoke(runner, "-p", "materializer.yml/inner.yml", "validate"))
    assert "materializer.yml/inner.yml: cannot read the project file: Not a directory" in line
    line = one_line_error(invoke(runner, "-p", "a" * 5000, "validate"))
    assert "cannot read the project file: File name too long" in line


def test_push_files_that_cannot_be_read(applied: Path, runner: CliRunner) -> None:
    (applied / "latin1.jsonl").write_bytes(b'{"account": 1, "ts": "2026-01-01T00:00:00Z"}\n'
                                           b'{"account": 2, "note": "d\xe9j\xe0", "ts": "2026-01-01T00:00:00Z"}\n')
    line = one_line_error(invoke(runner, "push", "events", "latin1.jsonl"))
    assert "latin1.jsonl: line 2, column 26: byte 0xe9 is not UTF-8 text" in line and "nothing was inserted" in line
    (applied / "folder.csv").mkdir()
    line = one_line_error(invoke(runner, "push", "events", "folder.csv"))
    assert "folder.csv: cannot read the file: Is a directory" in line
    (applied / "wide.csv").write_text("account," + "x" * 200_000 + ",ts\n", encoding="utf-8")
    line = one_line_error(invoke(runner, "push", "events", "wide.csv"))
    assert "wide.csv: not a CSV file that can be read: field larger than field limit" in line
    result = invoke(runner, "features", "totals", "--key", "account=2", "--as-of", "2026-01-01T01:00:00Z", "--json")
    assert '"n_1d": 1' in result.stdout, "nothing of the refused files was inserted"


def test_reference_of_a_text_column(applied: Path, runner: CliRunner, pg_dsn: str) -> None:
    import psycopg

    (applied / "ref.csv").write_text("score,note,ts\n0.5,x,2026-01-01T00:00:00Z\n", encoding="utf-8")
    assert invoke(runner, "push", "ref", "ref.csv").exit_code == 0
    line = one_line_error(invoke(runner, "reference", "model"))
    assert "the reference ref.note of monitor model is text, not a number" in line
    # a reference relation of its own (not a managed source, whose checks refuse infinity)
    (applied / "materializer.yml").write_text(
        PROJECT.replace("{relation: ref, column: note}", "{relation: scores, column: score}"), encoding="utf-8")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("create table scores as select * from (values (0.5::float8), ('Infinity')) as v(score)")
    result = invoke(runner, "reference", "model")  # the drift views count finite values only: so do the bins
    assert result.exit_code == 0, result.output
    assert "stored 10-bin reference of score from 1 rows" in result.output


def test_a_repeated_key_or_request_field_is_refused(applied: Path, runner: CliRunner) -> None:
    line = one_line_error(invoke(runner, "features", "totals", "--key", "account=1", "-k", " account=2"))
    assert "--key account is given twice ('1' and '2'); give it once" in line
    line = one_line_error(invoke(runner, "features", "risk", "--key", "account=1", "--request", "amount=1",
                                 "--request", "flag=true", "-r", "amount=2"))
    assert "--request amount is given twice ('1' and '2'); give it once" in line


def test_a_project_file_error_is_one_line_unless_it_lists_problems(cli_env: Path, runner: CliRunner) -> None:
    (cli_env / "materializer.yml").write_bytes(b"name: x\x00\n")  # PyYAML's message spans two lines
    line = one_line_error(invoke(runner, "validate"))
    assert "unacceptable character #x0000" in line
    (cli_env / "materializer.yml").write_text(PROJECT.replace("windows: [1h, 1d]", "windows: [1x, 2y]"),
                                              encoding="utf-8")
    result = invoke(runner, "validate")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: invalid project file ({len(lines) - 1} problems):"
    assert [line.split(": ")[1] for line in lines[1:3]] == ["feature_views.totals.windows[0]",
                                                            "feature_views.totals.windows[1]"]


def test_db_commands_with_a_project_path_too_long(cli_env: Path, runner: CliRunner) -> None:
    for command in (["db", "status"], ["db", "url"]):
        line = one_line_error(invoke(runner, "-p", "a" * 5000 + "/x", *command))
        assert "File name too long; --project (or MATERIALIZER_PROJECT) takes the project file" in line

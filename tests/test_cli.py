"""The command line, driven by typer's CliRunner against a real PostgreSQL (DESIGN §6).

Errors are MaterializerErrors: one line on stderr, exit code 1, no traceback.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from materializer.cli import app

UNREACHABLE = "postgresql://bob:s3cret@127.0.0.1:1/fraud"

SMALL = """\
name: small
engine: {engine}
sources:
  transactions:
    columns: {{tx_id: text, cc_num: text, merchant: text, amount: numeric, status: text, ts: timestamptz}}
    timestamp: ts
feature_views:
  card_activity:
    source: transactions
    entity: [cc_num]
    windows: [10m, 1h]
    features:
      tx_count:   {{agg: count}}
      amount_max: {{agg: max, column: amount}}
  card_last_tx:
    source: transactions
    entity: [cc_num]
    max_age: 1d
    features:
      last_merchant: {{agg: latest, column: merchant}}
"""


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str):
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # a MaterializerError must be printed by the CLI, never escape as an exception
        assert result.exit_code == 1
    return result


def stdout(result) -> str:
    return result.stdout


def stderr(result) -> str:
    try:
        return result.stderr
    except ValueError:  # a runner that mixes the streams
        return result.output


def one_line_error(result) -> str:
    """The single non-empty line a failing command prints; asserts there is exactly one."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got {result.output!r} (exception: {result.exception!r})"
    assert lines[0].startswith("error: ")
    return lines[0]


def write_small(folder: Path, engine: str = "postgres") -> Path:
    path = folder / "materializer.yml"
    path.write_text(SMALL.format(engine=engine), encoding="utf-8")
    return path


def user_relations(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'"
        ).fetchall()
        schemas = conn.execute("select nspname from pg_namespace where nspname = 'materializer'").fetchall()
        funcs = conn.execute("select proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
                             "where n.nspname = 'materializer'").fetchall()
    return {r[0] for r in rows} | {f"schema:{r[0]}" for r in schemas} | {f"function:{r[0]}" for r in funcs}


# ---------------------------------------------------------------- the whole flow


def test_init_validate_apply_push_features(cli_env: Path, runner: CliRunner, pg_dsn: str) -> None:
    result = run(runner, "init")
    assert result.exit_code == 0, result.output
    assert (cli_env / "materializer.yml").is_file()
    data = cli_env / "data" / "transactions.csv"
    assert data.is_file()

    result = run(runner, "validate")
    assert result.exit_code == 0, result.output
    assert "ok" in stdout(result)

    result = run(runner, "apply")
    assert result.exit_code == 0, result.output
    assert "create" in stdout(result)
    assert "public.transactions" in user_relations(pg_dsn)

    result = run(runner, "apply")
    assert result.exit_code == 0, result.output
    assert "Nothing to do" in stdout(result)

    result = run(runner, "push", "transactions", "data/transactions.csv")
    assert result.exit_code == 0, result.output
    with data.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert f"pushed {len(rows)} rows into transactions" in result.output

    # the busiest card of the file, evaluated 5 minutes after its last event
    for row in rows:
        row["at"] = datetime.fromisoformat(row["ts"]).astimezone(timezone.utc)
    by_card: dict[str, list[dict]] = {}
    for row in rows:
        by_card.setdefault(row["cc_num"], []).append(row)
    card = max(sorted(by_card), key=lambda c: len(by_card[c]))
    as_of = max(r["at"] for r in by_card[card]) + timedelta(minutes=5)

    def window(w: timedelta) -> list[dict]:
        return [r for r in by_card[card] if as_of - w <= r["at"] <= as_of]

    as_of_text = as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    result = run(runner, "features", "card_activity", "--key", f"cc_num={card}", "--as-of", as_of_text, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(stdout(result))
    assert set(doc) >= {"view", "entity", "features", "statuses", "as_of"}
    assert doc["view"] == "card_activity"
    assert doc["entity"] == {"cc_num": card}
    assert datetime.fromisoformat(doc["as_of"]) == as_of
    assert doc["as_of"].endswith("+00:00")
    names = {f"{f}_{w}" for f in ("tx_count", "amount_sum", "amount_max", "amount_avg", "merchants", "failed_count")
             for w in ("10m", "1h", "1d")}
    assert set(doc["features"]) == names
    assert set(doc["statuses"]) == names

    hour, ten, day = window(timedelta(hours=1)), window(timedelta(minutes=10)), window(timedelta(days=1))
    assert doc["features"]["tx_count_1h"] == len(hour)
    assert doc["features"]["tx_count_10m"] == len(ten)
    assert doc["features"]["tx_count_1d"] == len(day)
    assert doc["features"]["failed_count_1h"] == sum(r["status"] == "failed" for r in hour)
    assert doc["features"]["merchants_1d"] == len({r["merchant"] for r in day})
    assert doc["features"]["amount_max_1h"] == pytest.approx(float(max(Decimal(r["amount"]) for r in hour)))
    assert doc["features"]["amount_sum_1d"] == pytest.approx(float(sum(Decimal(r["amount"]) for r in day)))
    assert doc["statuses"]["tx_count_1h"] == "PRESENT"
    assert doc["statuses"]["amount_max_1h"] == "PRESENT"

    # an unknown card: counts are 0 (PRESENT), other aggregates NOT_FOUND
    result = run(runner, "features", "card_activity", "--key", "cc_num=no-such-card", "--as-of", as_of_text, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(stdout(result))
    assert doc["features"]["tx_count_1h"] == 0 and doc["statuses"]["tx_count_1h"] == "PRESENT"
    assert doc["features"]["amount_max_1h"] is None and doc["statuses"]["amount_max_1h"] == "NOT_FOUND"

    # the latest view
    result = run(runner, "features", "card_last_tx", "-k", f"cc_num={card}", "--as-of", as_of_text, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(stdout(result))
    last = max(by_card[card], key=lambda r: (r["at"], r["merchant"]))
    assert doc["features"]["last_merchant"] == last["merchant"]
    assert doc["features"]["last_amount"] == pytest.approx(float(Decimal(last["amount"])))

    # the table output names the view and the key
    result = run(runner, "features", "card_activity", "--key", f"cc_num={card}", "--as-of", as_of_text)
    assert result.exit_code == 0, result.output
    assert "tx_count_1h" in stdout(result)
    assert f"cc_num={card}" in stdout(result)


def test_init_refuses_to_overwrite(cli_env: Path, runner: CliRunner) -> None:
    assert run(runner, "init").exit_code == 0
    line = one_line_error(run(runner, "init"))
    assert "already exists" in line and "--force" in line
    assert run(runner, "init", "--force").exit_code == 0


def test_init_into_a_folder(cli_env: Path, runner: CliRunner) -> None:
    result = run(runner, "init", "fraud")
    assert result.exit_code == 0, result.output
    assert (cli_env / "fraud" / "materializer.yml").is_file()
    result = run(runner, "--project", "fraud", "validate")
    assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- errors


def test_validate_reports_problems(cli_env: Path, runner: CliRunner) -> None:
    (cli_env / "materializer.yml").write_text(
        SMALL.format(engine="postgres").replace("windows: [10m, 1h]", "windows: [10m, 90x]"), encoding="utf-8")
    result = run(runner, "validate")
    assert result.exit_code == 1
    assert "feature_views.card_activity.windows[1]: '90x' is not a duration" in result.output


def test_missing_project_file(cli_env: Path, runner: CliRunner) -> None:
    line = one_line_error(run(runner, "validate"))
    assert "materializer.yml" in line and "materializer init" in line


def test_unknown_view_lists_known_views(cli_env: Path, runner: CliRunner) -> None:
    write_small(cli_env)
    assert run(runner, "apply").exit_code == 0
    line = one_line_error(run(runner, "features", "card_activty", "--key", "cc_num=1", "--json"))
    assert "card_activty" in line
    assert "known views: card_activity, card_last_tx" in line
    assert "did you mean 'card_activity'?" in line


def test_as_of_on_materialize_is_a_clear_error_without_connecting(
    cli_env: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_small(cli_env, engine="materialize")
    monkeypatch.setenv("MATERIALIZER_DSN", UNREACHABLE)
    result = run(runner, "features", "card_activity", "--key", "cc_num=1", "--as-of", "2026-01-01T00:00:00Z")
    line = one_line_error(result)
    assert "--as-of" in line and "postgres" in line
    assert "connect" not in line  # it never tried the (unreachable) database


def test_unreachable_database_is_one_line_without_password(
    cli_env: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_small(cli_env)
    monkeypatch.setenv("MATERIALIZER_DSN", UNREACHABLE)
    for args in (["apply"], ["features", "card_activity", "--key", "cc_num=1"]):
        result = run(runner, *args)
        line = one_line_error(result)
        assert "127.0.0.1:1" in line
        assert "s3cret" not in result.output
        assert "s3cret" not in str(result.exception or "")


def test_key_without_equals(cli_env: Path, runner: CliRunner) -> None:
    write_small(cli_env)
    line = one_line_error(run(runner, "features", "card_activity", "--key", "cc_num"))
    assert "--key 'cc_num'" in line
    assert "COLUMN=VALUE" in line


def test_unknown_key_column(cli_env: Path, runner: CliRunner) -> None:
    write_small(cli_env)
    assert run(runner, "apply").exit_code == 0
    line = one_line_error(run(runner, "features", "card_activity", "--key", "cc_numb=1"))
    assert "did you mean 'cc_num'?" in line


def test_bad_as_of(cli_env: Path, runner: CliRunner) -> None:
    write_small(cli_env)
    line = one_line_error(run(runner, "features", "card_activity", "--key", "cc_num=1", "--as-of", "yesterday"))
    assert "'yesterday' is not a timestamp" in line


# ---------------------------------------------------------------- compile and apply


def test_compile_materialize(cli_env: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    write_small(cli_env)
    monkeypatch.setenv("MATERIALIZER_DSN", UNREACHABLE)  # compile needs no database
    result = run(runner, "compile", "--engine", "materialize")
    assert result.exit_code == 0, result.output
    sql = stdout(result).lower()
    assert "create materialized view card_activity" in sql
    assert "create materialized view card_last_tx" in sql
    assert "mz_now()" in sql


def test_compile_out_writes_files_that_run_on_postgres(cli_env: Path, runner: CliRunner, pg_dsn: str) -> None:
    write_small(cli_env)
    result = run(runner, "compile", "--out", "sql")
    assert result.exit_code == 0, result.output
    files = sorted((cli_env / "sql").glob("*.sql"))
    assert files
    texts = [f.read_text(encoding="utf-8") for f in files]
    assert all(t.rstrip().endswith(";") for t in texts)
    assert any("create view card_activity" in t.lower() for t in texts)
    assert any("create view card_last_tx" in t.lower() for t in texts)
    # in file order, they create the project on a real PostgreSQL
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for text in texts:
            conn.execute(text)
        kinds = dict(conn.execute(
            "select relname, relkind::text from pg_class where relname in ('transactions', 'card_activity', 'card_last_tx')"
        ).fetchall())
    assert kinds == {"transactions": "r", "card_activity": "v", "card_last_tx": "v"}


def test_apply_dry_run_changes_nothing(cli_env: Path, runner: CliRunner, pg_dsn: str) -> None:
    write_small(cli_env)
    before = user_relations(pg_dsn)
    result = run(runner, "apply", "--dry-run")
    assert result.exit_code == 0, result.output
    out = stdout(result).lower()
    assert "create table transactions" in out or "create table public.transactions" in out
    assert "create view card_activity" in out
    assert user_relations(pg_dsn) == before
    assert not any("transactions" in r or "card_" in r for r in before)

    assert run(runner, "apply").exit_code == 0
    after = user_relations(pg_dsn)
    assert {"public.transactions", "public.card_activity", "public.card_last_tx"} <= after

    result = run(runner, "apply", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Nothing to do" in stdout(result)
    assert user_relations(pg_dsn) == after


def test_help_lists_commands(runner: CliRunner) -> None:
    result = run(runner, "--help")
    assert result.exit_code == 0
    for name in ("db", "init", "validate", "compile", "apply", "push", "features"):
        assert name in result.output

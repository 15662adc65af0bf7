"""Loading CSV and JSONL files into managed sources: typed, all or nothing, errors with file lines."""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from materializer.cli import app
from materializer.errors import PushError

PROJECT = """\
name: pushes
engine: postgres
sources:
  transactions:
    columns: {tx_id: text, cc_num: text, merchant: text, amount: numeric, status: text, ts: timestamptz}
    timestamp: ts
  events:
    columns: {id: bigint, cc_num: text, payload: jsonb, flag: boolean, score: double precision, ts: timestamptz}
    timestamp: ts
  chargebacks:
    relation: raw_chargebacks
    timestamp: reported_at
feature_views:
  card_activity:
    source: transactions
    entity: [cc_num]
    windows: [1h, 1d]
    features:
      tx_count:   {agg: count}
      amount_sum: {agg: sum, column: amount}
  card_last_tx:
    source: transactions
    entity: [cc_num]
    features:
      last_merchant: {agg: latest, column: merchant}
"""

TX_COLUMNS = ["tx_id", "cc_num", "merchant", "amount", "status", "ts"]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def project(make_project):
    p = make_project(PROJECT)
    p.apply()
    return p


def write_csv(path: Path, rows: list[list], header: list[str] = TX_COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def generated_rows(n: int, seed: int = 1) -> list[list[str]]:
    """n transactions with amounts of 2 decimals and timestamps in several UTC offsets."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        ts = T0 + timedelta(seconds=rng.randrange(0, 86400 * 3), microseconds=rng.randrange(0, 10**6))
        offset = timezone(timedelta(hours=rng.choice([-8, -5, 0, 2, 9]), minutes=rng.choice([0, 30])))
        rows.append([
            f"tx-{i:05d}",
            f"card-{rng.randrange(30):02d}",
            f"merchant_{rng.randrange(10)}",
            f"{rng.randrange(0, 100000) / 100:.2f}",
            rng.choice(["approved", "failed", "declined"]),
            ts.astimezone(offset).isoformat(),
        ])
    return rows


def count_rows(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(f"select count(*) from {table}").fetchone()[0]


# ---------------------------------------------------------------- CSV


def test_good_csv_loads_every_row_typed(project, pg_conn, tmp_path: Path) -> None:
    rows = generated_rows(1000)
    path = write_csv(tmp_path / "tx.csv", rows)
    assert project.push("transactions", path) == 1000

    got = pg_conn.execute("select tx_id, cc_num, merchant, amount, status, ts from transactions order by tx_id").fetchall()
    expected = [
        (r[0], r[1], r[2], Decimal(r[3]), r[4], datetime.fromisoformat(r[5]).astimezone(timezone.utc))
        for r in sorted(rows, key=lambda r: r[0])
    ]
    assert got == expected
    assert all(isinstance(row[3], Decimal) for row in got)


def test_bad_value_at_line_812_names_line_and_column_and_inserts_nothing(project, pg_conn, tmp_path: Path) -> None:
    rows = generated_rows(1000)
    # file line 1 is the header, so file line 812 is data row index 810
    rows[810][3] = "abc"
    path = write_csv(tmp_path / "tx.csv", rows)
    assert path.read_text(encoding="utf-8").splitlines()[811].split(",")[3] == "abc"
    with pytest.raises(PushError) as info:
        project.push("transactions", path)
    msg = str(info.value)
    assert "line 812" in msg
    assert "column amount" in msg
    assert "abc" in msg
    assert "nothing was inserted" in msg
    assert str(path) in msg
    assert count_rows(pg_conn, "transactions") == 0
    # the connection is still usable after the failed COPY
    good = write_csv(tmp_path / "good.csv", generated_rows(5, seed=2))
    assert project.push("transactions", good) == 5
    assert count_rows(pg_conn, "transactions") == 5


def test_bad_value_after_multiline_field_names_the_file_line(project, pg_conn, tmp_path: Path) -> None:
    rows = generated_rows(20)
    rows[3][2] = "merchant\nwith\nnewlines"  # a quoted field spanning 3 file lines (data row 4, file line 5)
    rows[9][3] = "12.x"                      # data row 10: file line 11 + 2 extra lines = 13
    path = write_csv(tmp_path / "tx.csv", rows)
    lines = path.read_text(encoding="utf-8").split("\n")
    bad_line = next(i for i, line in enumerate(lines) if ",12.x," in line) + 1
    assert bad_line == 13
    with pytest.raises(PushError) as info:
        project.push("transactions", path)
    assert f"line {bad_line}," in str(info.value)
    assert count_rows(pg_conn, "transactions") == 0


def test_empty_fields_unquoted_is_null_quoted_is_empty_string(project, pg_conn, tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    path.write_text(
        "tx_id,cc_num,merchant,amount,status,ts\n"
        'tx-1,c1,,,"",2026-01-01T00:00:00Z\n'
        'tx-2,c1,"",1.50,,2026-01-01T00:01:00Z\n',
        encoding="utf-8",
    )
    assert project.push("transactions", path) == 2
    got = pg_conn.execute("select tx_id, merchant, amount, status from transactions order by tx_id").fetchall()
    assert got == [("tx-1", None, None, ""), ("tx-2", "", Decimal("1.50"), None)]


def test_header_may_list_a_subset_of_columns_in_any_order(project, pg_conn, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "tx.csv", [["2026-01-01T00:00:00+00:00", "c9", "7"]], header=["ts", "cc_num", "amount"])
    assert project.push("transactions", path) == 1
    row = pg_conn.execute("select tx_id, cc_num, amount, ts from transactions").fetchone()
    assert row == (None, "c9", Decimal(7), T0)


STRANGE_KEYS = ["O'Brien \"x\"", "a,b,c", "カード-ü-💳", " padded ", "back\\slash", "semi;colon--"]


def test_strange_keys_round_trip_and_are_looked_up(project, pg_conn, tmp_path: Path) -> None:
    rng = random.Random(3)
    rows = []
    events: dict[str, list[tuple[datetime, Decimal, str]]] = {k: [] for k in STRANGE_KEYS}
    for i in range(200):
        key = rng.choice(STRANGE_KEYS)
        ts = T0 + timedelta(minutes=rng.randrange(0, 48 * 60))
        amount = Decimal(rng.randrange(1, 10000)) / 100
        merchant = f"m{i:03d}"
        rows.append([f"tx-{i}", key, merchant, str(amount), "approved", ts.isoformat()])
        events[key].append((ts, amount, merchant))
    path = write_csv(tmp_path / "tx.csv", rows)
    assert project.push("transactions", path) == 200

    stored = {r[0] for r in pg_conn.execute("select distinct cc_num from transactions")}
    assert stored == set(STRANGE_KEYS)

    as_of = T0 + timedelta(hours=30, seconds=17)
    for key in STRANGE_KEYS:
        result = project.online_features("card_activity", {"cc_num": key}, as_of=as_of)
        assert result.entity == {"cc_num": key}
        in_1h = [e for e in events[key] if as_of - timedelta(hours=1) <= e[0] <= as_of]
        in_1d = [e for e in events[key] if as_of - timedelta(days=1) <= e[0] <= as_of]
        assert result.features["tx_count_1h"] == len(in_1h)
        assert result.features["tx_count_1d"] == len(in_1d)
        expected_sum = float(sum(e[1] for e in in_1d)) if in_1d else None
        assert result.features["amount_sum_1d"] == pytest.approx(expected_sum)

        last = project.online_features("card_last_tx", {"cc_num": key}, as_of=as_of)
        before = [e for e in events[key] if e[0] <= as_of]
        latest_ts = max(e[0] for e in before)
        assert last.features["last_merchant"] == max(e[2] for e in before if e[0] == latest_ts)
        assert last.statuses["last_merchant"] == "PRESENT"

    # a key that differs only by the quote characters is a different entity
    other = project.online_features("card_activity", {"cc_num": "O'Brien x"}, as_of=as_of)
    assert other.features["tx_count_1d"] == 0
    assert other.statuses["amount_sum_1d"] == "NOT_FOUND"


# ---------------------------------------------------------------- header and source errors


def test_unknown_header_column_suggests_and_inserts_nothing(project, pg_conn, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "tx.csv", [["t1", "c1", "7", "2026-01-01T00:00:00Z"]],
                     header=["tx_id", "cc_num", "amout", "ts"])
    with pytest.raises(PushError) as info:
        project.push("transactions", path)
    msg = str(info.value)
    assert "line 1" in msg
    assert "unknown column 'amout'" in msg
    assert "did you mean 'amount'?" in msg
    assert count_rows(pg_conn, "transactions") == 0


def test_header_without_timestamp_column(project, pg_conn, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "tx.csv", [["t1", "c1", "7"]], header=["tx_id", "cc_num", "amount"])
    with pytest.raises(PushError) as info:
        project.push("transactions", path)
    assert "'ts'" in str(info.value)
    assert count_rows(pg_conn, "transactions") == 0


def test_duplicate_header_column(project, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "tx.csv", [["c1", "c2", "2026-01-01T00:00:00Z"]], header=["cc_num", "cc_num", "ts"])
    with pytest.raises(PushError, match="'cc_num' appears twice"):
        project.push("transactions", path)


def test_unknown_source_lists_known_sources(project, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "tx.csv", generated_rows(1))
    with pytest.raises(PushError) as info:
        project.push("transaction", path)
    msg = str(info.value)
    assert "unknown source 'transaction'" in msg
    assert "did you mean 'transactions'?" in msg
    assert "known sources: transactions, events, chargebacks" in msg


def test_external_source_is_refused(project, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cb.csv", [["2026-01-01T00:00:00Z"]], header=["reported_at"])
    with pytest.raises(PushError, match="external"):
        project.push("chargebacks", path)


def test_missing_file_and_unknown_extension(project, tmp_path: Path) -> None:
    with pytest.raises(PushError, match="no such file"):
        project.push("transactions", tmp_path / "missing.csv")
    xlsx = tmp_path / "tx.xlsx"
    xlsx.write_bytes(b"PK")
    with pytest.raises(PushError, match="unknown file type '.xlsx'"):
        project.push("transactions", xlsx)


# ---------------------------------------------------------------- JSONL


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_jsonl_loads_typed_values_and_nested_json(project, pg_conn, tmp_path: Path) -> None:
    records = [
        {"id": 1, "cc_num": "カード-ü-💳", "payload": {"a": {"b": [1, 2, None]}, "s": "O'Brien \"x\""},
         "flag": True, "score": 0.25, "ts": "2026-01-01T00:00:00Z"},
        {"id": 2, "cc_num": "c,2", "payload": [1, "two", {"three": 3}], "flag": False, "score": None,
         "ts": "2026-01-01T03:00:00+02:00"},
        {"id": 3, "ts": "2026-01-02T00:00:00+00:00"},  # missing keys are null
        {"id": 4, "cc_num": "tab\there", "payload": "just a string", "ts": "2026-01-03T00:00:00Z",
         "flag": "true"},
    ]
    path = write_jsonl(tmp_path / "events.jsonl", [json.dumps(r, ensure_ascii=False) for r in records])
    assert project.push("events", path) == 4
    got = pg_conn.execute("select id, cc_num, payload, flag, score, ts from events order by id").fetchall()
    assert got == [
        (1, "カード-ü-💳", {"a": {"b": [1, 2, None]}, "s": "O'Brien \"x\""}, True, 0.25, T0),
        (2, "c,2", [1, "two", {"three": 3}], False, None, datetime(2026, 1, 1, 1, tzinfo=timezone.utc)),
        (3, None, None, None, None, datetime(2026, 1, 2, tzinfo=timezone.utc)),
        (4, "tab\there", "just a string", True, None, datetime(2026, 1, 3, tzinfo=timezone.utc)),
    ]


def test_csv_into_jsonb_column_and_bad_json_value_line(project, pg_conn, tmp_path: Path) -> None:
    header = ["id", "payload", "ts"]
    good = [["1", json.dumps({"k": [1, {"x": "a,b"}]}), "2026-01-01T00:00:00Z"],
            ["2", json.dumps("s"), "2026-01-01T00:00:00Z"]]
    assert project.push("events", write_csv(tmp_path / "good.csv", good, header=header)) == 2
    got = pg_conn.execute("select id, payload from events order by id").fetchall()
    assert got == [(1, {"k": [1, {"x": "a,b"}]}), (2, "s")]

    bad = [*good, ["3", "{not json", "2026-01-01T00:00:00Z"]]  # file line 4
    with pytest.raises(PushError) as info:
        project.push("events", write_csv(tmp_path / "bad.csv", bad, header=header))
    assert "line 4, column payload" in str(info.value)
    assert count_rows(pg_conn, "events") == 2


def test_jsonl_bad_json_line_names_line_and_inserts_nothing(project, pg_conn, tmp_path: Path) -> None:
    lines = [json.dumps({"id": i, "ts": "2026-01-01T00:00:00Z"}) for i in range(1, 6)]
    lines[3] = '{"id": 4, "ts": "2026-01-01T00:00:00Z"'  # file line 4: unterminated object
    path = write_jsonl(tmp_path / "events.jsonl", lines)
    with pytest.raises(PushError) as info:
        project.push("events", path)
    msg = str(info.value)
    assert "line 4" in msg and "not valid JSON" in msg
    assert count_rows(pg_conn, "events") == 0


def test_jsonl_bad_type_names_the_file_line(project, pg_conn, tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": 1, "ts": "2026-01-01T00:00:00Z"}),
        "",                                                     # line 2: blank, skipped
        json.dumps({"id": 3, "ts": "2026-01-01T00:00:00Z"}),
        json.dumps({"id": "four", "ts": "2026-01-01T00:00:00Z"}),  # line 4: not a bigint
        json.dumps({"id": 5, "ts": "2026-01-01T00:00:00Z"}),
    ]
    path = write_jsonl(tmp_path / "events.jsonl", lines)
    with pytest.raises(PushError) as info:
        project.push("events", path)
    msg = str(info.value)
    assert "line 4" in msg and "column id" in msg
    assert count_rows(pg_conn, "events") == 0


def test_jsonl_unknown_key_and_missing_timestamp(project, pg_conn, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [json.dumps({"id": 1, "ts": "2026-01-01T00:00:00Z"}),
                                              json.dumps({"idd": 2, "ts": "2026-01-01T00:00:00Z"})])
    with pytest.raises(PushError) as info:
        project.push("events", path)
    assert "line 2" in str(info.value) and "did you mean 'id'?" in str(info.value)

    path = write_jsonl(tmp_path / "b.jsonl", [json.dumps({"id": 1})])
    with pytest.raises(PushError, match="line 1.*'ts'"):
        project.push("events", path)
    assert count_rows(pg_conn, "events") == 0


# ---------------------------------------------------------------- CLI


def test_cli_push(cli_env: Path, pg_conn) -> None:
    (cli_env / "materializer.yml").write_text(PROJECT, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["apply"])
    assert result.exit_code == 0, result.output
    rows = generated_rows(50, seed=4)
    write_csv(cli_env / "tx.csv", rows)
    result = runner.invoke(app, ["push", "transactions", "tx.csv"])
    assert result.exit_code == 0, result.output
    assert "pushed 50 rows into transactions" in result.output
    assert count_rows(pg_conn, "transactions") == 50
    amounts = sorted(r[0] for r in pg_conn.execute("select amount from transactions"))
    assert amounts == sorted(Decimal(r[3]) for r in rows)


def test_cli_push_error_exits_1_with_one_line(cli_env: Path, pg_conn) -> None:
    (cli_env / "materializer.yml").write_text(PROJECT, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["apply"]).exit_code == 0
    rows = generated_rows(30, seed=5)
    rows[20][5] = "yesterday-ish"  # file line 22
    write_csv(cli_env / "tx.csv", rows)
    result = runner.invoke(app, ["push", "transactions", "tx.csv"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "line 22" in lines[0] and "column ts" in lines[0]
    assert "Traceback" not in result.output
    assert count_rows(pg_conn, "transactions") == 0


# ---------------------------------------------------------------- values that break what reads them

DAYS = """\
name: days
sources:
  visits:
    columns: {id: bigint, day: date, amount: "numeric(12,2)", weight: real, seen_at: timestamptz,
              note: text, ts: timestamptz}
    timestamp: ts
"""
VISIT_COLUMNS = ["id", "day", "amount", "weight", "seen_at", "note", "ts"]
GOOD_VISIT = {"id": "1", "day": "2026-01-01", "amount": "1.50", "weight": "0.5", "seen_at": "2026-01-01T08:00:00Z",
              "note": "ok", "ts": "2026-01-01T09:00:00+01:00"}

# (column, value as written in the file, a word of the message)
REFUSED = [
    ("ts", "", "every event needs its time"),
    ("ts", "infinity", "between the years 1 and 9999"),
    ("ts", "-infinity", "between the years 1 and 9999"),
    ("ts", " Infinity", "between the years 1 and 9999"),
    ("ts", "2000-01-01 00:00:00 BC", "between the years 1 and 9999"),
    ("ts", "10000-01-01T00:00:00Z", "between the years 1 and 9999"),
    ("ts", "9999-12-31T23:00:00-05:00", "between the years 1 and 9999"),   # year 10000 in UTC
    ("ts", "yesterday", "a word PostgreSQL turns into one"),
    ("ts", "today", "a word PostgreSQL turns into one"),
    ("ts", "Tomorrow 12:00", "a word PostgreSQL turns into one"),
    ("ts", "now", "a word PostgreSQL turns into one"),
    ("ts", "epoch", "a word PostgreSQL turns into one"),
    ("seen_at", "NOW", "a word PostgreSQL turns into one"),
    ("seen_at", "infinity", "between the years 1 and 9999"),
    ("day", "infinity", "between the years 1 and 9999"),
    ("day", "0001-01-01 BC", "between the years 1 and 9999"),
    ("day", "today", "a word PostgreSQL turns into one"),
    ("amount", "NaN", "not a finite number"),
    ("weight", "NaN", "not a finite number"),
    ("weight", "Infinity", "not a finite number"),
    ("weight", "-inf", "not a finite number"),
]


@pytest.fixture
def visits(make_project):
    p = make_project(DAYS)
    p.apply()
    return p


def visit_rows(n: int, bad_at: int, column: str, value: str) -> list[list[str]]:
    rows = [[str(i) if c == "id" else GOOD_VISIT[c] for c in VISIT_COLUMNS] for i in range(n)]
    rows[bad_at][VISIT_COLUMNS.index(column)] = value
    return rows


def assert_refused(info: pytest.ExceptionInfo, path: Path, line: int, column: str, word: str) -> None:
    msg = str(info.value)
    assert str(path) in msg and f"line {line}, column {column}:" in msg, msg
    assert word in msg and "nothing was inserted" in msg, msg


@pytest.mark.parametrize("column, value, word", REFUSED)
def test_csv_values_that_break_reads_are_refused_with_line_and_column(visits, pg_conn, tmp_path, column, value,
                                                                      word) -> None:
    path = write_csv(tmp_path / "visits.csv", visit_rows(40, 30, column, value), header=VISIT_COLUMNS)
    with pytest.raises(PushError) as info:
        visits.push("visits", path)
    assert_refused(info, path, 32, column, word)
    assert count_rows(pg_conn, "visits") == 0


@pytest.mark.parametrize("column, value, word", REFUSED)
def test_jsonl_values_that_break_reads_are_refused_with_line_and_column(visits, pg_conn, tmp_path, column, value,
                                                                        word) -> None:
    records = [{c: (int(v) if c == "id" else v) for c, v in zip(VISIT_COLUMNS, row)}
               for row in visit_rows(5, 3, column, value)]
    if value == "":
        del records[3][column]   # JSON says "no time" by leaving the key out (or null)
    path = write_jsonl(tmp_path / "visits.jsonl", [json.dumps(r) for r in records])
    with pytest.raises(PushError) as info:
        visits.push("visits", path)
    msg = str(info.value)
    assert "line 4" in msg and (column in msg) and "nothing was inserted" in msg, msg
    assert count_rows(pg_conn, "visits") == 0


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_jsonl_nan_and_infinity_numbers_are_refused(visits, pg_conn, tmp_path, literal) -> None:
    """Python's json reads the bare literals NaN and Infinity: they are refused like the strings."""
    good = {"id": 1, "ts": "2026-01-01T00:00:00Z", "weight": 0.5}
    path = tmp_path / "visits.jsonl"
    path.write_text(json.dumps(good) + "\n" + f'{{"id": 2, "ts": "2026-01-01T00:00:00Z", "weight": {literal}}}\n',
                    encoding="utf-8")
    with pytest.raises(PushError) as info:
        visits.push("visits", path)
    assert_refused(info, path, 2, "weight", f"{literal} is not a finite number")
    assert count_rows(pg_conn, "visits") == 0


def test_time_words_elsewhere_and_edge_times_are_accepted(visits, pg_conn, tmp_path) -> None:
    """A time word in a text column is a false alarm (the COPY runs again); the first and last
    microsecond of the years 1-9999 in UTC, negative numbers and null numbers and times load."""
    rows = visit_rows(6, 0, "note", "now or never")
    rows[1][VISIT_COLUMNS.index("note")] = "today"
    rows[2][VISIT_COLUMNS.index("ts")] = "0001-01-01T00:00:00Z"
    rows[3][VISIT_COLUMNS.index("ts")] = "9999-12-31T23:59:59.999999Z"
    rows[4][VISIT_COLUMNS.index("amount")] = "-0.01"
    rows[4][VISIT_COLUMNS.index("weight")] = "-1e30"
    rows[5][VISIT_COLUMNS.index("amount")] = ""
    rows[5][VISIT_COLUMNS.index("seen_at")] = ""
    rows[5][VISIT_COLUMNS.index("day")] = ""
    path = write_csv(tmp_path / "visits.csv", rows, header=VISIT_COLUMNS)
    assert visits.push("visits", path) == 6
    got = pg_conn.execute("select note, ts, amount, weight, seen_at, day from visits order by id").fetchall()
    assert [g[0] for g in got[:2]] == ["now or never", "today"]
    assert got[2][1] == datetime(1, 1, 1, tzinfo=timezone.utc)
    assert got[3][1] == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    assert got[4][2:4] == (Decimal("-0.01"), -1e30)
    assert got[5][2:] == (None, 0.5, None, None)


def test_batched_insert_path_refuses_the_same_values(visits, pg_conn, tmp_path) -> None:
    """The path of RisingWave (no COPY FROM STDIN, no CHECK constraints) checks every row in Python
    first: run here on PostgreSQL with an engine that says it has neither (the constraints dropped)."""
    from materializer.engines.postgres import Postgres

    class Plain(Postgres):
        supports_copy = False
        enforces_checks = False

    for (name,) in pg_conn.execute("select conname from pg_constraint where conrelid = 'visits'::regclass "
                                   "and contype = 'c'").fetchall():
        pg_conn.execute(f"alter table visits drop constraint {name}")
    visits.db.engine = Plain()
    for column, value, word in REFUSED:
        path = write_csv(tmp_path / "visits.csv", visit_rows(1500, 1200, column, value), header=VISIT_COLUMNS)
        with pytest.raises(PushError, match="nothing was inserted") as info:
            visits.push("visits", path)
            pytest.fail(f"{column} = {value!r} was accepted")
        assert_refused(info, path, 1202, column, word)
        assert count_rows(pg_conn, "visits") == 0, (column, value)
    path = write_csv(tmp_path / "visits.csv", visit_rows(1500, 0, "note", "now"), header=VISIT_COLUMNS)
    assert visits.push("visits", path) == 1500


@pytest.mark.parametrize("bad, column", [("12.x", "amount"), ("NaN", "amount"), ("", "ts")])
def test_line_after_a_multiline_field_in_a_file_of_newline_lines(project, pg_conn, tmp_path, bad, column) -> None:
    """COPY counts a newline inside a quoted field as a line when the file's lines end with a
    newline too (not with CRLF, as csv.writer writes): the message still names the file's line."""
    lines = ["tx_id,cc_num,merchant,amount,status,ts", 't1,c1,"two\nlines",1,ok,2026-01-01T00:00:00Z',
             't2,c1,"three\nmore\nlines",1,ok,2026-01-01T00:00:00Z', "t3,c1,m,1,ok,2026-01-01T00:00:00Z",
             "t4,c1,m,1,ok,2026-01-01T00:00:00Z"]
    ts = "2026-01-01T00:00:00Z" if column != "ts" else bad
    lines.append(f"t5,c1,m,{bad if column == 'amount' else '1'},ok,{ts}")   # file line 9
    lines += [f"t{i},c1,m,1,ok,2026-01-01T00:00:00Z" for i in range(6, 12)]
    path = tmp_path / "tx.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    with pytest.raises(PushError) as info:
        project.push("transactions", path)
    assert f"line 9, column {column}:" in str(info.value), str(info.value)
    assert count_rows(pg_conn, "transactions") == 0


def test_batched_insert_path_refuses_a_label_a_binary_monitor_cannot_use(make_project, pg_conn, tmp_path) -> None:
    """Without CHECK constraints (RisingWave, Materialize) push itself refuses a binary monitor's
    label other than 0 or 1, with the same message as the constraint's."""
    from materializer.engines.postgres import Postgres

    class Plain(Postgres):
        supports_copy = False
        enforces_checks = False

    project = make_project("""\
name: labelled
sources:
  predictions:
    columns: {tx_id: text, predicted_at: timestamptz, score: double precision}
    timestamp: predicted_at
  labels:
    columns: {tx_id: text, reported_at: timestamptz, is_fraud: integer}
    timestamp: reported_at
monitors:
  fraud:
    task: binary_classification
    predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score}
    outcomes: {source: labels, id: tx_id, timestamp: reported_at, label: is_fraud}
    windows: [1d]
""")
    project.apply()
    pg_conn.execute("alter table labels drop constraint labels__is_fraud__binary")
    project.db.engine = Plain()
    path = tmp_path / "labels.csv"
    path.write_text("tx_id,reported_at,is_fraud\na,2026-05-01T00:00:00Z,1\nb,2026-05-01T00:00:00Z,\n"
                    "c,2026-05-01T00:00:00Z,2\n", encoding="utf-8")
    with pytest.raises(PushError) as info:
        project.push("labels", path)
    assert_refused(info, path, 4, "is_fraud", "'2' is not a binary label")
    path = tmp_path / "labels.jsonl"
    path.write_text('{"tx_id": "a", "reported_at": "2026-05-01T00:00:00Z", "is_fraud": -1}\n', encoding="utf-8")
    with pytest.raises(PushError) as info:
        project.push("labels", path)
    assert_refused(info, path, 1, "is_fraud", "-1 is not a binary label")
    assert count_rows(pg_conn, "labels") == 0


# ---------------------------------------------------------------- engines without COPY or transactions (RisingWave)


def riskless_engine(**limits):
    """RisingWave's push path (no COPY FROM STDIN, no CHECK constraints, no read-write transactions:
    each INSERT is its own unit), run here on PostgreSQL in autocommit mode; ``limits`` override
    its bind-parameter and transaction settings (a small one forces several INSERTs)."""
    from materializer.engines.postgres import Postgres

    attributes = {"supports_copy": False, "enforces_checks": False, "insert_transactions": False,
                  "title": "RisingWave", **limits}
    return type("RisingWaveOnPostgres", (Postgres,), attributes)()


def jsonl_of(path: Path, rows: list[list[str]], header: list[str] = TX_COLUMNS) -> Path:
    path.write_text("".join(json.dumps(dict(zip(header, r))) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_failure_part_way_without_transactions_says_exactly_which_rows_were_written(project, pg_conn, tmp_path,
                                                                                     fmt) -> None:
    """Issue 11, item 4: RisingWave's BEGIN starts no transaction, so INSERTs before a failure stay;
    the error said "nothing was inserted". A CHECK that only row 2501 breaks fails the third INSERT
    of 1000 rows: the message names the 2000 rows kept, and pushing the rest finishes the load."""
    pg_conn.execute("alter table transactions add constraint poison check (merchant <> 'poison')")
    project.db.engine = riskless_engine(max_bind_parameters=6 * 1000)   # 6 columns: 1000 rows an INSERT
    rows = generated_rows(3500)
    rows[2500][2] = "poison"
    path = write_csv(tmp_path / "tx.csv", rows) if fmt == "csv" else jsonl_of(tmp_path / "tx.jsonl", rows)
    line = 1 if fmt == "csv" else 0   # the file line of a row is its number plus this
    with pytest.raises(PushError) as info:
        project.push("transactions", path)
    assert str(info.value) == (
        f"{path}: rows 1-2000 of 3500 (lines {1 + line}-{2000 + line}) were inserted before the INSERT of rows "
        f"2001-3000 (lines {2001 + line}-{3000 + line}) failed: new row for relation \"transactions\" violates "
        f"check constraint \"poison\"; RisingWave has no transaction to take them back: to finish, push the rows "
        f"from line {2001 + line} on (the whole file again would insert rows 1-2000 twice)")
    assert count_rows(pg_conn, "transactions") == 2000
    assert [r[0] for r in pg_conn.execute("select tx_id from transactions order by tx_id")] == [
        f"tx-{i:05d}" for i in range(2000)]
    rows[2500][2] = "merchant_1"
    rest = write_csv(tmp_path / "rest.csv", rows[2000:])
    assert project.push("transactions", rest) == 1500
    assert count_rows(pg_conn, "transactions") == 3500


def test_a_failure_in_the_first_insert_without_transactions_inserted_nothing(project, pg_conn, tmp_path) -> None:
    pg_conn.execute("alter table transactions add constraint poison check (merchant <> 'poison')")
    project.db.engine = riskless_engine(max_bind_parameters=6 * 1000)
    rows = generated_rows(1500)
    rows[9][2] = "poison"
    path = write_csv(tmp_path / "tx.csv", rows)
    with pytest.raises(PushError) as info:
        project.push("transactions", path)
    assert str(info.value) == (f"{path}: the INSERT of rows 1-1000 (lines 2-1001) failed: new row for relation "
                               "\"transactions\" violates check constraint \"poison\"; nothing was inserted")
    assert count_rows(pg_conn, "transactions") == 0


def test_with_insert_transactions_a_failure_part_way_inserts_nothing(project, pg_conn, tmp_path) -> None:
    """Materialize's write-only transactions (and PostgreSQL's) hold several INSERTs: all or nothing."""
    pg_conn.execute("alter table transactions add constraint poison check (merchant <> 'poison')")
    project.db.engine = riskless_engine(max_bind_parameters=6 * 1000, insert_transactions=True)
    rows = generated_rows(3500)
    rows[2500][2] = "poison"
    path = write_csv(tmp_path / "tx.csv", rows)
    with pytest.raises(PushError) as info:
        project.push("transactions", path)
    assert str(info.value).endswith("; nothing was inserted")
    assert "rows 2001-3000 (lines 2002-3001)" in str(info.value)
    assert count_rows(pg_conn, "transactions") == 0


def test_the_insert_size_is_the_engines_limit() -> None:
    from materializer.db.inserts import statement_rows
    from materializer.engines import get_engine

    risingwave = get_engine("risingwave")
    assert statement_rows(risingwave, 6) == 32767 // 6          # bind parameters: a signed int16
    assert statement_rows(risingwave, 1) == 32767               # within 32 chunks of 1024 rows
    assert statement_rows(riskless_engine(max_atomic_insert_rows=100), 1) == 100
    assert statement_rows(get_engine("postgres"), 7) == 65535 // 7


EVERY = """\
name: every_type
sources:
  every:
    columns: {columns}
    timestamp: c_ts
  every_copy:
    columns: {columns}
    timestamp: c_ts
"""


@pytest.fixture
def every(make_project):
    from tests.engine_catalogs import EVERY_TYPE

    columns = "{" + ", ".join(f'{c}: "{t}"' for c, t in EVERY_TYPE.items()) + "}"
    p = make_project(EVERY.format(columns=columns))
    p.apply()
    return p


GOOD_EVERY = {"c_text": "héllo, \"world\"", "c_smallint": "-32768", "c_integer": " 2147483647", "c_bigint": "-42",
              "c_numeric": "12345678901234567890.123456789", "c_money": "-1234567890.125", "c_real": "0.1",
              "c_double": "1e-300", "c_boolean": "Yes", "c_ts": "2026-01-01T09:00:00.5+01:00",
              "c_local": "2026-01-01 10:00:00", "c_date": "2026-02-28", "c_json": '{"a": [1, 2.5, null, "x"]}',
              "c_uuid": "123E4567-E89B-12D3-A456-426614174000"}


def every_rows(n: int, bad_at: int | None = None, column: str = "", value: str = "") -> list[list[str]]:
    rows = [list(GOOD_EVERY.values()) for _ in range(n)]
    if bad_at is not None:
        rows[bad_at][list(GOOD_EVERY).index(column)] = value
    return rows


def test_every_type_is_stored_by_the_inserts_as_copy_stores_it(every, pg_conn, tmp_path) -> None:
    from materializer.engines.postgres import Postgres

    path = write_csv(tmp_path / "every.csv", every_rows(3), header=list(GOOD_EVERY))
    assert every.push("every_copy", path) == 3
    every.db.engine = riskless_engine()
    assert every.push("every", path) == 3
    inserted = pg_conn.execute("select * from every").fetchall()
    copied = pg_conn.execute("select * from every_copy").fetchall()
    assert inserted == copied
    assert inserted[0][5] == Decimal("-1234567890.13")   # numeric(12,2) rounds half away from zero
    every.db.engine = Postgres()


# (column, value, words of the message)
BAD_TYPES = [
    ("c_smallint", "32768", "out of range for smallint"),
    ("c_integer", "1.5", "is not a valid integer"),
    ("c_bigint", "9223372036854775808", "out of range for bigint"),
    ("c_numeric", "12.x", "is not a valid numeric"),
    ("c_money", "12345678901.5", "more than 10 digits before the decimal point"),
    ("c_real", "1e39", "out of range for real"),
    ("c_double", "1e400", "out of range for double precision"),
    ("c_boolean", "maybe", "is not a valid boolean"),
    ("c_ts", "2026-13-01T00:00:00Z", "is not a timestamp"),
    ("c_local", "noon", "is not a timestamp"),
    ("c_date", "2026-02-30", "is not a valid date"),
    ("c_json", "{not json}", "is not a valid jsonb"),
    ("c_json", "NaN", "is not a valid jsonb"),
    ("c_uuid", "123", "is not a valid uuid"),
    ("c_text", "nul\x00byte", "NUL character"),
]


@pytest.mark.parametrize("column, value, words", BAD_TYPES)
def test_without_copy_every_value_is_typed_before_anything_is_written(every, pg_conn, tmp_path, column, value,
                                                                       words) -> None:
    """The old path wrote batches of 1000 rows, then met a value the database refused and said
    "nothing was inserted" although the earlier batches stayed: now a bad value anywhere is refused
    before the first INSERT, with its line and column."""
    every.db.engine = riskless_engine(max_bind_parameters=14 * 1000)
    path = write_csv(tmp_path / "every.csv", every_rows(3000, 2600, column, value), header=list(GOOD_EVERY))
    with pytest.raises(PushError) as info:
        every.push("every", path)
    message = str(info.value)
    assert message.startswith(f"{path}: line 2602, column {column}: "), message
    assert words in message and message.endswith("; nothing was inserted"), message
    assert count_rows(pg_conn, "every") == 0


def test_without_copy_a_row_with_missing_fields_is_refused_before_anything_is_written(every, pg_conn,
                                                                                    tmp_path) -> None:
    every.db.engine = riskless_engine()
    path = write_csv(tmp_path / "every.csv", [*every_rows(5), list(GOOD_EVERY.values())[:3]],
                     header=list(GOOD_EVERY))
    with pytest.raises(PushError, match=r"line 7: 3 fields where the header names 14; nothing was inserted"):
        every.push("every", path)
    assert count_rows(pg_conn, "every") == 0


def test_risingwave_refuses_numbers_beyond_its_28_digits_before_writing() -> None:
    from materializer.db.inserts import canonical
    from materializer.engines import get_engine
    from materializer.errors import InputError

    risingwave = get_engine("risingwave")
    assert canonical("1" * 28 + ".5", "numeric", risingwave) == "1" * 28 + ".5"
    with pytest.raises(InputError, match="RisingWave's numeric holds at most 28 digits"):
        canonical("1" * 29, "numeric", risingwave, "line 2, column amount")
    assert canonical("1e3", "numeric(12,2)") == "1000.00"
    assert canonical("2026-01-01T09:00:00+01:00", "timestamptz") == "2026-01-01 08:00:00+00:00"


def test_http_push_without_transactions_says_which_rows_stay(project, pg_conn, pg_dsn) -> None:
    """POST /push on RisingWave's path: INSERTs of 10 rows (6 columns, 60 values), the third fails."""
    import asyncio

    from materializer.serve.database import ConnectionPool
    from materializer.serve.push import insert

    pg_conn.execute("alter table transactions add constraint poison check (merchant <> 'poison')")
    source = project.spec.sources["transactions"]
    rows = [[f"t{i}", "c1", "poison" if i == 25 else "m", Decimal(1), "ok", T0] for i in range(30)]

    async def push(engine) -> int:
        pool = ConnectionPool(pg_dsn, engine)
        try:
            return await insert(pool, source, TX_COLUMNS, rows)
        finally:
            await pool.close()

    with pytest.raises(PushError) as info:
        asyncio.run(push(riskless_engine(max_bind_parameters=60, insert_transactions=True)))
    assert str(info.value).endswith("; nothing was inserted") and count_rows(pg_conn, "transactions") == 0
    with pytest.raises(PushError) as info:
        asyncio.run(push(riskless_engine(max_bind_parameters=60)))
    assert str(info.value) == (
        "rows[0]-rows[19] were inserted before the INSERT of rows[20]-rows[29] failed: new row for relation "
        "\"transactions\" violates check constraint \"poison\"; RisingWave has no transaction to take them back: "
        "to finish, push the rows from rows[20] on (all of them again would insert rows[0]-rows[19] twice)")
    assert count_rows(pg_conn, "transactions") == 20


def test_a_connection_lost_part_way_says_which_rows_may_or_may_not_be_in(project, pg_conn, tmp_path) -> None:
    """A CHECK that ends its own session at row 2501 loses the connection during the third INSERT:
    rows 1-2000 stay, and the message cannot know whether the third INSERT committed, so it says so."""
    pg_conn.execute("alter table transactions add constraint poison "
                    "check (merchant <> 'poison' or pg_terminate_backend(pg_backend_pid()))")
    project.db.engine = riskless_engine(max_bind_parameters=6 * 1000)
    rows = generated_rows(3500)
    rows[2500][2] = "poison"
    path = write_csv(tmp_path / "tx.csv", rows)
    with pytest.raises(PushError) as info:
        project.push("transactions", path)
    message = str(info.value)
    assert message.startswith(f"{path}: rows 1-2000 of 3500 (lines 2-2001) were inserted before the INSERT of rows "
                              "2001-3000 (lines 2002-3001) failed: "), message
    assert ("; the connection was lost, so rows 2001-3000 may or may not have been inserted too: count the rows of "
            "the source; RisingWave has no transaction to take them back: to finish, push the rows from line 2002 "
            "on (the whole file again would insert rows 1-2000 twice)") in message, message
    assert count_rows(pg_conn, "transactions") == 2000

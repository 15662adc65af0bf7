"""Project-file validation: every problem names the file, the key path and the fix (DESIGN §4).

These tests need no database: validation happens before any connection.
"""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from materializer.definitions.validate import load_yaml, parse_project
from materializer.errors import ProjectError
from materializer.project import Project

AGGREGATES = ["count", "count_distinct", "sum", "avg", "min", "max", "stddev", "latest"]

# DESIGN §4's example, without `monitors:` (validated elsewhere once monitors exist).
DESIGN_EXAMPLE = """\
name: fraud
engine: postgres                 # postgres | materialize | risingwave
sources:
  transactions:                  # managed: apply creates the table
    columns: {tx_id: text, cc_num: text, merchant: text, amount: numeric,
              status: text, ts: timestamptz}
    timestamp: ts
  chargebacks:
    relation: raw.chargebacks    # external: already exists, never created/dropped
    timestamp: reported_at
feature_views:
  card_activity:
    source: transactions
    entity: [cc_num]
    windows: [10m, 1h, 1d]       # units s m h d w
    features:
      tx_count:     {agg: count}
      amount_max:   {agg: max, column: amount}
      amount_avg:   {agg: avg, column: amount}
      merchants:    {agg: count_distinct, column: merchant}
      failed_count: {agg: count, filter: "status = 'failed'"}
  card_last_tx:
    source: transactions
    entity: [cc_num]
    max_age: 7d
    features:
      last_amount:   {agg: latest, column: amount}
      last_merchant: {agg: latest, column: merchant}
"""


def base() -> dict:
    """A small valid project as a raw mapping (a fresh copy each call)."""
    return copy.deepcopy({
        "name": "fraud",
        "engine": "postgres",
        "sources": {
            "transactions": {
                "columns": {"tx_id": "text", "cc_num": "text", "merchant": "text", "amount": "numeric",
                            "status": "text", "ts": "timestamptz"},
                "timestamp": "ts",
            },
        },
        "feature_views": {
            "card_activity": {
                "source": "transactions",
                "entity": ["cc_num"],
                "windows": ["10m", "1h", "1d"],
                "features": {
                    "tx_count": {"agg": "count"},
                    "amount_max": {"agg": "max", "column": "amount"},
                },
            },
            "card_last_tx": {
                "source": "transactions",
                "entity": ["cc_num"],
                "max_age": "7d",
                "features": {"last_amount": {"agg": "latest", "column": "amount"}},
            },
        },
    })


def error_of(raw: dict, file: str = "materializer.yml") -> str:
    with pytest.raises(ProjectError) as info:
        parse_project(raw, file=file)
    return str(info.value)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "materializer.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ---------------------------------------------------------------- positive


def test_base_project_is_valid() -> None:
    spec = parse_project(base())
    assert set(spec.feature_views) == {"card_activity", "card_last_tx"}


def test_design_example_validates(tmp_path: Path) -> None:
    path = write(tmp_path, DESIGN_EXAMPLE)
    project = Project.load(path)  # no database is touched by loading
    spec = project.spec
    assert spec.name == "fraud" and spec.engine == "postgres"
    assert set(spec.sources) == {"transactions", "chargebacks"}
    assert spec.sources["transactions"].managed
    chargebacks = spec.sources["chargebacks"]
    assert not chargebacks.managed
    assert chargebacks.relation == "raw.chargebacks"
    assert chargebacks.timestamp == "reported_at"

    activity = spec.feature_views["card_activity"]
    assert [w.seconds for w in activity.windows] == [600, 3600, 86400]
    expected = {f"{f}_{w}" for f in ("tx_count", "amount_max", "amount_avg", "merchants", "failed_count")
                for w in ("10m", "1h", "1d")}
    assert set(activity.feature_names) == expected
    assert len(activity.feature_names) == 15
    assert activity.lookback.seconds == 24 * 3600

    last = spec.feature_views["card_last_tx"]
    assert last.kind == "latest"
    assert last.feature_names == ["last_amount", "last_merchant"]
    assert last.max_age.seconds == 7 * 24 * 3600


def test_project_load_accepts_a_folder(tmp_path: Path) -> None:
    write(tmp_path, DESIGN_EXAMPLE)
    assert Project.load(tmp_path).root == tmp_path.resolve()


# ---------------------------------------------------------------- YAML syntax


def test_malformed_yaml_names_line_and_column(tmp_path: Path) -> None:
    text = DESIGN_EXAMPLE.replace("    timestamp: ts\n", "    timestamp: @ts\n", 1)
    lines = text.splitlines()
    bad_line = next(i for i, line in enumerate(lines) if "@ts" in line) + 1
    bad_col = lines[bad_line - 1].index("@") + 1
    path = tmp_path / "materializer.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProjectError) as info:
        load_yaml(path)
    msg = str(info.value)
    assert msg.startswith(str(path))
    assert f"line {bad_line}, column {bad_col}" in msg
    assert "malformed YAML" in msg
    assert "\n" not in msg
    with pytest.raises(ProjectError, match=f"line {bad_line}, column {bad_col}"):
        Project.load(path)


def test_duplicate_feature_key_is_an_error(tmp_path: Path) -> None:
    text = """\
    name: fraud
    sources:
      transactions:
        columns: {cc_num: text, amount: numeric, ts: timestamptz}
        timestamp: ts
    feature_views:
      card_activity:
        source: transactions
        entity: [cc_num]
        windows: [1h]
        features:
          tx_count: {agg: count}
          amount_max: {agg: max, column: amount}
          tx_count: {agg: sum, column: amount}
    """
    path = write(tmp_path, text)
    lines = path.read_text().splitlines()
    first, second = [i + 1 for i, line in enumerate(lines) if line.strip().startswith("tx_count:")]
    with pytest.raises(ProjectError) as info:
        Project.load(path)
    msg = str(info.value)
    assert "duplicate key 'tx_count'" in msg
    assert f"line {second}" in msg
    assert f"first at line {first}" in msg


def test_duplicate_top_level_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "name: a\nengine: postgres\nname: b\n")
    with pytest.raises(ProjectError, match=r"line 3.*duplicate key 'name' \(first at line 1\)"):
        load_yaml(path)


def test_missing_project_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="materializer init"):
        Project.load(tmp_path / "nope.yml")


# ---------------------------------------------------------------- one problem each


def test_unknown_aggregate_suggests_closest() -> None:
    raw = base()
    raw["feature_views"]["card_activity"]["features"]["amount_med"] = {"agg": "medain", "column": "amount"}
    msg = error_of(raw)
    assert msg.startswith("materializer.yml: feature_views.card_activity.features.amount_med.agg: ")
    assert "'medain'" in msg
    # 'min' is the closest of the supported aggregates (3 edits; every other one needs more).
    assert "did you mean 'min'?" in msg
    for agg in AGGREGATES:
        assert agg in msg
    assert "\n" not in msg


def test_bad_duration_in_windows() -> None:
    raw = base()
    raw["feature_views"]["card_activity"]["windows"] = ["10m", "90x", "1d"]
    msg = error_of(raw)
    assert "materializer.yml: feature_views.card_activity.windows[1]: '90x' is not a duration" in msg
    assert "s, m, h, d or w" in msg


@pytest.mark.parametrize("value", ["0m", "1.5h", "-1h", "1 day", "h"])
def test_other_bad_durations(value: str) -> None:
    raw = base()
    raw["feature_views"]["card_last_tx"]["max_age"] = value
    assert f"feature_views.card_last_tx.max_age: '{value}' is not a duration" in error_of(raw)


def test_windows_on_latest_view() -> None:
    raw = base()
    raw["feature_views"]["card_last_tx"]["windows"] = ["1h"]
    msg = error_of(raw)
    assert "feature_views.card_last_tx.windows: " in msg
    assert "max_age" in msg  # the fix: bound the age with max_age instead


def test_feature_column_not_in_source() -> None:
    raw = base()
    raw["feature_views"]["card_activity"]["features"]["amount_max"]["column"] = "amout"
    msg = error_of(raw)
    assert "feature_views.card_activity.features.amount_max.column: 'amout' is not a column" in msg
    assert "did you mean 'amount'?" in msg
    assert "tx_id, cc_num, merchant, amount, status, ts" in msg


def test_entity_column_not_in_source() -> None:
    raw = base()
    raw["feature_views"]["card_activity"]["entity"] = ["cc_numb"]
    msg = error_of(raw)
    assert "feature_views.card_activity.entity[0]: 'cc_numb' is not a column" in msg
    assert "did you mean 'cc_num'?" in msg


@pytest.mark.parametrize(
    ("view", "columns", "entity", "windows", "features", "clash"),
    [
        # a latest feature named like the entity key
        ("last", None, ["cc_num"], None, {"cc_num": {"agg": "latest", "column": "merchant"}}, "cc_num"),
        # windowed: feature n over window 1h makes n_1h, which is also the key column
        ("hits", {"n_1h": "text", "ts": "timestamptz"}, ["n_1h"], ["1h"], {"n": {"agg": "count"}}, "n_1h"),
    ],
)
def test_two_columns_with_the_same_name(view, columns, entity, windows, features, clash) -> None:
    raw = base()
    source = "transactions"
    if columns is not None:
        raw["sources"]["hits_src"] = {"columns": columns, "timestamp": "ts"}
        source = "hits_src"
    body = {"source": source, "entity": entity, "features": features}
    if windows:
        body["windows"] = windows
    raw["feature_views"][view] = body
    msg = error_of(raw)
    assert f"feature_views.{view}.features: two columns would be named '{clash}'" in msg


def test_unknown_top_level_key() -> None:
    raw = base()
    raw["feature_view"] = raw.pop("feature_views")
    msg = error_of(raw)
    assert "materializer.yml: feature_view: unknown key 'feature_view' (did you mean 'feature_views'?)" in msg


def test_unknown_key_in_a_feature() -> None:
    raw = base()
    raw["feature_views"]["card_activity"]["features"]["tx_count"]["filtre"] = "status = 'x'"
    msg = error_of(raw)
    assert "feature_views.card_activity.features.tx_count.filtre: unknown key 'filtre'" in msg
    assert "did you mean 'filter'?" in msg


def test_unknown_source() -> None:
    raw = base()
    raw["feature_views"]["card_activity"]["source"] = "transaction"
    msg = error_of(raw)
    assert "feature_views.card_activity.source: unknown source 'transaction'" in msg
    assert "did you mean 'transactions'?" in msg
    assert "known sources: transactions" in msg


def test_bad_column_type() -> None:
    raw = base()
    raw["sources"]["transactions"]["columns"]["amount"] = "numbr"
    msg = error_of(raw)
    assert "sources.transactions.columns.amount: unsupported type 'numbr'" in msg
    assert "did you mean 'numeric'?" in msg


def test_timestamp_column_must_be_timestamptz() -> None:
    raw = base()
    raw["sources"]["transactions"]["columns"]["ts"] = "timestamp"
    msg = error_of(raw)
    assert "sources.transactions.columns.ts: the timestamp column must be timestamptz, not timestamp" in msg


def test_timestamp_names_a_missing_column() -> None:
    raw = base()
    raw["sources"]["transactions"]["timestamp"] = "tss"
    msg = error_of(raw)
    assert "sources.transactions.timestamp: 'tss' is not a column of this source" in msg
    assert "did you mean 'ts'?" in msg


@pytest.mark.parametrize("agg", ["sum", "avg", "stddev"])
def test_numeric_aggregate_on_text_column(agg: str) -> None:
    raw = base()
    raw["feature_views"]["card_activity"]["features"]["bad"] = {"agg": agg, "column": "merchant"}
    msg = error_of(raw)
    assert f"feature_views.card_activity.features.bad.column: `{agg}` needs a numeric column; 'merchant' is text" in msg


@pytest.mark.parametrize(
    ("mutate", "path", "word"),
    [
        (lambda r: r["sources"]["transactions"]["columns"].update({"order": "text"}),
         "sources.transactions.columns.order", "order"),
        (lambda r: r["feature_views"].update({"table": r["feature_views"].pop("card_last_tx")}),
         "feature_views.table", "table"),
        (lambda r: r["feature_views"]["card_activity"]["features"].update({"select": {"agg": "count"}}),
         "feature_views.card_activity.features.select", "select"),
        (lambda r: r["sources"].update({"user": r["sources"]["transactions"]}),
         "sources.user", "user"),
    ],
)
def test_reserved_word_as_name(mutate, path: str, word: str) -> None:
    raw = base()
    mutate(raw)
    msg = error_of(raw)
    assert f"{path}: '{word}' is a reserved SQL word" in msg


def test_invalid_identifier() -> None:
    raw = base()
    raw["sources"]["transactions"]["columns"]["Amount-USD"] = "numeric"
    msg = error_of(raw)
    assert "sources.transactions.columns.Amount-USD: 'Amount-USD' is not a valid column name" in msg


def test_unknown_engine() -> None:
    raw = base()
    raw["engine"] = "materialise"
    assert "engine: unknown engine 'materialise' (did you mean 'materialize'?)" in error_of(raw)


def test_several_problems_reported_together(tmp_path: Path) -> None:
    raw = base()
    raw["feature_view_"] = {}
    raw["sources"]["transactions"]["columns"]["status"] = "txt"
    raw["feature_views"]["card_activity"]["windows"] = ["10m", "90x"]
    raw["feature_views"]["card_last_tx"]["features"]["last_amount"]["agg"] = "lastest"
    msg = error_of(raw, file="proj.yml")
    lines = msg.splitlines()
    assert lines[0].startswith("invalid project file (4 problems)")
    body = lines[1:]
    assert len(body) == 4
    assert all(line.startswith("proj.yml: ") for line in body)
    joined = "\n".join(body)
    assert "proj.yml: feature_view_: unknown key" in joined
    assert "proj.yml: sources.transactions.columns.status: unsupported type 'txt'" in joined
    assert "proj.yml: feature_views.card_activity.windows[1]: '90x' is not a duration" in joined
    assert "proj.yml: feature_views.card_last_tx.features.last_amount.agg: unknown aggregate 'lastest'" in joined


def test_several_problems_through_project_load(tmp_path: Path) -> None:
    text = DESIGN_EXAMPLE.replace("windows: [10m, 1h, 1d]", "windows: [10m, 90x, 1d]").replace(
        "agg: count_distinct", "agg: count_distinc")
    path = tmp_path / "materializer.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProjectError) as info:
        Project.load(path)
    lines = str(info.value).splitlines()
    assert "(2 problems)" in lines[0]
    assert lines[1:] == [
        line for line in lines[1:] if line.startswith(f"{path}: feature_views.card_activity.")
    ]
    assert any(".windows[1]: '90x' is not a duration" in line for line in lines)
    assert any(".features.merchants.agg: unknown aggregate 'count_distinc' (did you mean 'count_distinct'?)" in line
               for line in lines)


def test_top_level_not_a_mapping() -> None:
    with pytest.raises(ProjectError, match=r"\(top level\): expected a mapping"):
        parse_project(["not", "a", "mapping"])


# ---------------------------------------------------------------- key words and YAML booleans


@pytest.mark.parametrize("word", ["left", "join", "like", "order", "authorization", "verbose", "trim", "qualify",
                                  "position"])
@pytest.mark.parametrize("role", ["source", "column", "view", "feature", "monitor"])
def test_sql_key_words_are_refused_as_names(word: str, role: str) -> None:
    """Names go into the SQL unquoted: PostgreSQL's reserved words (R and T) fail at apply with a
    syntax error, and a few others fail on Materialize or RisingWave."""
    raw = base()
    if role == "source":
        raw["sources"][word] = raw["sources"].pop("transactions")
        path = f"sources.{word}"
    elif role == "column":
        raw["sources"]["transactions"]["columns"][word] = "text"
        path = f"sources.transactions.columns.{word}"
    elif role == "view":
        raw["feature_views"][word] = raw["feature_views"].pop("card_last_tx")
        path = f"feature_views.{word}"
    elif role == "feature":
        raw["feature_views"]["card_last_tx"]["features"][word] = {"agg": "latest", "column": "merchant"}
        path = f"feature_views.card_last_tx.features.{word}"
    else:
        raw["sources"]["labels"] = {"columns": {"tx_id": "text", "ts": "timestamptz", "y": "integer"},
                                    "timestamp": "ts"}
        raw["monitors"] = {word: {
            "task": "binary_classification", "windows": ["1d"],
            "predictions": {"source": "transactions", "id": "tx_id", "score": "amount"},
            "outcomes": {"source": "labels", "id": "tx_id", "label": "y"}}}
        path = f"monitors.{word}"
    msg = error_of(raw)
    assert f"{path}: '{word}' is a reserved SQL word" in msg, msg
    assert "choose another" in msg


@pytest.mark.parametrize("word", ["time", "timestamp", "values", "name", "type", "key", "value", "level", "y", "n"])
def test_words_every_engine_reads_as_names_are_accepted(word: str) -> None:
    raw = base()
    raw["sources"]["transactions"]["columns"][word] = "text"
    raw["feature_views"]["card_last_tx"]["features"][word] = {"agg": "latest", "column": word}
    spec = parse_project(raw)
    assert word in spec.feature_views["card_last_tx"].feature_names


def test_a_reserved_word_in_a_relation_is_refused() -> None:
    raw = base()
    raw["sources"]["ext"] = {"relation": "raw.order", "timestamp": "ts"}
    assert "sources.ext.relation: 'order' is a reserved SQL word" in error_of(raw)


def test_an_unquoted_yaml_boolean_as_a_name_says_to_quote_it(tmp_path: Path) -> None:
    path = write(tmp_path, """\
    sources:
      events:
        columns: {k: text, ts: timestamptz, on: boolean, yes: text, 'no': text}
        timestamp: ts
    feature_views:
      latest_state:
        source: events
        entity: [off]
        features:
          x: {agg: latest, column: 'no'}
    """)
    with pytest.raises(ProjectError) as info:
        Project.load(path)
    msg = str(info.value)
    assert "sources.events.columns.on: unquoted on is a boolean in YAML, not a column name; quote it ('on')" in msg
    assert "sources.events.columns.yes: unquoted yes is a boolean in YAML, not a column name; quote it ('yes')" in msg
    assert "feature_views.latest_state.entity[0]: unquoted off is a boolean in YAML" in msg
    assert "quote it ('off')" in msg
    assert "True" not in msg and "False" not in msg
    assert "sources.events.columns.no" not in msg  # quoted: a name like any other


def test_two_yaml_booleans_as_keys_are_not_duplicates(tmp_path: Path) -> None:
    """PyYAML reads `on:` and `yes:` as the same key True; they are different words."""
    path = write(tmp_path, "sources:\n  s:\n    columns: {on: text, yes: text}\n    timestamp: on\n")
    msg = str(pytest.raises(ProjectError, Project.load, path).value)
    assert "duplicate key" not in msg
    assert "quote it ('on')" in msg and "quote it ('yes')" in msg


def test_names_longer_than_63_bytes_are_refused() -> None:
    raw = base()
    long_name = "c" * 64
    raw["sources"]["transactions"]["columns"][long_name] = "text"
    msg = error_of(raw)
    assert f"sources.transactions.columns.{long_name}: '{long_name}' is 64 bytes long; PostgreSQL keeps only " \
           "the first 63 bytes of a name" in msg
    raw = base()
    raw["sources"]["transactions"]["columns"]["c" * 63] = "text"
    parse_project(raw)


def test_a_view_named_like_a_monitor_view_is_refused() -> None:
    raw = base()
    raw["sources"]["labels"] = {"columns": {"tx_id": "text", "ts": "timestamptz", "y": "integer"}, "timestamp": "ts"}
    raw["monitors"] = {"fraud": {"task": "binary_classification", "windows": ["1d"],
                                 "predictions": {"source": "transactions", "id": "tx_id", "score": "amount"},
                                 "outcomes": {"source": "labels", "id": "tx_id", "label": "y"}}}
    raw["feature_views"]["fraud__metrics"] = raw["feature_views"].pop("card_last_tx")
    msg = error_of(raw)
    assert "monitors.fraud: 'fraud__metrics', the metrics view of monitor 'fraud', is also feature view " \
           "'fraud__metrics'; rename the monitor" in msg


def test_a_view_named_like_an_existing_relation_is_refused() -> None:
    """apply would replace the user's own view of that name."""
    raw = base()
    raw["sources"]["ext"] = {"relation": "card_last_tx", "timestamp": "ts"}
    msg = error_of(raw)
    assert "feature_views.card_last_tx: 'card_last_tx', feature view 'card_last_tx', is also the existing " \
           "relation of source 'ext'; rename the view" in msg


def test_a_managed_table_may_also_be_read_as_an_external_source() -> None:
    raw = base()
    raw["sources"]["by_status"] = {"relation": "transactions", "timestamp": "ts"}
    parse_project(raw)


# ---------------------------------------------------------------- what the database used to find


def _monitor_project(pred_id: str, outcome_id: str) -> dict:
    raw = base()
    raw["sources"]["labels"] = {"columns": {"tx_id": outcome_id, "ts": "timestamptz", "y": "integer"},
                                "timestamp": "ts"}
    raw["sources"]["transactions"]["columns"]["tx_id"] = pred_id
    raw["monitors"] = {"fraud": {"task": "binary_classification", "windows": ["1d"],
                                 "predictions": {"source": "transactions", "id": "tx_id", "score": "amount"},
                                 "outcomes": {"source": "labels", "id": "tx_id", "label": "y"}}}
    return raw


@pytest.mark.parametrize(("pred_id", "outcome_id"), [("text", "bigint"), ("bigint", "integer"), ("uuid", "text")])
def test_prediction_and_outcome_ids_of_different_types_are_refused(pred_id: str, outcome_id: str) -> None:
    msg = error_of(_monitor_project(pred_id, outcome_id))
    assert f"monitors.fraud.outcomes.id: 'tx_id' is {outcome_id} but the prediction id 'tx_id' is {pred_id}; " \
           "outcomes join predictions on their ids: declare both with one type" in msg


def test_prediction_and_outcome_ids_of_one_type_spelt_differently_are_accepted() -> None:
    parse_project(_monitor_project("varchar", "text"))
    parse_project(_monitor_project("int8", "bigint"))


REALISTIC_FILTERS = [
    "status = 'failed' and amount > 100",
    "lower(merchant) like 'a%'",
    "coalesce(amount, 0) > 1",
    "status in ('failed', 'declined') or amount::numeric(12, 2) >= 1e3",
    "extract(hour from ts) between 9 and 17 and extract(epoch from ts) > 0",
    "cast(amount as double precision) > .5 and merchant is not null",
    "ts >= timestamptz '2026-01-01 00:00:00+00' and status <> ''",
    "merchant ~* '^acme' and status = 'it''s' and merchant collate \"C\" > 'a'",
    "case when status = 'failed' then amount > 0 else false end",
    "position('x' in merchant) > 0 and substring(merchant from 1 for 2) = 'ab'",
    "ts at time zone 'UTC' > timestamp '2026-01-01' and date_trunc('day', ts) < ts + interval '1 day'",
]


@pytest.mark.parametrize("condition", REALISTIC_FILTERS)
def test_realistic_filters_are_accepted(condition: str) -> None:
    raw = base()
    raw["feature_views"]["card_activity"]["features"]["tx_count"]["filter"] = condition
    parse_project(raw)


@pytest.mark.parametrize(("condition", "words"), [
    ("stauts = 'failed'", ["'stauts' is not a column of source 'transactions' (did you mean 'status'?)",
                           "columns: tx_id, cc_num"]),
    ("lower(merchnt) like 'a%' and amout > 1", ["'merchnt' is not a column", "did you mean 'merchant'?",
                                                "'amout' is not a column", "did you mean 'amount'?"]),
    ("\"Status\" = 'failed'", ["'Status' is not a column"]),
    ("transactions.status = 'failed'", ["transactions.status: name the column alone (status)"]),
    ("count(*) > 1", ["count(...) is an aggregate"]),
    ("ts > now() - interval '1 day'", ["now reads the clock"]),
    ("status = 'failed", ["unterminated string"]),
    ("status = 'a') or (status = 'b'", ["closes a parenthesis the filter did not open"]),
    ("status in (select status from blocked)", ["not a subquery"]),
])
def test_filters_that_would_fail_in_the_database_are_refused(condition: str, words: list[str]) -> None:
    raw = base()
    raw["feature_views"]["card_activity"]["features"]["tx_count"]["filter"] = condition
    msg = error_of(raw)
    assert "feature_views.card_activity.features.tx_count.filter: " in msg
    for word in words:
        assert word in msg, msg


def test_a_filter_on_an_external_source_is_not_checked_for_columns() -> None:
    raw = base()
    raw["sources"]["ext"] = {"relation": "raw.events", "timestamp": "ts"}
    raw["feature_views"]["ext_counts"] = {"source": "ext", "entity": ["k"], "windows": ["1h"],
                                          "features": {"n": {"agg": "count", "filter": "anything = 1"}}}
    parse_project(raw)


@pytest.mark.parametrize("column", ["_event_ts", "_within_max_age", "_rank", "_as_of", "_row", "_ts", "_fresh_ts"])
def test_source_columns_named_like_generated_columns_are_refused(column: str) -> None:
    raw = base()
    raw["sources"]["transactions"]["columns"][column] = "text"
    msg = error_of(raw)
    assert f"sources.transactions.columns.{column}: '{column}' is a column materializer adds (" in msg
    assert "rename the column" in msg


# ---------------------------------------------------------------- one mistake, one problem


def problems_of(raw: dict) -> list[str]:
    msg = error_of(raw)
    lines = msg.splitlines()
    return lines[1:] if lines[0].startswith("invalid project file") else lines


def with_consumers(raw: dict) -> dict:
    """The base project, plus a monitor, an on-demand view and a feature service reading its parts."""
    raw["sources"]["labels"] = {"columns": {"tx_id": "text", "ts": "timestamptz", "y": "integer"}, "timestamp": "ts"}
    raw["sources"]["transactions"]["columns"]["risk"] = "double precision"
    raw["monitors"] = {"fraud": {"task": "binary_classification", "windows": ["1d"],
                                 "predictions": {"source": "transactions", "id": "tx_id", "score": "amount",
                                                 "segments": ["merchant"]},
                                 "outcomes": {"source": "labels", "id": "tx_id", "label": "y"},
                                 "reference": {"relation": "training_scores"}, "features": ["risk"]}}
    raw["on_demand_features"] = {"risk": {"request": {"amount": "numeric"},
                                          "features": {"ratio": "{amount} / nullif({card_activity:amount_max_1d}, 0)"}}}
    raw["feature_services"] = {"model": ["card_activity:tx_count_1h", "card_last_tx:*"]}
    return raw


def test_the_consumers_project_is_valid() -> None:
    parse_project(with_consumers(base()))


def test_a_misspelt_view_source_is_reported_once() -> None:
    raw = with_consumers(base())
    raw["feature_views"]["card_activity"]["source"] = "transaction"
    assert problems_of(raw) == [(
        "materializer.yml: feature_views.card_activity.source: unknown source 'transaction' (did you mean "
        "'transactions'?); known sources: transactions, labels")]


def test_a_misspelt_view_source_still_reports_what_does_not_depend_on_it() -> None:
    raw = base()
    raw["feature_views"]["card_activity"]["source"] = "transaction"
    raw["feature_views"]["card_activity"]["windows"] = ["1h", "90x"]
    problems = problems_of(raw)
    assert len(problems) == 2
    assert "card_activity.source: unknown source" in problems[0] and "windows[1]: '90x'" in problems[1]


def test_a_misspelt_monitor_source_is_reported_once() -> None:
    raw = with_consumers(base())
    raw["monitors"]["fraud"]["predictions"]["source"] = "transaction"
    assert problems_of(raw) == [(
        "materializer.yml: monitors.fraud.predictions.source: unknown source 'transaction' (did you mean "
        "'transactions'?); known sources: transactions, labels")]


@pytest.mark.parametrize(("mutate", "path"), [
    # the timestamp column's type: the source cannot be used
    (lambda r: r["sources"]["transactions"]["columns"].update(ts="timestamp"), "sources.transactions.columns.ts"),
    (lambda r: r["sources"]["transactions"]["columns"].update(ts="timestampz"), "sources.transactions.columns.ts"),
    (lambda r: r["sources"]["transactions"].update(timestamp="tss"), "sources.transactions.timestamp"),
    # one column's type or name: what reads that column
    (lambda r: r["sources"]["transactions"]["columns"].update(amount="numbr"), "sources.transactions.columns.amount"),
    (lambda r: r["sources"]["transactions"]["columns"].update(merchant="txt"),
     "sources.transactions.columns.merchant"),
    (lambda r: r["sources"]["transactions"]["columns"].update(cc_num=["text"]), "sources.transactions.columns.cc_num"),
    (lambda r: r["sources"]["labels"]["columns"].update(tx_id="strng"), "sources.labels.columns.tx_id"),
    # a feature view: the on-demand view and the feature service that read it
    (lambda r: r["feature_views"]["card_activity"]["features"]["amount_max"].update(agg="maximum"),
     "feature_views.card_activity.features.amount_max.agg"),
    (lambda r: r["feature_views"]["card_last_tx"].update(max_age="7 days"), "feature_views.card_last_tx.max_age"),
])
def test_one_mistake_in_a_definition_is_one_problem(mutate, path: str) -> None:
    """What depends on a broken definition is skipped: no 'unknown source', 'not a column' or 'unknown
    feature view' about something the file does declare."""
    raw = with_consumers(base())
    mutate(raw)
    problems = problems_of(raw)
    assert len(problems) == 1, "\n".join(problems)
    assert problems[0].startswith(f"materializer.yml: {path}: ")


# ---------------------------------------------------------------- any file: a spec or a ProjectError

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**20), st.floats(allow_nan=True),
                     st.sampled_from(["", "on", "ts", "amount", "cc_num", "transactions", "1h", "0m", "count",
                                      "latest", "text", "numeric(5,2)", "left", "a" * 70, "x.y.z", "status = 'x",
                                      "_event_ts", "card_activity:tx_count_1h"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(_SCALARS.filter(lambda v: v is not None
                                                                                         and not isinstance(v, float)),
                                                                         inner, max_size=3)), max_leaves=6)


def _paths(node, prefix=()):
    """Every key path of a nested mapping/list."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_change_of_a_project_gives_a_spec_or_a_project_error(data) -> None:
    """Replace any part of a valid project (with consumers of every kind) with any YAML value: validation
    returns a spec that compiles for every engine, or raises ProjectError; never another exception. The
    one refusal of compile: a latest-value view without max_age on a streaming engine (its state would
    be every event ever seen), a one-line error naming the key."""
    from materializer.errors import MaterializerError
    from materializer.sql.compile import compile_sql

    raw = with_consumers(base())
    paths = list(_paths(raw))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        value = data.draw(_VALUES)
        if not path:
            continue
        node = raw
        try:
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        spec = parse_project(raw)
    except ProjectError:
        return
    unbounded = [n for n, v in spec.feature_views.items() if v.kind == "latest" and v.max_age is None]
    for engine in ("postgres", "materialize", "risingwave"):
        try:
            compile_sql(spec, engine)
        except MaterializerError as exc:
            assert engine != "postgres" and unbounded, exc
            assert str(exc).startswith(f"feature_views.{unbounded[0]}.max_age: missing: on {engine}"), exc

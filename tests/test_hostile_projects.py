"""Projects that `validate` accepts must apply and read without a raw SQL error (the hardening issue).

Each test here is a project shape that validation used to accept and PostgreSQL then rejected
(or silently answered wrongly): it now either works end to end on a real database or is
refused by validation with its key path.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings

from materializer.definitions.validate import parse_project
from materializer.errors import ProjectError
from tests import hostile

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_drift_of_a_score_column_not_named_score(make_project) -> None:
    """The score is the scored view's `score` column whatever its source name: a monitor with a
    reference and a score column called `probability` applies, and its drift counts the scores."""
    project = make_project("""
sources:
  preds: {columns: {tx_id: text, at: timestamptz, probability: double precision}, timestamp: at}
  labels: {columns: {tx_id: text, at: timestamptz, fraud: integer}, timestamp: at}
monitors:
  m:
    task: binary_classification
    predictions: {source: preds, id: tx_id, timestamp: at, score: probability}
    outcomes: {source: labels, id: tx_id, timestamp: at, label: fraud}
    windows: [1d]
    reference: {relation: training_scores}
""")
    project.apply()
    conn = project.db.conn
    conn.execute("create table training_scores as select g / 10.0 as probability from generate_series(0, 9) as g")
    project.store_reference("m")
    conn.execute("insert into preds values ('a', %s, 0.25), ('b', %s, 0.75)", [T0, T0])
    rows = project.drift("m", window="1d", as_of=T0 + timedelta(hours=1))
    assert [(r["column_name"], r["n"]) for r in rows] == [("probability", 2)]


def test_realistic_filters_run_online_and_in_training_sets(make_project, pg_conn) -> None:
    """The filters validation accepts run in the view and in both forms of a training set, and agree."""
    import pandas as pd
    import yaml

    from materializer.features import training
    from tests.test_validate import REALISTIC_FILTERS

    features = {f"f{i}": {"agg": "count", "filter": condition} for i, condition in enumerate(REALISTIC_FILTERS)}
    raw = {
        "sources": {"transactions": {"columns": {"tx_id": "text", "cc_num": "text", "merchant": "text",
                                                 "amount": "numeric", "status": "text", "ts": "timestamptz"},
                                     "timestamp": "ts"}},
        "feature_views": {"activity": {"source": "transactions", "entity": ["cc_num"], "windows": ["1d"],
                                       "features": features}},
    }
    project = make_project(yaml.safe_dump(raw, sort_keys=False))
    project.apply()
    at = datetime(2026, 3, 2, 12, tzinfo=UTC)
    pg_conn.execute(
        "insert into transactions values ('1', 'c', 'acme', 150, 'failed', %s), ('2', 'c', 'abx', 0.7, 'ok', %s)",
        [at - timedelta(hours=1), at - timedelta(hours=2)])
    online = project.online_features("activity", {"cc_num": "c"}, as_of=at).features
    assert online["f0_1d"] == 1 and online["f1_1d"] == 2
    spine = pd.DataFrame({"cc_num": ["c"], "event_timestamp": [at.isoformat()]})
    for method in ("frames", "probes"):
        training.WINDOWED_METHOD = method
        try:
            frame = project.training_set(spine, ["activity:*"])
        finally:
            training.WINDOWED_METHOD = None
        assert {name: int(frame[f"activity__{name}"][0]) for name in online} == online, method


@pytest.mark.parametrize("maintained", [False, True])
def test_source_columns_named_like_the_scored_columns(make_project, pg_conn, maintained: bool) -> None:
    """A prediction id column called `score` (and an outcome id called `label`): DISTINCT ON (score) once
    read the output column `score`, merging two ids of equal score; every id now counts once."""
    if maintained:
        sources = """
  preds: {columns: {score: text, at: timestamptz, prob: double precision}, timestamp: at}
  outs: {columns: {label: text, at: timestamptz, y: integer}, timestamp: at}"""
    else:
        pg_conn.execute("create table ext_preds (score text, at timestamptz, prob double precision)")
        pg_conn.execute("create table ext_outs (label text, at timestamptz, y integer)")
        sources = """
  preds: {relation: ext_preds, timestamp: at}
  outs: {relation: ext_outs, timestamp: at}"""
    project = make_project(f"""
sources:{sources}
monitors:
  m:
    task: binary_classification
    predictions: {{source: preds, id: score, timestamp: at, score: prob}}
    outcomes: {{source: outs, id: label, timestamp: at, label: y}}
    windows: [1d]
""")
    project.apply()
    preds, outs = ("preds", "outs") if maintained else ("ext_preds", "ext_outs")
    pg_conn.execute(f"insert into {preds} values ('a', %s, 0.9), ('b', %s, 0.9), ('c', %s, 0.1)", [T0] * 3)
    pg_conn.execute(f"insert into {outs} values ('a', %s, 1), ('b', %s, 0), ('c', %s, 0)", [T0] * 3)
    metrics = project.metrics("m", window="1d", as_of=T0 + timedelta(hours=1)).groups[0]["metrics"]
    assert (metrics["n"], metrics["tp"], metrics["fp"], metrics["tn"]) == (3, 1, 1, 1)


# CTE names of the macros that a source of the same name was run against (every kind of view, both
# training forms, every monitor view under both label policies) without being hidden: a CTE only
# hides a table in the steps after it, and these are never followed by a step reading a source.
CTE_NAMES_THAT_HIDE_NOTHING = {
    "accuracy", "auc", "calibration", "cells", "changed", "compared", "counted", "counters", "cumulative", "delta",
    "distances", "drift_delta", "drift_upsert", "ece", "events", "final", "flagged", "fresh", "grid", "histogram",
    "labels", "latest", "latest_tie", "latest_ts", "live", "live_cells", "observed", "pairs", "pairs_above",
    "pairs_tied", "pending_tail", "shares", "sliced", "totals", "versions",
    # the streaming forms: after these steps only steps read (windowed features; the labels of
    # implicit_negative; the newest reference bins, read before the grid)
    "windowed", "aggregated", "reported", "reference_bins",
    # monitor_reference: its one relation is read by the first CTE, before any of these names exists
    "reference_values", "ranked", "counts", "positions", "cuts", "numbered", "bins",
}


def test_every_cte_of_the_macros_is_known_to_hide_a_table_or_not() -> None:
    """A new CTE must be placed in one list: refused as a source name (checks.CTE_NAMES), or run as one."""
    import re

    from materializer.definitions.checks import CTE_NAMES
    from materializer.sql.render import macros_dir

    found = set()
    for path in macros_dir().glob("*.sql"):
        found |= set(re.findall(r"^\s*(?:with )?([a-z_][a-z0-9_]*) as (?:materialized )?\($", path.read_text(), re.MULTILINE))
    found = {n for n in found if not n.startswith("_")}
    assert found <= CTE_NAMES | CTE_NAMES_THAT_HIDE_NOTHING, sorted(found - CTE_NAMES - CTE_NAMES_THAT_HIDE_NOTHING)
    assert not CTE_NAMES & CTE_NAMES_THAT_HIDE_NOTHING


@pytest.mark.parametrize("name", ["tail", "deduped", "bounds"])
def test_a_source_named_like_a_step_that_hides_it_is_refused(name: str) -> None:
    raw = {"sources": {name: {"columns": {"k": "text", "ts": "timestamptz"}, "timestamp": "ts"},
                       "ext": {"relation": name, "timestamp": "ts"},
                       "qualified": {"relation": f"public.{name}", "timestamp": "ts"}}}
    with pytest.raises(ProjectError) as info:
        parse_project(raw)
    lines = str(info.value).splitlines()[1:]
    assert len(lines) == 2
    assert lines[0].startswith(f"materializer.yml: sources.{name}: '{name}' is also the name of a step")
    assert lines[1].startswith(f"materializer.yml: sources.ext.relation: '{name}' is also the name of a step")
    assert f"(public.{name})" in lines[1]


def test_a_source_named_events_in_a_training_set(make_project, pg_conn) -> None:
    """The frames form of a training set named its events `events`, hiding a source of that name from the
    count_distinct features (column e.ts does not exist)."""
    import pandas as pd

    from materializer.features import training

    project = make_project("""
sources:
  events: {columns: {k: text, ts: timestamptz, v: text}, timestamp: ts}
feature_views:
  activity:
    source: events
    entity: [k]
    windows: [1h]
    features: {kinds: {agg: count_distinct, column: v}, n: {agg: count}}
""")
    project.apply()
    pg_conn.execute("insert into events values ('a', %s, 'x'), ('a', %s, 'y')", [T0, T0])
    training.WINDOWED_METHOD = "frames"
    try:
        frame = project.training_set(pd.DataFrame({"k": ["a"], "event_timestamp": [(T0 + timedelta(minutes=1)).isoformat()]}),
                                     ["activity:*"])
    finally:
        training.WINDOWED_METHOD = None
    assert (frame["activity__kinds_1h"][0], frame["activity__n_1h"][0]) == (2, 2)


@pytest.mark.parametrize("view", ["request", "s"])
def test_an_on_demand_view_reading_a_view_named_like_an_internal_alias(make_project, pg_conn, view: str) -> None:
    """The request data and the spine were aliased `request` and `s` beside the views (aliased with their
    own names): a feature view of either name broke on-demand lookups and training sets."""
    import pandas as pd

    project = make_project(f"""
sources:
  tx: {{columns: {{k: text, ts: timestamptz, amount: numeric}}, timestamp: ts}}
feature_views:
  {view}: {{source: tx, entity: [k], windows: [1h], features: {{total: {{agg: sum, column: amount}}}}}}
on_demand_features:
  share:
    request: {{amount: numeric}}
    features: {{of_total: "{{amount}} / nullif({{{view}:total_1h}}, 0)"}}
""")
    project.apply()
    pg_conn.execute("insert into tx values ('a', %s, 4)", [T0])
    at = T0 + timedelta(minutes=1)
    online = project.online_features("share", {"k": "a"}, as_of=at, request={"amount": 2})
    assert online.features == {"of_total": 0.5}
    frame = project.training_set(pd.DataFrame({"k": ["a"], "event_timestamp": [at.isoformat()], "amount": [2]}),
                                 ["share:of_total"])
    assert frame["share__of_total"].tolist() == [0.5]


@pytest.mark.parametrize(("expression", "words"), [
    ("amount * 2 + {activity:total_1h}", ["'amount' is not SQL; write {amount} for a request field"]),
    ("{amount} / activity.total_1h", ["activity.total_1h: write the reference {activity:total_1h} instead"]),
    ("sum({amount}) + {activity:total_1h}", ["sum(...) is an aggregate"]),
    ("extract(epoch from now()) - {activity:total_1h}", ["now reads the clock", "request field"]),
    ("({amount} + {activity:total_1h}", ["is not closed"]),
])
def test_on_demand_expressions_that_would_fail_are_refused(expression: str, words: list[str]) -> None:
    raw = {
        "sources": {"tx": {"columns": {"k": "text", "ts": "timestamptz", "amount": "numeric"}, "timestamp": "ts"}},
        "feature_views": {"activity": {"source": "tx", "entity": ["k"], "windows": ["1h"],
                                       "features": {"total": {"agg": "sum", "column": "amount"}}}},
        "on_demand_features": {"od": {"request": {"amount": "numeric"}, "features": {"x": expression}}},
    }
    with pytest.raises(ProjectError) as info:
        parse_project(raw)
    msg = str(info.value)
    assert "on_demand_features.od.features.x: " in msg
    for word in words:
        assert word in msg, msg


def test_on_demand_feature_names_starting_with_an_underscore_are_refused() -> None:
    """`_row` broke the training set (the work table has a `_row` column)."""
    raw = {
        "sources": {"tx": {"columns": {"k": "text", "ts": "timestamptz", "amount": "numeric"}, "timestamp": "ts"}},
        "feature_views": {"activity": {"source": "tx", "entity": ["k"], "windows": ["1h"],
                                       "features": {"total": {"agg": "sum", "column": "amount"}}}},
        "on_demand_features": {"od": {"request": {"amount": "numeric"},
                                      "features": {"_row": "{amount} + {activity:total_1h}"}}},
    }
    with pytest.raises(ProjectError, match=r"on_demand_features\.od\.features\._row: feature names starting with _"):
        parse_project(raw)


def _tx(columns: dict | None = None, **view) -> dict:
    cols = {"k": "text", "ts": "timestamptz", "amount": "numeric", "flag": "boolean", "ref": "uuid", "doc": "jsonb"}
    body = {"source": "tx", "entity": ["k"], **view}
    return {"sources": {"tx": {"columns": {**cols, **(columns or {})}, "timestamp": "ts"}},
            "feature_views": {"v": body}}


def _refused(raw: dict, path: str, *words: str) -> None:
    with pytest.raises(ProjectError) as info:
        parse_project(raw)
    msg = str(info.value)
    assert f"materializer.yml: {path}: " in msg, msg
    for word in words:
        assert word in msg, msg


@pytest.mark.parametrize(("agg", "column"), [("max", "flag"), ("min", "ref"), ("latest", "flag"), ("latest", "ref"),
                                             ("latest", "doc")])
def test_aggregates_of_types_without_max_are_refused(agg: str, column: str) -> None:
    """PostgreSQL has no max(boolean), max(uuid) or max(jsonb): apply failed (latest breaks ties with max())."""
    view = {"features": {"x": {"agg": agg, "column": column}}}
    if agg != "latest":
        view["windows"] = ["1h"]
    _refused(_tx(**view), "feature_views.v.features.x.column", f"'{column}'")


def test_a_tie_break_of_a_type_without_max_is_refused() -> None:
    _refused(_tx(tie_break="flag", features={"x": {"agg": "latest", "column": "amount"}}), "feature_views.v.tie_break",
             "boolean column 'flag'")


@pytest.mark.parametrize("duration", ["365001d", "52143w", "99999999999999999999s"])
def test_durations_beyond_the_databases_times_are_refused(duration: str) -> None:
    """`t - W` beyond 4713 BC is 'timestamp out of range' when the view is read."""
    _refused(_tx(windows=["1h", duration], features={"n": {"agg": "count"}}), "feature_views.v.windows[1]",
             "longer than 365000d (1000 years)")
    parse_project(_tx(windows=["1h", "365000d"], features={"n": {"agg": "count"}}))


@pytest.mark.parametrize("type_", ["numeric(0,0)", "numeric(40,2)", "numeric(1001)", "numeric(2,5)"])
def test_numeric_types_the_engines_cannot_create_are_refused(type_: str) -> None:
    _refused(_tx({"price": type_}, windows=["1h"], features={"n": {"agg": "count"}}), "sources.tx.columns.price",
             "the precision must be 1 to 39")
    parse_project(_tx({"price": "numeric(39,39)"}, windows=["1h"], features={"n": {"agg": "count"}}))


def _monitor(**changes) -> dict:
    monitor = {"task": "binary_classification", "windows": ["1d"],
               "predictions": {"source": "preds", "id": "id", "score": "prob", "segments": ["channel"]},
               "outcomes": {"source": "outs", "id": "id", "label": "y"},
               "reference": {"relation": "training_scores"}}
    for key, value in changes.items():
        *parents, leaf = key.split("__")
        node = monitor
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return {"sources": {"preds": {"columns": {"id": "text", "ts": "timestamptz", "prob": "double precision",
                                             "channel": "text", "amount": "numeric"}, "timestamp": "ts"},
                        "outs": {"columns": {"id": "text", "ts": "timestamptz", "y": "integer"}, "timestamp": "ts"}},
            "monitors": {"m": monitor}}


@pytest.mark.parametrize(("changes", "path", "words"), [
    # the slice would be summed twice: every count of the segment doubled
    ({"predictions__segments": ["channel", "channel"]}, "monitors.m.predictions.segments[1]", ["listed twice"]),
    # the score's drift is always measured: two bins per value, and the drift cells' key repeated
    ({"features": ["prob"]}, "monitors.m.features[0]", ["watched already"]),
    ({"features": ["amount", "amount"]}, "monitors.m.features[1]", ["watched already"]),
    # cast(text as double precision) fails when the first value is read
    ({"features": ["channel"]}, "monitors.m.features[0]", ["drift is measured on numbers; 'channel' is text"]),
    # `inf` in the SQL is a column name
    ({"costs": {"fp": float("inf"), "fn": 1}}, "monitors.m.costs.fp", ["is not a cost"]),
])
def test_monitor_settings_that_would_fail_or_double_count_are_refused(changes, path, words) -> None:
    parse_project(_monitor(features=["amount"]))
    _refused(_monitor(**changes), path, *words)


def test_a_project_name_with_a_line_break_is_refused() -> None:
    """The name heads the compiled SQL as a `--` comment; its second line would be SQL."""
    raw = _tx(windows=["1h"], features={"n": {"agg": "count"}})
    raw["name"] = "fraud\ndrop table tx"
    _refused(raw, "name", "one line of printable text")


def test_a_feature_of_the_event_time_in_a_training_set(make_project, pg_conn) -> None:
    """max(ts) and count_distinct(ts): the frames form of a training set did not carry the time column
    (column "ts" does not exist)."""
    import pandas as pd

    from materializer.features import training

    project = make_project("""
sources:
  tx: {columns: {k: text, ts: timestamptz}, timestamp: ts}
feature_views:
  activity:
    source: tx
    entity: [k]
    windows: [1h]
    features: {last_seen: {agg: max, column: ts}, moments: {agg: count_distinct, column: ts}}
""")
    project.apply()
    pg_conn.execute("insert into tx values ('a', %s), ('a', %s)", [T0, T0 - timedelta(minutes=5)])
    training.WINDOWED_METHOD = "frames"
    try:
        frame = project.training_set(pd.DataFrame({"k": ["a"], "event_timestamp": [(T0 + timedelta(minutes=1)).isoformat()]}),
                                     ["activity:*"])
    finally:
        training.WINDOWED_METHOD = None
    assert frame["activity__moments_1h"][0] == 2
    assert frame["activity__last_seen_1h"][0] == T0


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(drawn=hostile.projects())
def test_a_random_project_validation_accepts_applies_and_reads(drawn: tuple, pg_dsn: str, tmp_path) -> None:
    """Whatever names, types, aggregates, filters and monitors a project draws: validation refuses it,
    or apply, online lookups, training sets (both forms) and every monitor read work on PostgreSQL."""
    import psycopg
    import yaml

    from materializer.project import Project

    raw, external = drawn
    try:
        parse_project(raw)
        raw, tables = hostile.with_external(raw, external)
        parse_project(raw)
    except ProjectError:
        return
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("drop schema public cascade; create schema public; drop schema if exists materializer cascade")
        hostile.create_tables(conn, tables)
    path = tmp_path / "materializer.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    with Project.load(path, dsn=pg_dsn) as project:
        project.apply()
        hostile.exercise(project, tables)


def test_keys_named_like_the_training_sets_bounds(make_project, pg_conn) -> None:
    """Keys called `until` and `since` were ambiguous beside the bounds a training set computes per key."""
    import pandas as pd

    from materializer.features import training

    project = make_project("""
sources:
  tx: {columns: {until: text, since: text, ts: timestamptz, v: numeric}, timestamp: ts}
feature_views:
  activity:
    source: tx
    entity: [until, since]
    windows: [1h, 1d]
    features: {n: {agg: count}, top: {agg: max, column: v}}
""")
    project.apply()
    pg_conn.execute("insert into tx values ('a', 'b', %s, 3)", [T0])
    spine = pd.DataFrame({"until": ["a"], "since": ["b"], "event_timestamp": [(T0 + timedelta(minutes=1)).isoformat()]})
    for method in (None, "frames", "probes"):
        training.WINDOWED_METHOD = method
        try:
            frame = project.training_set(spine, ["activity:*"])
        finally:
            training.WINDOWED_METHOD = None
        assert frame["activity__n_1h"][0] == 1 and frame["activity__top_1d"][0] == 3, method


def test_the_event_time_as_a_key_is_refused() -> None:
    """The streaming form of a latest view joins on the keys and the time: a key that is the time
    appears twice (common column name "ts" appears more than once)."""
    raw = {"sources": {"tx": {"columns": {"ts": "timestamptz", "v": "numeric"}, "timestamp": "ts"}},
           "feature_views": {"last": {"source": "tx", "entity": ["ts"], "features": {"v": {"agg": "latest",
                                                                                            "column": "v"}}}}}
    _refused(raw, "feature_views.last.entity[0]", "'ts' is the source's event time, not a key")


@pytest.mark.parametrize("tie_break", ["k", "ts"])
def test_a_tie_break_that_is_a_key_or_the_time_is_refused(tie_break: str) -> None:
    """The streaming form of a latest view joins on the keys, the time and the tie-break: the same column
    twice (common column name appears more than once)."""
    _refused(_tx(tie_break=tie_break, features={"x": {"agg": "latest", "column": "amount"}}),
             "feature_views.v.tie_break", f"'{tie_break}' is ", "the same for every tied event")


def test_a_training_set_of_an_existing_table_with_number_keys(make_project, pg_conn) -> None:
    """The keys of an external source (types not declared) were compared as text with the table's
    numeric keys (operator does not exist: bigint = text; and collate "C" on a number)."""
    import pandas as pd

    from materializer.features import training

    pg_conn.execute("create table raw_events (account bigint, region numeric, ts timestamptz, amount numeric)")
    pg_conn.execute("insert into raw_events values (7, 1.5, %s, 10), (7, 1.5, %s, 5)", [T0, T0 - timedelta(hours=2)])
    project = make_project("""
sources:
  events: {relation: raw_events, timestamp: ts}
feature_views:
  spend: {source: events, entity: [account, region], windows: [1h, 1d], features: {total: {agg: sum, column: amount}}}
  last: {source: events, entity: [account, region], features: {amount: {agg: latest, column: amount}}}
""")
    project.apply()
    at = T0 + timedelta(minutes=1)
    spine = pd.DataFrame({"account": ["7"], "region": ["1.5"], "event_timestamp": [at.isoformat()]})
    for method in ("frames", "probes"):
        training.WINDOWED_METHOD = method
        try:
            frame = project.training_set(spine, ["spend:*", "last:amount"])
        finally:
            training.WINDOWED_METHOD = None
        assert (frame["spend__total_1h"][0], frame["spend__total_1d"][0], frame["last__amount"][0]) == (10, 15, 10)


def test_verify_of_a_view_keyed_by_a_number(make_project, pg_conn) -> None:
    """verify adds an entity without events to the sample: a text key made for it was no bigint
    ('__materializer_verify_no_events__' is not a valid value)."""
    from materializer.features.verify import verify

    project = make_project("""
sources:
  tx: {columns: {account: bigint, ts: timestamptz, amount: numeric}, timestamp: ts}
feature_views:
  spend: {source: tx, entity: [account], windows: [1h], features: {total: {agg: sum, column: amount}, n: {agg: count}}}
""")
    project.apply()
    pg_conn.execute("insert into tx values (1, %s, 5), (2, %s, 7)", [T0, T0])
    report = verify(project, entities=5, as_of=T0 + timedelta(minutes=1))
    assert report.ok and report.entities == 3


def test_verify_of_views_keyed_by_uuids_dates_and_json(make_project, pg_conn) -> None:
    """verify passed the keys it sampled as Python objects (UUID, date, dict), which lookups refuse, and
    a DataFrame turned integer keys with a null into floats ('0.0' is no bigint)."""
    from materializer.features.verify import verify

    project = make_project("""
sources:
  tx: {columns: {id: uuid, day: date, doc: jsonb, n: bigint, ts: timestamptz, amount: numeric}, timestamp: ts}
feature_views:
  by_id: {source: tx, entity: [id], windows: [1h], features: {total: {agg: sum, column: amount}}}
  by_day: {source: tx, entity: [day], windows: [1h], features: {total: {agg: sum, column: amount}}}
  by_doc: {source: tx, entity: [doc], windows: [1h], features: {total: {agg: sum, column: amount}}}
  by_n: {source: tx, entity: [n], windows: [1h], features: {total: {agg: sum, column: amount}}}
""")
    project.apply()
    pg_conn.execute("insert into tx values (gen_random_uuid(), '2026-01-01', '{\"a\": 1}', 0, %s, 5), "
                    "(gen_random_uuid(), '2026-01-02', '[1]', null, %s, 7)", [T0, T0])
    report = verify(project, entities=5, as_of=T0 + timedelta(minutes=1))
    assert report.ok, report.mismatches

"""Names in the generated SQL: key words, and PostgreSQL's 63-byte limit on every name it creates.

Names go into the SQL unquoted, and PostgreSQL silently cuts a name to 63 bytes, so validation
refuses a project that would make a name the server reads differently from what we wrote.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from materializer.definitions import keywords
from materializer.definitions.validate import parse_project
from materializer.errors import ProjectError
from materializer.features import training
from materializer.sql.compile import compile_sql

UTC = timezone.utc
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------- key words


def _server_keywords(conn) -> dict[str, set[str]]:
    rows = conn.execute("select word, catcode from pg_get_keywords()").fetchall()
    return {cat: {w for w, c in rows if c == cat} for cat in "RTCU"}


def test_the_reserved_words_are_the_running_servers(pg_conn) -> None:
    """The embedded lists are PostgreSQL's reserved (R) and type-or-function (T) words; this fails when a
    new PostgreSQL reserves another word, so the list cannot fall behind."""
    server = _server_keywords(pg_conn)
    assert keywords.POSTGRES_RESERVED == server["R"]
    assert keywords.POSTGRES_RESERVED_TYPE_OR_FUNCTION == server["T"]
    assert keywords.POSTGRES_COL_NAME == server["C"]
    assert keywords.POSTGRES_UNRESERVED == server["U"]
    # the streaming engines' extra words are names to PostgreSQL (else they would be in the lists above)
    assert not set(keywords.STREAMING_RESERVED) & (server["R"] | server["T"])


@pytest.mark.parametrize("word", ["left", "like", "authorization"])
def test_a_reserved_word_breaks_the_generated_sql(pg_conn, word: str) -> None:
    """Why they are refused: the DDL apply would run is a syntax error."""
    import psycopg

    pg_conn.execute("create table t (k text)")
    with pytest.raises(psycopg.errors.SyntaxError):
        pg_conn.execute(f"select k, max({word}) as x from t group by k")


def test_col_name_words_work_as_names_on_postgres(make_project, pg_conn) -> None:
    """PostgreSQL's col_name words (C) that validation accepts work as columns, entity keys, timestamps,
    features, filters and tie-breaks: apply, online lookups and training sets (both forms) read them."""
    words = sorted(_server_keywords(pg_conn)["C"] - set(keywords.STREAMING_RESERVED))
    assert "time" in words and "values" in words
    key, ts, tie, *columns = words
    text = f"""
sources:
  s:
    columns: {{{key}: text, {ts}: timestamptz, {tie}: integer, {', '.join(f'{c}: numeric' for c in columns)}}}
    timestamp: {ts}
feature_views:
  windowed:
    source: s
    entity: [{key}]
    windows: [1h, 1d]
    features:
{chr(10).join(f'      {c}: {{agg: max, column: {c}, filter: "{c} > 0 and {key} is not null"}}' for c in columns)}
  latest:
    source: s
    entity: [{key}]
    tie_break: {tie}
    max_age: 1d
    features:
{chr(10).join(f'      {c}: {{agg: latest, column: {c}}}' for c in columns)}
"""
    project = make_project(text)
    project.apply()
    values = ", ".join(str(i + 1) for i in range(len(columns)))
    pg_conn.execute(f"insert into s values ('a', %s, 1, {values})", [T0])
    at = T0 + timedelta(minutes=5)
    for view in ("windowed", "latest"):
        result = project.online_features(view, {key: "a"}, as_of=at)
        assert set(result.statuses.values()) == {"PRESENT"}, (view, result.statuses)
        for method in ("frames", "probes"):
            training.WINDOWED_METHOD = method
            try:
                frame = project.training_set(pd.DataFrame({key: ["a"], "event_timestamp": [at.isoformat()]}),
                                             [f"{view}:*"])
            finally:
                training.WINDOWED_METHOD = None
            assert frame.iloc[0].notna().all(), (view, method)


# ---------------------------------------------------------------- 63 bytes


_STRING = re.compile(r"'(?:[^']|'')*'")
_COMMENT = re.compile(r"--[^\n]*")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_CREATE = re.compile(
    r"create (?:or replace )?(?:unlogged |temporary )?(materialized view|view|table|index|function|trigger)"
    r"(?: if not exists)? ([\w.]+)")
_CONSTRAINT = re.compile(r"add constraint (\w+)")
_TRIGGER_ON = re.compile(r"create (?:or replace )?trigger (\w+)\s+after \w+ on ([\w.]+)")


def sql_identifiers(sql: str) -> set[str]:
    """Every word of the SQL outside string literals and comments (key words included: all short)."""
    return set(_WORD.findall(_COMMENT.sub(" ", _STRING.sub("''", sql))))


def created_names(sql: str) -> dict[str, list[str]]:
    """The names the SQL creates, by namespace: relations and functions per schema, triggers and
    constraints per table (where PostgreSQL requires them distinct)."""
    spaces: dict[str, list[str]] = {}
    for kind, name in _CREATE.findall(sql):
        if name == "on":  # `create index on t (...)`: PostgreSQL picks a free name itself
            continue
        schema, _, bare = name.rpartition(".")
        space = ("function" if kind == "function" else "relation") + f" in {schema or 'public'}"
        if kind != "trigger":
            spaces.setdefault(space, []).append(bare)
    for name, table in _TRIGGER_ON.findall(sql):
        spaces.setdefault(f"trigger on {table}", []).append(name)
    for statement in sql.split(";\n"):
        table = _CREATE.search(statement)
        for name in _CONSTRAINT.findall(statement):
            spaces.setdefault(f"constraint on {table.group(2) if table else '?'}", []).append(name)
    return spaces


def assert_names_fit(spec) -> None:
    """Compiled for every engine, no name is longer than 63 bytes and no two created objects of a
    namespace share a name."""
    for engine in ("postgres", "materialize", "risingwave"):
        sql = compile_sql(spec, engine)
        long = sorted(w for w in sql_identifiers(sql) if len(w.encode()) > 63)
        assert not long, (engine, long)
        for space, names in created_names(sql).items():
            dupes = sorted({n for n in names if names.count(n) > 1})
            assert not dupes, (engine, space, dupes)


def name(stem: str, size: int) -> str:
    """A name of exactly ``size`` bytes starting with ``stem``."""
    return (stem + "_" + "x" * size)[:size]


def longest_project() -> dict:
    """Every name as long as validation allows: 63-byte sources, columns and views; windowed
    features whose `<feature>_<window>` is 63 bytes; 41-byte monitors."""
    src_a, src_b = name("events", 62) + "a", name("events", 62) + "b"
    key, ts, amount = name("key", 63), name("ts", 63), name("amount", 63)
    label_source, label = name("labels", 26), name("label", 26)  # <source>__<label>__binary: 63 bytes
    monitor = name("monitor", 41)
    return {
        "name": "longest",
        "sources": {
            src_a: {"columns": {key: "text", ts: "timestamptz", amount: "numeric", "model": "text"},
                    "timestamp": ts},
            src_b: {"columns": {key: "text", ts: "timestamptz", amount: "double precision", "model": "text"},
                    "timestamp": ts},
            label_source: {"columns": {key: "text", ts: "timestamptz", label: "integer"}, "timestamp": ts},
        },
        "feature_views": {
            name("view", 63) + "": {
                "source": src_a, "entity": [key], "windows": ["10m", "1h", "1d"],
                "features": {name("count", 59): {"agg": "count"}, name("max", 59): {"agg": "max", "column": amount},
                             name("filtered", 59): {"agg": "sum", "column": amount, "filter": f"{amount} > 0"}},
            },
            name("view", 62) + "b": {
                "source": src_b, "entity": [key, "model"], "max_age": "7d", "tie_break": amount,
                "features": {name("last", 63): {"agg": "latest", "column": amount}},
            },
        },
        "monitors": {
            monitor: {
                "task": "binary_classification", "windows": ["1h", "1d"], "bucket": "1h",
                "predictions": {"source": src_b, "id": key, "timestamp": ts, "score": amount, "version": "model",
                                "segments": ["model"]},
                "outcomes": {"source": label_source, "id": key, "timestamp": ts, "label": label},
                "reference": {"relation": "training_scores", "column": "score"},
            },
            name("other", 41)[:-1] + "z": {
                "task": "regression", "windows": ["1d"],
                "predictions": {"source": src_a, "id": key, "timestamp": ts, "score": amount},
                "outcomes": {"source": src_b, "id": key, "timestamp": ts, "label": amount},
            },
        },
    }


def test_the_longest_names_validation_accepts_fit_in_every_engine() -> None:
    spec = parse_project(longest_project())
    assert_names_fit(spec)


def test_the_longest_project_applies_with_every_name_as_written(make_project, pg_conn, tmp_path) -> None:
    """On PostgreSQL the catalog holds every created name exactly as compiled (nothing was cut)."""
    import yaml

    project = make_project(yaml.safe_dump(longest_project(), sort_keys=False))
    project.apply()
    sql = compile_sql(project.spec, "postgres")
    catalog = {r[0] for r in pg_conn.execute(
        "select relname from pg_class union all select proname from pg_proc "
        "union all select tgname from pg_trigger union all select conname from pg_constraint")}
    for space, names in created_names(sql).items():
        missing = [n for n in names if n not in catalog]
        assert not missing, (space, missing)


@st.composite
def long_named_projects(draw) -> dict:
    """Projects whose names share long prefixes and are near the limit, where cutting names at 63
    bytes would merge them."""
    def sized(stem: str, tag: str = "", limit: int = 63) -> str:
        """A name up to ``limit`` bytes (the most that fits where it is used), once in 20 longer."""
        too_long = draw(st.integers(0, 19)) == 0
        size = draw(st.integers(limit + 1, 72) if too_long else st.integers(len(stem) + len(tag), limit))
        return name(stem, size - len(tag)) + tag

    # the label check <source>__<label>__binary must fit too: 26 + 26 + 10 bytes
    src_a, src_b = sized("source", "a"), sized("source", "b", 26)
    key, ts, val, lab = sized("k"), sized("t"), sized("v"), sized("l", limit=26)
    columns = {key: "text", ts: "timestamptz", val: "double precision", lab: "integer"}
    windows = draw(st.lists(st.sampled_from(["1h", "10m", "1d", "90s", "2w"]), min_size=1, max_size=3,
                            unique=True))
    features = {sized("f", "a", 59): {"agg": "count"}, sized("f", "b", 59): {"agg": "max", "column": val}}
    raw = {
        "sources": {src_a: {"columns": dict(columns), "timestamp": ts},
                    src_b: {"columns": dict(columns), "timestamp": ts}},
        "feature_views": {
            sized("view", "a"): {"source": src_a, "entity": [key], "windows": windows, "features": features},
            sized("view", "b"): {"source": src_b, "entity": [key, lab], "max_age": "1d",
                            "features": {sized("f"): {"agg": "latest", "column": val}}},
        },
        "monitors": {
            sized("m", limit=41): {"task": "binary_classification", "windows": ["1d"],
                         "predictions": {"source": src_a, "id": key, "timestamp": ts, "score": val},
                         "outcomes": {"source": src_b, "id": key, "timestamp": ts, "label": lab},
                         **({"reference": {"relation": sized("r")}} if draw(st.booleans()) else {})},
        },
    }
    return raw


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(long_named_projects())
def test_a_project_validation_accepts_has_names_that_fit(raw: dict) -> None:
    """Whatever the lengths: either validation refuses the project, or every name its SQL creates fits
    in 63 bytes, in every engine, with no two objects of one name."""
    try:
        spec = parse_project(raw)
    except ProjectError as exc:
        lines = str(exc).splitlines()
        problems = lines[1:] if lines[0].startswith("invalid project file") else lines
        assert all("bytes" in line for line in problems), str(exc)  # refused for a length, once each
        return
    assert_names_fit(spec)


# ---------------------------------------------------------------- the three cases of the issue


def _error(raw: dict) -> str:
    with pytest.raises(ProjectError) as info:
        parse_project(raw)
    return str(info.value)


def _two_sources(a: str, b: str) -> dict:
    columns = {"k": "text", "ts": "timestamptz", "amount": "numeric"}
    return {
        "sources": {a: {"columns": dict(columns), "timestamp": "ts"}, b: {"columns": dict(columns), "timestamp": "ts"}},
        "feature_views": {
            "on_a": {"source": a, "entity": ["k"], "windows": ["1d"], "features": {"n": {"agg": "count"}}},
            "on_b": {"source": b, "entity": ["k"], "windows": ["1d"], "features": {"n": {"agg": "count"}}},
        },
    }


def test_two_sources_with_a_long_common_prefix_stay_two_tables(make_project, pg_conn) -> None:
    """Names of 64 bytes and more are refused (PostgreSQL would make the two sources one table); at
    63 bytes, the longest name kept whole, they are two tables holding their own rows."""
    a, b = name("card_transactions", 63) + "a", name("card_transactions", 63) + "b"
    msg = _error(_two_sources(a, b))
    assert f"sources.{a}: '{a}' is 64 bytes long; PostgreSQL keeps only the first 63 bytes of a name" in msg
    assert f"sources.{b}: '{b}'" in msg

    import yaml

    a, b = a[1:], b[1:]
    project = make_project(yaml.safe_dump(_two_sources(a, b), sort_keys=False))
    project.apply()
    pg_conn.execute(f"insert into {a} values ('k1', %s, 1), ('k1', %s, 2)", [T0, T0])
    pg_conn.execute(f"insert into {b} values ('k1', %s, 3)", [T0])
    at = T0 + timedelta(minutes=1)
    assert project.online_features("on_a", {"k": "k1"}, as_of=at).features == {"n_1d": 2}
    assert project.online_features("on_b", {"k": "k1"}, as_of=at).features == {"n_1d": 1}


def _monitored(monitor: str) -> dict:
    return {
        "sources": {
            "preds": {"columns": {"id": "text", "at": "timestamptz", "score": "double precision"}, "timestamp": "at"},
            "outcomes": {"columns": {"id": "text", "at": "timestamptz", "y": "integer"}, "timestamp": "at"},
        },
        "monitors": {monitor: {
            "task": "binary_classification", "windows": ["1d"],
            "predictions": {"source": "preds", "id": "id", "timestamp": "at", "score": "score"},
            "outcomes": {"source": "outcomes", "id": "id", "timestamp": "at", "label": "y"},
        }},
    }


def test_a_long_monitor_name_keeps_its_triggers_apart(make_project, pg_conn) -> None:
    """A monitor of ~60 bytes made `<monitor>__on_predictions` and `__on_outcomes` one function (both
    cut to 63 bytes), so its metrics read n: 0 with data present: the name is refused; at the longest
    name allowed, 41 bytes, the metrics count the rows."""
    long_monitor = name("fraud_model_for_card_not_present_payments", 60)
    msg = _error(_monitored(long_monitor))
    assert f"monitors.{long_monitor}: its trigger {long_monitor}__predictions_truncate would be 82 bytes" in msg
    assert "shorten the monitor name to at most 41 bytes" in msg

    import yaml

    monitor = long_monitor[:41]
    project = make_project(yaml.safe_dump(_monitored(monitor), sort_keys=False))
    project.apply()
    pg_conn.execute("insert into preds values ('a', %s, 0.9), ('b', %s, 0.2)", [T0, T0])
    pg_conn.execute("insert into outcomes values ('a', %s, 1), ('b', %s, 0)", [T0, T0])
    result = project.metrics(monitor, window="1d", as_of=T0 + timedelta(hours=1))
    assert result.groups[0]["metrics"]["n"] == 2


def _windowed(feature: str) -> dict:
    return {
        "sources": {"tx": {"columns": {"k": "text", "ts": "timestamptz", "amount": "numeric"}, "timestamp": "ts"}},
        "feature_views": {"activity": {"source": "tx", "entity": ["k"], "windows": ["1h"],
                                       "features": {feature: {"agg": "sum", "column": "amount"}}}},
    }


def test_a_long_feature_name_with_its_window_is_read_back(make_project, pg_conn) -> None:
    """`<feature>_<window>` over 63 bytes was cut in the view, and the online lookup (reading the whole
    name) returned null with the value present: refused; at 63 bytes the value is served."""
    feature = name("amount_spent_on_card_not_present_transactions", 61)
    msg = _error(_windowed(feature))
    assert (f"feature_views.activity.features.{feature}: its column {feature}_1h (window 1h) would be 64 bytes; "
            "PostgreSQL keeps only the first 63 bytes of a name; shorten the feature name to at most 60 bytes") in msg

    import yaml

    feature = feature[:60]
    project = make_project(yaml.safe_dump(_windowed(feature), sort_keys=False))
    project.apply()
    pg_conn.execute("insert into tx values ('k1', %s, 5)", [T0])
    at = T0 + timedelta(minutes=1)
    result = project.online_features("activity", {"k": "k1"}, as_of=at)
    assert result.features == {f"{feature}_1h": 5} and result.statuses[f"{feature}_1h"] == "PRESENT"
    frame = project.training_set(pd.DataFrame({"k": ["k1"], "event_timestamp": [at.isoformat()]}),
                                 [f"activity:{feature}_1h"])
    assert frame[f"activity__{feature}_1h"].tolist() == [5]


def test_indexes_of_keys_spelt_alike_are_two_indexes(make_project) -> None:
    """Keys (a_b) and (a, b) once gave both indexes one name: the second was never created and every
    apply planned it again."""
    import yaml

    raw = {
        "sources": {"tx": {"columns": {"a": "text", "b": "text", "a_b": "text", "ts": "timestamptz"},
                           "timestamp": "ts"}},
        "feature_views": {
            "by_ab": {"source": "tx", "entity": ["a_b"], "windows": ["1h"], "features": {"n": {"agg": "count"}}},
            "by_a_and_b": {"source": "tx", "entity": ["a", "b"], "windows": ["1h"], "features": {"n": {"agg": "count"}}},
        },
    }
    project = make_project(yaml.safe_dump(raw, sort_keys=False))
    assert_names_fit(project.spec)
    project.apply()
    assert project.plan().empty

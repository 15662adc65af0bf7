"""Values given through the Python API (spines, request fields, times, names) are checked like the
command line's: an InputError or NotFoundError naming the value, never a silent conversion or a
database traceback. On a real PostgreSQL."""

from __future__ import annotations

import pandas as pd
import pytest

from materializer.errors import InputError, MaterializerError
from tests.test_cli_errors import EVENTS, PROJECT

T = "2026-01-01T01:00:00Z"


@pytest.fixture
def project(make_project, tmp_path):
    project = make_project(PROJECT)
    project.apply()
    (tmp_path / "events.csv").write_text(EVENTS, encoding="utf-8")
    project.push("events", tmp_path / "events.csv")
    return project


def test_dataframe_spine_keys_are_checked_like_online_keys(project):
    # a float column (an int column with a gap) holds whole numbers: they are bigint keys
    frame = project.training_set(pd.DataFrame({"account": [1, None], "event_timestamp": [T, T]}), ["totals:n_1d"])
    assert frame["totals__n_1d"].tolist() == [2, 0]
    frame = project.training_set(pd.DataFrame({"account": pd.array([2, None], dtype="Int64"),
                                               "event_timestamp": [T, T]}), ["totals:n_1d"])
    assert frame["totals__n_1d"].tolist() == [1, 0]
    refused = {
        "spine row 2, column account: 'abc' is not a valid bigint": {"account": ["1", "abc"]},
        "spine row 1, column account: True is not a valid bigint": {"account": [True]},
        "spine row 1, column account: 1.5 is not a valid bigint": {"account": [1.5]},
    }
    for message, columns in refused.items():
        spine = pd.DataFrame({**columns, "event_timestamp": [T] * len(columns["account"])})
        with pytest.raises(InputError, match=message):
            project.training_set(spine, ["totals:n_1d"])
    # the connection is still usable
    assert project.online_features("totals", {"account": 1}, as_of=T).features["n_1d"] == 2


def test_an_int_is_not_a_text_key_in_a_spine(make_project):
    project = make_project("""
name: t
sources:
  tx: {columns: {cc_num: text, ts: timestamptz}, timestamp: ts}
feature_views:
  v: {source: tx, entity: [cc_num], windows: [1d], features: {n: {agg: count}}}
""")
    project.apply()
    project.db.conn.execute("insert into tx values ('0042', '2026-01-01T00:00:00Z')")
    # 42 read from a CSV by pandas would silently miss '0042' (and find '42'): refused, as online
    with pytest.raises(InputError, match=r"spine row 1, column cc_num: 42 is not a valid text; .* \(\"42\"\)"):
        project.training_set(pd.DataFrame({"cc_num": [42], "event_timestamp": [T]}), ["v:n_1d"])
    with pytest.raises(InputError, match="key cc_num: 42 is not a valid text"):
        project.online_features("v", {"cc_num": 42})
    frame = project.training_set(pd.DataFrame({"cc_num": ["0042"], "event_timestamp": [T]}), ["v:n_1d"])
    assert frame["v__n_1d"].tolist() == [1]


def test_request_fields_in_a_spine_are_checked(project):
    with pytest.raises(InputError, match="spine row 1, column amount: True is not a valid numeric"):
        project.training_set(pd.DataFrame({"account": [1], "event_timestamp": [T], "amount": [True],
                                           "flag": [True]}), ["risk:ratio"])
    with pytest.raises(InputError, match="spine row 2, column flag: 'maybe' is not a valid boolean"):
        project.training_set([{"account": 1, "event_timestamp": T, "amount": 1, "flag": "t"},
                              {"account": 1, "event_timestamp": T, "amount": 1, "flag": "maybe"}], ["risk:ratio"])
    frame = project.training_set([{"account": 1, "event_timestamp": T, "amount": "7", "flag": "t"}], ["risk:ratio"])
    assert frame["risk__ratio"].tolist() == [1.0]


@pytest.mark.parametrize("bad", ["a\x00b", "\udcff"])
def test_nul_and_lone_surrogates_are_refused_everywhere(project, bad):
    spine = pd.DataFrame({"account": [1], "event_timestamp": [T], "label": pd.Series([bad], dtype=object)})
    with pytest.raises(InputError, match="spine row 1, column label: .*(NUL|lone surrogate)"):
        project.training_set(spine, ["totals:n_1d"])
    with pytest.raises(InputError, match="spine row 1, column event_timestamp"):
        project.training_set([{"account": 1, "event_timestamp": "2026-01-01" + bad}], ["totals:n_1d"])
    with pytest.raises(InputError, match="request field flag"):
        project.online_features("risk", {"account": 1}, request={"amount": 1, "flag": bad})
    with pytest.raises(InputError, match="--spine-sql"):
        project.training_set(None, ["totals:n_1d"], spine_sql=f"select 1 as account, '{bad}' as x")
    with pytest.raises(MaterializerError):
        project.training_set(f"spine{bad}.csv", ["totals:n_1d"])
    for call in (lambda: project.online_features("totals", {"account": 1}, as_of=T + bad),
                 lambda: project.metrics("model", as_of=bad),
                 lambda: project.verify(as_of=bad)):
        with pytest.raises(InputError, match="--as-of"):
            call()
    for call in (lambda: project.online_features("totals" + bad, {"account": 1}),
                 lambda: project.metrics("model" + bad), lambda: project.timeseries("model" + bad),
                 lambda: project.metrics("model", window="1d" + bad), lambda: project.metrics("model", by=bad),
                 lambda: project.training_set([{"account": 1, "event_timestamp": T}], ["totals:n" + bad]),
                 lambda: project.store_reference(bad), lambda: project.push(bad, "events.csv")):
        with pytest.raises(MaterializerError):
            call()
    assert project.online_features("totals", {"account": 1}, as_of=T).features["n_1d"] == 2


def test_monitor_windows_and_names(project):
    from materializer.errors import NotFoundError

    for call in (project.metrics, project.versions, project.drift):
        with pytest.raises(InputError, match="monitor model has no window ''; its windows: 1d"):
            call("model", window="")
        with pytest.raises(InputError, match=r"has no window '1dd' \(did you mean '1d'\?\)"):
            call("model", window="1dd")
    with pytest.raises(NotFoundError, match="unknown monitor 'modle' \\(did you mean 'model'\\?\\)"):
        project.metrics("modle")
    assert project.metrics("model").window == "1d"


def test_python_values_of_other_shapes(project, tmp_path):
    import numpy as np

    from materializer.project import Project

    # numpy scalars (a value taken from a DataFrame) are the numbers they hold
    assert project.online_features("totals", {"account": np.int64(1)}, as_of=T).features["n_1d"] == 2
    result = project.online_features("risk", {"account": np.int64(1)}, as_of=T,
                                     request={"amount": np.float64(7.0), "flag": np.bool_(True)})
    assert result.features["ratio"] == 1.0
    with pytest.raises(InputError, match="key account: 1.5 is not a valid bigint"):
        project.online_features("totals", {"account": np.float64(1.5)})
    with pytest.raises(InputError, match="the entity of feature view totals must be a mapping"):
        project.online_features("totals", [("account", 1)])
    with pytest.raises(InputError, match="the request of risk must be a mapping"):
        project.online_features("risk", {"account": 1}, request="amount=1")
    for entities in (0, -1, 10**20, True, 2.0):
        with pytest.raises(InputError, match=f"--entities: {entities!r} is not a number of entities"):
            project.verify(entities=entities)
    with pytest.raises(InputError, match="NUL"):
        project.push("events", "events\x00.csv")
    with pytest.raises(InputError, match="NUL"):
        Project.load(str(tmp_path / "materializer.yml\x00"))
    # a file name that is not UTF-8 (bytes 0xe9 read as a lone surrogate, as in sys.argv) is a file name
    name = "caf\udce9.csv"
    (tmp_path / "events.csv").rename(tmp_path / name)
    assert project.push("events", tmp_path / name) == 3


def test_spine_column_names(project, tmp_path):
    with pytest.raises(InputError, match=r"a spine column name: 'label\\x00' holds a NUL"):
        project.training_set([{"account": 1, "event_timestamp": T, "label\x00": 1}], ["totals:n_1d"])
    with pytest.raises(InputError, match="the spine has 2000 columns; at most 1599"):
        project.training_set([{"account": 1, "event_timestamp": T, **{f"c{i}": i for i in range(1998)}}],
                             ["totals:n_1d"])
    (tmp_path / "wide.csv").write_text(",".join(f"c{i}" for i in range(5000)) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="the spine has 5000 columns"):
        project.write_training_set(tmp_path / "wide.csv", ["totals:n_1d"])


def test_values_the_database_cannot_give(make_project, cli_env, monkeypatch):
    """A time before year 1 in a source and a division by zero in an on-demand expression are one-line
    DatabaseErrors through the API and the CLI."""
    from typer.testing import CliRunner

    from materializer.cli import app
    from materializer.errors import DatabaseError

    project = make_project("""
name: t
sources:
  events: {relation: raw_events, columns: {account: bigint, amount: numeric, ts: timestamptz}, timestamp: ts}
feature_views:
  last: {source: events, entity: [account], features: {at: {agg: latest, column: ts}}}
  totals: {source: events, entity: [account], windows: [1d], features: {n: {agg: count}}}
on_demand_features:
  share: {request: {amount: numeric}, features: {per_event: "{amount} / {totals:n_1d}"}}
""")
    # an external relation: apply's checks keep such times out of managed sources, not out of these
    project.db.conn.execute("create table raw_events (account bigint, amount numeric, ts timestamptz)")
    project.db.conn.execute("insert into raw_events values (1, 5, '0044-01-01 00:00:00+00 BC'), (2, 5, now())")
    project.apply()
    with pytest.raises(DatabaseError, match=r"a value in the database cannot be read: timestamp too small "
                                            r"\(before year 1\)"):
        project.online_features("last", {"account": 1})
    with pytest.raises(DatabaseError, match=r"could not compute .*: division by zero .*nullif"):
        project.online_features("share", {"account": 3}, request={"amount": 1})
    with pytest.raises(DatabaseError, match="cannot be read"):
        project.verify()
    assert project.online_features("share", {"account": 2}, request={"amount": 1}).features == {"per_event": 1.0}
    monkeypatch.setenv("MATERIALIZER_DSN", project.db.dsn)
    result = CliRunner().invoke(app, ["-p", str(project.root), "features", "last", "--key", "account=1"])
    assert result.exit_code == 1 and result.stderr.startswith("error: a value in the database cannot be read")
    assert len(result.stderr.splitlines()) == 1


def test_an_expression_the_database_refuses(make_project):
    from materializer.errors import DatabaseError

    project = make_project("""
name: t
sources:
  events: {columns: {account: bigint, ts: timestamptz}, timestamp: ts}
feature_views:
  totals: {source: events, entity: [account], windows: [1d], features: {n: {agg: count}}}
on_demand_features:
  odd: {request: {amount: numeric}, features: {x: "no_such_function({amount}) + {totals:n_1d}"}}
""")
    project.apply()
    with pytest.raises(DatabaseError, match=r"the database refused the query: function no_such_function\(numeric\) "
                                            r"does not exist; check the project's SQL expressions"):
        project.online_features("odd", {"account": 1}, request={"amount": 1})
    with pytest.raises(DatabaseError, match="function no_such_function"):
        project.training_set([{"account": 1, "event_timestamp": T, "amount": 1}], ["odd:x"])
    # materializer's own clock function missing (and the views on it): that is apply's to create
    project.db.conn.execute("drop function materializer.clock() cascade")
    with pytest.raises(DatabaseError, match=r"does not exist .*run `materializer apply` first"):
        project.online_features("odd", {"account": 1}, request={"amount": 1})


@pytest.mark.parametrize("message", ["Catalog error: table or source not found: totals",
                                     "unknown catalog item 'totals'"])
def test_a_streaming_engines_missing_relation_says_to_apply(make_project, message):
    """RisingWave and Materialize name a missing relation in their own words, with a SQLSTATE other than
    PostgreSQL's 42P01: a read still says to run `materializer apply` (the error comes from the real
    database here, raised by the view with the engine's message and an internal-error code)."""
    from materializer.errors import DatabaseError

    project = make_project("""
name: t
sources:
  events: {columns: {account: bigint, ts: timestamptz}, timestamp: ts}
feature_views:
  totals: {source: events, entity: [account], windows: [1d], features: {n: {agg: count}}}
""")
    project.apply()
    conn = project.db.conn
    conn.execute("create table shadow as select * from totals limit 0")
    conn.execute("drop view totals cascade")
    conn.execute("create function boom() returns setof shadow language plpgsql as $$ begin "
                 f"raise exception using message = '{message.replace(chr(39), chr(39) * 2)}', errcode = 'XX000'; "
                 "end $$")
    conn.execute("create view totals as select * from boom()")
    with pytest.raises(DatabaseError, match=r"run `materializer apply` first"):
        project.online_features("totals", {"account": 1})

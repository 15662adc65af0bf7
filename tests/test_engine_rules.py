"""Every rendered statement obeys the clock rules of ENGINES.md (checked by code, with sqlglot)."""

from __future__ import annotations

import pytest
import yaml

from materializer.definitions.validate import parse_project
from materializer.sql.compile import compile_project
from tests.engine_rules import clock_violations, other_clock_calls
from tests.test_golden import DESIGN_EXAMPLE, macro_cases
from tests.test_values import PROJECT as VALUES_PROJECT
from tests.test_values import STREAMING_PROJECT as VALUES_STREAMING_PROJECT

PROJECTS = {"design": DESIGN_EXAMPLE, "values": VALUES_PROJECT}


def _bodies(engine: str):
    for pname, text in PROJECTS.items():
        if pname == "values" and engine != "postgres":
            text = VALUES_STREAMING_PROJECT  # a latest view needs max_age there
        spec = parse_project(yaml.safe_load(text))
        for obj in compile_project(spec, engine):
            if obj.kind == "view":
                body = obj.sql.split(" as\n", 1)[1]  # the query of `create ... view <name> ... as`
                yield pytest.param(body, not obj.name.endswith("__versions"), id=f"{pname}.{obj.name}")
            elif engine != "postgres":
                assert "mz_now" not in obj.sql and "now()" not in obj.sql
    for macro, case, engine_sql in macro_cases(engine):
        if macro in ("windowed_features", "latest_features", "monitor_scored", "monitor_metrics",
                     "monitor_timeseries", "monitor_drift"):
            yield pytest.param(engine_sql, True, id=f"{macro}/{case}")


@pytest.mark.parametrize("sql,reads_clock", list(_bodies("materialize")))
def test_materialize_mz_now_rules(sql, reads_clock):
    assert ("mz_now()" in sql) == reads_clock, "a view over events without a temporal filter never expires them"
    assert clock_violations(sql, "materialize", "mz_now") == []
    assert other_clock_calls(sql, "mz_now") == []


@pytest.mark.parametrize("sql,reads_clock", list(_bodies("risingwave")))
def test_risingwave_now_rules(sql, reads_clock):
    assert ("now()" in sql) == reads_clock
    assert clock_violations(sql, "risingwave", "now") == []
    assert other_clock_calls(sql, "now") == []


@pytest.mark.parametrize("sql,reads_clock", list(_bodies("postgres")))
def test_postgres_reads_the_clock_function_only(sql, reads_clock):
    assert ("materializer.clock()" in sql) == reads_clock
    assert other_clock_calls(sql, "materializer.clock") == []


@pytest.mark.parametrize("bad", [
    "select a from t where mz_now() - interval '1 hour' <= ts",             # arithmetic on mz_now()
    "select a, mz_now() as t from t",                                       # in the select list
    "select a from t where ts >= mz_now() or b = 1",                        # under OR
    "select count(*) filter (where ts >= mz_now()) from t",                 # in an aggregate FILTER
    "select case when ts >= mz_now() then 1 end from t",                    # in CASE
    "select a from t join u on u.ts >= mz_now()",                           # in a join condition
    "select a from t where mz_now() >= mz_now()",                           # compared with itself
])
def test_rule_checker_catches_violations(bad):
    assert clock_violations(bad, "materialize", "mz_now") != []


@pytest.mark.parametrize("bad", [
    "select a, now() as t from t where ts <= now()",                        # in the select list
    "select a from t where ts <= now() or ts > now() - interval '1 hour'",  # temporal filters under OR
])
def test_rule_checker_catches_risingwave_violations(bad):
    assert clock_violations(bad, "risingwave", "now") != []


def test_rule_checker_accepts_the_documented_forms():
    ok = "select a from t where mz_now() >= ts and ts + interval '1 hour' >= mz_now() group by a having max(ts) <= mz_now()"
    assert clock_violations(ok, "materialize", "mz_now") == []

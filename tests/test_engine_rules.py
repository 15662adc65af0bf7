"""Every rendered statement obeys the clock rules of ENGINES.md (checked by code, with sqlglot)."""

from __future__ import annotations

import pytest
import yaml

from materializer.compile import view_body
from materializer.validate import parse_project
from tests.engine_rules import clock_violations, other_clock_calls
from tests.test_golden import DESIGN_EXAMPLE, macro_cases
from tests.test_values import PROJECT as VALUES_PROJECT

PROJECTS = {"design": DESIGN_EXAMPLE, "values": VALUES_PROJECT}


def _bodies(engine: str):
    for pname, text in PROJECTS.items():
        spec = parse_project(yaml.safe_load(text))
        for view in spec.feature_views.values():
            yield pytest.param(view_body(view, engine), id=f"{pname}.{view.name}")
    for macro, case, engine_sql in macro_cases(engine):
        if macro in ("windowed_features", "latest_features"):
            yield pytest.param(engine_sql, id=f"{macro}/{case}")


@pytest.mark.parametrize("sql", list(_bodies("materialize")))
def test_materialize_mz_now_rules(sql):
    assert "mz_now()" in sql, "a feature view without a temporal filter would never expire events"
    assert clock_violations(sql, "materialize", "mz_now") == []
    assert other_clock_calls(sql, "mz_now") == []


@pytest.mark.parametrize("sql", list(_bodies("risingwave")))
def test_risingwave_now_rules(sql):
    assert "now()" in sql
    assert clock_violations(sql, "risingwave", "now") == []
    assert other_clock_calls(sql, "now") == []


@pytest.mark.parametrize("sql", list(_bodies("postgres")))
def test_postgres_reads_the_clock_function_only(sql):
    assert "materializer.clock()" in sql
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

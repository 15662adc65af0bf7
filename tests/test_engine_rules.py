"""Every rendered view body reads the clock where and as its engine requires: the clock rules of
``materializer lint`` (materializer/sql/lint.py: clock-placement, unmaterializable, postgres-clock; their
seeded violations are in tests/test_lint.py), and the project's own invariant that a view over events
reads the clock at all (a view without a temporal filter never expires its events)."""

from __future__ import annotations

import pytest
import yaml

from materializer.definitions.validate import parse_project
from materializer.sql.compile import compile_project
from materializer.sql.lint import Statement, lint
from tests.test_golden import DESIGN_EXAMPLE, macro_cases
from tests.test_values import PROJECT as VALUES_PROJECT
from tests.test_values import STREAMING_PROJECT as VALUES_STREAMING_PROJECT

PROJECTS = {"design": DESIGN_EXAMPLE, "values": VALUES_PROJECT}
CLOCK_RULES = {"clock-placement", "unmaterializable", "postgres-clock", "documented-function"}
CLOCK = {"postgres": "materializer.clock()", "materialize": "mz_now()", "risingwave": "now()"}


def _bodies(engine: str):
    for pname, text in PROJECTS.items():
        if pname == "values" and engine != "postgres":
            text = VALUES_STREAMING_PROJECT  # a latest view needs max_age there
        spec = parse_project(yaml.safe_load(text))
        for obj in compile_project(spec, engine):
            if obj.kind == "view":
                yield pytest.param(obj.sql, not obj.name.endswith("__versions"), id=f"{pname}.{obj.name}")
            elif engine != "postgres":
                assert "mz_now" not in obj.sql and "now()" not in obj.sql
    for macro, case, engine_sql in macro_cases(engine):
        if macro in ("windowed_features", "latest_features", "monitor_scored", "monitor_metrics",
                     "monitor_timeseries", "monitor_drift"):
            yield pytest.param(engine_sql, True, id=f"{macro}/{case}")


@pytest.mark.parametrize("engine", ["postgres", "materialize", "risingwave"])
def test_views_read_the_engines_clock(engine):
    for param in _bodies(engine):
        sql, reads_clock = param.values
        assert (CLOCK[engine] in sql) == reads_clock, f"{param.id}: a view over events without a temporal " \
                                                      "filter never expires them"
        found = [str(f) for f in lint([Statement(param.id, sql, maintained=True)], engine, check_syntax=False)
                 if f.rule in CLOCK_RULES]
        assert found == [], found

"""``materializer lint``: each engine rule catches its violation in the form it had in the golden files,
lets the correct form pass, and runs on every rendered statement of the init (= demo) project, the
golden cases and projects (dbt_project's models: tests/test_dbt.py) and the commands' statements.

The rendered SQL has no findings. A finding accepted for a while would be listed in KNOWN with why;
the corpus test fails on any finding that is not listed (a new violation) and on any listed finding
that is gone (fixed: delete its line, the list only shrinks). The findings the rules were written
for, the forms the streaming macros had before their rewrite, are the seeded violations below.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from materializer.cli import app
from materializer.db.sequences import CommandRun, Unit, command_runs, reference_run
from materializer.definitions.validate import parse_project
from materializer.sql.lint import Finding, Statement, lint, lint_project, project_statements, rules
from tests.test_golden import COMPILED, DESIGN_EXAMPLE, MANAGED_MONITOR, PROJECTS, macro_cases

ENGINES = ("postgres", "materialize", "risingwave")

# (engine, corpus:object, rule) -> (how many findings, why it is accepted); empty: every finding is new
KNOWN: dict[tuple[str, str, str], tuple[int, str]] = {}


def check_known(engine: str, corpus: str, findings: list[Finding]) -> None:
    """No finding outside KNOWN, and every KNOWN finding of this corpus still found."""
    found = Counter((engine, f"{corpus}:{f.object}", f.rule) for f in findings)
    expected = {k: n for k, (n, _) in KNOWN.items() if k[0] == engine and k[1].startswith(f"{corpus}:")}
    new = [str(f) for f in findings if found[(engine, f"{corpus}:{f.object}", f.rule)]
           != expected.get((engine, f"{corpus}:{f.object}", f.rule))]
    assert not new, f"new lint findings ({engine}, {corpus}); fix the SQL (or the rule):\n" + "\n".join(new)
    gone = [k for k in expected if found[k] == 0]
    assert not gone, f"fixed, remove from KNOWN in tests/test_lint.py: {gone}"


# ---------------------------------------------------------------- the corpus

# golden cases that are fragments, in the statement they are rendered into
WRAP = {"aggregate": "select {} from t", "clock": "select * from t where ts <= {}",
        "clock_between": "select * from t where {}", "temporal_filter": "select * from t where {}",
        "clock_until": "select * from t where {}",
        "select_columns": "select {} from t", "time_bucket": "select {} as bucket from t",
        "monitor_rollup": "with {} select 1"}
# golden cases that are not maintained queries: tables, indexes, checks, triggers, and the one-off
# selects of training sets (refused on the streaming engines, linted for their functions and types)
NOT_MAINTAINED = {"source_table", "source_index", "source_check", "clock_function", "monitor_maintenance",
                  "kafka_connection", "stream_source", "stream_view", "source_backfill",
                  "training_windowed", "training_latest", "aggregate", "select_columns", "time_bucket"}


def golden_statements(engine: str) -> list[Statement]:
    """Every golden case of ``engine`` (tests/golden/<macro>/<case>.<engine>.sql) as a statement."""
    out = []
    for macro, case, sql in macro_cases(engine):
        if sql.strip():  # empty: the macro renders nothing on this engine
            out.append(Statement(f"{macro}/{case}", WRAP.get(macro, "{}").format(sql.strip()),
                                 maintained=macro not in NOT_MAINTAINED))
    return out


# the relations of the golden cases (tests/test_golden.py CASES) whose rows keep arriving: the events
# the feature views and monitors read, and the monitors' scored views
GOLDEN_GROWING = {"transactions", "raw.events", "predictions", "chargebacks", "fraud_model__scored",
                  "eta_model__scored"}


@pytest.mark.parametrize("engine", ENGINES)
def test_golden_cases(engine):
    check_known(engine, "golden", lint(golden_statements(engine), engine, growing=GOLDEN_GROWING))


def test_the_corpus_reads_growing_relations():
    """The unbounded-state rule has something to check in every corpus: views reading the growing relations."""
    from materializer.sql.lint import growing_relations

    for engine in ("materialize", "risingwave"):
        golden = " ".join(s.sql for s in golden_statements(engine) if s.maintained)
        assert all(f"from {r}" in golden for r in GOLDEN_GROWING), engine
    assert growing_relations(DESIGN) == {"transactions", "predictions", "raw.chargebacks", "training_scores",
                                         "fraud_model__scored"}


@pytest.mark.parametrize("engine, project", COMPILED)
def test_golden_projects(engine, project):
    """tests/golden/project/*: the statements compile prints, and the commands' statements (the pairs
    compile refuses are tested in tests/test_streams.py)."""
    text = PROJECTS[project]
    check_known(engine, project, lint_project(parse_project(yaml.safe_load(text)), engine))


@pytest.mark.parametrize("engine", ENGINES)
def test_init_project(engine, tmp_path):
    """The project `materializer init` writes, which `materializer demo` runs too (demo/runner.py)."""
    from materializer.demo.scaffold import scaffold

    scaffold(tmp_path)
    spec = parse_project(yaml.safe_load((tmp_path / "materializer.yml").read_text()))
    check_known(engine, "init", lint_project(spec, engine))


# ---------------------------------------------------------------- each rule catches its violation

# The forms of today's golden files (tests/golden/monitor_metrics/binary_implicit_negative.risingwave.sql
# and monitor_drift/score_and_amount.risingwave.sql), shortened, kept here as they were.
RW_METRICS_SPANS = """
with spans as (
    select *
    from (
        values
            ('1h', 'cohort', interval '168 hours', interval '168 hours' + interval '1 hour'),
            ('1h', 'pending', interval '0 seconds', interval '168 hours' - interval '1 microsecond')
    ) as spans (window_name, kind, opens, closes)
),

flagged as (
    select
        spans.window_name,
        scored.model_version,
        spans.kind = 'cohort' and scored.valid as in_metrics,
        scored.score
    from fraud_model__scored as scored
    cross join spans
    where scored.predicted_at + spans.opens <= now()
        and scored.predicted_at + spans.closes >= now()
)

select window_name, count(*) filter (where in_metrics) as n from flagged group by window_name
"""
RW_DRIFT_GRID = """
with grid as (
    select
        windows.window_name,
        bins.column_name,
        bins.bin,
        bins.share as expected
    from fraud_model__reference as bins
    cross join (values ('1h'), ('1d')) as windows (window_name)
)

select * from grid
"""
# the correct forms: each input filtered on its own columns, the cases fanned out with UNION ALL
RW_METRICS_FANNED = """
with cohort_1h as (
    select scored.model_version, scored.valid as in_metrics, scored.score
    from fraud_model__scored as scored
    where scored.predicted_at + interval '168 hours' <= now()
        and scored.predicted_at + interval '169 hours' >= now()
),

flagged as (
    select '1h' as window_name, model_version, in_metrics, score from cohort_1h
)

select window_name, count(*) filter (where in_metrics) as n from flagged group by window_name
"""
RW_DRIFT_FANNED = """
with grid as (
    select '1h' as window_name, bins.column_name, bins.bin, bins.share as expected
    from fraud_model__reference as bins

    union all

    select '1d' as window_name, bins.column_name, bins.bin, bins.share as expected
    from fraud_model__reference as bins
)

select grid.window_name, grid.bin, count(observed.value) as n
from grid
left join observed
    on observed.window_name = grid.window_name
    and observed.value >= grid.lower_bound
group by grid.window_name, grid.bin
"""


def findings(sql: str, engine: str, maintained: bool = True) -> list[Finding]:
    return lint([Statement("v", sql, maintained)], engine)


def rule_names(found: list[Finding]) -> set[str]:
    return {f.rule for f in found}


def test_rw_metrics_spans_cross_join_is_caught():
    found = findings(RW_METRICS_SPANS, "risingwave")
    assert rule_names(found) == {"nested-loop-join", "temporal-one-relation"}
    one = [f for f in found if f.rule == "temporal-one-relation"]
    assert len(one) == 2 and "scored and spans" in one[0].message
    assert "cross join with spans" in str(next(f for f in found if f.rule == "nested-loop-join"))


def test_rw_drift_values_cross_join_is_caught():
    found = findings(RW_DRIFT_GRID, "risingwave")
    assert [f.rule for f in found] == ["nested-loop-join"]
    assert "VALUES" in found[0].message


@pytest.mark.parametrize("sql", [RW_METRICS_FANNED, RW_DRIFT_FANNED])
def test_rw_fanned_out_forms_pass(sql):
    assert findings(sql, "risingwave") == []


@pytest.mark.parametrize("bad", [
    "select * from a, b where a.k = b.k",                  # a comma join: a cross join filtered after
    "select * from a join b on true",
    "select * from a join b on a.ts <= b.ts",              # no equality
    "select * from a join b on a.k = 1",                   # an equality, but not between the inputs
])
def test_rw_nested_loop_joins(bad):
    assert rule_names(findings(bad, "risingwave")) == {"nested-loop-join"}


@pytest.mark.parametrize("ok", [
    "select * from a join b on a.k = b.k and a.ts <= b.ts",
    "select * from a left join b using (k)",
    "select * from a asof left join b on a.k = b.k and b.ts <= a.ts",
    "select * from a cross join unnest(a.xs) as x",
])
def test_rw_equi_joins_pass(ok):
    assert findings(ok, "risingwave") == []


def test_nested_loop_joins_are_allowed_on_materialize_and_in_one_off_selects():
    assert findings(RW_DRIFT_GRID.replace("now()", "mz_now()"), "materialize") == []
    assert findings(RW_DRIFT_GRID, "risingwave", maintained=False) == []


def test_temporal_filter_on_two_inputs_in_a_join_condition():
    found = findings("select * from a join b on a.k = b.k and a.ts + b.w >= now()", "risingwave")
    assert rule_names(found) == {"clock-placement", "temporal-one-relation"}


@pytest.mark.parametrize("bad", [
    "select a from t where mz_now() - interval '1 hour' <= ts",             # arithmetic on mz_now()
    "select a, mz_now() as t from t",                                       # in the select list
    "select a from t where ts >= mz_now() or b = 1",                        # under OR
    "select count(*) filter (where ts >= mz_now()) from t",                 # in an aggregate FILTER
    "select case when ts >= mz_now() then 1 end from t",                    # in CASE
    "select a from t join u on u.ts >= mz_now()",                           # in a join condition
    "select a from t where mz_now() >= mz_now()",                           # compared with itself
])
def test_mz_clock_placement(bad):
    assert rule_names(findings(bad, "materialize")) == {"clock-placement"}


@pytest.mark.parametrize("bad", [
    "select a, now() as t from t where ts <= now()",                        # in the select list
    "select a from t where ts <= now() or ts > now() - interval '1 hour'",  # temporal filters ORed
    "select a from t where (a < 1) or (ts > now() - interval '1 hour' and ts < now())",
    "select a from t where ts + now() > now() - interval '1 hour'",          # now() on both sides
])
def test_rw_clock_placement(bad):
    assert "clock-placement" in rule_names(findings(bad, "risingwave"))


@pytest.mark.parametrize("engine,ok", [
    ("materialize", ("select a from t where mz_now() >= ts and ts + interval '1 hour' >= mz_now() "
                     "group by a having max(ts) <= mz_now()")),
    ("materialize", "select a from t where mz_now() between ts and ts + interval '1 hour'"),
    ("risingwave", "select a from t where ts > now() - interval '1 hour' and ts <= now() and a < 1"),
    ("risingwave", "select a from t where ts > now() - interval '1 hour' or ts is null or a < 1"),
    ("risingwave", "select a from t where ts < date_trunc('hour', now()) - interval '1 hour'"),
])
def test_documented_temporal_filters_pass(engine, ok):
    assert findings(ok, engine) == []


def test_clock_rules_apply_to_maintained_queries_only():
    assert findings("select mz_now() as t", "materialize", maintained=False) == []


def test_mz_unmaterializable_clock():
    found = findings("select a from t where ts >= now() - interval '1 hour'", "materialize")
    assert "unmaterializable" in rule_names(found)


def test_postgres_views_read_the_clock_function():
    assert rule_names(findings("create view v as\nselect a from t where ts <= now()", "postgres")) == {
        "postgres-clock"}
    assert findings("create view v as\nselect a from t where ts <= materializer.clock()", "postgres") == []


@pytest.mark.parametrize("engine,sql,name", [
    ("risingwave", "select date_bin(interval '1 hour', ts, timestamptz '1970-01-01 00:00:00+00') from t", "date_bin"),
    ("risingwave", "select mz_now() from t", "mz_now"),
    ("materialize", "select percentile_cont(0.5) within group (order by a) from t", "percentile_cont"),
    ("materialize", "select approx_percentile(a, 0.5) from t", "approx_percentile"),
])
def test_undocumented_functions(engine, sql, name):
    found = [f for f in findings(sql, engine, maintained=False) if f.rule == "documented-function"]
    assert len(found) == 1 and f"{name}()" in found[0].message


@pytest.mark.parametrize("engine,sql", [
    ("risingwave", "select to_timestamp(floor(extract(epoch from ts) / 3600) * 3600) as b from t"),
    ("materialize", "select date_bin(interval '1 hour', ts, timestamptz '1970-01-01 00:00:00+00') as b from t"),
    ("risingwave", "select approx_percentile(0.5) within group (order by a) from t"),
])
def test_documented_functions_pass(engine, sql):
    assert findings(sql, engine, maintained=False) == []


def test_types():
    assert rule_names(findings("select cast(a as money) from t", "materialize", False)) == {"documented-type"}
    found = findings("create table t (a numeric(12,2), b varchar)", "risingwave", False)
    assert [f.rule for f in found] == ["documented-type"] and "no precision" in found[0].message
    assert findings("create table t (a numeric, b varchar, c text, d timestamptz) append only", "risingwave", False) == []


def test_syntax_materialize():
    # the query of a materialized view is parsed (sqlfluff's grammar reads it as Anything())
    assert rule_names(findings("create materialized view v in cluster c as\nselect a from t where", "materialize")) \
        == {"syntax"}
    assert findings("create materialized view v in cluster c as\nselect a from t where mz_now() >= ts",
                    "materialize") == []
    # IF NOT EXISTS is taken off, IN CLUSTER parsed: a misspelled clause is an error
    assert findings("create index if not exists i in cluster c on v (a)", "materialize", False) == []
    assert rule_names(findings("create index if not exists i in clustr c on v (a)", "materialize", False)) == {
        "syntax"}
    # a relation aliased `following` (a name in Materialize, a keyword to sqlfluff)
    assert findings("select following.k from t left join t as following on following.k = t.k", "materialize",
                    False) == []


def test_syntax_risingwave():
    assert findings("create table if not exists t (a varchar, ts timestamptz) append only", "risingwave", False) == []
    assert rule_names(findings("create table t (a varchar) append", "risingwave", False)) == {"syntax"}
    assert rule_names(findings("create materialized view v as select from where", "risingwave")) == {"syntax"}


def test_append_only_tables_reject_update_and_delete():
    table = Statement("t", "create table if not exists t (a varchar) append only")
    found = lint([table, Statement("x", "delete from t where a = 'x'")], "risingwave")
    assert [(f.object, f.rule) for f in found] == [("x", "append-only-write")]
    assert lint([Statement("t", "create table t (a varchar)"), Statement("x", "delete from t")], "risingwave") == []


def test_rw_copy():
    assert rule_names(findings("copy t (a) from stdin", "risingwave", False)) >= {"copy"}
    assert findings("copy (select a from t) to stdout", "risingwave", False) == []


# The forms `__scored`, the latest-value views and `__timeseries` had before their rewrite (the golden
# files of the time, kept in tests/regressions/issue11/ and read by tests/test_stream_sql.py too): an
# upper bound on the clock only, so every prediction, outcome and event stayed in the engines' state.
OLD_FORMS = Path(__file__).parent / "regressions" / "issue11"
ISSUE11_GROWING = {"transactions", "predictions", "chargebacks", "fraud_model__scored"}


def unbounded(sql: str, engine: str, growing=ISSUE11_GROWING, maintained: bool = True) -> list[Finding]:
    return [f for f in lint([Statement("v", sql, maintained)], engine, check_syntax=False, growing=growing)
            if f.rule == "unbounded-state"]


@pytest.mark.parametrize("engine", ["materialize", "risingwave"])
def test_unbounded_state_old_scored_is_caught(engine):
    """The dedup kept every prediction (`mz_now() >= p.predicted_at` / `p.predicted_at <= now()`), the label
    join every chargeback (no temporal filter) and the min() over every prediction of an id."""
    found = unbounded((OLD_FORMS / f"scored.{engine}.sql").read_text(), engine)
    clock = "mz_now()" if engine == "materialize" else "now()"
    upper = "mz_now() >= p.predicted_at" if engine == "materialize" else "p.predicted_at <= now()"
    assert [f.message.split(", a growing")[0] for f in found] == [
        "a SELECT reading predictions as p", "a SELECT reading chargebacks as o", "a SELECT reading predictions"]
    assert f"({upper})" in found[0].message and "(no temporal filter)" in found[1].message
    assert found[0].fix == f"add a lower bound: p.predicted_at + interval '<retention>' >= {clock}; " \
                           "see the view's retention"


def test_unbounded_state_old_latest_and_timeseries_are_caught():
    latest = unbounded((OLD_FORMS / "latest.risingwave.sql").read_text(), "risingwave")
    assert [f.message.split(" in its WHERE")[0] for f in latest] == [
        "a SELECT reading transactions, a growing relation, has no lower bound on now()"]
    assert "(ts <= now())" in latest[0].message
    series = unbounded((OLD_FORMS / "timeseries.materialize.sql").read_text(), "materialize")
    assert len(series) == 1 and "reading fraud_model__scored" in series[0].message
    assert "cohort_at + interval '<retention>' >= mz_now()" in series[0].fix


@pytest.mark.parametrize("engine,sql", [
    ("materialize", "select a from t where mz_now() >= ts"),                                # upper bound only
    ("risingwave", "select a from t where ts <= now() - interval '1 hour'"),                # a delay, not a bound
    ("risingwave", "select a from t where ts > now() - interval '1 hour' or a < 1"),        # ORed: a < 1 stays
    ("materialize", "select a, max(ts) from t group by a having max(ts) + interval '1 day' >= mz_now()"),
    ("risingwave", "with e as (select a, ts from t) select a from e where ts <= now()"),   # through a CTE
    ("risingwave", "select t.a from t join u on u.k = t.k where u.ts + interval '1 hour' >= now()"),  # u's bound
    ("risingwave", "select a from s.t where ts between timestamptz '2020-01-01 00:00:00+00' and now()"),  # upper
    ("risingwave", "select a from t where a in (select a from t group by a)"),               # a subquery
])
def test_unbounded_state_is_caught(engine, sql):
    assert len(unbounded(sql, engine, {"t"})) == 1


@pytest.mark.parametrize("engine,sql", [
    ("materialize", "select a from t where mz_now() >= ts and ts + interval '1 day' >= mz_now()"),
    ("materialize", "select a from t where mz_now() <= ts + interval '1 day'"),
    ("materialize", "select a from t where mz_now() between ts and ts + interval '1 day'"),
    ("materialize", "select a from t where mz_now() = ts"),
    ("materialize", "select a from s.t where mz_now() between ts - interval '1 day' and ts"),  # until ts
    ("risingwave", "select a from t where ts > now() - interval '1 hour'"),
    ("risingwave", "select a from t where ts between now() - interval '1 hour' and now()"),
    ("risingwave", "with e as (select a, ts from t) select a from e where ts + interval '1 hour' >= now()"),
    ("risingwave", "with e as (select a, ts from t where ts + interval '1 hour' >= now()) select max(a) from e"),
    ("risingwave", "select t.a from t join u on u.k = t.k where t.ts + interval '1 hour' >= now()"),  # u grows not
    ("risingwave", "select a from u"),                                                       # not growing
])
def test_bounded_state_passes(engine, sql):
    assert unbounded(sql, engine, {"t"}) == []


def test_unbounded_state_is_checked_in_maintained_streaming_views_only():
    assert unbounded("select a from t where mz_now() >= ts", "materialize", {"t"}, maintained=False) == []
    assert unbounded("create view v as\nselect a from t", "postgres", {"t"}) == []
    assert [r.engines for r in rules() if r.name == "unbounded-state"] == [("materialize", "risingwave")]


def test_growing_relations_default_to_the_tables_of_the_run():
    """Without a project, a relation a `create table` (or `create source`) statement of the same run
    creates grows; with ``created_grow=False`` (lint_project) only the named ones do."""
    table = Statement("t", "create table if not exists s.t (a varchar, ts timestamptz) append only")
    view = Statement("v", "create materialized view v as\nselect a from t where ts <= now()", maintained=True)
    assert [f.rule for f in lint([table, view], "risingwave")] == ["unbounded-state"]
    assert lint([view], "risingwave") == []
    assert [f.rule for f in lint([view], "risingwave", growing=["t"])] == ["unbounded-state"]
    assert lint([table, view], "risingwave", created_grow=False) == []


@pytest.mark.parametrize("engine", ["materialize", "risingwave"])
def test_project_views_are_bounded_and_versions_reads_no_growing_relation(engine):
    """Every view of the golden project reads its growing relations with a lower bound; `__versions` reads
    only `__metrics` (bounded by the windows), no growing relation, so it has nothing to bound."""
    views = [s for s in project_statements(DESIGN, engine) if s.maintained]
    versions = next(s for s in views if s.object == "fraud_model__versions")
    assert "fraud_model__metrics" in versions.sql and "fraud_model__scored" not in versions.sql
    assert [f for f in lint_project(DESIGN, engine) if f.rule == "unbounded-state"] == []
    # the same views with the lower bounds taken out are caught, one finding per unbounded read
    clock = "mz_now()" if engine == "materialize" else "now()"
    for view in views:
        stripped = _without_lower_bounds(view.sql, clock)
        found = [f for f in lint([Statement(view.object, stripped, True)], engine, check_syntax=False,
                                 growing=ISSUE11_GROWING | {"raw.chargebacks"}) if f.rule == "unbounded-state"]
        assert (stripped != view.sql) == bool(found) == (view.object != "fraud_model__versions"), view.object


def _without_lower_bounds(sql: str, clock: str) -> str:
    """``sql`` with each ``and <expr> >= clock`` line (the lower bounds the macros render) made ``and true``."""
    import re

    return re.sub(rf"(?m)^(\s*and )[^\n]*>= {re.escape(clock)}$", r"\1true", sql)


# ---------------------------------------------------------------- the commands' statements

DESIGN = parse_project(yaml.safe_load(DESIGN_EXAMPLE))
APPEND_ONLY = [Statement(o.object, o.sql) for o in project_statements(DESIGN, "risingwave")]


def _old_reference_run(monitor: str = "fraud_model") -> CommandRun:
    """What `reference` sent before its bins were versioned: one block that reads, deletes, copies in."""
    table = f"{monitor}__reference"
    return CommandRun(f"reference {monitor}", (Unit((
        "select score from training_scores where score is not null", f"delete from {table}",
        f"copy {table} (column_name, bin, lower_bound, upper_bound, share) from stdin"), True),))


def test_reference_delete_and_copy_from_is_caught_on_both_engines():
    mz = lint([], "materialize", [_old_reference_run()])
    assert [(f.object, f.rule) for f in mz] == [("reference fraud_model", "transaction-class")]
    assert "DELETE fraud_model__reference in a read-only transaction" in mz[0].message
    rw = lint(APPEND_ONLY, "risingwave", [_old_reference_run()])
    assert {f.rule for f in rw if f.object == "reference fraud_model"} == {
        "write-transaction", "append-only-write", "copy"}


def test_reference_as_versioned_inserts_passes():
    """What `reference` sends now: the reads one by one, then one INSERT ... SELECT of the next version."""
    for engine in ("materialize", "risingwave"):
        run = reference_run(DESIGN, engine, "fraud_model")
        assert any("insert into fraud_model__reference" in s for u in run.units for s in u.statements)
        assert lint(APPEND_ONLY if engine == "risingwave" else [], engine, [run]) == []
    insert = ("insert into fraud_model__reference (column_name, bin, lower_bound, upper_bound, share) "
              "values (%s, %s, %s, %s, %s)")
    reads = ("select score from training_scores where score is not null",)
    mz = CommandRun("reference fraud_model", (Unit(reads, True), Unit((insert, insert), True)))
    assert lint([], "materialize", [mz]) == []


def test_materialize_transaction_classes():
    def run(*statements: str) -> list[Finding]:
        return lint([], "materialize", [CommandRun("c", (Unit(statements, True),))])

    assert run("select 1", "select 2") == []
    assert run("insert into t values (1)", "copy t from stdin") == []
    # DDL runs alone, except renames and swaps, which Materialize commits together (a DDL transaction)
    assert rule_names(run("create table t (a int)", "create index i on t (a)")) == {"ddl-transaction"}
    assert rule_names(run("alter materialized view v rename to v__old", "drop materialized view v__old")) \
        == {"ddl-transaction"}
    assert run("create table t (a int)") == []
    assert run("alter materialized view v rename to v__old", "alter materialized view v__next rename to v",
               "alter index i__next rename to i", "alter schema blue swap with green") == []
    assert rule_names(run("select a from t", "insert into t values (1)")) == {"transaction-class"}
    assert rule_names(run("insert into t values (1)", "insert into u values (1)")) == {"transaction-class"}
    assert rule_names(run("delete from t", "insert into t values (1)")) == {"transaction-class"}


@pytest.mark.parametrize("engine", ["materialize", "risingwave"])
def test_push_apply_and_training_set_pass(engine):
    """push (one COPY in a block on Materialize; INSERTs, then FLUSH, on RisingWave), apply (DDL one
    statement at a time), training-set (refused before any statement) and serve's change feed (a
    read-only DECLARE/FETCH block on Materialize; statements alone on RisingWave) obey the transaction rules."""
    runs = [r for r in command_runs(DESIGN, engine) if not r.command.startswith("reference")]
    # both engines replace a changed view by a swap (db/swap.py): one modeled run per view
    replacements = {f"apply ({v} changed)" for v in (*DESIGN.feature_views, "fraud_model__scored")}
    assert {r.command for r in runs} == {"apply", "push transactions", "push predictions", "training-set",
                                         "serve (stream of fraud_model)", *replacements}
    assert [f for f in lint(project_statements(DESIGN, engine), engine, runs, check_syntax=False)
            if f.object in {r.command for r in runs}] == []


def test_every_rule_cites_its_source():
    for rule in rules():
        assert rule.source and any(word in rule.source for word in (".md", ".mdx", ".yaml", ".slt", ".rs", "DESIGN")), \
            rule.name


# ---------------------------------------------------------------- the command


def test_cli_lint(tmp_path, monkeypatch):
    from materializer.demo.scaffold import scaffold

    scaffold(tmp_path)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(app, ["lint"])
    assert ok.exit_code == 0, ok.output
    assert "fraud on postgres: " in ok.output and "no problems" in ok.output
    for engine in ("materialize", "risingwave"):
        clean = runner.invoke(app, ["lint", "--engine", engine])
        assert clean.exit_code == 0 and f"fraud on {engine}: " in clean.output, clean.output

    # the form __metrics had before the rewrite, seeded into the project's statements
    from materializer.sql import lint as lint_module

    rendered = lint_module.project_statements
    monkeypatch.setattr(lint_module, "project_statements", lambda spec, engine: [
        *rendered(spec, engine), Statement("fraud_model__metrics", RW_METRICS_SPANS, maintained=True)])
    rw = runner.invoke(app, ["lint", "--engine", "risingwave"])
    lines = [line for line in rw.stdout.splitlines() if line]
    assert rw.exit_code == 1 and len(lines) == 3, rw.output
    assert all(line.startswith("fraud_model__metrics: ") and "; fix: " in line for line in lines)
    doc = json.loads(runner.invoke(app, ["lint", "-e", "risingwave", "--json"]).stdout)
    assert doc["engine"] == "risingwave" and {f["rule"] for f in doc["findings"]} == {
        "temporal-one-relation", "nested-loop-join"}
    assert set(doc["findings"][0]) == {"object", "rule", "message", "fix"}


def test_cli_lint_knows_the_projects_growing_relations(tmp_path, monkeypatch):
    """The command passes the project's sources and scored views to unbounded-state: the old `__scored`
    seeded into the init project's statements is caught, with no `create table` of its inputs in the run."""
    from materializer.demo.scaffold import scaffold
    from materializer.sql import lint as lint_module

    scaffold(tmp_path)
    monkeypatch.chdir(tmp_path)
    old = (OLD_FORMS / "scored.materialize.sql").read_text()
    rendered = lint_module.project_statements
    monkeypatch.setattr(lint_module, "project_statements", lambda spec, engine: [
        *[s for s in rendered(spec, engine) if s.object != "fraud_model__scored"],
        Statement("fraud_model__scored", old, maintained=True)])
    doc = json.loads(CliRunner().invoke(app, ["lint", "-e", "materialize", "--json"]).stdout)
    assert [(f["object"], f["rule"]) for f in doc["findings"]] == [("fraud_model__scored", "unbounded-state")] * 3


def test_cli_lint_names_the_extra(tmp_path, monkeypatch):
    from materializer.demo.scaffold import scaffold
    from materializer.sql import syntax

    scaffold(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "sqlfluff", None)  # import sqlfluff raises ImportError
    syntax._fluff.cache_clear()
    try:
        result = CliRunner().invoke(app, ["lint", "--engine", "materialize"])
    finally:
        syntax._fluff.cache_clear()
    assert result.exit_code == 1
    assert 'needs sqlfluff, which is not installed; pip install "materializer[lint]"' in result.output
    assert Path(tmp_path / "materializer.yml").exists()


# ---------------------------------------------------------------- serve's change feeds

SUBSCRIBE = ("declare materializer_changes cursor for subscribe (select * from fraud_model__metrics) "
             "envelope upsert (key (window_name, slice, slice_value)) with (progress)")


@pytest.mark.parametrize("engine", ENGINES)
def test_serve_change_feed_statements_are_in_the_corpus(engine):
    """The statements serve sends to follow a monitor are linted with the project (each parsed whole)."""
    from materializer.sql.lint import serve_statements

    spec = parse_project(yaml.safe_load(MANAGED_MONITOR))
    statements = [s.sql for s in serve_statements(spec, engine)]
    expected = {
        "postgres": ["listen materializer_changes"],
        "materialize": [SUBSCRIBE, "fetch all materializer_changes with (timeout = '1s')"],
        "risingwave": [("create subscription if not exists fraud_model__subscription from fraud_model__metrics "
                       "with (retention = '1h')"),
                       "declare materializer_changes subscription cursor for fraud_model__subscription full",
                       "fetch 100 from materializer_changes with (timeout = '1s')",
                       "fetch 100 from materializer_changes"],
    }[engine]
    assert statements == expected
    assert [f for f in lint_project(spec, engine) if f.object.startswith("serve:")] == []
    # the Materialize block is one read-only transaction: DECLARE ... SUBSCRIBE, then FETCH
    run = [r for r in command_runs(spec, engine) if r.command.startswith("serve")]
    blocks = [u for r in run for u in r.units if u.block]
    assert [u.statements for u in blocks] == ([tuple(expected)] if engine == "materialize" else [])


@pytest.mark.parametrize("sql, error", [
    (SUBSCRIBE.replace("select * from", "select * frm"), "sqlfluff (materialize)"),  # inside the query
    (SUBSCRIBE.replace("with (progress)", "with (progres)"), "the options PROGRESS and SNAPSHOT"),
    (SUBSCRIBE.replace("envelope upsert", "envelope upsrt"), "not in the documented form"),
    (SUBSCRIBE.replace("(key (window_name, slice, slice_value))", "key (window_name)"), "not in the documented form"),
    (SUBSCRIBE[:-1], "not in the documented form"),  # unbalanced
    ("fetch all materializer_changes with (timout = '1s')", "FETCH takes one option"),
    ("fetch all materializer_changes with (timeout = 1)", "FETCH takes one option"),
])
def test_materialize_subscribe_and_fetch_are_checked(sql, error):
    from materializer.sql.syntax import parse

    assert parse(SUBSCRIBE, "materialize").errors == []
    assert parse("fetch all materializer_changes with (timeout = '1s')", "materialize").errors == []
    assert parse("declare c cursor for subscribe (select a from t where b = ')') with (snapshot = false, progress)",
                 "materialize").errors == []
    errors = parse(sql, "materialize").errors
    assert errors and error in errors[0], errors


@pytest.mark.parametrize("sql", [
    "create subscription s from v",  # retention is required
    "create subscription s from v with (retention = 1h)",
    "create subscription s from v with (retention = '1 fortnight')",
    "create subscription s on v with (retention = '1h')",
    "declare c subscription cursor for s since yesterday",
    "declare c subscription cursor s full",
    "declare c cursor for s full",
    "fetch all from c",
    "fetch 10 c",
    "fetch 10 from c with (timeout = 1)",
    "fetch next from c with (wait = '1s')",
])
def test_risingwave_subscription_statements_are_checked(sql):
    from materializer.sql.syntax import parse

    for good in ("create subscription if not exists s from v with (retention = '1h')",
                 "CREATE SUBSCRIPTION sub FROM t1 WITH (retention = '1D')",
                 "declare cur subscription cursor for sub", "declare cur subscription cursor for sub since now()",
                 "declare cur2 subscription cursor for sub since 1715669376304",
                 "declare cur subscription cursor for sub full", "fetch next from cur",
                 "FETCH 10 FROM cur", "FETCH NEXT FROM cursor_name WITH (timeout = '1s')"):
        assert parse(good, "risingwave").errors == [], good
    errors = parse(sql, "risingwave").errors
    assert len(errors) == 1 and ("not in the documented form" in errors[0] or "is not parsed" in errors[0]), errors


@pytest.mark.parametrize("engine", ENGINES)
def test_a_project_with_its_own_clusters(engine):
    """`deployment:` with two sized clusters: `create cluster`, the views in the compute cluster, the lookup
    indexes in the serving one, and (Materialize) the modeled replacement of each view lint clean."""
    raw = yaml.safe_load(DESIGN_EXAMPLE) | {
        "deployment": {"compute_cluster": {"name": "compute", "size": "M.1-small"},
                       "serving_cluster": {"name": "serving", "size": "25cc"}}}
    spec = parse_project(raw)
    statements = project_statements(spec, engine)
    assert any(s.sql.startswith("create cluster serving") for s in statements) == (engine == "materialize")
    check_known(engine, "deployed", lint_project(spec, engine))


def test_serve_follows_a_monitor_from_the_serving_cluster():
    """The change feed's session is set to the serving cluster, like the lookups' sessions: SUBSCRIBE runs
    where the serving work runs, not in the cluster that computes the views."""
    raw = yaml.safe_load(MANAGED_MONITOR) | {"engine": "materialize", "deployment": {
        "compute_cluster": {"name": "compute", "size": "100cc"}, "serving_cluster": {"name": "serving", "size": "25cc"}}}
    spec = parse_project(raw)
    feed = next(r for r in command_runs(spec, "materialize") if r.command.startswith("serve"))
    statements = [s for u in feed.units for s in u.statements]
    assert any("cluster" in s and "serving" in s for s in statements), statements
    assert not any("compute" in s for s in statements), statements

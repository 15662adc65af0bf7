"""The SQL of the Grafana panels: reads of a monitor's views and of the feature views' sources, per engine.

Every query is written for Grafana's PostgreSQL datasource, which serves Materialize and
RisingWave too: it expands its macros into PostgreSQL SQL before sending the text
(pkg/tsdb/grafana-postgresql-datasource/macros.go), so the expanded text must run on all three:

- ``$__timeFilter(col)`` becomes ``col BETWEEN '<from>' AND '<to>'`` (RFC 3339 UTC literals);
  ``$__timeFrom()`` / ``$__timeTo()`` the quoted literals alone;
- ``$__timeGroupAlias(col, $__interval)`` becomes ``floor(extract(epoch from col)/N)*N AS "time"``
  (N in seconds): a numeric epoch that Grafana reads as the time column. Its rows are grouped in
  a subquery by ``"time"``, never by position, and ``$__timeGroup`` is not used (followed by a
  comma it is silently rewritten to the alias form);
- the dashboard variables are expanded by Grafana's front end first: ``${window:sqlstring}`` is
  one quoted literal; ``${version:sqlstring}`` the quoted, comma-separated versions chosen, or, for
  "All", the variable's custom all value ``'*'`` left unformatted, hence the filter
  ``('*' in (${version:sqlstring}) or slice_value in (${version:sqlstring}))``: "All" also covers
  versions that appear after the dashboard loaded, and an empty choice is ``''``, never ``in ()``.

Functions used, all documented by the three engines for one-off queries: ``extract(epoch from
timestamptz)`` (numeric), ``floor``, ``sqrt``, ``cast(... as double precision)``, ``nullif``,
``coalesce``, ``sum``, ``count``, ``max`` and ``now()`` (which Materialize and RisingWave reject
only in maintained views: Materialize doc/user/content/sql/functions/now_and_mz_now.md,
RisingWave sql/functions/datetime.mdx). No window functions, no positional GROUP BY, no
``generate_series``.

Engine differences are class attributes of :class:`PanelDialect` (in the manner of sqlglot's
dialects). The one that matters: on PostgreSQL the monitor's aggregate views are computed on read,
and a filter on slice and time pushed into ``<monitor>__timeseries`` misleads the planner (a 1-row
estimate, then nested loops over every bucket: 1.5 s instead of 60 ms on ``init``'s data, the reason
``metrics.timeseries_doc`` filters in Python), so they are read through a
``materialized`` CTE, computed whole and then filtered. On Materialize and RisingWave they are
materialized views and the filter is a scan; ``as materialized`` is PostgreSQL syntax, so they are
read directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from materializer.definitions.spec import FeatureView, Monitor, ProjectSpec
from materializer.engines import get_engine
from materializer.sql.render import renderer

#: The custom "All" value of the version variable (not formatted by Grafana).
ALL_VERSIONS = "'*'"
#: A series per version: Grafana names a series by its `metric` column.
METRIC_COLUMN = "version as metric,\n    "


def _version_in(column: str) -> str:
    """The version filter on a column holding version values (see the module docstring)."""
    return f"({ALL_VERSIONS} in (${{version:sqlstring}}) or {column} in (${{version:sqlstring}}))"


class PanelDialect:
    """PostgreSQL: the monitor's aggregate views are computed on read, so they are fenced."""

    engine = "postgres"
    #: How a monitor's aggregate view is read: ``with <kind> as<fence> (select * from <view>)``.
    view_fence = " materialized"
    #: Why, in a comment of the query (empty: no comment).
    fence_comment = "-- computed whole, then filtered: a filter pushed into the view misleads the planner"


class MaterializeDialect(PanelDialect):
    """Materialize: the views are maintained; read directly."""

    engine = "materialize"
    view_fence = ""
    fence_comment = ""


class RisingWaveDialect(PanelDialect):
    """RisingWave: the views are maintained; read directly."""

    engine = "risingwave"
    view_fence = ""
    fence_comment = ""


DIALECTS: dict[str, type[PanelDialect]] = {d.engine: d for d in (PanelDialect, MaterializeDialect, RisingWaveDialect)}


def dialect(engine: str) -> PanelDialect:
    """The panel dialect of an engine (an unknown engine is a one-line error naming the known ones)."""
    get_engine(engine)
    return DIALECTS[engine]()


@dataclass(frozen=True)
class Query:
    """One panel query: its SQL (with Grafana macros) and Grafana's result format."""

    sql: str
    format: str = "table"  # or "time_series"


def _read(d: PanelDialect, m: Monitor, kind: str) -> str:
    """The opening CTE reading one of the monitor's aggregate views."""
    comment = f"    {d.fence_comment}\n" if d.fence_comment else ""
    return f"with {kind} as{d.view_fence} (\n{comment}    select * from {m.view(kind)}\n)"


def _ratio(numerator: str, denominator: str) -> str:
    """A ratio in double precision, null when the denominator is 0."""
    return f"cast({numerator} as double precision) / nullif(cast({denominator} as double precision), 0)"


def _slices(m: Monitor, indent: str) -> str:
    """The slice filter: the chosen versions, or the whole monitor when it has no version column."""
    if m.version:
        return f"slice = 'version'\n{indent}and " + _version_in("slice_value")
    return "slice = 'all'"


# ---------------------------------------------------------------- monitor: time series


def rolled_up(m: Monitor, d: PanelDialect, columns: dict[str, str], by_version: bool = True) -> Query:
    """Time series over ``<monitor>__timeseries``: each Grafana interval sums the buckets in it, then
    ``columns`` (name -> an expression of sums) are computed per interval and version."""
    where = _slices(m, " " * 8)
    split = by_version and m.version is not None
    key = "slice_value as version,\n        " if split else ""
    selected = ",\n    ".join(f"{expr} as {name}" for name, expr in columns.items())
    group = '"time", version' if split else '"time"'
    metric = METRIC_COLUMN if split else ""
    return Query(f"""{_read(d, m, "timeseries")},

bucketed as (
    select
        $__timeGroupAlias(bucket_start, $__interval),
        {key}timeseries.*
    from timeseries
    where {where}
        and $__timeFilter(bucket_start)
)

select
    "time",
    {metric}{selected}
from bucketed
group by {group}
order by {group}""", "time_series")


def headline_series(m: Monitor, d: PanelDialect) -> dict[str, Query]:
    """The headline metrics over time, per version: accuracy (and AUC, cost) or MAE and RMSE."""
    if m.binary:
        out = {
            "accuracy": rolled_up(m, d, {"accuracy": _ratio("sum(tp + tn)", "sum(n)")}),
            # the pair-weighted mean of the buckets' AUCs: exact at the monitor's bucket size
            "roc_auc": rolled_up(m, d, {"roc_auc": _ratio(
                "sum(roc_auc * cast((tp + fn) * (fp + tn) as double precision))", "sum((tp + fn) * (fp + tn))")}),
        }
        if m.cost_fp is not None:
            out["cost"] = rolled_up(m, d, {"cost": "sum(cost)"})
        return out
    return {
        "mae": rolled_up(m, d, {"mae": _ratio("sum(mae * n)", "sum(n)")}),
        "rmse": rolled_up(m, d, {"rmse": f"sqrt({_ratio('sum(rmse * rmse * n)', 'sum(n)')})"}),
    }


def coverage_series(m: Monitor, d: PanelDialect) -> Query:
    """Label coverage per interval and version, by the monitor's own definition of coverage."""
    if m.label_policy == "implicit_negative":
        return rolled_up(m, d, {"coverage": _ratio("sum(n_labelled)", "sum(n)")})
    return rolled_up(m, d, {"coverage": _ratio("sum(n_labelled)", "sum(n_labelled) + sum(pending)")})


def counts_series(m: Monitor, d: PanelDialect) -> Query:
    """Predictions counted in the metrics, labelled and invalid per interval (the chosen versions summed)."""
    return rolled_up(m, d, {"n": "sum(n)", "n_labelled": "sum(n_labelled)", "n_invalid": "sum(n_invalid)"},
                     by_version=False)


def pending_series(m: Monitor, d: PanelDialect) -> Query:
    """Predictions waiting for their label over time, per version.

    ``implicit_negative``: at the end of each interval, the valid predictions made and not yet
    mature (``predicted_at <= t < predicted_at + maturity``, the metrics' ``pending``), as the
    running sum of +1 when a prediction is made and -1 when it matures, from the count pending
    when the range opens. ``explicit``: each interval's predictions that have no outcome yet.
    """
    if m.label_policy != "implicit_negative":
        return rolled_up(m, d, {"pending": "sum(pending)"})
    version = (f"coalesce(cast({m.version} as text), '(null)')" if m.version else "'all'")
    score_ok = renderer(d.engine).call("monitor_score_ok", score="score", task=m.task).strip()
    chosen = ("\n        and " + _version_in(version)) if m.version else ""
    split = m.version is not None
    metric, order = (METRIC_COLUMN, ", version") if split else ("", "")
    return Query(f"""with scored as (
    -- the predictions pending at some time of the range: made before it ends, mature after it opens
    select
        {version} as version,
        predicted_at,
        cohort_at
    from {m.view("scored")}
    where {score_ok}
        and predicted_at <= $__timeTo()
        and cohort_at >= $__timeFrom(){chosen}
),

opening as (
    select
        version,
        count(*) as pending
    from scored
    where predicted_at < $__timeFrom()
    group by version
),

changes as (
    select
        version,
        predicted_at as changed_at,
        1 as change
    from scored
    where $__timeFilter(predicted_at)

    union all

    select
        version,
        cohort_at as changed_at,
        -1 as change
    from scored
    where $__timeFilter(cohort_at)
),

steps as (
    select
        "time",
        version,
        sum(change) as change
    from (
        select
            $__timeGroupAlias(changed_at, $__interval),
            version,
            change
        from changes
    ) as bucketed
    group by "time", version
),

final as (
    -- the running sum of the changes up to each interval, from the count pending when the range opens
    select
        later."time",
        later.version,
        coalesce(max(opening.pending), 0) + sum(earlier.change) as pending
    from steps as later
    inner join steps as earlier
        on earlier.version = later.version
        and earlier."time" <= later."time"
    left join opening on opening.version = later.version
    group by later."time", later.version
)

select
    "time",
    {metric}pending
from final
order by "time"{order}""", "time_series")


# ---------------------------------------------------------------- monitor: tables and stats


def current_metric(m: Monitor, d: PanelDialect, metric: str) -> Query:
    """One metric of the chosen window now, per chosen version (or for the whole monitor)."""
    label = "slice_value as version,\n    " if m.version else ""
    return Query(f"""{_read(d, m, "metrics")}

select
    {label}{metric}
from metrics
where window_name = ${{window:sqlstring}}
    and {_slices(m, " " * 4)}
order by slice_value""")


def versions_table(m: Monitor, d: PanelDialect) -> Query:
    """The pairwise version comparisons of the chosen window, with their significance."""
    both = (_version_in("version_a") + "\n    and " + _version_in("version_b"))
    return Query(f"""{_read(d, m, "versions")}

select
    metric,
    version_a,
    version_b,
    n_a,
    n_b,
    value_a,
    value_b,
    difference,
    statistic,
    significant
from versions
where window_name = ${{window:sqlstring}}
    and {both}
order by metric, version_a, version_b""")


def drift_table(m: Monitor, d: PanelDialect) -> Query:
    """Drift of the score and the watched features in the chosen window; ``drifted`` when psi is over the
    monitor's ``drift_threshold`` (as on the live dashboard of ``materializer serve``)."""
    return Query(f"""{_read(d, m, "drift")}

select
    column_name,
    n,
    psi,
    js,
    ks,
    psi > {m.drift_threshold!r} as drifted
from drift
where window_name = ${{window:sqlstring}}
order by column_name""")


def versions_variable(m: Monitor, d: PanelDialect) -> str:
    """The version variable's query: every version with a prediction alive in the time range."""
    version = f"coalesce(cast({m.version} as text), '(null)')"
    return (f"select distinct {version} as version\nfrom {m.view('scored')}\n"
            "where predicted_at <= $__timeTo()\n    and cohort_at >= $__timeFrom()\norder by version")


# ---------------------------------------------------------------- feature freshness


def _sources(spec: ProjectSpec) -> dict[str, list[FeatureView]]:
    """Source name -> the feature views reading it, in the project's order."""
    out: dict[str, list[FeatureView]] = {}
    for view in spec.feature_views.values():
        out.setdefault(view.source.name, []).append(view)
    return out


def stale_after(view: FeatureView) -> int | None:
    """Seconds after which a view's newest event makes it stale: its shortest window (its short features
    are all empty after that), or its max age; None for a latest view without one."""
    if view.windows:
        return min(w.seconds for w in view.windows)
    return view.max_age.seconds if view.max_age else None


def freshness_table(spec: ProjectSpec, d: PanelDialect) -> Query:
    """Per feature view: the newest event of its source (none dated after now), its age and staleness."""
    sources = _sources(spec)
    newest = "\n\n    union all\n\n".join(
        f"""    select
        '{name}' as source,
        max({views[0].source.timestamp}) as newest_event
    from {views[0].source.relation}
    where {views[0].source.timestamp} <= now()""" for name, views in sources.items())
    listed = "\n\n    union all\n\n".join(
        f"""    select
        '{v.name}' as feature_view,
        '{v.source.name}' as source,
        cast({stale_after(v) if stale_after(v) is not None else "null"} as bigint) as stale_after_seconds"""
        for views in sources.values() for v in views)
    return Query(f"""with newest as (
{newest}
),

views as (
{listed}
),

aged as (
    select
        views.feature_view,
        views.source,
        newest.newest_event,
        extract(epoch from now()) - extract(epoch from newest.newest_event) as age_seconds,
        views.stale_after_seconds
    from views
    inner join newest on newest.source = views.source
)

select
    feature_view,
    source,
    newest_event,
    age_seconds,
    stale_after_seconds,
    case
        when newest_event is null then 'no events'
        when age_seconds > stale_after_seconds then 'stale'
        else 'fresh'
    end as status
from aged
order by feature_view""")


def events_series(spec: ProjectSpec, d: PanelDialect) -> dict[str, Query]:
    """Per source a feature view reads: its events per interval (gaps show where data stopped)."""
    out = {}
    for name, views in _sources(spec).items():
        source = views[0].source
        out[name] = Query(f"""select
    "time",
    count(*) as "{name}"
from (
    select $__timeGroupAlias({source.timestamp}, $__interval)
    from {source.relation}
    where $__timeFilter({source.timestamp})
) as bucketed
group by "time"
order by "time"
""".rstrip(), "time_series")
    return out

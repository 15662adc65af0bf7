{#- Live model quality per time bucket, overall and by each slice: a time series for dashboards.

    One row per (bucket_start, slice, slice_value) with the columns of monitor_metrics.
    A prediction falls in the bucket of its cohort_at (predicted_at; predicted_at + maturity
    under implicit_negative, so a bucket fills once its predictions are mature) and only
    once cohort_at <= t. `pending` here counts the bucket's valid predictions still without an
    outcome (explicit); under implicit_negative immature predictions are in no bucket yet
    (the metrics view counts them).

    Arguments: `scored`, `task`, `label_policy`, `bucket` ({interval, seconds}), `slices`,
    `cost_fp`, `cost_fn`, on PostgreSQL `maintained`: the monitor's maintained tables
    (monitor_maintenance), or none, and on Materialize and RisingWave `history` (required there):
    an interval literal, how far back the series reaches (a bucket is listed while
    `bucket_start + history >= t`). PostgreSQL computes on read and lists every bucket.
-#}
{% macro monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp=none, cost_fn=none, maintained=none, history=none) -%}
    {{ return(adapter.dispatch('monitor_timeseries', 'materializer')(scored, task, label_policy, bucket, slices, cost_fp, cost_fn, maintained, history)) }}
{%- endmacro %}

{#- With `history`, a bucket leaves the series once `bucket_start + history < t`: a temporal
    filter on an expression of the scored row's own cohort_at, as Materialize documents for
    tumbling windows kept for a while ("Periodically emit results": date_bin, then
    `mz_now() < window_end + INTERVAL '7 days'`, doc/user/content/transform-data/patterns/
    temporal-filters.md). Whole buckets leave: the scored view keeps every row of a listed bucket
    (its retention covers the history), so a listed bucket never shrinks. -#}
{% macro default__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp=none, cost_fn=none, maintained=none, history=none) -%}
{%- set columns = [] -%}
{%- for s in slices %}{% if s.column not in columns %}{% do columns.append(s.column) %}{% endif %}{% endfor -%}
{%- set bucket_start = materializer.time_bucket('cohort_at', bucket.interval, bucket.seconds) -%}
with flagged as (
    select
        {{ bucket_start }} as bucket_start,
{%- for c in columns %}
        {{ c }},
{%- endfor %}
        {{ materializer.monitor_span_flags('cohort', none, label_policy, task) | indent(8) }}
        label,
        predicted,
        score
    from {{ scored }}
{%- if history is none %}
    where {{ materializer.temporal_filter('cohort_at') }}
{%- else %}
    -- cohort_at <= t, in a bucket that started at most {{ history }} before t
    where {{ materializer.clock_between('cohort_at', bucket_start ~ ' + ' ~ history) }}
{%- endif %}
),

cells as ({{ materializer.monitor_cells('flagged', 'bucket_start', columns, task) }}
),

sliced as ({{ materializer.monitor_slices('cells', 'bucket_start', slices, task) }}
),

{{ materializer.monitor_rollup(['bucket_start', 'slice', 'slice_value'], task, label_policy, cost_fp, cost_fn) }}

select * from final
{%- endmacro %}

{#- PostgreSQL with maintained cells: the buckets before the one holding t come from the cells
    (under explicit, but those holding an outcome dated after t), the rest from the state rows.
    A session setting `materializer.since` (a timestamp) leaves out the buckets before the one
    holding it, so a read of recent buckets does not sum the cells of all history. -#}
{% macro postgres__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp=none, cost_fn=none, maintained=none, history=none) -%}
{%- if maintained is none -%}
{{ materializer.default__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp, cost_fn) }}
{%- else -%}
{%- set since = "coalesce(nullif(current_setting('materializer.since', true), '')::timestamptz, '-infinity')" -%}
with spans as (
    -- one span over the cohort times from the bucket holding `materializer.since` (a session
    -- setting; unset: all of them): every bucket before the one holding t is whole
    select
        'cohort' as kind,
        since as opens,
        since as whole_from,
        since as head_until,
        {{ materializer.time_bucket(materializer.clock(), bucket.interval, bucket.seconds) }} as whole_until
    from (
        select {{ materializer.time_bucket(since, bucket.interval, bucket.seconds) }} as since
    ) as setting
),

{{ materializer.monitor_cells_read(maintained, task, label_policy, slices, 'bucket_start') }}

{{ materializer.monitor_rollup(['bucket_start', 'slice', 'slice_value'], task, label_policy, cost_fp, cost_fn) }}

select * from final
{%- endif %}
{%- endmacro %}

{#- Materialize and RisingWave maintain the view itself (no cells), holding the buckets of the
    last `history`. -#}
{% macro materialize__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp=none, cost_fn=none, maintained=none, history=none) -%}
{{- materializer.streaming_retention('monitor_timeseries', history, 'materialize', 'history') -}}
{{ materializer.default__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp, cost_fn, history=history) }}
{%- endmacro %}

{% macro risingwave__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp=none, cost_fn=none, maintained=none, history=none) -%}
{{- materializer.streaming_retention('monitor_timeseries', history, 'risingwave', 'history') -}}
{{ materializer.default__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp, cost_fn, history=history) }}
{%- endmacro %}

{#- Live model quality per time bucket, overall and by each slice: a time series for dashboards.

    One row per (bucket_start, slice, slice_value) with the columns of monitor_metrics.
    A prediction falls in the bucket of its cohort_at (predicted_at; predicted_at + maturity
    under implicit_negative, so a bucket fills once its predictions are mature) and only
    once cohort_at <= t. `pending` here counts the bucket's valid predictions still without an
    outcome (explicit); under implicit_negative immature predictions are in no bucket yet
    (the metrics view counts them).

    Arguments: `scored`, `task`, `label_policy`, `bucket` ({interval, seconds}), `slices`,
    `cost_fp`, `cost_fn`, and on PostgreSQL `maintained`: the monitor's maintained tables
    (monitor_maintenance), or none.
-#}
{% macro monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp=none, cost_fn=none, maintained=none) -%}
    {{ return(adapter.dispatch('monitor_timeseries', 'materializer')(scored, task, label_policy, bucket, slices, cost_fp, cost_fn, maintained)) }}
{%- endmacro %}

{% macro default__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp=none, cost_fn=none, maintained=none) -%}
{%- set implicit = label_policy == 'implicit_negative' -%}
{%- set columns = [] -%}
{%- for s in slices %}{% if s.column not in columns %}{% do columns.append(s.column) %}{% endif %}{% endfor -%}
{%- set binary = task == 'binary_classification' -%}
with flagged as (
    select
        {{ materializer.time_bucket('cohort_at', bucket.interval, bucket.seconds) }} as bucket_start,
{%- for c in columns %}
        {{ c }},
{%- endfor %}
{%- if implicit %}
        valid as in_metrics,
        valid and labelled as labelled,
        false as pending,
{%- else %}
        valid and labelled as in_metrics,
        valid and labelled as labelled,
        valid and not labelled as pending,
{%- endif %}
        not valid as invalid,
        label,
        predicted,
        score
    from {{ scored }}
    where {{ materializer.temporal_filter('cohort_at') }}
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
{% macro postgres__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp=none, cost_fn=none, maintained=none) -%}
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

{#- Materialize and RisingWave maintain the view itself (no cells). -#}
{% macro materialize__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp=none, cost_fn=none, maintained=none) -%}
{{ materializer.default__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp, cost_fn) }}
{%- endmacro %}

{% macro risingwave__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp=none, cost_fn=none, maintained=none) -%}
{{ materializer.default__monitor_timeseries(scored, task, label_policy, bucket, slices, cost_fp, cost_fn) }}
{%- endmacro %}

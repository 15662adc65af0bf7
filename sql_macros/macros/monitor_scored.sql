{#- One row per prediction id: predictions deduplicated and joined to their outcome (DESIGN §5).

    Arguments:
      predictions  {relation, id, timestamp, score, columns}: `columns` are the extra columns
                   carried along (version, segments, drift features)
      outcomes     {relation, id, timestamp, label}
      task         binary_classification | regression
      label_policy explicit | implicit_negative
      maturity     an interval literal (implicit_negative), or none
      threshold    the decision threshold of a binary model
      maintained   PostgreSQL only: the monitor's maintained tables (monitor_maintenance), or none
      retention    Materialize and RisingWave only (required there): an interval literal, how long
                   the view keeps a prediction or an outcome after its own time (the monitor's
                   maturity under implicit_negative plus its longest window or history); PostgreSQL
                   keeps nothing and ignores it
    Columns: prediction_id, predicted_at, cohort_at (when the prediction joins a cohort:
    predicted_at, or predicted_at + maturity under implicit_negative), score, valid, labelled,
    label (0/1 or the actual value; 0 for an unlabelled mature prediction under
    implicit_negative), predicted (0/1, binary only), then the extra columns.

    - predictions: the earliest per id wins; ties go to the non-null, greater score (NaN is
      greater than every number, as the three engines sort floats); a null, NaN, infinite or
      (binary) out-of-range score makes the id invalid (a later copy does not rescue it); rows
      equal in time and score are ordered by the extra columns, so the choice never varies; a
      row with a null id or time never counts;
    - outcomes (explicit): the latest per id with timestamp <= t wins; ties go to the greater label;
    - outcomes (implicit_negative): the latest per id with timestamp <= predicted_at + maturity;
    - outcomes with a null label are ignored; outcomes for unknown ids never join; the label
      that wins makes the id invalid when it is NaN or infinite (regression) or neither 0 nor 1
      (binary).
    DISTINCT ON is the idiomatic top-1 on PostgreSQL and Materialize and plans as a group top-N
    on RisingWave, so one text serves the three engines; only the clock differs.
    https://materialize.com/docs/transform-data/idiomatic-materialize-sql/top-k/
-#}
{% macro monitor_scored(predictions, outcomes, task, label_policy, maturity=none, threshold=0.5, maintained=none, retention=none) -%}
    {{ return(adapter.dispatch('monitor_scored', 'materializer')(predictions, outcomes, task, label_policy, maturity, threshold, maintained, retention)) }}
{%- endmacro %}

{#- PostgreSQL, with `maintained` (both sources are managed tables): the maintained state rows of
    monitor_maintenance, read at t. Their labels ignore the clock: under explicit, an id whose
    latest outcome is dated after t reads its label at t with one probe of the outcomes' (id, ts)
    index. Without it (an external source) the view is computed on read: an outcome finds
    its prediction's earliest time with one probe of the predictions' (id, ts) index. Computed on
    read, the view keeps no state: `retention` is ignored. -#}
{% macro postgres__monitor_scored(predictions, outcomes, task, label_policy, maturity=none, threshold=0.5, maintained=none, retention=none) -%}
{%- if maintained is none -%}
{{ materializer.default__monitor_scored(predictions, outcomes, task, label_policy, maturity, threshold, probe=true) }}
{%- else -%}
{{ materializer.monitor_state_at(maintained, task, label_policy, 's.predicted_at <= ' ~ materializer.clock()) }}
{%- endif %}
{%- endmacro %}

{#- Materialize and RisingWave maintain the view, and its state is what passes its temporal
    filters: the predictions and the outcomes of the last `retention`, each filtered on its own
    time (`t - retention <= ts <= t`) before the dedup and the join, so the engine drops a row
    `retention` after its time. Under implicit_negative the deadline of an outcome is the
    deduplicated prediction's time plus maturity: an equi-join on the id (no correlated subquery
    to decorrelate, no reduction over every prediction ever seen). What the bound changes, at the
    edges of `retention` only: a copy of an id that comes more than `retention` after the first
    counts as a prediction of its own once the first has expired, and an outcome dated before its
    prediction is forgotten `retention` after its own time. Materialize: a lower bound retracts a
    row when mz_now() passes it (doc/user/content/transform-data/patterns/temporal-filters.md);
    RisingWave: records out of a temporal filter's range are deleted from state
    (risingwave-docs processing/sql/temporal-filters.mdx). -#}
{% macro materialize__monitor_scored(predictions, outcomes, task, label_policy, maturity=none, threshold=0.5, maintained=none, retention=none) -%}
{{- materializer.streaming_retention('monitor_scored', retention, 'materialize') -}}
{{ materializer.default__monitor_scored(predictions, outcomes, task, label_policy, maturity, threshold, retention=retention) }}
{%- endmacro %}

{% macro risingwave__monitor_scored(predictions, outcomes, task, label_policy, maturity=none, threshold=0.5, maintained=none, retention=none) -%}
{{- materializer.streaming_retention('monitor_scored', retention, 'risingwave') -}}
{{ materializer.default__monitor_scored(predictions, outcomes, task, label_policy, maturity, threshold, retention=retention) }}
{%- endmacro %}

{#- A streaming variant refuses to render without the bound of its state (`argument`, usually
    `retention`): a materialized view without one keeps every row ever seen. -#}
{% macro streaming_retention(macro, value, engine, argument='retention') -%}
{%- if value is none -%}
{{ exceptions.raise_compiler_error(macro ~ " on " ~ engine ~ " needs `" ~ argument ~ "`: its materialized view keeps the rows of that span only (without it, every row ever seen stays in memory)") }}
{%- endif -%}
{%- endmacro %}

{% macro default__monitor_scored(predictions, outcomes, task, label_policy, maturity=none, threshold=0.5, maintained=none, retention=none, probe=false) -%}
{%- set binary = task == 'binary_classification' -%}
{%- set implicit = label_policy == 'implicit_negative' -%}
{%- set value_type = 'integer' if binary else 'double precision' -%}
{#- the source's columns are qualified (p., o.): in DISTINCT ON and ORDER BY a bare name is the output
    column of that name first, so an id column called `score` would be read as the score -#}
with deduped as (
    select distinct on (p.{{ predictions.id }})
        p.{{ predictions.id }} as prediction_id,
        p.{{ predictions.timestamp }} as predicted_at,
        cast(p.{{ predictions.score }} as double precision) as score{{ "," if predictions.columns }}
{%- for c in predictions.columns %}
        p.{{ c }}{{ "," if not loop.last }}
{%- endfor %}
    from {{ predictions.relation }} as p
    where p.{{ predictions.id }} is not null
        and {{ materializer.temporal_filter('p.' ~ predictions.timestamp, retention) }}
    order by p.{{ predictions.id }}, p.{{ predictions.timestamp }}, p.{{ predictions.score }} desc nulls last{% for c in predictions.columns %}, p.{{ c }}{% endfor %}
),

{% if implicit and probe -%}
labels as (
    -- the label is the latest outcome reported by the deadline of the id's earliest prediction
    select distinct on (o.{{ outcomes.id }})
        o.{{ outcomes.id }} as prediction_id,
        cast(o.{{ outcomes.label }} as {{ value_type }}) as label
    from {{ outcomes.relation }} as o
    where o.{{ outcomes.label }} is not null
        and o.{{ outcomes.timestamp }} <= (
            select min(p.{{ predictions.timestamp }})
            from {{ predictions.relation }} as p
            where p.{{ predictions.id }} = o.{{ outcomes.id }}
        ) + {{ maturity }}
    order by o.{{ outcomes.id }}, o.{{ outcomes.timestamp }} desc, o.{{ outcomes.label }} desc
),
{%- elif implicit -%}
reported as (
    -- the outcomes with a label{{ " of the last " ~ retention ~ ", and those dated after t" if retention is not none }}
    -- (the label is the latest outcome dated by the prediction's deadline, whatever t)
    select
        o.{{ outcomes.id }},
        o.{{ outcomes.timestamp }},
        o.{{ outcomes.label }}
    from {{ outcomes.relation }} as o
    where o.{{ outcomes.label }} is not null
{%- if retention is not none %}
        and {{ materializer.clock_until('o.' ~ outcomes.timestamp ~ ' + ' ~ retention) }}
{%- endif %}
),

labels as (
    -- the label is the latest outcome reported by the deadline of the id's earliest prediction
    select distinct on (reported.{{ outcomes.id }})
        reported.{{ outcomes.id }} as prediction_id,
        cast(reported.{{ outcomes.label }} as {{ value_type }}) as label
    from reported
    inner join deduped on deduped.prediction_id = reported.{{ outcomes.id }}
    where reported.{{ outcomes.timestamp }} <= deduped.predicted_at + {{ maturity }}
    order by reported.{{ outcomes.id }}, reported.{{ outcomes.timestamp }} desc, reported.{{ outcomes.label }} desc
),
{%- else -%}
labels as (
    select distinct on (o.{{ outcomes.id }})
        o.{{ outcomes.id }} as prediction_id,
        cast(o.{{ outcomes.label }} as {{ value_type }}) as label
    from {{ outcomes.relation }} as o
    where o.{{ outcomes.label }} is not null
        and {{ materializer.temporal_filter('o.' ~ outcomes.timestamp, retention) }}
    order by o.{{ outcomes.id }}, o.{{ outcomes.timestamp }} desc, o.{{ outcomes.label }} desc
),
{%- endif %}

final as (
    select
        deduped.prediction_id,
        deduped.predicted_at,
        deduped.predicted_at{% if implicit %} + {{ maturity }}{% endif %} as cohort_at,
        deduped.score,
        {{ materializer.monitor_judgement('deduped', 'labels', task, label_policy, threshold) | indent(8) }}{{ "," if predictions.columns }}
{%- for c in predictions.columns %}
        deduped.{{ c }}{{ "," if not loop.last }}
{%- endfor %}
    from deduped
    left join labels on labels.prediction_id = deduped.prediction_id
)

select * from final
{%- endmacro %}

{#- The select-list entries valid, labelled, label and predicted of a deduplicated prediction
    `prediction` (its score) joined to its outcome `outcome` (its label, null when none).
    `valid`: the score is usable (monitor_score_ok) and so is the label, when there is one
    (monitor_label_ok): a row with a NaN or infinite score or label is counted in n_invalid,
    never in the metrics. -#}
{% macro monitor_judgement(prediction, outcome, task, label_policy, threshold) -%}
{{ materializer.monitor_score_ok(prediction ~ '.score', task) }}
    and {{ materializer.monitor_label_ok(outcome ~ '.label', task) }} as valid,
{{ outcome }}.label is not null as labelled,
{%- if label_policy == 'implicit_negative' %}
coalesce({{ outcome }}.label, 0) as label,
{%- else %}
{{ outcome }}.label,
{%- endif %}
{%- if task == 'binary_classification' %}
case when {{ prediction }}.score >= {{ threshold }} then 1 else 0 end as predicted
{%- else %}
{{ prediction }}.score as predicted
{%- endif %}
{%- endmacro %}

{#- Whether `score` (a double precision expression) is a usable prediction: binary, a
    probability in [0, 1]; regression, a finite number. Null, NaN, Infinity and -Infinity are
    not. The comparisons are false for NaN both where NaN sorts above every number and equals
    itself (PostgreSQL; Materialize and RisingWave order floats the same way) and under IEEE
    754, where every comparison with NaN is false; so one text holds on the three engines. -#}
{% macro monitor_score_ok(score, task) -%}
{%- if task == 'binary_classification' -%}
{{ score }} is not null and {{ score }} >= 0 and {{ score }} <= 1
{%- else -%}
{{ score }} is not null and {{ materializer.monitor_finite(score) }}
{%- endif %}
{%- endmacro %}

{#- Whether `label` (integer for a binary monitor, double precision for regression) is a usable
    actual value, or null (no label yet): binary, 0 or 1; regression, a finite number. -#}
{% macro monitor_label_ok(label, task) -%}
{%- if task == 'binary_classification' -%}
({{ label }} is null or {{ label }} in (0, 1))
{%- else -%}
({{ label }} is null or {{ materializer.monitor_finite(label) }})
{%- endif %}
{%- endmacro %}

{#- `x` (double precision) is a finite number: false for NaN and both infinities (null for null).
    The special values are written as text cast to the type, as the engines document them:
    Materialize doc/user/content/sql/types/float.md ("Special values"); PostgreSQL
    datatype-numeric ("Floating-Point Types"); RisingWave parses them when it casts text to a
    float (risingwavelabs/risingwave#3817 for decimals). -#}
{% macro monitor_finite(x) -%}
{{ x }} > cast('-Infinity' as double precision) and {{ x }} < cast('Infinity' as double precision)
{%- endmacro %}

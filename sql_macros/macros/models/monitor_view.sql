{#- A model of a monitor: one of its views, rendered from meta (dbt only).

    Every model of a monitor says which monitor and which view it is; the scored model also
    carries the monitor's definition, the keys of a `monitors:` entry of materializer.yml
    (`predictions.source`, `outcomes.source` and `reference.relation` name the models, seeds or
    sources passed here):

    ```yaml
    - name: fraud_model__scored
      config:
        meta:
          materializer: {kind: monitor, monitor: fraud_model, view: scored, task: binary_classification,
                         predictions: {source: predictions, id: tx_id, timestamp: predicted_at, score: score},
                         outcomes: {source: chargebacks, id: tx_id, timestamp: reported_at, label: is_fraud},
                         windows: [1d, 7d]}
    - name: fraud_model__metrics
      config:
        meta:
          materializer: {kind: monitor, monitor: fraud_model, view: metrics}
    ```

    The views and the relations each one reads:

    | view       | call                                                                              |
    |------------|-----------------------------------------------------------------------------------|
    | scored     | `monitor_view(predictions=ref('predictions'), outcomes=ref('chargebacks'))`       |
    | metrics    | `monitor_view(scored=ref('fraud_model__scored'))`                                 |
    | timeseries | `monitor_view(scored=ref('fraud_model__scored'))`                                 |
    | versions   | `monitor_view(metrics=ref('fraud_model__metrics'))` (needs `predictions.version`) |
    | reference  | `monitor_view(reference=ref('training_scores'))` (the fixed drift bins)           |
    | drift      | `monitor_view(scored=ref('fraud_model__scored'), reference=ref('fraud_model__reference'))` |
-#}
{% macro monitor_view(predictions=none, outcomes=none, scored=none, metrics=none, reference=none) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set own = materializer.model_definition('monitor') -%}
    {%- set view = own.get('view') -%}
    {%- set needs = {'scored': ['predictions', 'outcomes'], 'metrics': ['scored'], 'timeseries': ['scored'],
                     'versions': ['metrics'], 'reference': ['reference'], 'drift': ['scored', 'reference']} -%}
    {%- if view not in needs -%}
        {{ exceptions.raise_compiler_error("model " ~ model.name ~ ": meta.materializer.view is " ~ view ~ "; use one of scored, metrics, timeseries, versions, reference, drift") }}
    {%- endif -%}
    {%- set given = {'predictions': predictions, 'outcomes': outcomes, 'scored': scored, 'metrics': metrics, 'reference': reference} -%}
    {%- for arg in needs[view] if given[arg] is none -%}
        {{ exceptions.raise_compiler_error("model " ~ model.name ~ ": the " ~ view ~ " view of a monitor reads `" ~ arg ~ "`; call materializer.monitor_view(" ~ arg ~ "=ref('...'))") }}
    {%- endfor -%}
    {%- set d = own if view == 'scored' else materializer.monitor_definition(own.get('monitor')) -%}
    {%- set a = materializer.monitor_arguments(d) -%}
    {%- if view == 'scored' -%}
        {%- do a.predictions.update({'relation': predictions}) -%}
        {%- do a.outcomes.update({'relation': outcomes}) -%}
        {{ return(materializer.monitor_scored(a.predictions, a.outcomes, a.task, a.label_policy, a.maturity, a.threshold, none, a.retention)) }}
    {%- elif view == 'metrics' -%}
        {{ return(materializer.monitor_metrics(scored, a.task, a.label_policy, a.windows, a.slices, a.cost_fp, a.cost_fn, a.maturity, none)) }}
    {%- elif view == 'timeseries' -%}
        {{ return(materializer.monitor_timeseries(scored, a.task, a.label_policy, a.bucket, a.slices, a.cost_fp, a.cost_fn, none, a.history)) }}
    {%- elif view == 'versions' -%}
        {{ return(materializer.monitor_versions(metrics, a.task)) }}
    {%- elif view == 'reference' -%}
        {{ return(materializer.monitor_reference(reference, a.reference_columns)) }}
    {%- else -%}
        {{ return(materializer.monitor_drift(scored, reference, a.windows, a.drift_columns, none)) }}
    {%- endif -%}
{%- endmacro %}

{#- The definition of monitor `name`: the meta of its scored model, found in the graph. -#}
{% macro monitor_definition(name) -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' -%}
        {%- set meta = (node.config.meta or {}).get('materializer') or {} -%}
        {%- if meta.get('kind') == 'monitor' and meta.get('monitor') == name and meta.get('view') == 'scored' -%}
            {{ return(meta) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("model " ~ model.name ~ ": no scored model of monitor " ~ name ~ " (a model with meta.materializer {kind: monitor, monitor: " ~ name ~ ", view: scored, ...the definition}); add it, or fix meta.materializer.monitor") }}
{%- endmacro %}

{#- The arguments of the monitor macros from a monitor's definition, as `monitor_args` in
    materializer/sql/compile.py gives them for external sources (column types unknown). -#}
{% macro monitor_arguments(d) -%}
    {%- set where = 'meta.materializer' -%}
    {%- for key in ('task', 'predictions', 'outcomes', 'windows') if not d.get(key) -%}
        {{ exceptions.raise_compiler_error("model " ~ model.name ~ ": the definition of monitor " ~ d.get('monitor') ~ " has no `" ~ key ~ "`; see materializer.yml's monitors keys") }}
    {%- endfor -%}
    {%- set p, o = d.predictions, d.outcomes -%}
    {%- set slices = [] -%}
    {%- if p.get('version') -%}
        {%- do slices.append({'name': 'version', 'column': p.version}) -%}
    {%- endif -%}
    {%- for s in materializer.name_list(p.get('segments')) -%}
        {%- do slices.append({'name': s, 'column': s}) -%}
    {%- endfor -%}
    {%- set features = materializer.name_list(d.get('features')) -%}
    {%- set extra = [] -%}
    {%- for c in (slices | map(attribute='column') | list) + features if c not in extra -%}
        {%- do extra.append(c) -%}
    {%- endfor -%}
    {%- set column_types = {} -%}
    {%- for c in extra -%}
        {%- do column_types.update({c: none}) -%}
    {%- endfor -%}
    {%- set costs = d.get('costs') -%}
    {%- set reference = d.get('reference') or {} -%}
    {%- set drift_columns = [{'name': p.score, 'column': 'score'}] -%}
    {%- set reference_columns = [{'name': p.score, 'column': reference.get('column') or p.score}] -%}
    {%- for f in features -%}
        {%- do drift_columns.append({'name': f, 'column': f}) -%}
        {%- do reference_columns.append({'name': f, 'column': f}) -%}
    {%- endfor -%}
    {#- the state the streaming engines keep, as `Monitor.timeseries_history` and `Monitor.retention` -#}
    {%- set windows = materializer.durations(d.windows, where ~ '.windows') -%}
    {%- set longest = (windows | sort(attribute='seconds'))[-1] -%}
    {%- set history = materializer.duration(d.history, where ~ '.history') if d.get('history') is not none else longest -%}
    {%- set policy = d.get('label_policy', 'explicit') -%}
    {%- set offset = materializer.duration(d.maturity, where ~ '.maturity').seconds if policy == 'implicit_negative' and d.get('maturity') is not none else 0 -%}
    {%- set kept = offset + ([longest.seconds, history.seconds] | max) -%}
    {{ return({
        'task': d.task,
        'label_policy': policy,
        'maturity': materializer.duration(d.maturity, where ~ '.maturity').interval if d.get('maturity') is not none else none,
        'threshold': d.get('threshold', 0.5) | float,
        'predictions': {'relation': none, 'id': p.id, 'timestamp': p.timestamp, 'score': p.score, 'columns': extra,
                        'id_type': none, 'column_types': column_types},
        'outcomes': {'relation': none, 'id': o.id, 'timestamp': o.timestamp, 'label': o.label, 'id_type': none},
        'windows': windows,
        'history': history.interval,
        'retention': materializer.seconds_interval(kept),
        'bucket': materializer.duration(d.get('bucket', '1h'), where ~ '.bucket'),
        'slices': slices,
        'cost_fp': (costs.get('fp', 0) if costs is mapping else none),
        'cost_fn': (costs.get('fn', 0) if costs is mapping else none),
        'drift_columns': drift_columns,
        'reference_columns': reference_columns,
    }) }}
{%- endmacro %}

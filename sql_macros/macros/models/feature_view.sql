{#- A feature view model: its SELECT rendered from its meta (dbt only).

    ```sql
    -- models/features/card_activity.sql
    {{ materializer.feature_view(ref('transactions')) }}
    ```

    with the definition in the model's properties, the keys of a `feature_views:` entry of
    materializer.yml (the source is the relation passed here, so `timestamp:` names its
    event-time column):

    ```yaml
    config:
      meta:
        materializer:
          kind: feature_view
          entity: [cc_num]
          timestamp: ts
          windows: [10m, 1h, 1d]
          features:
            tx_count: {agg: count}
    ```

    The arguments given to windowed_features or latest_features are the ones `materializer
    compile` gives for the same definition on an external source, so both render one SQL text.
-#}
{% macro feature_view(relation) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set d = materializer.model_definition('feature_view') -%}
    {%- set where = 'meta.materializer' -%}
    {%- for key in ('entity', 'timestamp', 'features') if not d.get(key) -%}
        {{ exceptions.raise_compiler_error("model " ~ model.name ~ ": " ~ where ~ "." ~ key ~ " is missing; see materializer.yml's feature_views keys") }}
    {%- endfor -%}
    {%- set entity = materializer.name_list(d.entity) -%}
    {%- set features = [] -%}
    {%- for name, f in d.features.items() -%}
        {%- do features.append({'name': name, 'agg': f.get('agg'), 'column': f.get('column'), 'filter': f.get('filter')}) -%}
    {%- endfor -%}
    {#- the columns read: keys, time, feature and tie-break columns; every column when a filter may name others -#}
    {%- set columns = [] -%}
    {%- set wanted = entity + [d.timestamp] + (features | selectattr('column') | map(attribute='column') | list) + ([d.tie_break] if d.get('tie_break') else []) -%}
    {%- for c in wanted if c not in columns -%}
        {%- do columns.append(c) -%}
    {%- endfor -%}
    {%- if features | selectattr('filter') | list -%}
        {%- set columns = none -%}
    {%- endif -%}
    {%- if features[0].agg == 'latest' -%}
        {%- set max_age = materializer.duration(d.max_age, where ~ '.max_age').interval if d.get('max_age') is not none else none -%}
        {{ return(materializer.latest_features(relation, entity, d.timestamp, features, max_age, d.get('tie_break'), columns)) }}
    {%- endif -%}
    {%- set windows = materializer.durations(d.get('windows'), where ~ '.windows') -%}
    {%- if not windows -%}
        {{ exceptions.raise_compiler_error("model " ~ model.name ~ ": " ~ where ~ ".windows: windowed aggregates need `windows:`, a list such as [10m, 1h, 1d]") }}
    {%- endif -%}
    {{ return(materializer.windowed_features(relation, entity, d.timestamp, windows, features, columns)) }}
{%- endmacro %}

-- Windowed aggregates of each card; the definition is the model's meta (features.yml).
{%- if target.type == 'materialize' %}
{# served: maintained in the serving cluster, with an index on the entity for fast-path lookups #}
{{ config(cluster=env_var('MATERIALIZER_CLUSTER', 'quickstart'), indexes=[{'columns': ['cc_num']}]) }}
{%- endif %}
{{ materializer.feature_view(events('transactions')) }}

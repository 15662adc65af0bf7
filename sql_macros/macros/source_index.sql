{#- DDL of the index that serves a feature view's lookups on a managed source table.

    Arguments: `relation`, `name` (index name), `columns` (the entity columns then the timestamp).
    Renders nothing where no index is needed.
-#}
{% macro source_index(relation, name, columns) -%}
    {{ return(adapter.dispatch('source_index', 'materializer')(relation, name, columns)) }}
{%- endmacro %}

{#- PostgreSQL computes views on read: a btree on (entity..., ts) turns a lookup into an index
    range scan over one entity's recent events. -#}
{% macro postgres__source_index(relation, name, columns) -%}
create index if not exists {{ name }} on {{ relation }} ({{ columns | join(', ') }})
{%- endmacro %}

{#- The streaming engines keep view state incrementally and index the views themselves
    (see view_index); the source table needs no index. -#}
{% macro default__source_index(relation, name, columns) -%}
{%- endmacro %}

{% macro materialize__source_index(relation, name, columns) -%}
{%- endmacro %}

{% macro risingwave__source_index(relation, name, columns) -%}
{%- endmacro %}

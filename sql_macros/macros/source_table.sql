{#- DDL of a managed source table: `create table if not exists`.

    Arguments: `relation` (table name), `columns` (list of {name, type}), `checks` (list of
    {name, condition}: row checks, such as a binary label being 0 or 1).
    Existing tables are never dropped or rewritten here; apply adds new columns.
-#}
{% macro source_table(relation, columns, checks=[]) -%}
    {{ return(adapter.dispatch('source_table', 'materializer')(relation, columns, checks)) }}
{%- endmacro %}

{% macro default__source_table(relation, columns, checks=[]) -%}
create table if not exists {{ relation }} (
{%- for column in columns %}
    {{ column.name }} {{ column.type }}{{ "," if not loop.last or checks }}
{%- endfor %}
{%- for check in checks %}
    constraint {{ check.name }} check ({{ check.condition }}){{ "," if not loop.last }}
{%- endfor %}
)
{%- endmacro %}

{#- Materialize has no CHECK constraints (its CREATE TABLE takes NOT NULL and DEFAULT only):
    checks are left to push. (doc/user/content/sql/create-table.md) -#}
{% macro materialize__source_table(relation, columns, checks=[]) -%}
{{ materializer.default__source_table(relation, columns, []) }}
{%- endmacro %}

{#- RisingWave: events are append-only (no primary key, no update/delete), which makes
    aggregation, joins and top-N cheaper. `numeric` takes no precision or scale, and
    uuid is not a RisingWave type (stored as varchar). No CHECK constraints.
    https://docs.risingwave.com/sql/commands/sql-create-table (sql/commands/sql-create-table.mdx),
    https://docs.risingwave.com/sql/data-types/overview (sql/data-types/overview.mdx) -#}
{% macro risingwave__source_table(relation, columns, checks=[]) -%}
create table if not exists {{ relation }} (
{%- for column in columns %}
    {%- set type = column.type %}
    {%- if type.startswith('numeric') %}{% set type = 'numeric' %}{% endif %}
    {%- if type in ('text', 'uuid') %}{% set type = 'varchar' %}{% endif %}
    {{ column.name }} {{ type }}{{ "," if not loop.last }}
{%- endfor %}
) append only
{%- endmacro %}

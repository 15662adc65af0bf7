{#- DDL of a managed source table: `create table if not exists`.

    Arguments: `relation` (table name), `columns` (list of {name, type}).
    Existing tables are never dropped or rewritten here; apply adds new columns. Row checks
    are separate objects (source_check), so apply can add them to a table that holds rows.
-#}
{% macro source_table(relation, columns) -%}
    {{ return(adapter.dispatch('source_table', 'materializer')(relation, columns)) }}
{%- endmacro %}

{% macro default__source_table(relation, columns) -%}
create table if not exists {{ relation }} (
{%- for column in columns %}
    {{ column.name }} {{ column.type }}{{ "," if not loop.last }}
{%- endfor %}
)
{%- endmacro %}

{#- RisingWave: events are append-only (no primary key, no update/delete), which makes
    aggregation, joins and top-N cheaper. `numeric` takes no precision or scale, and
    uuid is not a RisingWave type (stored as varchar).
    https://docs.risingwave.com/sql/commands/sql-create-table (sql/commands/sql-create-table.mdx),
    https://docs.risingwave.com/sql/data-types/overview (sql/data-types/overview.mdx) -#}
{% macro risingwave__source_table(relation, columns) -%}
create table if not exists {{ relation }} (
{%- for column in columns %}
    {%- set type = column.type %}
    {%- if type.startswith('numeric') %}{% set type = 'numeric' %}{% endif %}
    {%- if type in ('text', 'uuid') %}{% set type = 'varchar' %}{% endif %}
    {{ column.name }} {{ type }}{{ "," if not loop.last }}
{%- endfor %}
) append only
{%- endmacro %}

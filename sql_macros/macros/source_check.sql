{#- A row check of a managed source table (materializer/definitions/row_checks.py): the values
    that would break what reads the table later (a null event time, an infinite or BC time,
    NaN or infinity in a number, a binary label other than 0 and 1).

    Arguments: `relation` (the table), `name` (the constraint), `condition` (SQL over the row).
    The constraint is (re)placed NOT VALID, in one statement that can run again: rows already
    in the table are kept, every new row is checked; apply then validates it when no stored row
    breaks it. A COPY that breaks it fails with the record's line, which push turns into the
    file's line and column.
    https://www.postgresql.org/docs/current/sql-altertable.html
-#}
{% macro source_check(relation, name, condition) -%}
    {{ return(adapter.dispatch('source_check', 'materializer')(relation, name, condition)) }}
{%- endmacro %}

{% macro default__source_check(relation, name, condition) -%}
alter table {{ relation }}
    drop constraint if exists {{ name }},
    add constraint {{ name }} check ({{ condition }}) not valid
{%- endmacro %}

{#- Materialize has no CHECK constraints (its CREATE TABLE takes NOT NULL and DEFAULT only):
    push checks the rows itself. (doc/user/content/sql/create-table.md) -#}
{% macro materialize__source_check(relation, name, condition) -%}
{%- endmacro %}

{#- RisingWave has no CHECK constraints either: push checks the rows itself.
    https://docs.risingwave.com/sql/commands/sql-create-table (sql/commands/sql-create-table.mdx) -#}
{% macro risingwave__source_check(relation, name, condition) -%}
{%- endmacro %}

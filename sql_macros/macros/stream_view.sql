{#- The typed view over a source of JSON documents: one column per declared column, named as the
    source, so every view reads it as it reads a table.

    Arguments: `relation` (the view), `raw` (the object holding the documents), `document` (its
    jsonb column), `columns` (list of {name, type}).
    Renders nothing where the ingesting object is typed itself (RisingWave's table, PostgreSQL).
-#}
{% macro stream_view(relation, raw, document, columns) -%}
    {{ return(adapter.dispatch('stream_view', 'materializer')(relation, raw, document, columns)) }}
{%- endmacro %}

{% macro default__stream_view(relation, raw, document, columns) -%}
{%- endmacro %}

{#- Materialize: FORMAT JSON gives one jsonb column (`data`; `body` from a webhook); the docs
    recommend a parsing view mapping each field to a column. `->>` reads a field as text, cast to the
    column's type (numeric, integers, double precision, boolean, timestamptz, date and uuid read
    their text forms); a jsonb column keeps the field as JSON with `->`; text needs no cast.
    doc/user/content/sql/create-source/kafka.md ("Format JSON": the parsing view),
    doc/user/content/sql/types/jsonb.md (`->`, `->>`, casts from text). -#}
{% macro materialize__stream_view(relation, raw, document, columns) -%}
create view {{ relation }} as
select
{%- for column in columns %}
    {%- if column.type == 'jsonb' %}
    {{ document }} -> '{{ column.name }}' as {{ column.name }}{{ "," if not loop.last }}
    {%- elif column.type == 'text' %}
    {{ document }} ->> '{{ column.name }}' as {{ column.name }}{{ "," if not loop.last }}
    {%- else %}
    cast({{ document }} ->> '{{ column.name }}' as {{ column.type }}) as {{ column.name }}{{ "," if not loop.last }}
    {%- endif %}
{%- endfor %}
from {{ raw }}
{%- endmacro %}

{#- A select list: one column a line (4-space indents under `select`), or `*` when `columns` is none. -#}
{% macro select_columns(columns=none) -%}
{%- if columns is none -%}
*
{%- else %}
{%- for c in columns %}
        {{ c }}{{ "," if not loop.last }}
{%- endfor %}
{%- endif %}
{%- endmacro %}

{#- An `on-run-start` hook for a dbt project (dbt only): on PostgreSQL, the schema `materializer`
    and its clock function, which the feature and monitor views read (`materializer.clock()`:
    now(), or the time that `--as-of` pins for a session); `materializer apply` creates the same
    two objects. Nothing on the streaming engines (they read mz_now() or now(); an empty hook is
    skipped).

    ```yaml
    # dbt_project.yml
    on-run-start:
      - "{{ materializer.clock_setup() }}"
    ```
-#}
{% macro clock_setup() -%}
    {%- set function = materializer.clock_function() | trim -%}
    {%- if not function -%}
        {{ return('') }}
    {%- endif -%}
    {{ return("create schema if not exists materializer;\n" ~ function) }}
{%- endmacro %}

{#- Where the events come from: on PostgreSQL the example's seeds (`dbt seed`, sample data); on
    Materialize and RisingWave the streams declared in models/sources.yml (Kafka sources created
    with the adapters' `source` materialization or outside dbt). -#}
{% macro events(name) -%}
    {%- if target.type == 'postgres' -%}
        {{ return(ref(name)) }}
    {%- endif -%}
    {{ return(source('events', name)) }}
{%- endmacro %}

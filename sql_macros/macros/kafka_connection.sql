{#- DDL of the connection a Kafka source reads through: one per distinct broker.

    Arguments: `name` (the connection), `broker` (host:port as the engine reaches it).
    Renders nothing where a Kafka source names its broker itself (RisingWave's WITH options)
    or reads no topic (PostgreSQL: a `kafka:` source is a managed table there).
-#}
{% macro kafka_connection(name, broker) -%}
    {{ return(adapter.dispatch('kafka_connection', 'materializer')(name, broker)) }}
{%- endmacro %}

{% macro default__kafka_connection(name, broker) -%}
{%- endmacro %}

{#- Materialize: `CREATE CONNECTION <name> TO KAFKA (BROKER '<host:port>', SECURITY PROTOCOL =
    'PLAINTEXT')`. Without SECURITY PROTOCOL the default is SSL, which a plaintext broker (the
    compose file's Redpanda) refuses. The syntax documents no IF NOT EXISTS: apply creates the
    connection once and records it.
    doc/user/content/sql/create-connection.md ("Kafka", "Security protocol examples: PLAINTEXT") -#}
{% macro materialize__kafka_connection(name, broker) -%}
create connection {{ name }} to kafka (
    broker '{{ broker }}',
    security protocol = 'PLAINTEXT'
)
{%- endmacro %}

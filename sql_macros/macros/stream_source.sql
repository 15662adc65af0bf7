{#- DDL of the object that ingests a streaming source (a Kafka topic or a webhook).

    Arguments: `relation` (the object created), `columns` (list of {name, type}), `stream`
    ({kind: kafka | webhook, connection, broker, topic, start: earliest | latest}), `cluster`.
    Messages are JSON objects, one per event, keyed by column name.
-#}
{% macro stream_source(relation, columns, stream, cluster) -%}
    {{ return(adapter.dispatch('stream_source', 'materializer')(relation, columns, stream, cluster)) }}
{%- endmacro %}

{#- PostgreSQL reads no stream: the source is the managed table push writes, so the same project
    runs locally. -#}
{% macro default__stream_source(relation, columns, stream, cluster) -%}
{{ materializer.source_table(relation, columns) }}
{%- endmacro %}

{#- Materialize: a source of one `jsonb` column (`data` from Kafka, `body` from a webhook); the
    typed view over it (stream_view) carries the source's name, so the views read it unchanged.
    - Kafka: `CREATE SOURCE [IF NOT EXISTS] s [IN CLUSTER c] FROM KAFKA CONNECTION k (TOPIC 't'
      [, START TIMESTAMP <ms>]) FORMAT JSON`; the append-only envelope (ENVELOPE NONE) is the
      default. Without START OFFSET every partition is read from its first offset (`earliest`).
      There is no `latest` keyword: a negative START TIMESTAMP is relative to the current time in
      milliseconds, and a partition with no message that recent starts at its end offset, so
      `START TIMESTAMP -1` reads what is written after the source is created. The offsets are
      computed once, when the source is created.
      doc/user/content/sql/create-source/kafka.md ("Format JSON", "Setting start offsets",
      "Time-based offsets"). The newer `CREATE TABLE ... FROM SOURCE` syntax
      (create-source/kafka-v2.md) is a public preview; this uses the generally available form.
    - Webhook: `CREATE SOURCE [IF NOT EXISTS] s [IN CLUSTER c] FROM WEBHOOK BODY FORMAT JSON`; events
      are POSTed to /api/webhook/<database>/<schema>/<source> on the HTTP port.
      doc/user/content/sql/create-source/webhook.md ("Syntax", "Webhook URL") -#}
{% macro materialize__stream_source(relation, columns, stream, cluster) -%}
create source if not exists {{ relation }}
    in cluster {{ cluster }}
{%- if stream.kind == 'kafka' %}
    from kafka connection {{ stream.connection }} (
        topic '{{ stream.topic }}'
        {%- if stream.start == 'latest' %},
        start timestamp -1
        {%- endif %}
    )
    format json
{%- else %}
    from webhook body format json
{%- endif %}
{%- endmacro %}

{#- RisingWave: a table with a Kafka connector. A table (not a source) persists the rows, so
    ad-hoc reads, catalog freshness and a re-created view work on what was ingested; APPEND ONLY as
    for every managed source (no update or delete). Column types as source_table (numeric without
    precision, uuid as varchar); the JSON fields decode into them by name. No watermark: the docs
    call for one with EMIT ON WINDOW CLOSE, which these views do not use (their state is bounded by
    temporal filters). scan.startup.mode is `earliest` or `latest` (low or high watermark).
    risingwave-docs integrations/sources/kafka.mdx ("Syntax", "Connector parameters"),
    sql/commands/sql-create-table.mdx ("Syntax": APPEND ONLY before WITH, "watermark_clause") -#}
{% macro risingwave__stream_source(relation, columns, stream, cluster) -%}
{%- if stream.kind != 'kafka' -%}
{{ exceptions.raise_compiler_error("a webhook source is Materialize's CREATE SOURCE ... FROM WEBHOOK; on RisingWave read the events from a Kafka topic") }}
{%- endif -%}
create table if not exists {{ relation }} (
{%- for column in columns %}
    {%- set type = column.type %}
    {%- if type.startswith('numeric') %}{% set type = 'numeric' %}{% endif %}
    {%- if type in ('text', 'uuid') %}{% set type = 'varchar' %}{% endif %}
    {{ column.name }} {{ type }}{{ "," if not loop.last }}
{%- endfor %}
) append only
with (
    connector = 'kafka',
    topic = '{{ stream.topic }}',
    properties.bootstrap.server = '{{ stream.broker }}',
    scan.startup.mode = '{{ stream.start }}'
)
format plain encode json
{%- endmacro %}

{#- The one relation a source with `backfill:` is read through: the history's events before the
    cutover, then the live source's events at or after it (`<source>__all`).

    Arguments: `relation` (the view), `history` (the relation holding the events before `until`),
    `live` (the source's own table, or typed view), `columns` (the columns, in order), `timestamp`
    (the event time), `until` (the cutover, ISO 8601 in UTC).
    The seam is half-open on each side (`< until` | `>= until`): an event at exactly `until` is
    read from the live side only, and the history's events at or after the cutover (an overlap of
    the two loads) and the live side's events before it (a replay) are not read, so nothing is
    counted twice or missed. This is the pattern Materialize's maintainers give for history in one
    source and the live events in another (`select ... from history where ts < <cutover> union all
    select ... from live`, MaterializeInc/materialize discussion #9154); RisingWave documents the
    starting point of the live side instead (`scan.startup.timestamp.millis`, risingwave-docs
    integrations/sources/kafka.mdx), which leaves the seam to the messages' Kafka timestamps: the
    filter on the event time keeps it exact whatever the topic or table still holds.
-#}
{% macro source_backfill(relation, history, live, columns, timestamp, until) -%}
    {{ return(adapter.dispatch('source_backfill', 'materializer')(relation, history, live, columns, timestamp, until)) }}
{%- endmacro %}

{% macro default__source_backfill(relation, history, live, columns, timestamp, until) -%}
create view {{ relation }} as
select
{%- for c in columns %}
    {{ c }}{{ "," if not loop.last }}
{%- endfor %}
from {{ history }}
where {{ timestamp }} < cast('{{ until }}' as timestamptz)
union all
select
{%- for c in columns %}
    {{ c }}{{ "," if not loop.last }}
{%- endfor %}
from {{ live }}
where {{ timestamp }} >= cast('{{ until }}' as timestamptz)
{%- endmacro %}

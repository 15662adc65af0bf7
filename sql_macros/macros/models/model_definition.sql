{#- Reading a model's definition from its `meta` (dbt only: the CLI renders the macros of the
    folder above). A feature view or monitor model carries `meta: {materializer: {...}}`, the
    same keys as an entry of `materializer.yml` (DESIGN §4); `materializer serve --dbt-manifest`
    reads the same meta from target/manifest.json, so what dbt deploys is what is served. -#}

{#- The `materializer` mapping of the current model's meta, checked to be of `kind`. -#}
{% macro model_definition(kind) -%}
    {%- set meta = (model.config.meta or {}).get('materializer') or (model.meta or {}).get('materializer') -%}
    {%- if meta is not mapping -%}
        {{ exceptions.raise_compiler_error("model " ~ model.name ~ ": no `meta: {materializer: {kind: " ~ kind ~ ", ...}}`; add it to the model's properties (see dbt_project/README.md of materializer)") }}
    {%- endif -%}
    {%- if meta.get('kind') != kind -%}
        {{ exceptions.raise_compiler_error("model " ~ model.name ~ ": meta.materializer.kind is " ~ meta.get('kind') ~ ", but the model calls the " ~ kind ~ " macro; set kind: " ~ kind) }}
    {%- endif -%}
    {{ return(meta) }}
{%- endmacro %}

{#- A duration such as `10m`, `1h`, `7d` as {name, interval, seconds}: exact lengths (1d is 24
    hours), the interval in hours, minutes or seconds only, as `Duration.sql_interval`. -#}
{% macro duration(value, where) -%}
    {%- set units = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800} -%}
    {%- set text = (value | string) | trim -%}
    {%- set number = text[:-1] -%}
    {%- set unit = text[-1:] -%}
    {%- if value is boolean or unit not in units or not number.isdigit() or number.startswith('0') -%}
        {{ exceptions.raise_compiler_error("model " ~ model.name ~ ": " ~ where ~ ": '" ~ value ~ "' is not a duration; use a number with s, m, h, d or w (for example 10m, 1h, 7d)") }}
    {%- endif -%}
    {%- set seconds = (number | int) * units[unit] -%}
    {{ return({'name': text, 'interval': materializer.seconds_interval(seconds), 'seconds': seconds}) }}
{%- endmacro %}

{#- An exact interval literal of `seconds`, in hours, minutes or seconds only, as
    `Duration.sql_interval`: interval '24 hours' for 86400. -#}
{% macro seconds_interval(seconds) -%}
    {%- if seconds % 3600 == 0 -%}
        {%- set n, word = (seconds // 3600), 'hour' -%}
    {%- elif seconds % 60 == 0 -%}
        {%- set n, word = (seconds // 60), 'minute' -%}
    {%- else -%}
        {%- set n, word = seconds, 'second' -%}
    {%- endif -%}
    {{ return("interval '" ~ n ~ " " ~ word ~ ("s" if n != 1 else "") ~ "'") }}
{%- endmacro %}

{#- A list of durations (a single value is a list of one). -#}
{% macro durations(values, where) -%}
    {%- set out = [] -%}
    {%- for value in ([values] if values is string or values is number else (values or [])) -%}
        {%- do out.append(materializer.duration(value, where ~ '[' ~ loop.index0 ~ ']')) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#- A list of names (a single name is a list of one). -#}
{% macro name_list(values) -%}
    {{ return([values] if values is string else (values or [])) }}
{%- endmacro %}

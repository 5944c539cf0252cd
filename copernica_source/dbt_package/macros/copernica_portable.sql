{#- Portable pieces: types, local time, pattern extraction and quoting differ per warehouse.
    Each is dispatched, so a warehouse we do not test can be added by a project-level override
    (`dispatch` in your dbt_project.yml), without touching the models. -#}

{% macro copernica_schema() -%}
  {{ return(var('copernica_schema', none) or target.schema) }}
{%- endmacro %}

{% macro copernica_type(kind) -%}
  {{ return(adapter.dispatch('copernica_type', 'copernica')(kind)) }}
{%- endmacro %}

{% macro default__copernica_type(kind) -%}
  {%- set types = {'int': 'bigint', 'text': dbt.type_string(), 'ts': 'timestamp with time zone',
                   'bool': 'boolean', 'float': 'double precision', 'date': 'date'} -%}
  {{ return(types[kind]) }}
{%- endmacro %}

{% macro snowflake__copernica_type(kind) -%}
  {%- set types = {'int': 'bigint', 'text': 'varchar', 'ts': 'timestamp_tz', 'bool': 'boolean',
                   'float': 'float', 'date': 'date'} -%}
  {{ return(types[kind]) }}
{%- endmacro %}

{% macro bigquery__copernica_type(kind) -%}
  {%- set types = {'int': 'int64', 'text': 'string', 'ts': 'timestamp', 'bool': 'bool', 'float': 'float64',
                   'date': 'date'} -%}
  {{ return(types[kind]) }}
{%- endmacro %}

{#- A UTC timestamp as wall-clock time in the account's time zone (a timestamp without zone). -#}
{% macro copernica_local_time(ts) -%}
  {{ return(adapter.dispatch('copernica_local_time', 'copernica')(ts)) }}
{%- endmacro %}

{% macro default__copernica_local_time(ts) -%}
  ({{ ts }} at time zone '{{ var("copernica_timezone") }}')
{%- endmacro %}

{% macro snowflake__copernica_local_time(ts) -%}
  convert_timezone('{{ var("copernica_timezone") }}', {{ ts }})::timestamp_ntz
{%- endmacro %}

{% macro bigquery__copernica_local_time(ts) -%}
  datetime({{ ts }}, '{{ var("copernica_timezone") }}')
{%- endmacro %}

{#- The first capture group of `pattern` in `expr`, or null. -#}
{% macro copernica_regexp_extract(expr, pattern) -%}
  {{ return(adapter.dispatch('copernica_regexp_extract', 'copernica')(expr, pattern)) }}
{%- endmacro %}

{% macro default__copernica_regexp_extract(expr, pattern) -%}
  nullif(regexp_extract({{ expr }}, '{{ pattern }}', 1), '')
{%- endmacro %}

{% macro postgres__copernica_regexp_extract(expr, pattern) -%}
  substring({{ expr }} from '{{ pattern }}')
{%- endmacro %}

{% macro snowflake__copernica_regexp_extract(expr, pattern) -%}
  regexp_substr({{ expr }}, '{{ pattern }}', 1, 1, 'e', 1)
{%- endmacro %}

{#- A raw column name as the warehouse stores it (dlt lower-cases; Snowflake upper-cases). -#}
{% macro copernica_column(name) -%}
  {{ return(adapter.dispatch('copernica_column', 'copernica')(name)) }}
{%- endmacro %}

{% macro default__copernica_column(name) -%}
  {{ return(adapter.quote(name)) }}
{%- endmacro %}

{% macro snowflake__copernica_column(name) -%}
  {{ return(adapter.quote(name | upper)) }}
{%- endmacro %}

{#- n / d as a fraction, null when there is nothing to divide by. -#}
{% macro copernica_rate(n, d) -%}
  case when {{ d }} > 0 then cast({{ n }} as {{ copernica_type('float') }}) / {{ d }} end
{%- endmacro %}

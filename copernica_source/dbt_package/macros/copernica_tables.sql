{#- Reading the raw tables so that a model builds whatever was loaded.

    A user may load one mail product only, or a table may miss a column that never held a value; the models
    must still build. `copernica_table` selects the given columns from a raw table when it exists (declared as a
    dbt source, so lineage and freshness work), fills a missing column with a typed null, and yields an empty,
    typed row set when the table was never loaded. -#}

{% macro copernica_table(name, columns) -%}
  {#- columns: "raw_name:kind" or "raw_name:kind:alias", kind one of int, text, ts, bool, float, date -#}
  {{ return(copernica_select(load_relation(source('copernica', name)) if execute else none, columns)) }}
{%- endmacro %}

{% macro copernica_select(rel, columns) -%}
  {%- set present = copernica_columns_of(rel) -%}
  select
  {%- for spec in columns %}
    {%- set parts = spec.split(':') -%}
    {%- set alias = parts[2] if parts | length > 2 else parts[0] %}
    {% if parts[0] in present -%}
      cast({{ copernica_column(parts[0]) }} as {{ copernica_type(parts[1]) }})
    {%- else -%}
      cast(null as {{ copernica_type(parts[1]) }})
    {%- endif %} as {{ alias }}{{ "," if not loop.last }}
  {%- endfor %}
  {% if rel is not none -%}
  from {{ rel }}
  {%- else -%}
  {{ "from (select 1 as one) as nothing_loaded" if target.type != 'bigquery' else "" }} where 1 = 0
  {%- endif %}
{%- endmacro %}

{#- The columns of a relation that exists (lower case), or an empty list. -#}
{% macro copernica_columns_of(rel) -%}
  {%- set names = [] -%}
  {%- if rel is not none -%}
    {%- for col in adapter.get_columns_in_relation(rel) -%}{%- do names.append(col.name | lower) -%}{%- endfor -%}
  {%- endif -%}
  {{ return(names) }}
{%- endmacro %}

{#- The profile tables to combine: the var `copernica_profile_tables`, or every `profiles_<database>` table. -#}
{% macro copernica_profile_tables() -%}
  {%- if var('copernica_profile_tables', none) is not none -%}
    {{ return(var('copernica_profile_tables')) }}
  {%- endif -%}
  {%- if not execute -%}{{ return([]) }}{%- endif -%}
  {{ return(adapter.dispatch('copernica_profile_tables', 'copernica')()) }}
{%- endmacro %}

{% macro default__copernica_profile_tables() -%}
  {%- set found = run_query(
      "select table_name from information_schema.tables where lower(table_schema) = lower('"
      ~ copernica_schema() ~ "') and lower(table_name) like 'profiles%' order by 1") -%}
  {{ return(copernica_only_profile_tables(found.columns[0].values())) }}
{%- endmacro %}

{% macro bigquery__copernica_profile_tables() -%}
  {%- set found = run_query(
      "select table_name from `" ~ target.project ~ "." ~ copernica_schema()
      ~ "`.INFORMATION_SCHEMA.TABLES where starts_with(lower(table_name), 'profiles') order by 1") -%}
  {{ return(copernica_only_profile_tables(found.columns[0].values())) }}
{%- endmacro %}

{#- `profiles_<database>`, not dlt's nested tables (`profiles_x__y`) nor the staging copies. -#}
{% macro copernica_only_profile_tables(names) -%}
  {%- set keep = [] -%}
  {%- for name in names -%}
    {%- set n = name | lower -%}
    {%- if n.startswith('profiles_') and '__' not in n and not n.endswith('_staging') -%}{%- do keep.append(n) -%}{%- endif -%}
  {%- endfor -%}
  {{ return(keep) }}
{%- endmacro %}

{#- Every database's profiles in one shape, with engagement totals and recency. The profile tables differ per
    database (one `profiles_<database>` table each); the e-mail column is the database's field of type `email`
    (from database_fields), else a column named `email`. -#}
{%- set tables = copernica_profile_tables() %}
{%- set email_fields = [] %}
{%- if execute %}
  {%- set fields_rel = load_relation(source('copernica', 'database_fields')) %}
  {%- if fields_rel is not none %}
    {%- set found = run_query("select distinct lower(name) from " ~ fields_rel ~ " where type = 'email'") %}
    {%- for name in found.columns[0].values() %}{%- do email_fields.append(name) %}{%- endfor %}
  {%- endif %}
{%- endif %}
{%- set base = ['id:int:profile_id', 'database:int:database_id', 'created:ts:created_at', 'modified:ts:modified_at',
                'removed:ts:removed_at', 'deleted:bool:deleted'] %}
with profiles as (
{%- for table in tables %}
  {%- set rel = adapter.get_relation(database=target.database, schema=copernica_schema(), identifier=table) %}
  {%- set present = copernica_columns_of(rel) %}
  {%- set email_column = (email_fields | select('in', present) | first) or 'email' %}
  {{ copernica_select(rel, base + [email_column ~ ':text:email']) }}
  union all
{%- endfor %}
  {{ copernica_select(none, base + ['email:text:email']) }}
),

databases as (
  {{ copernica_table('databases', ['id:int:database_id', 'name:text:database_name']) }}
),

sends as (
  select
    profile_id,
    count(*) as emails_received,
    max(sent_at) as last_sent_at,
    count(case when sent_at >= {{ dbt.dateadd('day', -30, dbt.current_timestamp()) }} then 1 end) as emails_received_30d,
    count(case when sent_at >= {{ dbt.dateadd('day', -90, dbt.current_timestamp()) }} then 1 end) as emails_received_90d
  from {{ ref('copernica__recipients') }}
  where profile_id is not null
  group by profile_id
),

engagement as (
  select
    profile_id,
    count(case when event_type = 'open' then 1 end) as opens,
    count(case when event_type = 'click' then 1 end) as clicks,
    max(case when event_type = 'open' then event_at end) as last_open_at,
    max(case when event_type = 'click' then event_at end) as last_click_at
  from {{ ref('copernica__events') }}
  where profile_id is not null and event_type in ('open', 'click')
  group by profile_id
)

select
  cast(p.database_id as {{ copernica_type('text') }}) || '-' || cast(p.profile_id as {{ copernica_type('text') }})
    as profile_key,
  p.profile_id,
  p.database_id,
  db.database_name,
  p.email,
  p.created_at,
  p.modified_at,
  (coalesce(p.deleted, false) or p.removed_at is not null) as is_deleted,
  coalesce(s.emails_received, 0) as emails_received,
  coalesce(e.opens, 0) as opens,
  coalesce(e.clicks, 0) as clicks,
  s.last_sent_at,
  e.last_open_at,
  e.last_click_at,
  coalesce(s.emails_received_30d, 0) as emails_received_30d,
  coalesce(s.emails_received_90d, 0) as emails_received_90d
from profiles as p
left join databases as db on db.database_id = p.database_id
left join sends as s on s.profile_id = p.profile_id
left join engagement as e on e.profile_id = p.profile_id

{#- Clicks and opens per emailing and place (country, region, city), from the daily logfiles: the event lists
    carry no location. Empty unless the log tables are loaded (`copernica load --logfiles html_log_clicks,...`). -#}
with events as (
  select * from {{ ref('int_copernica__log_events') }}
),

sends as (
  select * from {{ ref('int_copernica__sends_by_message') }}
),

placed as (
  select
    e.product,
    s.emailing_id,
    e.event_type,
    coalesce(e.country_code, '') as country_code,
    max(e.country_name) as country_name,
    coalesce(e.region_code, '') as region_code,
    coalesce(e.city, '') as city,
    count(*) as events,
    count(distinct e.message_id) as sends,
    min(e.event_at) as first_at,
    max(e.event_at) as last_at
  from events as e
  left join sends as s
    on s.product = e.product and s.message_id = e.message_id
  group by e.product, s.emailing_id, e.event_type, coalesce(e.country_code, ''), coalesce(e.region_code, ''),
    coalesce(e.city, '')
)

select
  {{ dbt.hash(dbt.concat(["product", "'|'", "coalesce(cast(emailing_id as " ~ copernica_type('text') ~ "), '')",
                          "'|'", "event_type", "'|'", "country_code", "'|'", "region_code", "'|'", "city"])) }}
    as geography_key,
  product,
  case when emailing_id is not null
    then product || '-' || cast(emailing_id as {{ copernica_type('text') }}) end as emailing_key,
  emailing_id,
  event_type,
  nullif(country_code, '') as country_code,
  country_name,
  nullif(region_code, '') as region_code,
  nullif(city, '') as city,
  events,
  sends,
  first_at,
  last_at
from placed

{#- Clicks per emailing and link. Copernica's own links (the web version, the unsubscribe page) are flagged so
    that content performance is not inflated by them; how they are recognised is in the column docs. -#}
with clicks as (
  select
    product,
    emailing_key,
    emailing_id,
    coalesce(link, '') as link,
    destination_id
  from {{ ref('copernica__events') }}
  where event_type = 'click'
),

per_link as (
  select
    product,
    emailing_key,
    emailing_id,
    link,
    count(*) as clicks,
    count(distinct destination_id) as unique_clickers
  from clicks
  group by product, emailing_key, emailing_id, link
),

kinds as (
  select
    *,
    case
      when lower(link) like '%webversion%' or lower(link) like '%web_version%' then 'web_version'
      when lower(link) like '%unsubscribe%' or lower(link) like '%afmelden%' or lower(link) like '%optout%'
        or lower(link) like '%opt-out%' then 'unsubscribe'
      else 'content'
    end as link_kind
  from per_link
)

select
  emailing_key || '-' || {{ dbt.hash('link') }} as link_key,
  product,
  emailing_key,
  emailing_id,
  link,
  link_kind,
  link_kind <> 'content' as is_system_link,
  clicks,
  unique_clickers
from kinds

{#- One row per emailing of either product: who it went to, what happened, the rates, and whether Copernica's
    own statistics agree with the events (they may not: statistics count what Copernica kept, events what was
    loaded for the load window). -#}
{%- set columns = ['id:int:emailing_id', 'timestamp:ts:sent_at', 'subject:text:subject',
                   'from_address__name:text:from_name', 'from_address__email:text:from_email',
                   'target__type:text:target_type', 'target__sources:text:target_sources'] %}
{%- set stats = ['emailing_id:int', 'destinations:int:stats_recipients', 'impressions__unique:int:stats_unique_opens',
                 'clicks__unique:int:stats_unique_clicks', 'errors__unique:int:stats_bounces',
                 'unsubscribes__unique:int:stats_unsubscribes', 'abuses__unique:int:stats_complaints'] %}
with emailings as (
  select 'html' as product, h.* from ({{ copernica_table('html_emailings', columns) }}) as h
  union all
  select 'draganddrop' as product, d.* from ({{ copernica_table('draganddrop_emailings', columns) }}) as d
),

statistics as (
  select 'html' as product, h.* from ({{ copernica_table('html_emailing_statistics', stats) }}) as h
  union all
  select 'draganddrop' as product, d.* from ({{ copernica_table('draganddrop_emailing_statistics', stats) }}) as d
),

sends as (
  select
    product,
    emailing_id,
    min(sent_at) as first_sent_at,
    count(*) as recipients,
    count(case when delivered then 1 end) as delivered,
    count(case when bounce_class = 'hard' then 1 end) as hard_bounces,
    count(case when bounce_class = 'soft' then 1 end) as soft_bounces,
    count(case when bounce_class = 'other' then 1 end) as other_errors,
    count(case when opens > 0 then 1 end) as unique_opens,
    cast(sum(opens) as {{ copernica_type('int') }}) as total_opens,
    count(case when clicks > 0 then 1 end) as unique_clicks,
    cast(sum(clicks) as {{ copernica_type('int') }}) as total_clicks,
    count(case when unsubscribed then 1 end) as unsubscribes,
    count(case when complained then 1 end) as complaints
  from {{ ref('copernica__recipients') }}
  where emailing_id is not null
  group by product, emailing_id
),

keys as (
  select product, emailing_id from emailings
  union
  select product, emailing_id from sends
),

figures as (
  select
    k.product,
    k.emailing_id,
    coalesce(e.sent_at, s.first_sent_at) as sent_at,
    e.subject,
    e.from_name,
    e.from_email,
    e.target_type,
    cast({{ copernica_regexp_extract('e.target_sources', '"id": *"?([0-9]+)"?, *"type": *"database"') }}
         as {{ copernica_type('int') }}) as target_database_id,
    coalesce(s.recipients, 0) as recipients,
    coalesce(s.delivered, 0) as delivered,
    coalesce(s.hard_bounces, 0) as hard_bounces,
    coalesce(s.soft_bounces, 0) as soft_bounces,
    coalesce(s.other_errors, 0) as other_errors,
    coalesce(s.unique_opens, 0) as unique_opens,
    coalesce(s.total_opens, 0) as total_opens,
    coalesce(s.unique_clicks, 0) as unique_clicks,
    coalesce(s.total_clicks, 0) as total_clicks,
    coalesce(s.unsubscribes, 0) as unsubscribes,
    coalesce(s.complaints, 0) as complaints,
    st.stats_recipients,
    st.stats_unique_opens,
    st.stats_unique_clicks,
    st.stats_bounces,
    st.stats_unsubscribes,
    st.stats_complaints,
    st.emailing_id is not null as has_statistics
  from keys as k
  left join emailings as e on e.product = k.product and e.emailing_id = k.emailing_id
  left join sends as s on s.product = k.product and s.emailing_id = k.emailing_id
  left join statistics as st on st.product = k.product and st.emailing_id = k.emailing_id
),

compared as (
  select
    *,
    rtrim(
      case when stats_recipients <> recipients then 'recipients,' else '' end
      || case when stats_unique_opens <> unique_opens then 'unique_opens,' else '' end
      || case when stats_unique_clicks <> unique_clicks then 'unique_clicks,' else '' end
      || case when stats_bounces <> hard_bounces + soft_bounces + other_errors then 'bounces,' else '' end
      || case when stats_unsubscribes <> unsubscribes then 'unsubscribes,' else '' end
      || case when stats_complaints <> complaints then 'complaints,' else '' end,
      ',') as differences
  from figures
)

select
  product || '-' || cast(emailing_id as {{ copernica_type('text') }}) as emailing_key,
  product,
  emailing_id,
  sent_at,
  cast({{ copernica_local_time('sent_at') }} as date) as sent_date_local,
  subject,
  from_name,
  from_email,
  target_type,
  target_database_id,
  recipients,
  delivered,
  hard_bounces,
  soft_bounces,
  other_errors,
  unique_opens,
  total_opens,
  unique_clicks,
  total_clicks,
  unsubscribes,
  complaints,
  {{ copernica_rate('delivered', 'recipients') }} as delivery_rate,
  {{ copernica_rate('unique_opens', 'delivered') }} as open_rate,
  {{ copernica_rate('unique_clicks', 'delivered') }} as click_rate,
  {{ copernica_rate('unique_clicks', 'unique_opens') }} as click_to_open_rate,
  {{ copernica_rate('hard_bounces + soft_bounces', 'recipients') }} as bounce_rate,
  {{ copernica_rate('unsubscribes', 'delivered') }} as unsubscribe_rate,
  {{ copernica_rate('complaints', 'delivered') }} as complaint_rate,
  stats_recipients,
  stats_unique_opens,
  stats_unique_clicks,
  stats_bounces,
  stats_unsubscribes,
  stats_complaints,
  -- no statistics row (not loaded, or the emailing known only from its events): agreement is unknown, so null
  case when has_statistics then differences <> '' end as stats_differ,
  nullif(differences, '') as stats_differences
from compared

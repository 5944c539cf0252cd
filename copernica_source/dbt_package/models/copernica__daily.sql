{#- Per day in the account's time zone (var copernica_timezone) and product: what was sent and what happened. -#}
with events as (
  select
    product,
    cast(event_at_local as date) as day,
    event_type,
    bounce_class,
    destination_id
  from {{ ref('copernica__events') }}
  where event_at is not null
),

by_events as (
  select
    product,
    day,
    count(case when event_type = 'delivery' then 1 end) as deliveries,
    count(case when event_type = 'open' then 1 end) as opens,
    count(distinct case when event_type = 'open' then destination_id end) as unique_openers,
    count(case when event_type = 'click' then 1 end) as clicks,
    count(distinct case when event_type = 'click' then destination_id end) as unique_clickers,
    count(case when event_type = 'bounce' then 1 end) as bounces,
    count(case when bounce_class = 'hard' then 1 end) as hard_bounces,
    count(case when bounce_class = 'soft' then 1 end) as soft_bounces,
    count(case when event_type = 'unsubscribe' then 1 end) as unsubscribes,
    count(case when event_type = 'complaint' then 1 end) as complaints
  from events
  group by product, day
),

by_sends as (
  select
    product,
    cast({{ copernica_local_time('sent_at') }} as date) as day,
    count(*) as sends
  from {{ ref('copernica__recipients') }}
  where sent_at is not null
  group by product, cast({{ copernica_local_time('sent_at') }} as date)
),

days as (
  select product, day from by_events
  union
  select product, day from by_sends
)

select
  d.product || '-' || cast(d.day as {{ copernica_type('text') }}) as day_key,
  d.day,
  d.product,
  coalesce(s.sends, 0) as sends,
  coalesce(e.deliveries, 0) as deliveries,
  coalesce(e.opens, 0) as opens,
  coalesce(e.unique_openers, 0) as unique_openers,
  coalesce(e.clicks, 0) as clicks,
  coalesce(e.unique_clickers, 0) as unique_clickers,
  coalesce(e.bounces, 0) as bounces,
  coalesce(e.hard_bounces, 0) as hard_bounces,
  coalesce(e.soft_bounces, 0) as soft_bounces,
  coalesce(e.unsubscribes, 0) as unsubscribes,
  coalesce(e.complaints, 0) as complaints
from days as d
left join by_events as e on e.product = d.product and e.day = d.day
left join by_sends as s on s.product = d.product and s.day = d.day

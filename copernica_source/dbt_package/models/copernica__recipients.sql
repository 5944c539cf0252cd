{#- One row per send (destination) of either product, with what happened to it. A send known only from its
    events (its destination row not loaded) is kept, with what the events tell. -#}
with destinations as (
  select * from {{ ref('int_copernica__destinations') }}
),

events as (
  select * from {{ ref('copernica__events') }}
  where destination_id is not null
),

by_send as (
  select
    product,
    destination_id,
    min(emailing_id) as emailing_id,
    max(profile_id) as profile_id,
    max(subprofile_id) as subprofile_id,
    count(case when event_type = 'delivery' then 1 end) as deliveries,
    min(case when event_type = 'delivery' then event_at end) as first_delivery_at,
    min(case when event_type = 'open' then event_at end) as first_open_at,
    min(case when event_type = 'click' then event_at end) as first_click_at,
    count(case when event_type = 'open' then 1 end) as opens,
    count(case when event_type = 'click' then 1 end) as clicks,
    count(case when event_type = 'bounce' then 1 end) as bounces,
    max(case bounce_class when 'hard' then 3 when 'soft' then 2 when 'other' then 1 end) as worst_bounce,
    count(case when event_type = 'unsubscribe' then 1 end) as unsubscribes,
    count(case when event_type = 'complaint' then 1 end) as complaints
  from events
  group by product, destination_id
),

log_tries as (
  {#- send attempts and retries from the daily logfiles (null for a send they do not hold, or when not loaded) -#}
  select
    m.product,
    m.destination_id,
    count(case when t.kind = 'attempt' then 1 end) as attempts,
    count(case when t.kind = 'retry' then 1 end) as retries
  from (
    {%- for product, prefix in [('html', 'html'), ('draganddrop', 'draganddrop')] %}
    select '{{ product }}' as product, 'attempt' as kind, a.*
    from ({{ copernica_table(prefix ~ '_log_attempts', ['id:text:message_id']) }}) as a
    union all
    select '{{ product }}' as product, 'retry' as kind, r.*
    from ({{ copernica_table(prefix ~ '_log_retries', ['id:text:message_id']) }}) as r
    {{ "union all" if not loop.last }}
    {%- endfor %}
  ) as t
  inner join {{ ref('int_copernica__sends_by_message') }} as m
    on m.product = t.product and m.message_id = t.message_id
  where m.destination_id is not null
  group by m.product, m.destination_id
),

sends as (
  select product, destination_id from destinations
  union
  select product, destination_id from by_send
),

combined as (
  select
    s.product,
    s.destination_id,
    coalesce(d.emailing_id, e.emailing_id) as emailing_id,
    coalesce(d.profile_id, e.profile_id) as profile_id,
    coalesce(d.subprofile_id, e.subprofile_id) as subprofile_id,
    d.sent_at,
    e.first_delivery_at,
    e.first_open_at,
    e.first_click_at,
    coalesce(e.deliveries, 0) as deliveries,
    coalesce(e.opens, 0) as opens,
    coalesce(e.clicks, 0) as clicks,
    coalesce(e.bounces, 0) as bounces,
    e.worst_bounce,
    coalesce(e.unsubscribes, 0) as unsubscribes,
    coalesce(e.complaints, 0) as complaints,
    lt.attempts as log_attempts,
    lt.retries as log_retries
  from sends as s
  left join destinations as d
    on d.product = s.product and d.destination_id = s.destination_id
  left join by_send as e
    on e.product = s.product and e.destination_id = s.destination_id
  left join log_tries as lt
    on lt.product = s.product and lt.destination_id = s.destination_id
)

select
  product || '-' || cast(destination_id as {{ copernica_type('text') }}) as recipient_key,
  product,
  product || '-' || cast(emailing_id as {{ copernica_type('text') }}) as emailing_key,
  emailing_id,
  destination_id,
  profile_id,
  subprofile_id,
  sent_at,
  -- a bounce (hard or soft) says the message did not arrive, whatever the delivery handoff said before
  deliveries > 0 and coalesce(worst_bounce, 0) < 2 as delivered,
  first_open_at,
  first_click_at,
  opens,
  clicks,
  {{ dbt.datediff('sent_at', 'first_open_at', 'second') }} as seconds_to_first_open,
  bounces > 0 as bounced,
  case worst_bounce when 3 then 'hard' when 2 then 'soft' when 1 then 'other' end as bounce_class,
  unsubscribes > 0 as unsubscribed,
  complaints > 0 as complained,
  log_attempts,
  log_retries
from combined

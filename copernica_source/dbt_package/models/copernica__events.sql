{#- Every delivery, open, click, bounce, unsubscribe and complaint of both products in one long table.
    Drag-and-drop events carry no profile: it is taken from the send (destination) they belong to. -#}
{%- set kinds = [('deliveries', 'delivery'), ('impressions', 'open'), ('clicks', 'click'), ('errors', 'bounce'),
                 ('unsubscribes', 'unsubscribe'), ('abuses', 'complaint')] %}
{%- set products = [('html', 'emailing'), ('draganddrop', 'mailing')] %}
with raw_events as (
{%- for product, emailing_column in products %}
  {%- for table, event_type in kinds %}
  select '{{ product }}' as product, '{{ event_type }}' as event_type, e.*
  from ({{ copernica_table(product ~ '_' ~ table, [
      'id:int:event_id', 'timestamp:ts:event_at', emailing_column ~ ':int:emailing_id',
      'destination:int:destination_id', 'profile:int:profile_id', 'subprofile:int:subprofile_id',
      'link:text:link', 'device:text:device', 'ip:text:ip', 'useragent:text:useragent',
      'errortype:text:error_type', 'errorcode:text:error_code', 'source:text:unsubscribe_source']) }}) as e
  {% if not loop.last %}union all{% endif %}
  {%- endfor %}
  {% if not loop.last %}union all{% endif %}
{%- endfor %}
),

destinations as (
  select * from {{ ref('int_copernica__destinations') }}
),

error_types as (
  select * from {{ ref('copernica_error_types') }}
),

resolved as (
  select
    e.product,
    e.event_type,
    e.event_id,
    e.event_at,
    coalesce(e.emailing_id, d.emailing_id) as emailing_id,
    e.destination_id,
    coalesce(e.profile_id, d.profile_id) as profile_id,
    coalesce(e.subprofile_id, d.subprofile_id) as subprofile_id,
    e.link,
    e.device,
    e.ip,
    e.useragent,
    e.error_type,
    e.error_code,
    case
      when e.event_type <> 'bounce' then null
      when coalesce(t.smtp_code_decides, true) and e.error_code like '5%' then 'hard'
      when coalesce(t.smtp_code_decides, true) and e.error_code like '4%' then 'soft'
      else coalesce(t.bounce_class, 'other')
    end as bounce_class,
    e.unsubscribe_source
  from raw_events as e
  left join destinations as d
    on d.product = e.product and d.destination_id = e.destination_id
  left join error_types as t
    on t.error_type = e.error_type
)

select
  product || '-' || event_type || '-' || cast(event_id as {{ copernica_type('text') }}) as event_key,
  product,
  event_type,
  event_id,
  event_at,
  {{ copernica_local_time('event_at') }} as event_at_local,
  product || '-' || cast(emailing_id as {{ copernica_type('text') }}) as emailing_key,
  emailing_id,
  destination_id,
  profile_id,
  subprofile_id,
  link,
  device,
  ip,
  useragent,
  error_type,
  error_code,
  bounce_class,
  unsubscribe_source
from resolved

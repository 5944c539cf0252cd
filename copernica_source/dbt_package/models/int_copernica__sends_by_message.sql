{{ config(materialized='ephemeral') }}
{#- Every send of both products by its message ID, the key of the log tables: a log row's `id` is the html
    destination's `id` and the drag-and-drop destination's `messageID`. The emailing comes from the destination,
    else from the send attempt's `mailingid` (the attempts log names it). -#}
with destinations as (
  select 'html' as product, d.*
  from ({{ copernica_table('html_destinations',
                           ['id:text:message_id', 'internal:int:destination_id', 'mailing:int:emailing_id']) }}) as d
  union all
  select 'draganddrop' as product, d.*
  from ({{ copernica_table('draganddrop_destinations',
                           ['message_id:text:message_id', 'id:int:destination_id', 'mailing:int:emailing_id']) }}) as d
),

attempts as (
  select 'html' as product, a.*
  from ({{ copernica_table('html_log_attempts', ['id:text:message_id', 'mailingid:int:emailing_id']) }}) as a
  union all
  select 'draganddrop' as product, a.*
  from ({{ copernica_table('draganddrop_log_attempts', ['id:text:message_id', 'mailingid:int:emailing_id']) }}) as a
),

attempted as (
  select product, message_id, max(emailing_id) as emailing_id
  from attempts
  where message_id is not null
  group by product, message_id
),

known as (
  select product, message_id, max(destination_id) as destination_id, max(emailing_id) as emailing_id
  from destinations
  where message_id is not null
  group by product, message_id
)

select
  coalesce(k.product, a.product) as product,
  coalesce(k.message_id, a.message_id) as message_id,
  k.destination_id,
  coalesce(k.emailing_id, a.emailing_id) as emailing_id
from known as k
full outer join attempted as a
  on a.product = k.product and a.message_id = k.message_id

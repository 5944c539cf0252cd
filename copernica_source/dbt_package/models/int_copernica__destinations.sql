{{ config(materialized='ephemeral') }}
{#- Every send of both products in one shape. An html event points at its send's `internal` number, a
    drag-and-drop event at the send's `id`: both become destination_id here. -#}
{%- set columns = ['mailing:int:emailing_id', 'profile:int:profile_id', 'subprofile:int:subprofile_id',
                   'timestampsent:ts:sent_at'] %}
select 'html' as product, html.*
from ({{ copernica_table('html_destinations', ['internal:int:destination_id'] + columns) }}) as html
union all
select 'draganddrop' as product, dd.*
from ({{ copernica_table('draganddrop_destinations', ['id:int:destination_id'] + columns) }}) as dd

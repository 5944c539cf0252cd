{{ config(materialized='ephemeral') }}
{#- Clicks and opens from the daily logfiles of both products, in one shape, with where they happened. -#}
{%- set columns = ['id:text:message_id', 'time:ts:event_at', 'countrycode:text:country_code',
                   'countryname:text:country_name', 'regioncode:text:region_code', 'city:text:city'] %}
{%- set logs = [('html', 'click', 'html_log_clicks'), ('html', 'click', 'html_log_clicks_old'),
                ('html', 'open', 'html_log_impressions'), ('draganddrop', 'click', 'draganddrop_log_clicks'),
                ('draganddrop', 'open', 'draganddrop_log_impressions')] %}
{%- for product, event_type, table in logs %}
select '{{ product }}' as product, '{{ event_type }}' as event_type, t.*
from ({{ copernica_table(table, columns) }}) as t
{{ "union all" if not loop.last }}
{%- endfor %}

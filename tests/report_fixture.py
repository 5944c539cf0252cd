"""Model-shaped tables (the dbt models' contract: copernica__emailings, __events, __recipients, __links, __daily,
__geography)
filled with plausible, deterministic rows by DuckDB SQL, for the report's tests until they run on the real models.

Recipients come first (24 emailings, both products, a few hundred recipients each); events, links, daily figures
and the emailings' totals are derived from them, so the numbers agree the way the real models' do. Subjects hold
emoji, non-Latin scripts, markup-like text, `$` signs and a subject that two emailings share on the same day."""

from __future__ import annotations

from pathlib import Path

import duckdb

DATASET = "copernica_data"

SUBJECTS = [
    "Summer sale ☀️ up to 50% off",
    "Nieuwsbrief juni: wat is er nieuw?",
    "<b>Bold</b> & <script>alert('x')</script> offers",
    "Save $5 on orders over $50",
    "夏のセール — 新商品のお知らせ",
    "Ελληνικά: νέα προϊόντα 🇬🇷",
    "عرض خاص لعملائنا",
    "Your weekly digest",
    "A very long subject line that goes on and on to see how the report truncates it in chart labels and tables",
    "Weekly digest",  # emailings 10 and 11 share subject and day: their labels must not merge
    "Weekly digest",
    "Last chance 🎉🎉",
]

LINKS = [
    "https://shop.example.com/summer?utm_source=copernica&utm_medium=email&utm_campaign=summer-sale-2025",
    "https://shop.example.com/new",
    "https://example.com/blog/how-we-make-our-products",
    "https://example.com/p?q=<b>&x=1",
    "https://例え.jp/セール",
    "https://example.com/webversion",
    "https://example.com/unsubscribe",
]


def _list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def build_model_tables(path: Path, *, empty: bool = False, dataset: str = DATASET) -> Path:
    """Create (or replace) the model tables in `dataset` of the DuckDB file at `path`; `empty` leaves them without
    rows (an account that never sent anything)."""
    con = duckdb.connect(str(path))
    try:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{dataset}"')
        con.execute(f'SET search_path = "{dataset}"')
        con.execute(_SQL.format(
            subjects=_list(SUBJECTS), n_subjects=len(SUBJECTS), links=_list(LINKS),
        ))
        if empty:
            for table in ("copernica__emailings", "copernica__events", "copernica__recipients", "copernica__links",
                          "copernica__daily", "copernica__geography"):
                con.execute(f"DELETE FROM {table}")
    finally:
        con.close()
    return path


_SQL = """
CREATE OR REPLACE TEMP TABLE base AS
SELECT i AS emailing_id,
       CASE WHEN i % 3 = 0 THEN 'draganddrop' ELSE 'html' END AS product,
       CASE WHEN i = 11 THEN TIMESTAMPTZ '2025-04-01 08:00:00+00' + to_days(10 * 4) + to_hours(3)
            ELSE TIMESTAMPTZ '2025-04-01 08:00:00+00' + to_days(i * 4) + to_hours(i % 5) END AS sent_at,
       CASE WHEN i = 12 THEN NULL ELSE {subjects}[(i - 1) % {n_subjects} + 1] END AS subject,
       CAST(150 + hash(i) % 350 AS BIGINT) AS n
FROM range(1, 25) t(i);

CREATE OR REPLACE TEMP TABLE r AS
SELECT b.product, b.emailing_id, b.product || '-' || b.emailing_id AS emailing_key,
       b.emailing_id * 100000 + d AS destination_id,
       CAST(1000 + hash(b.emailing_id * 7919 + d) % 3000 AS BIGINT) AS profile_id,
       b.sent_at, CAST(hash(b.emailing_id * 100003 + d * 31) % 1000000000000 AS BIGINT) AS h
FROM base b, range(b.n) t(d);

CREATE OR REPLACE TEMP TABLE r2 AS
SELECT *,
       h % 100 < 5 AS bounced,
       CASE WHEN h % 100 < 2 THEN 'hard' WHEN h % 100 < 4 THEN 'soft' WHEN h % 100 < 5 THEN 'other' END
           AS bounce_class,
       h % 100 >= 5 AND (h // 100) % 100 < 38 AS opened,
       CAST(((h // 1000000) % 1000) * ((h // 1000000) % 1000) * 0.3 + 60 AS BIGINT) AS open_delay,
       CAST(1 + (h // 7) % 3 AS BIGINT) AS n_opens
FROM r;

CREATE OR REPLACE TEMP TABLE r3 AS
SELECT *,
       opened AND (h // 10000) % 100 < 35 AS clicked,
       NOT bounced AND (h // 100000000) % 1000 < 9 AS unsubscribed,
       NOT bounced AND (h // 100000000) % 1000 BETWEEN 9 AND 10 AS complained
FROM r2;

CREATE OR REPLACE TABLE copernica__events AS
WITH ev AS (
    SELECT product, emailing_id, emailing_key, destination_id, profile_id, 'delivery' AS event_type,
           sent_at + to_seconds(5) AS event_at, 0 AS k, h, NULL AS cls FROM r3 WHERE NOT bounced
    UNION ALL
    SELECT product, emailing_id, emailing_key, destination_id, profile_id, 'bounce', sent_at + to_seconds(30), 0, h,
           bounce_class FROM r3 WHERE bounced
    UNION ALL
    SELECT product, emailing_id, emailing_key, destination_id, profile_id, 'open',
           sent_at + to_seconds(open_delay + o * 5400), o, h, NULL
    FROM r3, range(n_opens) t(o) WHERE opened
    UNION ALL
    SELECT product, emailing_id, emailing_key, destination_id, profile_id, 'click',
           sent_at + to_seconds(open_delay + 40 + c * 600), c, h, NULL
    FROM r3, range(CAST(1 + h % 2 AS BIGINT)) t(c) WHERE clicked
    UNION ALL
    SELECT product, emailing_id, emailing_key, destination_id, profile_id, 'unsubscribe',
           sent_at + to_seconds(open_delay + 300), 0, h, NULL FROM r3 WHERE unsubscribed
    UNION ALL
    SELECT product, emailing_id, emailing_key, destination_id, profile_id, 'complaint',
           sent_at + to_seconds(open_delay + 900), 0, h, NULL FROM r3 WHERE complained
)
SELECT product || '-' || event_type || '-' || destination_id || '-' || k AS event_key, product, event_type,
       CAST(row_number() OVER (ORDER BY event_at, destination_id, k) AS BIGINT) AS event_id,
       event_at, timezone('Europe/Amsterdam', event_at) AS event_at_local,
       emailing_key, CAST(emailing_id AS BIGINT) AS emailing_id, CAST(destination_id AS BIGINT) AS destination_id,
       CAST(profile_id AS BIGINT) AS profile_id, CAST(NULL AS BIGINT) AS subprofile_id,
       CASE WHEN event_type = 'click' THEN
           {links}[CASE WHEN (h // 3 + k) % 10 < 5 THEN (h // 3 + k) % 5 + 1 WHEN (h // 3 + k) % 10 < 8 THEN 1
                        WHEN (h // 3 + k) % 10 = 8 THEN 6 ELSE 7 END] END AS link,
       CASE WHEN event_type = 'open' THEN
           CASE (h // 11 + k) % 10 WHEN 0 THEN 'tablet' WHEN 1 THEN 'unknown' WHEN 2 THEN NULL
                WHEN 3 THEN 'desktop' WHEN 4 THEN 'desktop' WHEN 5 THEN 'desktop' ELSE 'mobile' END END AS device,
       '192.0.2.' || (h % 250) AS ip, 'Mozilla/5.0' AS useragent,
       CASE cls WHEN 'hard' THEN ['nohost', 'unknownuser'][(h // 13) % 2 + 1]
                WHEN 'soft' THEN ['mailboxfull', 'unreachable', 'spamblock'][(h // 13) % 3 + 1]
                WHEN 'other' THEN 'mailerror' END AS error_type,
       CASE WHEN event_type = 'bounce' THEN '5.1.' || (h % 9) END AS error_code,
       cls AS bounce_class,
       CASE WHEN event_type = 'unsubscribe' THEN CASE WHEN h % 2 = 0 THEN 'link' ELSE 'email' END END
           AS unsubscribe_source
FROM ev;

-- the opens and clicks placed in 14 countries and none ('': the logfile names no country), more than the chart's
-- top 12; a name with a quote in it
CREATE OR REPLACE TABLE copernica__geography AS
WITH placed AS (
    SELECT *, (['NL', 'BE', 'DE', 'GB', 'US', 'FR', 'CI', 'JP', 'BR', 'ES', 'IT', 'SE', 'PL', 'NO', ''])[
               1 + CAST(destination_id % 15 AS INTEGER)] AS country_code
    FROM copernica__events WHERE event_type IN ('open', 'click')
)
SELECT product || '-' || emailing_id || '-' || event_type || '-' || country_code AS geography_key, product,
       emailing_key, emailing_id, event_type, country_code,
       CASE country_code WHEN 'NL' THEN 'Netherlands' WHEN 'BE' THEN 'Belgium' WHEN 'DE' THEN 'Germany'
            WHEN 'GB' THEN 'United Kingdom' WHEN 'US' THEN 'United States' WHEN 'FR' THEN 'France'
            WHEN 'CI' THEN 'Côte d''Ivoire' WHEN 'JP' THEN 'Japan' WHEN 'BR' THEN 'Brazil' WHEN 'ES' THEN 'Spain'
            WHEN 'IT' THEN 'Italy' WHEN 'SE' THEN 'Sweden' WHEN 'PL' THEN 'Poland' WHEN 'NO' THEN 'Norway' END
           AS country_name,
       '' AS region_code, '' AS city, count(*) AS events, count(DISTINCT destination_id) AS sends,
       min(event_at) AS first_at, max(event_at) AS last_at
FROM placed GROUP BY ALL;

CREATE OR REPLACE TABLE copernica__recipients AS
SELECT r3.product || '-' || r3.destination_id AS recipient_key, r3.product, r3.emailing_key,
       CAST(r3.emailing_id AS BIGINT) AS emailing_id, CAST(r3.destination_id AS BIGINT) AS destination_id,
       CAST(r3.profile_id AS BIGINT) AS profile_id, CAST(NULL AS BIGINT) AS subprofile_id, r3.sent_at,
       NOT r3.bounced AS delivered,
       CASE WHEN r3.opened THEN r3.sent_at + to_seconds(r3.open_delay) END AS first_open_at,
       CASE WHEN r3.clicked THEN r3.sent_at + to_seconds(r3.open_delay + 40) END AS first_click_at,
       CAST(CASE WHEN r3.opened THEN r3.n_opens ELSE 0 END AS BIGINT) AS opens,
       CAST(CASE WHEN r3.clicked THEN 1 + r3.h % 2 ELSE 0 END AS BIGINT) AS clicks,
       CASE WHEN r3.opened THEN r3.open_delay END AS seconds_to_first_open,
       r3.bounced, r3.bounce_class, r3.unsubscribed, r3.complained
FROM r3;

CREATE OR REPLACE TABLE copernica__links AS
SELECT emailing_key || '-' || md5(link) AS link_key, product, emailing_key, emailing_id, link,
       CASE WHEN link LIKE '%/unsubscribe' THEN 'unsubscribe' WHEN link LIKE '%/webversion' THEN 'web_version'
            ELSE 'content' END AS link_kind,
       link LIKE '%/unsubscribe' OR link LIKE '%/webversion' AS is_system_link,
       count(*) AS clicks, count(DISTINCT destination_id) AS unique_clickers
FROM copernica__events WHERE event_type = 'click'
GROUP BY product, emailing_key, emailing_id, link;

CREATE OR REPLACE TABLE copernica__emailings AS
WITH rec AS (
    SELECT emailing_key, count(*) AS recipients, count(*) FILTER (WHERE delivered) AS delivered,
           count(*) FILTER (WHERE bounce_class = 'hard') AS hard_bounces,
           count(*) FILTER (WHERE bounce_class = 'soft') AS soft_bounces,
           count(*) FILTER (WHERE bounce_class = 'other') AS other_errors,
           count(*) FILTER (WHERE opens > 0) AS unique_opens, sum(opens) AS total_opens,
           count(*) FILTER (WHERE clicks > 0) AS unique_clicks, sum(clicks) AS total_clicks,
           count(*) FILTER (WHERE unsubscribed) AS unsubscribes, count(*) FILTER (WHERE complained) AS complaints
    FROM copernica__recipients GROUP BY emailing_key
)
SELECT b.product || '-' || b.emailing_id AS emailing_key, b.product, CAST(b.emailing_id AS BIGINT) AS emailing_id,
       b.sent_at, CAST(timezone('Europe/Amsterdam', b.sent_at) AS DATE) AS sent_date_local, b.subject,
       'Example Shop' AS from_name, 'news@example.com' AS from_email, 'database' AS target_type,
       CAST(1 AS BIGINT) AS target_database_id,
       CAST(rec.recipients AS BIGINT) AS recipients, CAST(rec.delivered AS BIGINT) AS delivered,
       CAST(rec.hard_bounces AS BIGINT) AS hard_bounces, CAST(rec.soft_bounces AS BIGINT) AS soft_bounces,
       CAST(rec.other_errors AS BIGINT) AS other_errors, CAST(rec.unique_opens AS BIGINT) AS unique_opens,
       CAST(rec.total_opens AS BIGINT) AS total_opens, CAST(rec.unique_clicks AS BIGINT) AS unique_clicks,
       CAST(rec.total_clicks AS BIGINT) AS total_clicks, CAST(rec.unsubscribes AS BIGINT) AS unsubscribes,
       CAST(rec.complaints AS BIGINT) AS complaints,
       rec.delivered / nullif(rec.recipients, 0) AS delivery_rate,
       rec.unique_opens / nullif(rec.delivered, 0) AS open_rate,
       rec.unique_clicks / nullif(rec.delivered, 0) AS click_rate,
       rec.unique_clicks / nullif(rec.unique_opens, 0) AS click_to_open_rate,
       (rec.hard_bounces + rec.soft_bounces) / nullif(rec.recipients, 0) AS bounce_rate,
       rec.unsubscribes / nullif(rec.delivered, 0) AS unsubscribe_rate,
       rec.complaints / nullif(rec.delivered, 0) AS complaint_rate,
       CAST(rec.recipients AS BIGINT) AS stats_recipients, CAST(rec.unique_opens AS BIGINT) AS stats_unique_opens,
       CAST(rec.unique_clicks AS BIGINT) AS stats_unique_clicks,
       CAST(rec.hard_bounces + rec.soft_bounces AS BIGINT) AS stats_bounces,
       CAST(rec.unsubscribes AS BIGINT) AS stats_unsubscribes, CAST(rec.complaints AS BIGINT) AS stats_complaints,
       false AS stats_differ, CAST(NULL AS VARCHAR) AS stats_differences
FROM base b JOIN rec ON rec.emailing_key = b.product || '-' || b.emailing_id;

CREATE OR REPLACE TABLE copernica__daily AS
WITH facts AS (
    SELECT product, CAST(timezone('Europe/Amsterdam', sent_at) AS DATE) AS day, 'send' AS event_type,
           destination_id, bounce_class
    FROM copernica__recipients
    UNION ALL
    SELECT product, CAST(event_at_local AS DATE), event_type, destination_id, bounce_class FROM copernica__events
)
SELECT product || '-' || day AS day_key, day, product,
       count(*) FILTER (WHERE event_type = 'send') AS sends,
       count(*) FILTER (WHERE event_type = 'delivery') AS deliveries,
       count(*) FILTER (WHERE event_type = 'open') AS opens,
       count(DISTINCT destination_id) FILTER (WHERE event_type = 'open') AS unique_openers,
       count(*) FILTER (WHERE event_type = 'click') AS clicks,
       count(DISTINCT destination_id) FILTER (WHERE event_type = 'click') AS unique_clickers,
       count(*) FILTER (WHERE event_type = 'bounce') AS bounces,
       count(*) FILTER (WHERE event_type = 'bounce' AND bounce_class = 'hard') AS hard_bounces,
       count(*) FILTER (WHERE event_type = 'bounce' AND bounce_class = 'soft') AS soft_bounces,
       count(*) FILTER (WHERE event_type = 'unsubscribe') AS unsubscribes,
       count(*) FILTER (WHERE event_type = 'complaint') AS complaints
FROM facts GROUP BY product, day;
"""

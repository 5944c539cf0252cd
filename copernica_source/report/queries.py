"""The SQL behind each chart: plain aggregates over the dbt models, so the same text runs on DuckDB and PostgreSQL
(and other warehouses that quote identifiers with double quotes). Anything dialect-specific (weekdays, buckets'
labels) is left to Python."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from copernica_source.errors import CopernicaError

Query = Callable[[str], list[dict[str, Any]]]
"""Runs one SELECT and returns its rows as dicts keyed by lower-case column name."""

EMAILINGS = "copernica__emailings"
EVENTS = "copernica__events"
RECIPIENTS = "copernica__recipients"
LINKS = "copernica__links"
DAILY = "copernica__daily"
MODELS = (EMAILINGS, EVENTS, RECIPIENTS, LINKS, DAILY)
GEOGRAPHY = "copernica__geography"
"""Read when there (models built before it have no such table): its section says what to run otherwise."""

LATEST_EMAILINGS = 20
TOP_LINKS = 10
HOUR, DAY = 3600, 24 * 3600
# the time-to-first-open buckets: upper bound in seconds (the last has none) and label
FIRST_OPEN_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (HOUR, "< 1 h"), (3 * HOUR, "1-3 h"), (6 * HOUR, "3-6 h"), (DAY, "6-24 h"), (3 * DAY, "1-3 days"),
    (None, "> 3 days"),
)


class ModelsMissingError(CopernicaError):
    """The dataset lacks the dbt models the report reads: a raw SQL error would not say what to run."""


def quoted(identifier: str) -> str:
    """An identifier in double quotes (the SQL standard's, DuckDB's and PostgreSQL's), any quote in it doubled."""
    return '"' + identifier.replace('"', '""') + '"'


def table(dataset: str, name: str) -> str:
    return f"{quoted(dataset)}.{quoted(name)}"


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check_models(query: Query, dataset: str) -> None:
    """Raise ModelsMissingError naming what to run when any model table is absent from `dataset`."""
    present = present_tables(query, dataset, MODELS)
    missing = [m for m in MODELS if m not in present]
    if not missing:
        return
    if len(missing) == len(MODELS):
        raise ModelsMissingError(
            f"dataset '{dataset}' has none of the report's model tables ({', '.join(MODELS)}): "
            "run `copernica models` first (after `copernica load`), with the same --destination and --dataset")
    raise ModelsMissingError(
        f"dataset '{dataset}' lacks the model tables {', '.join(missing)}: run `copernica models` first")


def present_tables(query: Query, dataset: str, names: tuple[str, ...]) -> set[str]:
    """Which of `names` are tables in `dataset`."""
    listed = ", ".join(literal(n) for n in names)
    rows = query(f"SELECT table_name FROM information_schema.tables "
                 f"WHERE table_schema = {literal(dataset)} AND table_name IN ({listed})")
    return {str(r["table_name"]) for r in rows}


def counts_sql(dataset: str) -> str:
    return (f"SELECT (SELECT count(*) FROM {table(dataset, EMAILINGS)}) AS emailings, "
            f"(SELECT count(*) FROM {table(dataset, EVENTS)}) AS events")


def latest_emailings_sql(dataset: str, limit: int = LATEST_EMAILINGS) -> str:
    return (
        "SELECT emailing_key, product, emailing_id, sent_at, subject, recipients, delivered, unique_opens, "
        "unique_clicks, open_rate, click_rate, hard_bounces, soft_bounces, unsubscribes, complaints "
        f"FROM {table(dataset, EMAILINGS)} WHERE sent_at IS NOT NULL "
        f"ORDER BY sent_at DESC, emailing_key DESC LIMIT {int(limit)}"
    )


def daily_sql(dataset: str) -> str:
    return (
        "SELECT day, sum(sends) AS sends, sum(opens) AS opens, sum(clicks) AS clicks, "
        "sum(unsubscribes) AS unsubscribes, sum(complaints) AS complaints "
        f"FROM {table(dataset, DAILY)} GROUP BY day ORDER BY day"
    )


def bounces_sql(dataset: str) -> str:
    return (
        "SELECT bounce_class, error_type, count(*) AS bounces "
        f"FROM {table(dataset, EVENTS)} WHERE event_type = 'bounce' GROUP BY bounce_class, error_type"
    )


def content_links_sql(dataset: str, limit: int = TOP_LINKS) -> str:
    return (
        f"SELECT link, sum(clicks) AS clicks FROM {table(dataset, LINKS)} "
        "WHERE link_kind = 'content' AND link IS NOT NULL "
        f"GROUP BY link ORDER BY sum(clicks) DESC, link LIMIT {int(limit)}"
    )


def system_links_sql(dataset: str) -> str:
    return (
        f"SELECT link_kind, sum(clicks) AS clicks FROM {table(dataset, LINKS)} "
        "WHERE link_kind <> 'content' GROUP BY link_kind"
    )


def devices_sql(dataset: str) -> str:
    return (
        f"SELECT device, count(*) AS opens FROM {table(dataset, EVENTS)} "
        "WHERE event_type = 'open' GROUP BY device"
    )


def hours_sql(dataset: str) -> str:
    """Per local date and hour, not per weekday: every warehouse numbers weekdays its own way, Python does not."""
    day = "CAST(event_at_local AS DATE)"
    hour = "EXTRACT(HOUR FROM event_at_local)"
    return (
        f"SELECT {day} AS day, {hour} AS hour, event_type, count(*) AS events "
        f"FROM {table(dataset, EVENTS)} "
        "WHERE event_type IN ('open', 'click') AND event_at_local IS NOT NULL "
        f"GROUP BY {day}, {hour}, event_type"
    )


def first_open_sql(dataset: str) -> str:
    """Bucket numbers (0 = fastest), counted in the warehouse: one row per bucket instead of one per recipient."""
    whens = " ".join(f"WHEN seconds_to_first_open < {bound} THEN {i}"
                     for i, (bound, _) in enumerate(FIRST_OPEN_BUCKETS) if bound is not None)
    bucket = f"CASE {whens} ELSE {len(FIRST_OPEN_BUCKETS) - 1} END"
    return (
        f"SELECT {bucket} AS bucket, count(*) AS recipients FROM {table(dataset, RECIPIENTS)} "
        f"WHERE seconds_to_first_open IS NOT NULL GROUP BY {bucket}"
    )


def geography_sql(dataset: str) -> str:
    """Opens and clicks per country (the logfiles' country code; '' where they name none)."""
    return (
        "SELECT country_code, max(country_name) AS country_name, event_type, sum(events) AS events "
        f"FROM {table(dataset, GEOGRAPHY)} WHERE event_type IN ('open', 'click') "
        "GROUP BY country_code, event_type"
    )

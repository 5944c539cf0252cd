"""The report from a query function: check the models, run each chart's query, draw, assemble. The query function
is the only link to the warehouse, so any dlt destination (or a plain DuckDB connection) can feed it."""

from __future__ import annotations

import os
import stat
from datetime import datetime
from pathlib import Path

from copernica_source.errors import ConfigurationError
from copernica_source.private_files import write_private
from copernica_source.report import charts, queries
from copernica_source.report.page import Section, page, summary_table
from copernica_source.report.queries import Query
from copernica_source.settings import time_zone

SUMMARY_ROWS = 10
FUNNEL_EMAILINGS = 10


def build_report(query: Query, dataset: str, *, timezone: str, destination: str | None = None,
                 generated_at: datetime | None = None) -> str:
    """The report's HTML for the models in `dataset`. Raises ModelsMissingError when `copernica models` has not
    built them there; an account without rows gives a page that says so."""
    zone = time_zone(timezone)
    queries.check_models(query, dataset)
    when = (generated_at or datetime.now(zone)).astimezone(zone)
    where = f"dataset {dataset}" + (f" in {destination}" if destination else "") + f" · times in {timezone}"
    title = "Copernica e-mail report"
    counts = query(queries.counts_sql(dataset))[0]
    if not charts.number(counts["emailings"]) and not charts.number(counts["events"]):
        return page(title=title, subtitle=where, generated_at=when, summary=None, sections=(), empty=True)
    latest = query(queries.latest_emailings_sql(dataset))
    daily = query(queries.daily_sql(dataset))
    sections = [
        Section("activity", "Activity over time", "Every send, open and click per day, of every mail product loaded.",
                charts.activity(daily)),
        Section("funnel", "From recipients to clicks",
                "How many of each emailing's recipients got it, opened it and clicked (unique people).",
                charts.funnel(latest[:FUNNEL_EMAILINGS], zone)),
        Section("rates", "Open and click rates",
                "Unique opens and unique clicks as a share of delivered e-mails, per emailing.",
                charts.rates(latest, zone)),
        Section("bounces", "Bounces", "Bounce events by the error Copernica reported, hard, soft or other.",
                charts.bounces(query(queries.bounces_sql(dataset)))),
        Section("unsubscribes", "Unsubscribes and complaints",
                "People who unsubscribed or marked an e-mail as spam, per day.",
                charts.unsubscribes_and_complaints(daily)),
        Section("links", "Top links", "Clicks per link over all emailings; web-version and unsubscribe links apart.",
                charts.links(query(queries.content_links_sql(dataset)), query(queries.system_links_sql(dataset)))),
        Section("devices", "Devices", "Opens by the device the e-mail was opened on (from the user agent).",
                charts.devices(query(queries.devices_sql(dataset)))),
        Section("hours", "When people engage", f"Opens and clicks by weekday and hour, {timezone} time.",
                charts.engagement_hours(query(queries.hours_sql(dataset)), timezone)),
        Section("first-open", "Time to first open",
                "How long after the send each recipient who opened first did so.",
                charts.first_open(query(queries.first_open_sql(dataset)))),
        _geography(query, dataset),
    ]
    summary = summary_table(latest[:SUMMARY_ROWS], zone) if latest else None
    return page(title=title, subtitle=where, generated_at=when, summary=summary, sections=sections)


def _geography(query: Query, dataset: str) -> Section:
    """Places come only from the daily logfiles (opt-in log tables): without them the section says how to get them."""
    heading, lead = "Where people open and click", "Opens and clicks per country, from Copernica's daily logfiles."
    if queries.GEOGRAPHY not in queries.present_tables(query, dataset, (queries.GEOGRAPHY,)):
        return Section("geography", heading, lead, None, empty_note=(
            "These models were built before the geography model: run `copernica models` again."))
    return Section("geography", heading, lead, charts.geography(query(queries.geography_sql(dataset))), empty_note=(
        "No places loaded: they come from Copernica's daily logfiles, which the event lists do not include. Load "
        "them with `copernica load --logfiles html,draganddrop`, then run `copernica models` and `copernica report` "
        "again; for the demo, `copernica load --demo --logfiles html,draganddrop` does all three."))


def write_report(path: str | os.PathLike[str], query: Query, dataset: str, *, timezone: str,
                 destination: str | None = None) -> Path:
    """Build the report and write it in one step (temporary file, then rename): a browser or a copy job never
    sees half a file, and a failed build leaves an earlier report in place. Owner-only, like the other files
    the commands write; a report that already exists keeps its mode (e.g. readable by a web server)."""
    html = build_report(query, dataset, timezone=timezone, destination=destination)
    target = Path(path)
    if not target.parent.is_dir():  # a typo in the folder must not create folders
        raise ConfigurationError(f"no folder {target.parent} for the report: create it first, or fix --output")
    mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else None
    try:
        written = write_private(target, html)
        if mode is not None:
            os.chmod(written, mode)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    return written



"""`copernica_source(...)`: the dlt source, the package's face. Config lives in `[sources.copernica]`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeAlias

import dlt
from dlt.common.typing import TAnyDateTime, TSecretStrValue
from dlt.extract.resource import DltResource
from dlt.extract.source import DltSource

from copernica_source.account import Account, Settings, parse_moment
from copernica_source.client import DEFAULT_AUTH_URL, DEFAULT_BASE_URL, DEFAULT_MAX_ANSWER_MB
from copernica_source.engagement import engagement_resources
from copernica_source.errors import ConfigurationError
from copernica_source.logfiles import chosen_log_tables, logfile_resources
from copernica_source.profiles import Deletions, ProfileOptions, profile_resources
from copernica_source.settings import DEFAULT_TIMEZONE, listed, make_client, time_zone
from copernica_source.structure import structure_resources
from copernica_source.tables import PRODUCTS, Product

log = logging.getLogger("copernica_source")

# dlt resolves `[sources.copernica]` by the parameters' runtime hints and coerces config text to them before the
# source sees it: typed hints would reject "html,draganddrop" or "1,2" from an env var as not a list, turn an
# unparseable date into dlt's error instead of ours, and read dates by dlt's rules instead of `parse_moment`'s
# (epoch numbers accepted, DST gaps resolved differently). So type checkers see what a caller passes, while dlt
# sees the hints these settings always had (Any; str for deletions) and leaves the text to `listed`/`parse_moment`.
if TYPE_CHECKING:
    DateSetting: TypeAlias = TAnyDateTime
    ProductsSetting: TypeAlias = Sequence[Product]
    IdsSetting: TypeAlias = Sequence[int]
    DeletionsSetting: TypeAlias = Deletions
    LogfilesSetting: TypeAlias = Sequence[str]
else:
    DateSetting = ProductsSetting = IdsSetting = LogfilesSetting = Any
    DeletionsSetting = str


@dlt.source(name="copernica", section="copernica", max_table_nesting=0)
def copernica_source(
    access_token: TSecretStrValue = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    api_version: int = 4,
    auth_url: str = DEFAULT_AUTH_URL,
    start_date: DateSetting | None = None,
    end_date: DateSetting | None = None,
    timezone: str = "Europe/Amsterdam",
    page_size: int = 1000,
    max_concurrency: int = 8,
    products: ProductsSetting | None = None,
    lookback_days: float = 3.0,
    emailing_window_days: float = 30.0,
    database_ids: IdsSetting | None = None,
    collection_ids: IdsSetting | None = None,
    detect_deletions: bool = True,
    deletions: DeletionsSetting = "delete",
    profile_overlap_seconds: float = 60.0,
    max_deletion_share: float = 0.1,
    request_timeout: float = 60.0,
    retry_max_seconds: float = 300.0,
    max_answer_mb: float = DEFAULT_MAX_ANSWER_MB,
    logfiles: LogfilesSetting | None = None,
    logfile_lookback_days: int = 3,
    logfile_timezone: str | None = None,
) -> list[DltResource]:
    """Copernica emailings, statistics, destinations and engagement events, the account's structure, profiles
    and subprofiles: typed, incremental and merged on keys.

    Every argument left out is read from `[sources.copernica]` (or `SOURCES__COPERNICA__<KEY>`); there list
    settings may also be written as "1,4" and dates as text.

    Args:
        access_token: API token from Copernica's Marketing Suite (a secret: kept out of logs, traces and state).
        base_url: the API host, e.g. `http://127.0.0.1:8080` for the simulator.
        api_version: 4 authenticates with a JWT; 1-3 send `?access_token=`. Version 1 has no emailing or event
            lists, so only the structure, profile and subprofile tables are loaded.
        auth_url: where v4 exchanges the token for a JWT.
        start_date: start of a backfill: a date, a datetime or an ISO string (`YYYY-MM-DD[ HH:MM:SS]`); naive
            values are Copernica local time (`timezone`).
        end_date: end of a backfill, read like `start_date`; with it, incremental state is left alone.
        timezone: the zone of Copernica's naive local times; they are loaded as UTC instants.
        page_size: rows per request, 1 to 1000 (Copernica's cap; 100 on api_version 1).
        max_concurrency: requests in flight at once.
        products: the mail products whose engagement tables are loaded (default: both).
        lookback_days: re-read window for late draganddrop events and destinations.
        emailing_window_days: emailings sent in this window are re-read and their statistics refreshed.
        database_ids: limit the structure, profile and subprofile tables to these databases (default: all).
        collection_ids: limit the subprofile tables and collection structure to these collections (default: all).
        detect_deletions: reconcile IDs against `profileids`/`subprofileids` each run (Copernica does not bump
            `modified` on delete).
        deletions: what happens to a deleted (sub)profile's row: "delete" removes it, "mark" keeps its ID with
            `deleted` true (its field values become null, as Copernica empties removed profiles).
        profile_overlap_seconds: profiles are read incrementally on `modified`, re-reading this much before the
            last cursor.
        max_deletion_share: a run that would delete more than this share of a table's rows deletes none of them
            and says so (set it to 1 to let them go).
        request_timeout: seconds one attempt of a request may take.
        retry_max_seconds: bounds the retries of one request through 429/5xx/dropped connections (then the run
            fails and the next run resumes).
        max_answer_mb: the largest answer read, in MB; a larger one fails the run with a message (a server must not
            take the process's memory with it). Logfiles are streamed and not bounded by it.
        logfiles: the log tables to load from Copernica's daily logfiles (opt-in; default none): "all", "html",
            "draganddrop", "webhooks", log types ("pom-clicks") or table names ("html_log_clicks"). Unchosen log
            tables can still be picked with `--resources`.
        logfile_lookback_days: logfiles of today and this many days before are read again each run (a day's file
            may still grow); older days are read once.
        logfile_timezone: the zone of the logfiles' `time` values (default: `timezone`; see docs/assumptions.md).

    Returns:
        The resources; `@dlt.source` makes the call return them as a `DltSource`.

    Raises:
        ConfigurationError: a setting out of range or unknown (products, page_size, dates, IDs, deletions).
    """
    check_settings(products=products, database_ids=database_ids, lookback_days=lookback_days,
                   start_date=start_date, end_date=end_date, timezone=timezone)
    chosen = [str(p) for p in listed(products)] or list(PRODUCTS)
    if not 1 <= int(page_size) <= 1000:
        raise ConfigurationError(f"page_size must be between 1 and 1000 (Copernica's cap), not {page_size}")
    settings = Settings(
        timezone=timezone,
        start_date=parse_moment(start_date, timezone, "start_date"),
        end_date=parse_moment(end_date, timezone, "end_date"),
        page_size=int(page_size),
        max_concurrency=max(1, int(max_concurrency)),
        lookback_days=float(lookback_days),
        emailing_window_days=float(emailing_window_days),
    )
    options = ProfileOptions(
        database_ids=_ids(database_ids, "database_ids"),
        collection_ids=_ids(collection_ids, "collection_ids"),
        detect_deletions=bool(detect_deletions),
        deletions=str(deletions),
        overlap_seconds=float(profile_overlap_seconds),
        max_deletion_share=float(max_deletion_share),
    )
    client = make_client(access_token, base_url, api_version, auth_url, settings.max_concurrency,
                         request_timeout, retry_max_seconds, max_answer_mb)
    if client.api_version == 1:  # the v1 pages have no emailing, event or statistics lists (v2 added them)
        settings = replace(settings, page_size=min(settings.page_size, 100))  # "at most 100 objects" per call
    account = Account(client, settings)
    if client.api_version == 1:
        log.warning("api_version 1 has no emailing or event lists: the engagement tables are not loaded "
                    "(set api_version = 4 to load them); structure, profiles and subprofiles are")
        chosen = []
    resources = [r for product in chosen for r in engagement_resources(account, product)]
    resources += structure_resources(account, options.database_ids, options.collection_ids)
    resources += profile_resources(account, options)
    if int(logfile_lookback_days) < 0:
        raise ConfigurationError(f"logfile_lookback_days must be 0 or more, not {logfile_lookback_days}")
    log_zone = str(logfile_timezone or timezone)
    time_zone(log_zone, "logfile_timezone")
    return resources + logfile_resources(account, chosen_log_tables(listed(logfiles)), int(logfile_lookback_days),
                                         log_zone)


def check_settings(*, products: Any = None, database_ids: Any = None, lookback_days: Any = None,
                   start_date: Any = None, end_date: Any = None, timezone: str = DEFAULT_TIMEZONE) -> None:
    """The source's checks of the settings people give per run, on their own: the command line makes them before
    anything starts (a bad flag value is a usage error there). Raises ConfigurationError naming the value."""
    time_zone(timezone)
    unknown = [str(p) for p in listed(products) if str(p) not in PRODUCTS]
    if unknown:
        raise ConfigurationError(f"products: unknown {unknown}; choose from {list(PRODUCTS)}")
    _ids(database_ids, "database_ids")
    if lookback_days is not None and not float(lookback_days) >= 0:
        raise ConfigurationError(f"lookback_days must be 0 or more days, not {lookback_days!r}")
    start = parse_moment(start_date, str(timezone), "start_date")
    end = parse_moment(end_date, str(timezone), "end_date")
    if start and end and end <= start:
        raise ConfigurationError(f"end_date ({end_date}) must be after start_date ({start_date}): the period is "
                                 "start_date up to, not including, end_date")


def _ids(value: Any, name: str) -> tuple[int, ...] | None:
    """IDs from config: a list, or "1,2" from an env var; None or empty means all."""
    items = listed(value)
    if not items:
        return None
    try:
        return tuple(int(str(v).strip()) for v in items if str(v).strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be a list of numeric IDs, not {value!r}") from None


__all__ = ["copernica_source", "make_client", "DltSource"]

"""`copernica_source(...)`: the dlt source, the package's face. Config lives in `[sources.copernica]`."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import dlt
from dlt.extract.source import DltSource

from copernica_source.account import Account, Settings, parse_moment
from copernica_source.client import DEFAULT_AUTH_URL, DEFAULT_BASE_URL
from copernica_source.engagement import engagement_resources
from copernica_source.errors import ConfigurationError
from copernica_source.profiles import ProfileOptions, profile_resources
from copernica_source.settings import listed, make_client
from copernica_source.structure import structure_resources
from copernica_source.tables import PRODUCTS

log = logging.getLogger("copernica_source")


@dlt.source(name="copernica", section="copernica", max_table_nesting=0)
def copernica_source(
    access_token: str = dlt.secrets.value,
    base_url: str = DEFAULT_BASE_URL,
    api_version: int = 4,
    auth_url: str = DEFAULT_AUTH_URL,
    start_date: Any = None,
    end_date: Any = None,
    timezone: str = "Europe/Amsterdam",
    page_size: int = 1000,
    max_concurrency: int = 8,
    products: Any = None,
    lookback_days: float = 3.0,
    emailing_window_days: float = 30.0,
    database_ids: Any = None,
    collection_ids: Any = None,
    detect_deletions: bool = True,
    deletions: str = "delete",
    profile_overlap_seconds: float = 60.0,
    max_deletion_share: float = 0.1,
    request_timeout: float = 60.0,
    retry_max_seconds: float = 300.0,
) -> Any:
    """Copernica emailings, statistics, destinations and engagement events, the account's structure, profiles
    and subprofiles: typed, incremental and merged on keys.

    `start_date`/`end_date` bound a backfill (with `end_date`, incremental state is left alone);
    `lookback_days` re-reads late events of draganddrop windows and destinations; `emailing_window_days`
    re-reads recent emailings and refreshes their statistics.
    `database_ids`/`collection_ids` limit the structure, profile and subprofile tables to those databases and
    collections (default: all). Profiles are read incrementally on `modified`, re-reading
    `profile_overlap_seconds` before the last cursor; `detect_deletions` reconciles IDs against
    `profileids`/`subprofileids` each run (Copernica does not bump `modified` on delete), and `deletions`
    says what happens to a deleted (sub)profile's row: "delete" removes it, "mark" keeps its ID with `deleted`
    true (its field values become null, as Copernica empties removed profiles). A run that would delete more
    than `max_deletion_share` of a table's rows deletes none of them and says so (set it to 1 to let them go).
    `retry_max_seconds` bounds the retries of one request through 429/5xx/dropped connections (then the run
    fails and the next run resumes); `request_timeout` bounds one attempt.
    """
    products = [str(p) for p in listed(products)] or list(PRODUCTS)
    unknown = [p for p in products if p not in PRODUCTS]
    if unknown:
        raise ConfigurationError(f"products: unknown {unknown}; choose from {list(PRODUCTS)}")
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
    if settings.start_date and settings.end_date and settings.end_date <= settings.start_date:
        raise ConfigurationError("end_date must be after start_date")
    options = ProfileOptions(
        database_ids=_ids(database_ids, "database_ids"),
        collection_ids=_ids(collection_ids, "collection_ids"),
        detect_deletions=bool(detect_deletions),
        deletions=str(deletions),
        overlap_seconds=float(profile_overlap_seconds),
        max_deletion_share=float(max_deletion_share),
    )
    client = make_client(access_token, base_url, api_version, auth_url, settings.max_concurrency,
                         request_timeout, retry_max_seconds)
    if client.api_version == 1:  # the v1 pages have no emailing, event or statistics lists (v2 added them)
        settings = replace(settings, page_size=min(settings.page_size, 100))  # "at most 100 objects" per call
    account = Account(client, settings)
    if client.api_version == 1:
        log.warning("api_version 1 has no emailing or event lists: the engagement tables are not loaded "
                    "(set api_version = 4 to load them); structure, profiles and subprofiles are")
        products = []
    resources = [r for product in products for r in engagement_resources(account, product)]
    resources += structure_resources(account, options.database_ids, options.collection_ids)
    return resources + profile_resources(account, options)


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

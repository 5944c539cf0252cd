"""Every table this source loads, declared once as data: name, path, key, cursor, columns.

Engagement tables exist for both mail products; `{p}` in a path is the product's prefix (`html`/`publisher`
or `draganddrop`/`ms`), found out per account at run time. Column lists follow Copernica's v4 pages
(publisher pages describe html rows, ms pages draganddrop rows); see ../shared/copernica-api.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from copernica_source.arrow_rows import Schema, cols

Product = Literal["html", "draganddrop"]
PRODUCTS: tuple[Product, ...] = get_args(Product)
PREFIXES = {"html": ("html", "publisher"), "draganddrop": ("draganddrop", "ms")}
EVENT_KINDS = ("clicks", "deliveries", "impressions", "errors", "unsubscribes", "abuses")


@dataclass(frozen=True)
class TableSpec:
    """One destination table. `cursor` names how it is read incrementally:

    - "id": account-wide list filtered `fields[]=id>N` (html events), keyset ranges
    - "window": account-wide list in `begintime`/`endtime` windows with a lookback (draganddrop events)
    - "date_window": `from`/`to` date windows with a lookback (destinations)
    - "emailings": `fromdate` with a rolling re-read window
    - "per_emailing": one object per emailing in the rolling window (statistics)
    """

    name: str
    path: str
    schema: Schema
    cursor: str
    primary_key: tuple[str, ...] = ("id",)
    cursor_column: str = "timestamp"
    description: str = ""


_HTML_EVENT_TAIL = "emailing:int destination:int profile:int subprofile:int"  # destination: the internal ID
_DD_EVENT_TAIL = "destination:int profile:int subprofile:int"

_EVENT_COLUMNS = {
    "html": {
        "clicks": ("ID:int link_id:int link:str link_title:str timestamp:ts ip:str useragent:str referer:str "
                   f"{_HTML_EVENT_TAIL}"),
        "deliveries": f"ID:int timestamp:ts attempt:int smtp-response:str {_HTML_EVENT_TAIL}",
        "impressions": f"ID:int timestamp:ts ip:str useragent:str device:str referer:str {_HTML_EVENT_TAIL}",
        "errors": ("ID:int timestamp:ts errorcode:str description:str errortype:str errortypedescription:str "
                   f"{_HTML_EVENT_TAIL}"),
        "unsubscribes": f"ID:int timestamp:ts source:str success:bool {_HTML_EVENT_TAIL}",
        "abuses": ("ID:int timestamp:ts recognized_as:str feedback_type:str arf_version:str details:str "
                   f"{_HTML_EVENT_TAIL}"),
    },
    "draganddrop": {
        "clicks": f"ID:int mailing:int link:str timestamp:ts ip:str useragent:str {_DD_EVENT_TAIL}",
        "deliveries": f"ID:int mailing:int timestamp:ts attempts:int {_DD_EVENT_TAIL}",
        "impressions": f"ID:int mailing:int timestamp:ts ip:str useragent:str device:str {_DD_EVENT_TAIL}",
        "errors": ("ID:int mailing:int timestamp:ts status:str errorcode:str description:str errortype:str "
                   f"{_DD_EVENT_TAIL}"),
        "unsubscribes": f"ID:int mailing:int timestamp:ts source:str success:bool {_DD_EVENT_TAIL}",
        "abuses": f"ID:int mailing:int timestamp:ts report:json {_DD_EVENT_TAIL}",
    },
}

_EVENT_ROWS = {
    "clicks": "a click on a link in an emailing",
    "deliveries": "a delivery attempt of an emailing to a destination",
    "impressions": "an open (the tracking pixel was loaded)",
    "errors": "a bounce or other delivery error",
    "unsubscribes": "an unsubscribe through an emailing",
    "abuses": "a spam complaint (feedback loop report)",
}

_EMAILING_COLUMNS = {
    "html": "id:int timestamp:ts document:int template:int subject:str description:str from_address.name:str "
    "from_address.email:str destinations:int testgroups:int finalgroup:int type:str clicks:int impressions:int "
    "errors:int unsubscribes:int abuses:int contenttype:str target.type:str target.sources:json",
    "draganddrop": "id:int timestamp:ts template:int subject:str from_address.name:str from_address.email:str "
    "destinations:int type:str target.type:str target.sources:json tags:json",
}

_STATISTICS_COLUMNS = (
    "emailing_id:int destinations:int deliveries.total:int errors.total:int errors.unique:int impressions.total:int "
    "impressions.unique:int clicks.total:int clicks.unique:int unsubscribes.total:int unsubscribes.unique:int "
    "abuses.total:int abuses.unique:int unknown.total:int retries.total:int retries.unique:int "
    "dominant_results.destinations:int dominant_results.errors:int dominant_results.abuses:int "
    "dominant_results.unsubscribes:int dominant_results.clicks:int dominant_results.impressions:int "
    "dominant_results.deliveries:int"
)

_DESTINATION_COLUMNS = {
    "html": "id:str timestampsent:ts internal:int profile:int subprofile:int mailing:int mailing-group:str",
    "draganddrop": "id:int messageID:str timestampsent:ts profile:int subprofile:int mailing:int unsubscribed:bool",
}


def engagement_tables(product: str) -> list[TableSpec]:
    """The nine engagement tables of one mail product, in load order."""
    tables = [
        TableSpec("emailings", "{p}/emailings", Schema(cols(_EMAILING_COLUMNS[product])), "emailings",
                  description="an emailing (mass or individual mailing)"),
        TableSpec("emailing_statistics", "{p}/emailing/{id}/statistics", Schema(cols(_STATISTICS_COLUMNS)),
                  "per_emailing", primary_key=("emailing_id",), cursor_column="",
                  description="totals of one emailing, refreshed while it is in the re-read window"),
        TableSpec("destinations", "{p}/destinations", Schema(cols(_DESTINATION_COLUMNS[product])), "date_window",
                  cursor_column="timestampsent", description="a recipient of an emailing"),
    ]
    event_cursor = "id" if product == "html" else "window"
    for kind in EVENT_KINDS:
        tables.append(TableSpec(kind, f"{{p}}/{kind}", Schema(cols(_EVENT_COLUMNS[product][kind])), event_cursor,
                                cursor_column="id" if event_cursor == "id" else "timestamp",
                                description=_EVENT_ROWS[kind]))
    return tables

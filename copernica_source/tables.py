"""Every table this source loads, declared once as data: name, path, parent, key, cursor, columns.

Engagement tables exist for both mail products; `{p}` in a path is the product's prefix (`html`/`publisher`
or `draganddrop`/`ms`), found out per account at run time. A path with `{id}` is read once per row of the
`parent` table (the statistics of each emailing, the fields of each database, the rules of each view...).
Profiles and subprofiles are declared as templates: a run makes one table of each per database / collection,
typed by that owner's field definitions. Column lists follow Copernica's v4 pages (publisher pages describe
html rows, ms pages draganddrop rows; rest-get-databases, rest-get-database-*, rest-get-view-*,
rest-get-collection-*, rest-get-miniview-*, rest-get-webhook); see ../shared/copernica-api.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from dlt.common.schema.typing import TColumnSchema, TTableReference

from copernica_source.arrow_rows import Column, ColumnKind, Schema, cols

Product = Literal["html", "draganddrop"]
PRODUCTS: tuple[Product, ...] = get_args(Product)
PREFIXES = {"html": ("html", "publisher"), "draganddrop": ("draganddrop", "ms")}
EVENT_KINDS = ("clicks", "deliveries", "impressions", "errors", "unsubscribes", "abuses")

Cursor = Literal["whole", "id", "window", "date_window", "emailings", "per_parent", "modified", "logfile"]
"""How a table is read each run (each kind has one builder in the module that reads it):

- "whole": the whole list every run, merged on the key; rows gone from Copernica deleted (structure, `structure.py`)
- "id": account-wide list filtered `fields[]=id>N` (html events), keyset ranges (`engagement.py`)
- "window": account-wide list in `begintime`/`endtime` windows with a lookback (draganddrop events)
- "date_window": `from`/`to` date windows with a lookback (destinations)
- "emailings": `fromdate` with a rolling re-read window
- "per_parent": one object per row its parent read this run (statistics of the emailings re-read)
- "modified": rows changed since the last run by `modified`, deletions found by reconciling IDs
  (profiles and subprofiles, `profiles.py`)
- "logfile": Copernica's daily logfiles, one download per day and type; days loaded are not fetched again except
  the most recent ones (`logfiles.py`)
"""
CURSORS: tuple[Cursor, ...] = get_args(Cursor)


@dataclass(frozen=True)
class TableSpec:
    """One destination table.

    `parent` names the table whose rows' IDs fill `{id}` in `path` ("" = account-wide); `parent_column` is the
    column that holds the parent's ID: filled from the request for lists whose rows lack it (a field's
    `database_id`, a statistics row's `emailing_id`), and the owner column of a profile table's deletion rows.
    `drop` names nested lists not kept (each has its own table); `embedded` says the rows are this key's list
    inside each row of `path` (a rule's `conditions`), not the rows themselves. `description` says what a row is;
    what a column holds, and which table's key it is, is declared with the column (`cols`: notes, `>table.column`);
    `dlt_hints` makes the dlt schema's descriptions and references of all three."""

    name: str
    path: str
    schema: Schema
    cursor: Cursor = "whole"
    parent: str = ""
    parent_column: str = ""
    primary_key: tuple[str, ...] = ("id",)
    cursor_column: str = ""
    drop: tuple[str, ...] = ()
    embedded: str = ""
    description: str = ""
    log_type: str = ""  # the logfile type (`pom-clicks`) a "logfile" table is read from
    merge_key: tuple[str, ...] = ()


# -- engagement ----------------------------------------------------------------------------------------------
# `>emailings.id` names a table of the same product (`html_emailings` for html rows): `dlt_hints(spec, "html_")`.

_HTML_EVENT_TAIL = "emailing:int>emailings.id destination:int>destinations.internal profile:int subprofile:int"
_DD_EVENT_TAIL = "destination:int>destinations.id profile:int subprofile:int"
_PROFILE = "the profile: an id in the profiles_<database> table of the database the emailing went to"
_SUBPROFILE = ("the subprofile, when the emailing went to a collection: an id in its "
               "subprofiles_<database>_<collection> table")
_EVENT_NOTES = {
    "html": {"id": "the event's ID in Copernica", "timestamp": "when it happened", "emailing": "the emailing",
             "destination": "the send (one recipient of the emailing), by its internal ID (not its id)",
             "profile": _PROFILE, "subprofile": _SUBPROFILE},
    "draganddrop": {"id": "the event's ID in Copernica", "timestamp": "when it happened",
                    "mailing": "the emailing", "destination": "the send (one recipient of the emailing)",
                    "profile": f"{_PROFILE}; empty on Copernica's account-wide lists: join "
                               "draganddrop_destinations on destination for it",
                    "subprofile": f"{_SUBPROFILE}; empty on the account-wide lists, as profile"},
}
_EVENT_KIND_NOTES = {
    "clicks": {"link": "the URL clicked"},
    "deliveries": {},
    "impressions": {},
    "errors": {"errortype": "the kind of bounce: nohost, unreachable, mailerror..."},
    "unsubscribes": {"source": "how: link (in the e-mail) or email (a reply)"},
    "abuses": {},
}

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
        "clicks": f"ID:int mailing:int>emailings.id link:str timestamp:ts ip:str useragent:str {_DD_EVENT_TAIL}",
        "deliveries": f"ID:int mailing:int>emailings.id timestamp:ts attempts:int {_DD_EVENT_TAIL}",
        "impressions": f"ID:int mailing:int>emailings.id timestamp:ts ip:str useragent:str device:str {_DD_EVENT_TAIL}",
        "errors": ("ID:int mailing:int>emailings.id timestamp:ts status:str errorcode:str description:str "
                   f"errortype:str {_DD_EVENT_TAIL}"),
        "unsubscribes": f"ID:int mailing:int>emailings.id timestamp:ts source:str success:bool {_DD_EVENT_TAIL}",
        "abuses": f"ID:int mailing:int>emailings.id timestamp:ts report:json {_DD_EVENT_TAIL}",
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
_EMAILING_NOTES = {"id": "the emailing's ID in Copernica", "timestamp": "when it was sent",
                   "destinations": "how many destinations (recipients) it was sent to",
                   "type": "mass or individual", "target__type": "what it was sent to: a database, collection, "
                   "selection (view) or miniview", "target__sources": "the databases/collections it was sent to"}

_STATISTICS_COLUMNS = (
    "emailing_id:int destinations:int deliveries.total:int errors.total:int errors.unique:int impressions.total:int "
    "impressions.unique:int clicks.total:int clicks.unique:int unsubscribes.total:int unsubscribes.unique:int "
    "abuses.total:int abuses.unique:int unknown.total:int retries.total:int retries.unique:int "
    "dominant_results.destinations:int dominant_results.errors:int dominant_results.abuses:int "
    "dominant_results.unsubscribes:int dominant_results.clicks:int dominant_results.impressions:int "
    "dominant_results.deliveries:int"
)
_STATISTICS_NOTES = {"emailing_id": "the emailing these totals are of (Copernica's answer has no such key: the "
                                    "ID the statistics were asked for)",
                     "impressions__unique": "how many destinations opened it at least once",
                     "clicks__unique": "how many destinations clicked at least once"}

_DESTINATION_COLUMNS = {
    "html": "id:str timestampsent:ts internal:int profile:int subprofile:int mailing:int>emailings.id "
            "mailing-group:str",
    "draganddrop": "id:int messageID:str timestampsent:ts profile:int subprofile:int mailing:int>emailings.id "
                   "unsubscribed:bool",
}
_DESTINATION_NOTES = {
    "html": {"id": "Copernica's hash of the destination", "internal": "the destination's internal ID: what the "
             "html events' destination column holds", "timestampsent": "when the emailing was sent to it",
             "profile": "the profile it was sent to: an id in profiles_<database>", "subprofile": _SUBPROFILE,
             "mailing": "the emailing"},
    "draganddrop": {"id": "the destination's ID: what the draganddrop events' destination column holds",
                    "message_id": "the Message-ID header of the e-mail sent",
                    "timestampsent": "when the emailing was sent to it",
                    "profile": "the profile it was sent to: an id in profiles_<database>",
                    "subprofile": _SUBPROFILE, "mailing": "the emailing",
                    "unsubscribed": "whether this recipient unsubscribed through it"},
}


def engagement_tables(product: str) -> list[TableSpec]:
    """The nine engagement tables of one mail product, in load order."""
    tables = [
        TableSpec("emailings", "{p}/emailings", Schema(cols(_EMAILING_COLUMNS[product], _EMAILING_NOTES)),
                  "emailings", cursor_column="timestamp", description="an emailing (mass or individual mailing)"),
        TableSpec("emailing_statistics", "{p}/emailing/{id}/statistics",
                  Schema(cols(_STATISTICS_COLUMNS, _STATISTICS_NOTES)), "per_parent", parent="emailings",
                  parent_column="emailing_id", primary_key=("emailing_id",),
                  description="totals of one emailing, refreshed while it is in the re-read window"),
        TableSpec("destinations", "{p}/destinations",
                  Schema(cols(_DESTINATION_COLUMNS[product], _DESTINATION_NOTES[product])), "date_window",
                  cursor_column="timestampsent", description="a recipient of an emailing (one send)"),
    ]
    event_cursor: Cursor = "id" if product == "html" else "window"
    for kind in EVENT_KINDS:
        notes = _EVENT_NOTES[product] | _EVENT_KIND_NOTES[kind]
        tables.append(TableSpec(kind, f"{{p}}/{kind}", Schema(cols(_EVENT_COLUMNS[product][kind], notes)),
                                event_cursor, cursor_column="id" if event_cursor == "id" else "timestamp",
                                description=_EVENT_ROWS[kind]))
    return tables


# -- structure -----------------------------------------------------------------------------------------------
# Embedded sub-lists (a database's `fields`, a rule's `conditions`) are not kept in their parent's table: each
# has its own.

_INTENTIONS = "intentions.email:bool intentions.sms:bool intentions.fax:bool intentions.pdf:bool"
_FIELD = ("ID:int name:str type:str value:str displayed:bool ordered:bool length:int textlines:int hidden:bool "
          "index:bool")
_FIELD_NOTES = {"type": "Copernica's field type; it decides the column's type in the profile or subprofile table",
                "value": "the default value"}
_VIEW = ("ID:int name:str description:str parent-type:str parent-id:int has-children:bool has-referred:bool "
         f"has-rules:bool database:int>databases.id last-built:ts {_INTENTIONS}")
_VIEW_NOTES = {"parent_type": "what the selection is in: a database, or another selection (view)",
               "parent_id": "the ID of that database (databases.id) or selection (views.id)",
               "database": "the database it selects profiles of", "last_built": "when Copernica last built it"}
_MINIVIEW = (f"ID:int name:str description:str parent-type:str parent-id:int collection:int>collections.id "
             f"last-built:ts {_INTENTIONS}")
_MINIVIEW_NOTES = {"parent_type": "what the miniview is in: a collection, or another miniview",
                   "parent_id": "the ID of that collection (collections.id) or miniview (miniviews.id)",
                   "collection": "the collection it selects subprofiles of",
                   "last_built": "when Copernica last built it"}
_RULE = "ID:int name:str view:int>{views}.id inversed:bool inverted:bool disabled:bool"  # pages name it both ways
_RULE_NOTES = {"inversed": "whether the rule selects what does not match (the pages call it inversed or inverted)",
               "inverted": "as inversed (the pages use both names)"}
_CONDITION = ("ID:int type:str rule:int>{rules}.id comparison:str field.ID:int>{fields}.id field.name:str value:str "
              "other-field:bool numeric-comparison:bool")
_CONDITION_NOTES = {"type": "what the condition tests (field, interest, date...); keys of other types are kept as "
                            "text columns", "field__id": "the field the condition tests"}

STRUCTURE_TABLES: tuple[TableSpec, ...] = (
    TableSpec("databases", "databases",
              Schema(cols(f"ID:int name:str description:str archived:bool created:ts {_INTENTIONS}",
                          {"name": "its name, which names its table profiles_<name> (snake_case)"})),
              drop=("fields", "interests", "collections"), description="a database (of profiles)"),
    TableSpec("database_fields", "database/{id}/fields", Schema(cols(f"{_FIELD} database_id:int", _FIELD_NOTES)),
              parent="databases", parent_column="database_id", description="a field of a database, with its type"),
    TableSpec("database_interests", "database/{id}/interests",
              Schema(cols("ID:int name:str group:str database_id:int",
                          {"name": "the interest, a boolean column interests__<name> of profiles_<database>"})),
              parent="databases", parent_column="database_id",
              description="an interest profiles of a database can have"),
    TableSpec("collections", "database/{id}/collections",
              Schema(cols(f"ID:int name:str database:int>databases.id {_INTENTIONS}",
                          {"database": "the database its subprofiles' profiles are in"})),
              parent="databases", drop=("fields",), description="a collection (of subprofiles) in a database"),
    TableSpec("collection_fields", "collection/{id}/fields", Schema(cols(f"{_FIELD} collection_id:int", _FIELD_NOTES)),
              parent="collections", parent_column="collection_id",
              description="a field of a collection, with its type"),
    TableSpec("views", "database/{id}/views", Schema(cols(_VIEW, _VIEW_NOTES)), parent="databases",
              description="a selection (view) of a database; nested selections included"),
    TableSpec("view_rules", "view/{id}/rules", Schema(cols(_RULE.format(views="views"), _RULE_NOTES)),
              parent="views", drop=("conditions",), description="a rule of a selection"),
    # conditions come embedded in the rules: `rule/$id/conditions` is a v1 method only (docs/assumptions.md)
    TableSpec("view_rule_conditions", "view/{id}/rules",
              Schema(cols(_CONDITION.format(rules="view_rules", fields="database_fields"), _CONDITION_NOTES)),
              parent="views", embedded="conditions",
              description="a condition of a selection rule (type-specific keys kept as text)"),
    TableSpec("miniviews", "collection/{id}/miniviews", Schema(cols(_MINIVIEW, _MINIVIEW_NOTES)),
              parent="collections", description="a mini selection (miniview) of a collection"),
    TableSpec("miniview_rules", "miniview/{id}/rules", Schema(cols(_RULE.format(views="miniviews"), _RULE_NOTES)),
              parent="miniviews", drop=("conditions",), description="a rule (minirule) of a miniview"),
    TableSpec("miniview_rule_conditions", "miniview/{id}/rules",
              Schema(cols(_CONDITION.format(rules="miniview_rules", fields="collection_fields"), _CONDITION_NOTES)),
              parent="miniviews", embedded="conditions", description="a condition of a minirule"),
    TableSpec("webhooks", "webhooks", Schema(cols("ID:int handler:str trigger:str callers:json",
                                                  {"handler": "the URL Copernica calls",
                                                   "trigger": "what makes Copernica call it"})),
              description="a webhook Copernica calls on profile changes (no page documents `GET webhooks`: an account "
                          "that does not answer it gets no table, and a warning on the first run)"),
)


# -- profiles and subprofiles --------------------------------------------------------------------------------
# Templates: a run makes one table per database (`profiles_<database>`) and per collection
# (`subprofiles_<database>_<collection>`), named, pathed and typed for that owner (profiles.py:owners).

_PERSON_NOTES = {"secret": "Copernica's secret code of it (for links that identify it)",
                 "created": "when it was created", "modified": "when it last changed (the incremental cursor)",
                 "removed": "when Copernica removed it"}
PROFILES = TableSpec(
    "profiles", "database/{id}/profiles",
    Schema(cols("ID:int database:int secret:str created:ts modified:ts removed:ts",
                {"id": "the profile's ID in Copernica", "database": "the database it is in", **_PERSON_NOTES})),
    "modified", parent="databases", parent_column="database", cursor_column="modified",
    description="a profile of a database (its fields typed, its interests as booleans)",
)
SUBPROFILES = TableSpec(
    "subprofiles", "collection/{id}/subprofiles",
    Schema(cols("ID:int profile:int collection:int secret:str created:ts modified:ts removed:ts",
                {"id": "the subprofile's ID in Copernica",
                 "profile": "the profile it belongs to, in the profile table of the collection's database",
                 "collection": "the collection it is in", **_PERSON_NOTES})),
    "modified", parent="collections", parent_column="collection", cursor_column="modified",
    description="a subprofile of a collection (its fields typed)",
)
DELETED_NOTE = ("true: Copernica no longer has it (deletions = \"mark\" keeps the row with its other values empty); "
                "with deletions = \"delete\" the row is removed instead and this stays empty")


def field_note(name: str, field_type: str) -> str:
    """What a profile or subprofile column made from a field holds."""
    return f"the field {name!r} (Copernica type: {field_type or 'unknown'})"


def interest_note(name: str) -> str:
    return f"the interest {name!r}: true when the profile has it"


# Copernica field types -> column kinds of the typed profile and subprofile tables; anything else is text.
FIELD_KINDS: dict[str, ColumnKind] = {
    "integer": "int",
    "foreign_key": "int",
    "float": "float",
    "date": "date",
    "empty_date": "date",
    "datetime": "ts",
    "empty_datetime": "ts",
}


# -- daily logfiles ------------------------------------------------------------------------------------------
# One table per logfile type (rest-get-logfiles-names.md), opt-in. `fields` are the page's field names in the
# page's order ("in the respective order": the CSV columns when the file has no header row); every ID is an
# integer but `id` (a message ID) and `groupid`/`linkinfo` (the pages give no type: kept as text, nothing lost).
# Rows have no ID of their own: `log_file` + `log_line` (the data row's number in its file) is the key, and a
# re-read file replaces its rows (merge key `log_file`), see logfiles.py and docs/assumptions.md (A53-A56).

_LOG_KINDS = {"id": "str", "time": "ts", "attempts": "int", "attempt": "int", "response": "int"}
_LOG_INTS = {"mailingid", "profileid", "subprofileid", "databaseid", "collectionid", "templateid", "documentid",
             "profile", "subprofile", "template", "document"}
LOG_COLUMNS = "log_file:str log_line:int log_date:date"
"""Columns the loader adds to every log row: the file it came from, its data row number there (1 = the first row
after any header) and the day the file is about (from its name; null when the name holds no date)."""
_LOG_COLUMN_NAMES = frozenset(c.partition(":")[0] for c in LOG_COLUMNS.split())
_LOG_NOTES = {"id": "the message ID of the e-mail", "time": "when it happened (the logfile's local time is read in the "
              "logfile_timezone setting, by default timezone)", "log_file": "the logfile the row was read from",
              "log_line": "the row's number among its file's data rows (1 = the first after any header)",
              "log_date": "the day the file is about, from its name (empty when the name holds no date)"}

_TAIL_POM = "email tags senderdomain groupid profile subprofile template document"
_TAIL_CDM = "email tags senderdomain profile subprofile template"
_GEO = "ip header email tags countrycode countryname regioncode city"
_LOG_FIELDS: dict[str, tuple[str, str, str]] = {
    # log type -> (table, the page's fields in order, what a row is)
    "pom-attempts": ("html_log_attempts", "id time groupid mailingid profileid subprofileid databaseid collectionid "
                     "senderdomain templateid documentid tags email", "a send attempt of a Publisher mail"),
    "pom-abuses": ("html_log_abuses", f"id time mail {_TAIL_POM}", "a spam complaint about a Publisher mail"),
    "pom-clicks": ("html_log_clicks", f"id time {_GEO} linkinfo senderdomain groupid profile subprofile template "
                   "document", "a click in a Publisher mail, with the clicker's country, region and city"),
    "pom-clicks-old": ("html_log_clicks_old", f"id time {_GEO} senderdomain groupid profile subprofile template "
                       "document", "a click in a Publisher mail tracked by the old link tracking system"),
    "pom-deliveries": ("html_log_deliveries", f"id time attempts {_TAIL_POM}", "a delivered Publisher mail"),
    "pom-errors": ("html_log_errors", f"id time type status description code content {_TAIL_POM}",
                   "an error (bounce) of a Publisher mail"),
    "pom-impressions": ("html_log_impressions", "id time ip header email tags countrycode countryname regioncode "
                        "city senderdomain groupid profile subprofile template document",
                        "an open of a Publisher mail, with the opener's country, region and city"),
    "pom-retries": ("html_log_retries", f"id time attempts {_TAIL_POM}", "a retried delivery of a Publisher mail"),
    "pom-unsubscribes": ("html_log_unsubscribes", f"id time {_TAIL_POM}", "an unsubscribe through a Publisher mail"),
    "cdm-attempts": ("draganddrop_log_attempts", "id time mailingid profileid subprofileid databaseid collectionid "
                     "senderdomain templateid tags email", "a send attempt of a Marketing Suite mail"),
    "cdm-abuse": ("draganddrop_log_abuses", f"id time mail {_TAIL_CDM}",
                  "a spam complaint about a Marketing Suite mail"),
    "cdm-click": ("draganddrop_log_clicks", "id senderdomain time linkinfo ip header email tags countrycode "
                  "countryname regioncode city profile subprofile template",
                  "a click in a Marketing Suite mail, with the clicker's country, region and city"),
    "cdm-delivery": ("draganddrop_log_deliveries", f"id time attempts {_TAIL_CDM}", "a delivered Marketing Suite mail"),
    "cdm-error": ("draganddrop_log_errors", f"id time type status description code {_TAIL_CDM}",
                  "an error (bounce) of a Marketing Suite mail"),
    "cdm-impression": ("draganddrop_log_impressions", "id time ip header email tags countrycode countryname "
                       "regioncode city senderdomain profile subprofile template",
                       "an open of a Marketing Suite mail, with the opener's country, region and city"),
    "cdm-retry": ("draganddrop_log_retries", f"id time attempt {_TAIL_CDM}",
                  "a retried delivery of a Marketing Suite mail"),
    "cdm-unsubscribe": ("draganddrop_log_unsubscribes", f"id time {_TAIL_CDM}",
                        "an unsubscribe through a Marketing Suite mail"),
    "feedback-loop-errors": ("webhook_log_errors", "time response recipient header",
                             "a failed call of a webhook (feedback loop)"),
}


def _log_kind(field: str) -> str:
    return _LOG_KINDS.get(field) or ("int" if field in _LOG_INTS else "str")


def log_fields(log_type: str) -> tuple[str, ...]:
    """The fields of a logfile type, in the page's order."""
    return tuple(_LOG_FIELDS[log_type][1].split())


LOG_TABLES: tuple[TableSpec, ...] = tuple(
    TableSpec(table, f"logfiles?type={log_type}",
              Schema(cols(" ".join(f"{f}:{_log_kind(f)}" for f in fields.split()) + " " + LOG_COLUMNS,
                          {k: v for k, v in _LOG_NOTES.items() if k in {*fields.split(), *_LOG_COLUMN_NAMES}})),
              "logfile", primary_key=("log_file", "log_line"), cursor_column="log_date", log_type=log_type,
              merge_key=("log_file",), description=f"{what} (logfile type `{log_type}`)")
    for log_type, (table, fields, what) in _LOG_FIELDS.items()
)
"""The log tables, in the order of rest-get-logfiles-names.md's table (Publisher, Marketing Suite, webhooks)."""
LOG_TYPES: tuple[str, ...] = tuple(spec.log_type for spec in LOG_TABLES)


# -- the dlt schema's descriptions and references ------------------------------------------------------------

KEY_NOTE = "primary key: loads merge rows on it"
TIME_NOTE = "a UTC instant (Copernica's zone-less local time, converted)"
JSON_NOTE = "JSON text: the nested list or object as Copernica sent it"


def references(spec: TableSpec, prefix: str = "") -> list[TTableReference]:
    """The tables this one's columns hold keys of: its parent's (`parent_column` -> the parent's `id`) and every
    `>table.column` of its columns. `prefix` makes the table names of a product's family (`html_`)."""
    found: dict[str, tuple[str, str]] = {}
    if spec.parent and spec.parent_column:
        found[spec.parent_column] = (spec.parent, "id")
    for column in spec.schema.columns:
        if column.refers_to:
            table, _, key = column.refers_to.partition(".")
            found[column.name] = (table, key)
    out: list[TTableReference] = []
    for column_name, (table, key) in found.items():
        out.append({"columns": [column_name], "referenced_table": _named(table, prefix),
                    "referenced_columns": [key], "cardinality": "many_to_one"})
    return out


def column_description(spec: TableSpec, column: Column, prefix: str = "") -> str:
    """What the column holds: its note, and what its name cannot say (key, the table its value is the key of,
    time and JSON columns)."""
    parts = [column.note]
    if column.name in spec.primary_key:
        parts.append(KEY_NOTE)
    target = next((r for r in references(spec, prefix) if r["columns"] == [column.name]), None)
    if target is not None:
        parts.append(f"refers to {target['referenced_table']}.{target['referenced_columns'][0]}")
    parts.append({"ts": TIME_NOTE, "json": JSON_NOTE}.get(column.kind, ""))
    return "; ".join(p for p in parts if p)


def dlt_hints(spec: TableSpec, prefix: str = "") -> dict[str, Any]:
    """The spec's table hints for dlt: `columns` typed and described, `references`, and `description` (for
    `additional_table_hints`, since `dlt.resource` takes no description)."""
    columns: dict[str, TColumnSchema] = spec.schema.dlt_columns()
    for column in spec.schema.columns:
        text = column_description(spec, column, prefix)
        if text:
            columns[column.name]["description"] = text
    return {"columns": columns, "references": references(spec, prefix), "description": spec.description}


def _named(table: str, prefix: str) -> str:
    """A reference's table name: one of the product family's own gets the product's prefix."""
    return f"{prefix}{table}" if prefix and table in _FAMILY else table


_FAMILY = frozenset(spec.name for spec in engagement_tables("html"))

"""Switches for the open questions of Copernica's API pages (BEHAVIOUR.md section 9).

Where the pages are silent or disagree, the simulator can serve each reading, so the connector's
tests can run under all of them. A spec is a profile name, optionally followed by comma-separated
`name=value` overrides, or overrides alone (on top of `literal`): "strict", "literal,emailings_order=desc",
"ids_paging=whole". Profiles: `literal` (default: the pages read most literally), `lenient` (the
simulator before the switches existed: every forgiving reading), `strict` (the hostile readings).

Switches (readings; literal / lenient / strict; sources):

- ids_paging: whole | paged | first_page; paged / whole / first_page. `database/$id/profileids`,
  `collection/$id/subprofileids` (and the view/miniview ones): one bare array of every ID (v1 page and
  Dutch v4 page: no parameters), a bare array paged by start/limit like lists (English v2-v4 pages: "only
  supports paging parameters"; paging page: 100 by default, Dutch paging page: at most 1000), or limit
  honoured but start ignored. Section 9.1.
- html_id_filter: all | documented | none; documented / all / none. `fields[]` on html event lists:
  every list honours `id`; only deliveries and impressions do (clicks, errors, unsubscribes, abuses pages:
  "for the timestamp field"); no list does. Under documented/none, selectors on other fields are
  ignored too (rmuit: unsupported filters are silently ignored). Section 9.2.
- emailings_order: asc | desc; asc / asc / desc. `{p}/emailings` oldest or newest first (no page
  states an order; rmuit assumes ascending). Section 9.5.
- undocumented_gets: present | absent; absent / present / absent. `GET webhooks` (in no version) and
  `GET rule|minirule/$id/conditions` (v1 only; kept on v1) answer 400 "Invalid method" when absent
  (rmuit: unknown paths). Section 9.3.
- put_location: create | always; always / create / always. `X-location` on the list PUTs
  (`database/$id/profiles`, `profile/$id/subprofiles/$c`, `collection/$id/subprofiles`) only when they
  created, or also on updates (introduction/requests pages: sent on PUTs that "create or update
  profiles"). `PUT profile/$id` sends it in both. Section 9.6.
- put_status: v4 | 303; v4 / v4 / 303. PUTs on (sub)profiles answer 204 (201 on create, v4 pages)
  or 303 See Other + `Location` (rmuit, v2; a create adds `X-Created`). Section 9.6.
- errors: generic | entity; entity / generic / entity. Not-found messages: "No entity with supplied
  ID" everywhere, or per entity as rmuit's live tests saw ("No database with supplied ID", "No collection
  with given ID", "No subprofile with supplied ID"). Status 400 in both. Section 9.7.
- expired_jwt: 400 | 401; 400 / 400 / 401. A v4 request whose Bearer JWT is expired, unknown or
  missing: 400 "Invalid access token" (rmuit: every error is 400) or 401 "Unauthorized" (not documented;
  a 2026 PHP client maps 401/403 to an authentication error). Section 9.7.
- window_bounds: inclusive | exclusive; inclusive / inclusive / exclusive. begintime/endtime,
  from/to (whole days) and fromdate/todate: both ends included (rmuit: fromdate acts as >=) or both
  excluded (ms event pages: "after which" / "before which"). No page settles it.
- unpaged_limit: honoured | ignored; honoured / honoured / ignored. draganddrop account-wide event
  lists and both `{p}/destinations` (their pages show no paging): start/limit as every list, or limit
  ignored (100 rows a page, envelope says limit 100; start honoured). Section 9.12.
- total: honoured | always | never; honoured / honoured / never. `total` in list answers unless
  total=false (paging page), regardless of total=false, or never (the pages of 9.12 show no total).
- datarequest_post_body: json | empty | text; empty / json / text. 201 body of POST
  `profile|subprofile|email/.../datarequest`: `{"id": ...}`, empty (the pages document empty POST bodies),
  or the text `OK` labelled JSON. `X-Created` in all. Section 9.13.
- v1_engagement: present | absent; absent / present / absent. `/v1/` emailing, event and statistics
  paths (v1 pages list none; `publisher/` and `ms/` appear from v2). Section 9.10.
- modified_field: absent | present; absent / absent / present. Database 1 gets a real text field
  `modified`; `fields[]=modified...` then filters on it while `orderby=modified` and the row's
  `modified` stay the system property (rmuit, BatchableRestClient). Section 9.4.
- database_views: top | all; top / top / all. `database/$id/views` lists only the database's own
  selections (nested ones under `view/$id/views`), or every selection of the database, nested ones too
  (rest-get-database-views and rest-get-view-views do not say which).
- logfile_csv_header: none | present; none / present / present. `logfile/$name/csv` without a header row (the
  CSV page: the URL is "for a CSV file without header") or with a first row of the column names (the same page's
  "Returned value": "A CSV file with optionally a header row").
- logfile_time_zone: local | utc; local / local / utc. Which calendar day a daily log file covers and the zone
  of its `time` column: the account's zone (`timezone` setting, Europe/Amsterdam) or UTC (the v1 event calls
  treat dates as UTC). No logfile page names a zone.
- logfile_json_keys: fields | example; fields / fields / example. Keys of the JSON and XML files: the field names
  the type's page lists (`profile`, `template`...), or the `...id` names of the JSON/XML pages' example
  (`profileid`, `subprofileid`, `templateid`, `documentid`). The example is a cdm-attempts record, whose page
  itself uses the `...id` names.
- logfile_split: one | parts; one / one / parts. One file per day and type, or a big day split into parts of
  `logfile_part_rows` rows (SimulatorConfig): `<type>.<date>.log`, then `<type>.<date>.log.1`, `.log.2`...
  (the pages show one name per day and say nothing of size).
- logfile_dates_order: asc | desc; asc / asc / desc. Order of `GET logfiles` (dates), and of the days in a
  `logfiles?type=` list (no page states an order).
- logfile_csv_quoting: minimal | all; minimal / minimal / all. CSV fields quoted only when they hold a comma, a
  quote or a line break (RFC 4180), or every field quoted (empty ones as `""`). The CSV page shows a table only.
- logfile_clicks_old: absent | present; absent / absent / present. `pom-clicks-old` has a page and is linked
  from every logfile page, but the names page's table of types leaves it out: no such files, or a
  `pom-clicks-old` file beside each `pom-clicks` file with the same clicks in the old layout (no `linkinfo`).
- logfile_type_listing: names | dates; names / names / dates. `logfiles?type=T` without a date: the names of
  every file of T (the names page: "You can also add `$type`"), or the dates, as when neither is given (the page
  shows `type` beside `date` only).

Ground truth (`dataset.rows()`/`count()`) applies the quirks that decide which rows a list holds and in which
order (html_id_filter, emailings_order, window_bounds, undocumented_gets, modified_field, errors) and ignores
the paging ones (ids_paging, unpaged_limit, total: it always holds the whole list) and v1_engagement (it asks as
v4). Envelopes embedded in a database or collection (its fields, interests, collections) keep their `total`.
The log file ground truth (`dataset.logfile_rows()`/`logfile_count()`/`logfile_counts()`) applies the quirks that
decide which rows a day holds and their `time` (logfile_time_zone, logfile_clicks_old), concatenates the parts
(logfile_split) and ignores the file formats (csv header and quoting, json keys): rows are dicts keyed by the
page's field names.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

SWITCHES: dict[str, tuple[str, ...]] = {
    "ids_paging": ("whole", "paged", "first_page"),
    "html_id_filter": ("all", "documented", "none"),
    "emailings_order": ("asc", "desc"),
    "undocumented_gets": ("present", "absent"),
    "put_location": ("create", "always"),
    "put_status": ("v4", "303"),
    "errors": ("generic", "entity"),
    "expired_jwt": ("400", "401"),
    "window_bounds": ("inclusive", "exclusive"),
    "unpaged_limit": ("honoured", "ignored"),
    "total": ("honoured", "always", "never"),
    "datarequest_post_body": ("json", "empty", "text"),
    "v1_engagement": ("present", "absent"),
    "modified_field": ("absent", "present"),
    "database_views": ("top", "all"),
    "logfile_csv_header": ("none", "present"),
    "logfile_time_zone": ("local", "utc"),
    "logfile_json_keys": ("fields", "example"),
    "logfile_split": ("one", "parts"),
    "logfile_dates_order": ("asc", "desc"),
    "logfile_csv_quoting": ("minimal", "all"),
    "logfile_clicks_old": ("absent", "present"),
    "logfile_type_listing": ("names", "dates"),
}


@dataclass(frozen=True)
class Quirks:
    """One reading per open question; the defaults are the `literal` profile."""

    ids_paging: str = "paged"
    html_id_filter: str = "documented"
    emailings_order: str = "asc"
    undocumented_gets: str = "absent"
    put_location: str = "always"
    put_status: str = "v4"
    errors: str = "entity"
    expired_jwt: str = "400"
    window_bounds: str = "inclusive"
    unpaged_limit: str = "honoured"
    total: str = "honoured"
    datarequest_post_body: str = "empty"
    v1_engagement: str = "absent"
    modified_field: str = "absent"
    database_views: str = "top"
    logfile_csv_header: str = "none"
    logfile_time_zone: str = "local"
    logfile_json_keys: str = "fields"
    logfile_split: str = "one"
    logfile_dates_order: str = "asc"
    logfile_csv_quoting: str = "minimal"
    logfile_clicks_old: str = "absent"
    logfile_type_listing: str = "names"

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value not in SWITCHES[f.name]:
                raise ValueError(f"quirk {f.name} cannot be {value!r}; valid: {', '.join(SWITCHES[f.name])}")

    def spec(self) -> str:
        """The shortest spec that parses back to these quirks (a profile plus overrides)."""
        best = ""
        for name, base in PROFILES.items():
            diff = [f"{f.name}={getattr(self, f.name)}" for f in fields(self)
                    if getattr(self, f.name) != getattr(base, f.name)]
            candidate = ",".join([name] + diff)
            if not best or len(candidate) < len(best):
                best = candidate
        return best


PROFILES: dict[str, Quirks] = {
    "literal": Quirks(),
    "lenient": Quirks(ids_paging="whole", html_id_filter="all", emailings_order="asc", undocumented_gets="present",
                      put_location="create", put_status="v4", errors="generic", expired_jwt="400",
                      window_bounds="inclusive", unpaged_limit="honoured", total="honoured",
                      datarequest_post_body="json", v1_engagement="present", modified_field="absent",
                      database_views="top", logfile_csv_header="present", logfile_time_zone="local",
                      logfile_json_keys="fields", logfile_split="one", logfile_dates_order="asc",
                      logfile_csv_quoting="minimal", logfile_clicks_old="absent",
                      logfile_type_listing="names"),
    "strict": Quirks(ids_paging="first_page", html_id_filter="none", emailings_order="desc", undocumented_gets="absent",
                     put_location="always", put_status="303", errors="entity", expired_jwt="401",
                     window_bounds="exclusive", unpaged_limit="ignored", total="never",
                     datarequest_post_body="text", v1_engagement="absent", modified_field="present",
                     database_views="all", logfile_csv_header="present", logfile_time_zone="utc",
                     logfile_json_keys="example", logfile_split="parts", logfile_dates_order="desc",
                     logfile_csv_quoting="all", logfile_clicks_old="present",
                     logfile_type_listing="dates"),
}


@lru_cache(maxsize=64)
def parse_quirks(spec: str) -> Quirks:
    """`profile[,name=value...]` or `name=value[,...]` (on top of literal); ValueError names the valid choices."""
    parts = [p.strip() for p in str(spec).split(",") if p.strip()]
    base = PROFILES["literal"]
    if parts and "=" not in parts[0]:
        name = parts.pop(0)
        if name not in PROFILES:
            raise ValueError(f"unknown quirks profile {name!r}; valid: {', '.join(PROFILES)} "
                             f"(or name=value with a switch of: {', '.join(SWITCHES)})")
        base = PROFILES[name]
    values = {f.name: getattr(base, f.name) for f in fields(Quirks)}
    for part in parts:
        name, sep, value = (s.strip() for s in part.partition("="))
        if not sep:
            raise ValueError(f"quirks: {part!r} is not name=value (a profile name comes first; profiles: "
                             f"{', '.join(PROFILES)})")
        if name not in SWITCHES:
            raise ValueError(f"unknown quirk {name!r}; valid: {', '.join(SWITCHES)}")
        values[name] = value
    return Quirks(**values)


def describe() -> str:
    """One line per switch (values, then literal/lenient/strict), for --help."""
    lines = [f"profiles: {', '.join(PROFILES)} (default literal); switches (values; literal/lenient/strict):"]
    for name, values in SWITCHES.items():
        readings = "/".join(getattr(p, name) for p in PROFILES.values())
        lines.append(f"  {name}={'|'.join(values)} ({readings})")
    return "\n".join(lines)

"""What `copernica check` asks a live account: does the token work, which path prefixes answer, and how does the
account answer the questions Copernica's pages leave open (BEHAVIOUR.md section 9)? Each answer comes with what
the connector does about it, so a user can paste the list into a bug report and a maintainer can read both.

Read-only (GETs, plus the v4 JWT exchange) and cheap: a few dozen small requests. No printing here: the command
renders the findings.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx

from copernica_source.client import INVALID_TOKEN, CopernicaClient
from copernica_source.errors import (
    AuthenticationError,
    CopernicaAPIError,
    NotFoundError,
    TransientError,
    exception_text,
)
from copernica_source.probes import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    IdListPaging,
    echoed_limit,
    event_cursor,
    id_list_paging,
    invalid_jwt_answer,
    method_answered,
    not_found_answer,
    rows_of,
    shadowing_fields,
    time_order,
    total_of,
    window_includes,
)
from copernica_source.settings import DEFAULT_TIMEZONE
from copernica_source.tables import EVENT_KINDS, PREFIXES, PRODUCTS

Status = Literal["ok", "note", "warn", "fail"]
OK: Status = "ok"
NOTE: Status = "note"
WARN: Status = "warn"
FAIL: Status = "fail"
STATUSES: tuple[Status, ...] = (OK, NOTE, WARN, FAIL)
ACCOUNT = "account"  # the question of the identity check; prefixes are "<product> prefix"
CONNECTION = "connection"  # the question of a failure that ended the checks midway
MAX_DATABASES = 20
NO_CONNECTION = "nothing can be loaded until this is fixed"


@dataclass(frozen=True)
class Finding:
    """One answer of the account. `status`: ok (the reading the connector expects), note (another reading it
    handles), warn (a reading that costs completeness or speed), fail (the account cannot be loaded).
    `value` is the answer in short, stable form for machines (e.g. "id", "whole", "oldest first")."""

    question: str
    status: Status
    found: str
    action: str
    value: str | None = None


@dataclass
class _Seen:
    """Answers one check fetched that a later one reads too, so each is asked once."""

    prefixes: dict[str, str] = field(default_factory=dict)
    emailings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    databases: list[dict[str, Any]] | None = None
    databases_total: int | None = None
    dd_event: tuple[str, str] | None = None  # (path, timestamp) of one draganddrop event
    jwt_answer: tuple[int, str] | None = None  # (status, message) for a bearer that is not a JWT


def about(client: CopernicaClient, timezone: str) -> dict[str, str]:
    """What a bug report needs before any answer: versions, hosts and the time zone setting (never a secret)."""
    out = {
        "version": _package_version(),
        "api_version": str(client.api_version),
        "host": _host(client.base_url),
    }
    if client.api_version == 4:
        out["auth_host"] = _host(client.auth_url)
    out["timezone"] = timezone
    return out


def run_checks(
    client: CopernicaClient,
    timezone: str = DEFAULT_TIMEZONE,
    products: Sequence[str] = PRODUCTS,
    max_databases: int = MAX_DATABASES,
) -> list[Finding]:
    """Every check that applies to this account, in the order a reader needs them. Stops at the first answer that
    makes the account unreachable (token rejected, host down, Copernica not answering)."""
    findings: list[Finding] = []
    seen = _Seen()
    try:
        seen.jwt_answer = invalid_jwt_answer(client.base_url, client.api_version)
    except httpx.ConnectError as exc:  # refused or no such host: say so now, not after minutes of retries
        return [Finding(ACCOUNT, FAIL, f"cannot connect to {_host(client.base_url)} ({exception_text(exc)}): check "
                        "base_url in [sources.copernica] (or SOURCES__COPERNICA__BASE_URL) and the network",
                        NO_CONNECTION)]
    except httpx.HTTPError:
        pass  # slow or dropped: the client's retries will tell
    try:
        findings.append(check_identity(client))
        if findings[-1].status == FAIL:
            return findings
        engagement = client.api_version != 1
        if not engagement:
            findings.append(Finding(
                "api_version 1", NOTE, "api_version 1: the v1 pages have no emailing or event lists",
                "engagement tables are skipped; use api_version 4"))
        for product in products if engagement else ():
            findings.append(check_prefix(client, product, seen))
        for question, step in _steps(client, seen, timezone, max_databases):
            findings += _guarded(question, step)
    except (AuthenticationError, TransientError) as exc:
        findings.append(Finding(ACCOUNT if not findings else CONNECTION, FAIL, exception_text(exc), NO_CONNECTION))
    return findings


def loadable(findings: Sequence[Finding]) -> bool:
    return not any(f.status == FAIL for f in findings)


def in_header(finding: Finding) -> bool:
    """The account and prefix answers belong in a report's header (what was found), when they are ok."""
    return finding.status == OK and (finding.question == ACCOUNT or finding.question.endswith(" prefix"))


def ended_checks(finding: Finding) -> bool:
    """A failure that stopped the checks (no connection, token rejected): the report's verdict, not a line."""
    return finding.status == FAIL and finding.question in (ACCOUNT, CONNECTION)


def header_facts(findings: Sequence[Finding]) -> dict[str, str]:
    """The account and the prefixes the checks found, for a report's header."""
    facts: dict[str, str] = {}
    for f in findings:
        if in_header(f) and f.value:
            key = "account" if f.question == ACCOUNT else "prefixes"
            facts[key] = f"{facts[key]} {f.value}" if key in facts else f.value
    return facts


def _steps(
    client: CopernicaClient, seen: _Seen, timezone: str, max_databases: int
) -> list[tuple[str, Callable[[], Iterable[Finding]]]]:
    """The checks after identity and prefixes, each a (question, call) that applies to this account."""
    steps: list[tuple[str, Callable[[], Iterable[Finding]]]] = []
    if "html" in seen.prefixes:
        html = seen.prefixes["html"]
        steps += [(f"{html}/{kind} cursor filter", _single(check_event_cursor, client, html, kind))
                  for kind in EVENT_KINDS]
    steps.append(("ID list paging", partial(check_id_lists, client, seen, max_databases)))
    steps += [(f"{seen.prefixes[p]}/emailings order", _single(check_emailing_order, p, seen)) for p in seen.prefixes]
    steps.append(("total parameter", _single(check_total, client, seen, max_databases)))
    steps.append(("echoed limit", partial(check_echoed_limits, client, seen)))
    if "draganddrop" in seen.prefixes:
        steps.append(("begintime/endtime bounds", _single(check_window_bounds, client, seen)))
    steps.append(("undocumented GETs", partial(check_undocumented_gets, client, seen, max_databases)))
    steps.append(("not-found wording", _single(check_not_found, client)))
    if client.api_version == 4:
        steps.append(("expired JWT answer", _single(check_invalid_jwt, seen)))
    steps.append(("fields named modified/id/code", partial(check_shadowing_fields, client, seen, max_databases)))
    steps.append(("time zone", partial(check_time_zone, client, seen, timezone, max_databases)))
    return steps


# -- the checks ------------------------------------------------------------------------------------------------

def check_identity(client: CopernicaClient) -> Finding:
    """GET identity: the token, the base URL (and for v4 the JWT exchange) in one request."""
    try:
        answer = client.get("identity")
    except CopernicaAPIError as exc:
        return Finding(ACCOUNT, FAIL, f"GET identity answered {exc.status}: {exc.message} (is base_url Copernica's "
                       "REST API?)", NO_CONNECTION)
    if not isinstance(answer, dict) or "name" not in answer:
        return Finding(ACCOUNT, FAIL, "GET identity did not answer with an account (is base_url Copernica's "
                       "REST API?)", NO_CONNECTION)
    account = f"{answer.get('name')} (id {answer.get('id') or answer.get('ID')})"
    return Finding(ACCOUNT, OK, f"token accepted: account {account}", "token and base URL work", account)


def check_prefix(client: CopernicaClient, product: str, seen: _Seen) -> Finding:
    """Which path prefix the account answers for a product (as `Account.prefix` finds it); keeps the emailings it
    reads on the way (the first page and the last one), which the order and time zone checks compare."""
    candidates = PREFIXES[product] if client.api_version == 4 else PREFIXES[product][::-1]
    errors: list[str] = []
    for candidate in candidates:
        try:
            answer = client.get(f"{candidate}/emailings", [("limit", DEFAULT_LIMIT), ("total", "true")])
        except CopernicaAPIError as exc:
            errors.append(f"{candidate}/: {exc.status} {exc.message}")
            continue
        seen.prefixes[product] = candidate
        seen.emailings[product] = _dicts(answer) + _more_emailings(client, f"{candidate}/emailings", answer)
        legacy = " (the legacy prefix)" if candidate != PREFIXES[product][0] else ""
        return Finding(f"{product} prefix", OK, f"{product} emailings answer on {candidate}/{legacy}",
                       f"reads {product} tables from {candidate}/", f"{candidate}/")
    return Finding(f"{product} prefix", FAIL, f"{product}: neither {' nor '.join(c + '/' for c in candidates)} "
                   f"answers GET emailings ({'; '.join(errors)})",
                   f"the {product} tables cannot load; leave them out with products = [...] in [sources.copernica]")


def check_event_cursor(client: CopernicaClient, prefix: str, kind: str) -> Finding:
    """Which filter an html event list honours decides how it is read incrementally (BEHAVIOUR 9.2)."""
    path = f"{prefix}/{kind}"
    cursor = event_cursor(client, path)
    question = f"{path} cursor filter"
    if cursor is None:
        return Finding(question, NOTE, f"{path} is empty: no rows to tell which filters it honours",
                       "asks again at each run before reading", "empty")
    if cursor == "id":
        return Finding(question, OK, f"{path} honours fields[]=id>N", "read by ID keyset", "id")
    if cursor == "timestamp":
        return Finding(question, NOTE, f"{path} ignores fields[]=id>N, honours timestamp>T",
                       "read by timestamp windows (ID filter ignored)", "timestamp")
    return Finding(question, WARN, f"{path} ignores both fields[]=id>N and fields[]=timestamp>T",
                   "cannot be read incrementally: both filters ignored (load fails with a clear error)", "neither")


def check_id_lists(client: CopernicaClient, seen: _Seen, max_databases: int) -> list[Finding]:
    """`profileids` of the first database and `subprofileids` of the first collection: whole, paged, or paged
    with `start` ignored; deletions are reconciled only on a list that is provably complete (BEHAVIOUR 9.1)."""
    databases = _databases(client, seen, max_databases)
    if not databases:
        return [Finding("profileids paging", NOTE, "the account has no database", "nothing to reconcile")]
    db = databases[0]
    out = [_id_list_finding("profileids", f"database {db['ID']}", client.api_version,
                            id_list_paging(client, f"database/{db['ID']}/profiles", f"database/{db['ID']}/profileids"))]
    collections = [c for d in databases for c in rows_of(d.get("collections")) if isinstance(c, dict)]
    if collections:
        c = collections[0]
        out.append(_id_list_finding("subprofileids", f"collection {c['ID']}", client.api_version, id_list_paging(
            client, f"collection/{c['ID']}/subprofiles", f"collection/{c['ID']}/subprofileids")))
    return out


def check_emailing_order(product: str, seen: _Seen) -> Finding:
    """No page states the order of `emailings` (BEHAVIOUR 9.5): compare the times of the first and the last."""
    prefix = seen.prefixes[product]
    rows = seen.emailings.get(product) or []
    order = time_order([r.get("timestamp") for r in rows])
    question = f"{prefix}/emailings order"
    if order is None:
        return Finding(question, NOTE, f"{prefix}/emailings: {len(rows)} emailing(s), too few to tell the order",
                       "does not rely on the order")
    return Finding(question, OK if order == "oldest first" else NOTE, f"{prefix}/emailings lists {order}",
                   "does not rely on the order", order)


def check_total(client: CopernicaClient, seen: _Seen, max_databases: int) -> Finding:
    """Whether `total=true` gives `total` and `total=false` drops it (on `databases`)."""
    _databases(client, seen, max_databases)
    with_true = seen.databases_total is not None
    with_false = total_of(client.get("databases", [("limit", 1), ("total", "false")])) is not None
    question = "total parameter"
    if not with_true:
        return Finding(question, WARN, "databases sends no total, even with total=true",
                       "total missing is read as unknown: pages are walked one by one (slower); where an ID list is "
                       "walked to its end, each deleted (sub)profile is confirmed gone with its own request", "never")
    if with_false:
        return Finding(question, NOTE, "databases sends total even with total=false",
                       "reads total where it is sent (total=false only saves Copernica work)", "always")
    return Finding(question, OK, "total=true sends total, total=false leaves it out",
                   "asks total only where it plans pages with it", "honoured")


def check_echoed_limits(client: CopernicaClient, seen: _Seen) -> list[Finding]:
    """Lists whose pages show no paging (BEHAVIOUR 9.12) may answer a fixed page size: ask 1000, read the echo."""
    paths = []
    if "draganddrop" in seen.prefixes:
        paths.append(f"{seen.prefixes['draganddrop']}/clicks")
    paths += [f"{seen.prefixes[p]}/destinations" for p in PRODUCTS if p in seen.prefixes]
    out = []
    for path in paths:
        limit, answer = echoed_limit(client, path)
        rows = [r for r in rows_of(answer) if isinstance(r, dict)]
        if path.endswith("/clicks") and rows and rows[-1].get("timestamp"):
            seen.dd_event = (path, str(rows[-1]["timestamp"]))  # not the first row: see window_includes
        question = f"{path} limit"
        if limit == MAX_LIMIT:
            out.append(Finding(question, OK, f"{path} echoes limit {MAX_LIMIT} ({len(rows)} rows)",
                               "follows the echoed limit", str(limit)))
        elif limit is None:
            out.append(Finding(question, NOTE, f"{path} echoes no limit when asked {MAX_LIMIT} ({len(rows)} rows)",
                               "follows the echoed limit; without one, pages until a short page", "none"))
        else:
            out.append(Finding(question, NOTE, f"{path} answers limit {limit} when asked {MAX_LIMIT} "
                               f"({len(rows)} rows)", "follows the echoed limit (more, smaller pages)", str(limit)))
    return out


def check_window_bounds(client: CopernicaClient, seen: _Seen) -> Finding:
    """Whether `begintime`/`endtime` include their ends: a window from t to t around one event's time t."""
    prefix = seen.prefixes["draganddrop"]
    event = seen.dd_event or _last_event(client, f"{prefix}/impressions")
    question = "begintime/endtime bounds"
    action = "windows overlap by one second: right either way"
    if event is None:
        return Finding(question, NOTE, f"{prefix}/clicks and impressions are empty: no event time to tell", action)
    path, moment = event
    included = window_includes(client, path, moment)
    if included is None:
        return Finding(question, WARN, f"{path} ignores begintime/endtime (a one-second window gave other times)",
                       "every window reads the whole list: slow, but rows merge on id", "ignored")
    if included:
        return Finding(question, OK, f"{path}: begintime=endtime=T finds the events at T: bounds inclusive", action,
                       "inclusive")
    return Finding(question, NOTE, f"{path}: begintime=endtime=T finds no event at T: bounds exclusive", action,
                   "exclusive")


def check_undocumented_gets(client: CopernicaClient, seen: _Seen, max_databases: int) -> list[Finding]:
    """`GET webhooks` and `GET rule/$id/conditions` are documented nowhere in v2-v4 (BEHAVIOUR 9.3)."""
    answered, answer = method_answered(client, "webhooks")
    if answered:
        out = [Finding("GET webhooks", OK, f"GET webhooks answers ({_count(len(rows_of(answer)), 'webhook')})",
                       "loads the webhooks table", "present")]
    else:
        out = [Finding("GET webhooks", NOTE, "GET webhooks: Invalid method (undocumented in v2-v4)",
                       "webhooks table skipped with a warning", "absent")]
    rule = _first_rule(client, _databases(client, seen, max_databases))
    if rule is None:
        out.append(Finding("GET rule/$id/conditions", NOTE, "no selection with rules to ask rule/$id/conditions",
                           "conditions taken from the rules' embedded lists"))
        return out
    answered, answer = method_answered(client, f"rule/{rule}/conditions")
    if answered:
        found = f"GET rule/{rule}/conditions answers ({_count(len(rows_of(answer)), 'condition')})"
        out.append(Finding("GET rule/$id/conditions", OK, found,
                           "not needed: conditions taken from the rules' embedded lists", "present"))
    else:
        out.append(Finding("GET rule/$id/conditions", NOTE, f"GET rule/{rule}/conditions: Invalid method (v1 only)",
                           "skipped: conditions taken from the rules' embedded lists", "absent"))
    return out


def check_not_found(client: CopernicaClient) -> Finding:
    """How a missing entity is answered differs per entity and version (BEHAVIOUR 9.7); the client must still
    tell "not found" from a bad request."""
    error = not_found_answer(client, "database/0")
    question = "not-found wording"
    if error is None:
        return Finding(question, WARN, "GET database/0 answered with data", "cannot tell a missing database")
    found = f"GET database/0: {error.status} \"{error.message}\""
    if isinstance(error, NotFoundError):
        return Finding(question, OK, found, "recognised as not found", error.message)
    return Finding(question, WARN, found, "not recognised as not found: a missing database or collection stops "
                   "the run with this message", error.message)


def check_invalid_jwt(seen: _Seen) -> Finding:
    """How v4 answers a JWT it does not accept (as it would an expired one): undocumented (BEHAVIOUR 9.7). Asked
    first of all, with no credentials, as the check that the base URL's host answers."""
    question = "expired JWT answer"
    action = "refreshes the JWT once on either"
    if seen.jwt_answer is None:
        return Finding(question, NOTE, "could not ask (no answer in time)", action)
    status, message = seen.jwt_answer
    found = f"an invalid JWT gets {status} \"{message}\""
    if status == 400 and INVALID_TOKEN in message.lower():
        return Finding(question, OK, found, action, str(status))
    if status in (401, 403):
        return Finding(question, NOTE, found, action, str(status))
    if status < 300:
        return Finding(question, WARN, "an invalid JWT was accepted (GET identity answered)",
                       "the connector cannot tell an expired JWT", str(status))
    return Finding(question, WARN, found, "not recognised as an auth error: an expired JWT would stop the run "
                   "with this message", str(status))


def check_shadowing_fields(client: CopernicaClient, seen: _Seen, max_databases: int) -> list[Finding]:
    """A real field named `modified` or `id` takes over the `fields[]` filter of that name (BEHAVIOUR 9.4)."""
    databases = _databases(client, seen, max_databases)
    out: list[Finding] = []
    owners = 0
    for db in databases:
        for kind, owner, path in [("database", db, f"database/{db['ID']}/fields")] + [
                ("collection", c, f"collection/{c['ID']}/fields") for c in rows_of(db.get("collections"))
                if isinstance(c, dict)]:
            owners += 1
            names = shadowing_fields(_embedded_or_fetched(client, owner.get("fields"), path))
            if names:
                out.append(_shadowing_finding(f"{kind} {_name(owner)}", names))
    if not out:
        scope = f"{owners} databases and collections"
        if seen.databases_total is not None and seen.databases_total > len(databases):
            scope += f" (the first {len(databases)} of {seen.databases_total} databases)"
        out.append(Finding("fields named modified/id/code", OK, f"no field named modified, id or code in {scope}",
                           "filters on modified and id as documented"))
    return out


def check_time_zone(client: CopernicaClient, seen: _Seen, timezone: str, max_databases: int) -> list[Finding]:
    """No page gives Copernica's time zone (BEHAVIOUR 9.11): show its newest times (a profile's `modified`, an
    emailing) next to now in `timezone`. Edit a profile in Copernica, run check, and the two should agree within
    a minute; an hour or two off means the `timezone` setting is wrong."""
    now = datetime.now(ZoneInfo(timezone))
    offset = now.strftime("%z")
    times = []
    modified = _newest_modified(client, _databases(client, seen, max_databases))
    if modified:
        times.append(f"profile modified {modified}")
    emailed = [max(str(r["timestamp"]) for r in rows if r.get("timestamp"))
               for rows in seen.emailings.values() if any(r.get("timestamp") for r in rows)]
    if emailed:
        times.append(f"emailing {max(emailed)}")
    found = f"newest {', newest '.join(times)}" if times else "no profile or emailing to compare times with"
    return [Finding("time zone", NOTE, found, f"read as {timezone}, where it is now {now:%Y-%m-%d %H:%M} "
                    f"(UTC{offset[:3]}:{offset[3:]})", timezone)]


# -- helpers --------------------------------------------------------------------------------------------------

def _single(check: Callable[..., Finding], *args: Any) -> Callable[[], list[Finding]]:
    """A check that gives one finding, as a step."""
    return lambda: [check(*args)]


def _guarded(question: str, step: Callable[[], Iterable[Finding]]) -> list[Finding]:
    """One check that Copernica answers with an error (a 4xx where we expected data) becomes a warning, not the
    end of the report; auth and outage errors go up and end it."""
    try:
        return list(step())
    except CopernicaAPIError as exc:
        return [Finding(question, WARN, f"could not check: {exc.method} {exc.url.split('?')[0]} answered "
                        f"{exc.status} \"{exc.message}\"", "see the message; the load may meet the same answer")]


def _id_list_finding(kind: str, owner: str, api_version: int, paging: IdListPaging) -> Finding:
    question = f"{kind} paging"
    total = f"total {paging.total}" if paging.total is not None else "no total"
    reconcile = ("pages it; reconciles deletions when the list length equals the total (else confirms each "
                 "candidate with one request)")
    reading = paging.reading
    if reading == "whole":
        return Finding(question, OK, f"{owner} {kind}: whole list ({paging.unparamed} IDs, {total})",
                       "reads it whole; reconciles deletions when its length equals the total", reading)
    if reading == "paged":
        return Finding(question, OK, f"{owner} {kind}: paged, {paging.unparamed} by default, start honoured "
                       f"({total})", reconcile, reading)
    if reading == "paged, start ignored":
        found = f"{owner} {kind}: paged, {paging.unparamed} by default, start ignored ({total})"
        gone = "profiles" if kind == "profileids" else "subprofiles"
        page = 100 if api_version == 1 else MAX_LIMIT  # what one request of the loader holds
        if paging.total is not None and paging.total < page:  # one request still reaches every ID
            return Finding(question, NOTE, found, f"reads it in one request of {page} and reconciles deletions; "
                           f"past {page} IDs only full reads can (e.g. --full-refresh)", reading)
        return Finding(question, WARN, found, f"start ignored: deletions in lists over {page} IDs are reconciled only "
                       f"by full reads (a table read whole each run, or --full-refresh); until then deleted {gone} "
                       "stay in the warehouse", reading)
    return Finding(question, NOTE, f"{owner} {kind}: {paging.unparamed} IDs, too few to tell how it pages ({total})",
                   reconcile, reading)


def _shadowing_finding(owner: str, names: list[str]) -> Finding:
    actions = {
        "modified": "reads it whole each run (fields[]=modified would filter the user's field)",
        "id": "reads it by offset, not ID ranges (fields[]=id would filter the user's field)",
        "code": "no effect: the connector never filters on code",
    }
    status = WARN if {"modified", "id"} & set(names) else NOTE
    return Finding("fields named modified/id/code", status, f"{owner} has a field named {' and '.join(names)}",
                   "; ".join(actions[n] for n in names), ",".join(names))


def _databases(client: CopernicaClient, seen: _Seen, max_databases: int) -> list[dict[str, Any]]:
    """The first databases (with their embedded fields and collections), asked once with `total=true`."""
    if seen.databases is None:
        answer = client.get("databases", [("limit", max_databases), ("total", "true")])
        seen.databases = [d for d in rows_of(answer) if isinstance(d, dict) and "ID" in d]
        seen.databases_total = total_of(answer)
    return seen.databases


def _embedded_or_fetched(client: CopernicaClient, embedded: Any, path: str) -> list[Any]:
    """An embedded sub-list when it is complete; else the list from its own path (one page of up to 1000)."""
    rows = rows_of(embedded)
    if isinstance(embedded, dict):
        total, limit = total_of(embedded), embedded.get("limit")
        complete = len(rows) >= total if total is not None else str(len(rows)) != str(limit)
        if complete:
            return rows
    return rows_of(client.get(path, [("limit", MAX_LIMIT), ("total", "false")]))


def _first_rule(client: CopernicaClient, databases: Sequence[dict[str, Any]]) -> str | None:
    """A rule ID of the first selection with rules in the first database that has selections (two requests)."""
    for db in databases[:1]:
        views = [v for v in rows_of(client.get(f"database/{db['ID']}/views", [("total", "false")]))
                 if isinstance(v, dict)]
        ruled = [v for v in views if v.get("has-rules") not in (False, "false", "0", 0)]
        for view in ruled[:1]:
            rules = rows_of(client.get(f"view/{view['ID']}/rules", [("limit", 1), ("total", "false")]))
            if rules and isinstance(rules[0], dict) and rules[0].get("ID"):
                return str(rules[0]["ID"])
    return None


def _more_emailings(client: CopernicaClient, path: str, first: Any) -> list[dict[str, Any]]:
    """After a first page of emailings: the last one when the list says its total, else the next pages (at most
    three of a thousand), so that first and last can be compared."""
    total, count = total_of(first), len(rows_of(first))
    if total is not None:
        if total <= count:
            return []
        return _dicts(client.get(path, [("start", total - 1), ("limit", 1), ("total", "false")]))
    rows: list[dict[str, Any]] = []
    start = count
    while count >= DEFAULT_LIMIT and len(rows) < 3 * MAX_LIMIT:  # a full first page and no total: walk on
        page = _dicts(client.get(path, [("start", start), ("limit", MAX_LIMIT), ("total", "false")]))
        rows += page
        start += len(page)
        if len(page) < MAX_LIMIT:
            break
    return rows


def _newest_modified(client: CopernicaClient, databases: Sequence[dict[str, Any]]) -> str | None:
    """The newest `modified` among the first database's profiles (the loader's own probe, one request)."""
    for db in databases[:1]:
        rows = _dicts(client.get(f"database/{db['ID']}/profiles", [
            ("orderby", "modified"), ("order", "desc"), ("limit", 1), ("dataonly", "true"), ("total", "false")]))
        if rows and rows[0].get("modified"):
            return str(rows[0]["modified"])
    return None


def _dicts(answer: Any) -> list[dict[str, Any]]:
    return [r for r in rows_of(answer) if isinstance(r, dict)]


def _last_event(client: CopernicaClient, path: str) -> tuple[str, str] | None:
    """(path, time) of the last event on the first page of a list (not its first row: see window_includes)."""
    rows = _dicts(client.get(path, [("limit", DEFAULT_LIMIT), ("total", "false")]))
    if rows and rows[-1].get("timestamp"):
        return path, str(rows[-1]["timestamp"])
    return None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _name(entity: dict[str, Any]) -> str:
    return f"{entity.get('name')} ({entity.get('ID')})"


def _host(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def _package_version() -> str:
    try:
        return importlib.metadata.version("copernica-source")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"



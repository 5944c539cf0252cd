"""Cheap read-only questions to an account where Copernica's pages leave the answer open.

The loader asks them at run time to choose a path that is right for the account it meets; `copernica check`
asks them to tell the user. Each costs one to three small requests. See docs/assumptions.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import httpx

from copernica_source.client import CopernicaClient, Params
from copernica_source.errors import CopernicaAPIError, InvalidMethodError

NEVER_ID = 2**62
NEVER_TIME = "9999-12-31 23:59:59"
DEFAULT_LIMIT = 100  # rows of a list asked without `limit` (Copernica's paging page)
MAX_LIMIT = 1000  # rows a list gives at most per request


def rows_of(answer: Any) -> list[Any]:
    """The rows of a list answer: the envelope's `data`, or a bare array."""
    if isinstance(answer, list):
        return answer
    if isinstance(answer, dict):
        data = answer.get("data")
        return data if isinstance(data, list) else []
    return []


def filter_honoured(client: CopernicaClient, path: str, condition: str) -> bool | None:
    """Whether the list at `path` honours `fields[]=<condition>`, a condition no row can meet (e.g. `id>2^62`).

    True: no row came back; False: rows came back, so the filter was ignored (Copernica ignores filters a list
    does not support, silently); None: the list is empty even without the filter, so nothing can be told."""
    if rows_of(client.get(path, [("fields[]", condition), ("limit", 1), ("total", "false")])):
        return False
    if rows_of(client.get(path, [("limit", 1), ("total", "false")])):
        return True
    return None


def total_of(answer: Any) -> int | None:
    """The envelope's `total` as an int; None when the answer has none (asked without it, or never sent)."""
    value = answer.get("total") if isinstance(answer, dict) else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def event_cursor(client: CopernicaClient, path: str) -> str | None:
    """Which cursor filter an html event list honours, in two small requests: "id" (`fields[]=id>N`),
    "timestamp" (only `fields[]=timestamp>T`) or "neither"; None when the list is empty (nothing to tell)."""
    honoured = filter_honoured(client, path, f"id>{NEVER_ID}")
    if honoured is None:
        return None
    if honoured:
        return "id"
    # the ID probe already saw rows, so an empty answer here means the timestamp filter was honoured
    ignored = rows_of(client.get(path, [("fields[]", f"timestamp>{NEVER_TIME}"), ("limit", 1), ("total", "false")]))
    return "neither" if ignored else "timestamp"


@dataclass(frozen=True)
class IdListPaging:
    """How a bare-array ID list (`profileids`, `subprofileids`) answers, beside its entity list's `total`.

    `unparamed`: IDs in the answer without parameters; `reached`: IDs one `limit=1000` request reaches (None when
    not asked: the plain answer already held the total); `start_honoured`: whether `start=1` skipped the first
    ID (None when not asked, or when too few IDs or a change between the answers leave it open)."""

    total: int | None
    unparamed: int
    reached: int | None = None
    start_honoured: bool | None = None

    @property
    def reading(self) -> str:
        """"whole", "paged", "paged, start ignored", or "too few to tell"."""
        known = max(x for x in (self.total, self.unparamed, self.reached) if x is not None)
        if known <= DEFAULT_LIMIT:
            return "too few to tell"
        if self.unparamed >= known:
            return "whole"
        return "paged" if self.start_honoured is not False else "paged, start ignored"


def id_list_paging(client: CopernicaClient, list_path: str, ids_path: str) -> IdListPaging:
    """Whether an ID list without parameters is whole, paged, or paged with `start` ignored: the answer that
    decides whether deletions can be reconciled. Two requests when the plain answer holds the list's total, else
    three (the third, `start=1&limit=1000`, tells both whether start is honoured and how far a page reaches)."""
    total = total_of(client.get(list_path, [("limit", 1), ("total", "true")]))
    plain = [str(i) for i in rows_of(client.get(ids_path))]
    if total is not None and len(plain) >= total:
        return IdListPaging(total, len(plain))
    later = [str(i) for i in rows_of(client.get(ids_path, [("start", 1), ("limit", MAX_LIMIT)]))]
    start_honoured: bool | None = None
    if len(plain) >= 2 and later[:1] == plain[1:2]:
        start_honoured = True
    elif plain and later[:1] == plain[:1]:
        start_honoured = False
    return IdListPaging(total, len(plain), len(later) + (1 if start_honoured else 0), start_honoured)


def time_order(stamps: Sequence[Any]) -> str | None:
    """"oldest first", "newest first" or "unordered" for `YYYY-MM-DD HH:MM:SS` strings in list order (they sort as
    text); None with fewer than two distinct times."""
    values = [str(s) for s in stamps if s]
    if len(set(values)) < 2:
        return None
    pairs = list(pairwise(values))
    if all(a <= b for a, b in pairs):
        return "oldest first"
    if all(a >= b for a, b in pairs):
        return "newest first"
    return "unordered"


def echoed_limit(
    client: CopernicaClient, path: str, params: Params = None, asked: int = MAX_LIMIT
) -> tuple[int | None, Any]:
    """The `limit` a list echoes when asked for `asked` rows (lists whose pages show no paging may answer a fixed
    100 and say so), with the answer itself for callers that need its rows."""
    answer = client.get(path, [*(params or []), ("limit", asked), ("total", "false")])
    limit = answer.get("limit") if isinstance(answer, dict) else None
    try:
        return (int(limit) if limit is not None else None), answer
    except (TypeError, ValueError):
        return None, answer


def window_includes(client: CopernicaClient, path: str, moment: str, begin: str = "begintime",
                    end: str = "endtime") -> bool | None:
    """Whether a window from `moment` to `moment` finds the rows stamped `moment` (both bounds inclusive: True)
    or nothing (exclusive: False); None when rows of other times come back, so the window was ignored. Ask with
    the time of a row that is not the list's first, or an ignored window cannot be told from an inclusive one."""
    rows = rows_of(client.get(path, [(begin, moment), (end, moment), ("limit", 10), ("total", "false")]))
    if not rows:
        return False
    if all(isinstance(r, dict) and r.get("timestamp") == moment for r in rows):
        return True
    return None


def method_answered(client: CopernicaClient, path: str) -> tuple[bool, Any]:
    """Whether Copernica knows a GET path (False: it answered "Invalid method"), with the answer when it does."""
    try:
        return True, client.get(path)
    except InvalidMethodError:
        return False, None


def not_found_answer(client: CopernicaClient, path: str) -> CopernicaAPIError | None:
    """The error Copernica gives for an entity that cannot exist (None if it answered anyway): its wording differs
    per entity and version, and the connector must recognise it."""
    try:
        client.get(path)
    except CopernicaAPIError as exc:
        return exc
    return None


def invalid_jwt_answer(base_url: str, api_version: int = 4, timeout: float = 15.0) -> tuple[int, str]:
    """How the API answers a bearer that is not a valid JWT (status, error message), as v4 would an expired one.

    Sent with httpx directly so the client's own JWT and its refresh are not involved; the bearer is a dummy and
    no token goes along. Raises httpx's errors, so it also tells whether the base URL's host answers at all."""
    response = httpx.get(f"{base_url.rstrip('/')}/v{api_version}/identity",
                         headers={"Authorization": "Bearer x.y.z"}, timeout=timeout)
    try:
        error = response.json().get("error")
        message = str(error.get("message") if isinstance(error, dict) else error or "")
    except (ValueError, AttributeError):
        message = " ".join(response.text.split())[:120]
    return response.status_code, message


SYSTEM_NAMES = ("modified", "id", "code")  # always-available filter fields a real field may take over (rmuit)


def shadowing_fields(field_rows: Sequence[Any]) -> list[str]:
    """Names of real fields that share a name with a system property the `fields[]` filter knows."""
    names = {str(f.get("name", "")).lower() for f in field_rows if isinstance(f, dict)}
    return [n for n in SYSTEM_NAMES if n in names]

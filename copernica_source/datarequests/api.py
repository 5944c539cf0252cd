"""The data-request calls of Copernica's API, v4 and v1, and where one subject stands (Outcome)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from copernica_source.client import CopernicaClient
from copernica_source.datarequests.subjects import Subject
from copernica_source.errors import CopernicaError, NotFoundError, TransientError
from copernica_source.private_files import write_private

# Statuses of a subject after a run. Rows in the table carry the first three.
PENDING, DELIVERED, EXPIRED, NOT_FOUND, FAILED = "pending", "delivered", "expired", "not_found", "failed"



UNSEEN_GRACE_S = 120.0  # a fresh request Copernica says it does not know is given this long to appear


NOT_YET = "not available"


@dataclass
class Outcome:
    """Where one subject stands after a run. `data` (the parsed file) is kept out of repr: it is personal data."""

    subject: Subject
    status: str
    request_id: str | None = None
    requested_at: datetime | None = None
    completed_at: datetime | None = None
    message: str = ""
    path: str | None = None
    data: Any = field(default=None, repr=False)

    def row(self, text: str | None) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "subject_type": self.subject.kind,
            "subject_id": self.subject.id,
            "status": self.status,
            "requested_at": self.requested_at,
            "completed_at": self.completed_at,
            "data": text,
        }


class DataRequestApi:
    """The four calls, for v4 (`datarequest/$id/status` + `/data`) and v1 (`GET datarequest/$id`)."""

    def __init__(self, client: CopernicaClient) -> None:
        self.client = client

    def create(self, who: Subject, report: str | None) -> str:
        """POST the request; its ID comes in `X-Created` (or a JSON body, which the pages document empty).
        Never sent twice by this call: an answer lost on the way leaves the outcome unknown, and that is
        reported (a re-run asks again), not retried behind the user's back."""
        body = {"report": report} if report else {}
        try:
            answer = self.client.request("POST", who.path(), params={"report": report} if report else None,
                                         json=body, retry_unsafe=False)
        except TransientError as exc:
            raise CopernicaError(
                f"the answer to the data request for {who} was lost ({exc}); Copernica may have registered it, "
                "so it was not sent again"
            ) from None
        created: Any = answer.headers.get("X-Created")
        if not created:
            data = answer.data
            created = data.get("id") if isinstance(data, dict) else data
        if not created:  # the introduction says creating calls may answer with X-location instead
            location = answer.headers.get("X-location") or answer.headers.get("Location") or ""
            created = location.rstrip("/").rsplit("/", 1)[-1] if "/datarequest/" in location else None
        if created in (None, "", True, False) or isinstance(created, (dict, list)):
            raise CopernicaError(f"Copernica accepted the data request for {who} but returned no request ID")
        return str(created).strip()

    def check(self, request_id: str) -> tuple[str, Any]:
        """("available", payload), ("pending", None) or ("not available", None)."""
        rid = quote(request_id, safe="")
        if self.client.api_version == 1:
            try:
                payload = self.client.get(f"datarequest/{rid}")
            except NotFoundError:
                return NOT_YET, None
            if not _is_not_yet(payload):
                return "available", payload
            try:  # v1 says "not available (yet)" for pending and expired alike; its status call tells them apart
                status = self.client.get(f"datarequest/{rid}/status")
            except CopernicaError:
                return PENDING, None
            return (NOT_YET, None) if _status_of(status) == NOT_YET else (PENDING, None)
        try:
            status = self.client.get(f"datarequest/{rid}/status")
        except NotFoundError:
            return NOT_YET, None
        state = _status_of(status)
        if state != "available":
            return (NOT_YET, None) if state == NOT_YET else (PENDING, None)
        try:
            payload = self.client.get(f"datarequest/{rid}/data")
        except NotFoundError:
            return PENDING, None  # /status said ready: a 404 now is a race; the next look tells expired apart
        return (PENDING, None) if _is_not_yet(payload) else ("available", payload)


def _status_of(answer: Any) -> str:
    return str(answer.get("status", "") if isinstance(answer, dict) else answer).strip().lower()


def _is_not_yet(payload: Any) -> bool:
    text = payload.get("data") if isinstance(payload, dict) else payload
    return isinstance(text, str) and NOT_YET in text.lower()


def gone_for_good(entry: dict[str, Any] | None, outcome: Outcome) -> bool:
    """"not available" means expired once Copernica has shown the request; a request it has never shown may
    just not be registered yet, so it only counts as gone after a grace period."""
    if entry is None or entry.get("seen"):
        return True
    return outcome.requested_at is None or (utc_now() - outcome.requested_at).total_seconds() > UNSEEN_GRACE_S


def utc_now() -> datetime:
    return datetime.now(UTC)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:150]


def file_name(outcome: Outcome) -> str:
    """`<kind>-<request id>.json`: the request ID is unique and says nothing about the person, where an e-mail
    address in the name would show in every listing and backup log (profile IDs would not, but one scheme is
    simpler to find and to clean up)."""
    return f"{outcome.subject.kind}-{_safe_name(str(outcome.request_id))}.json"


def write_file(output_dir: str | os.PathLike[str], outcome: Outcome, text: str) -> str:
    """Atomically write one subject's file, readable by its owner only (it is personal data); folders it creates
    are owner-only too."""
    return str(write_private(Path(output_dir) / file_name(outcome), text))

"""GDPR data requests: ask Copernica for everything it holds on a subject, wait for the file, deliver it.

Copernica answers a request with an ID and builds a JSON file (`{"info": {...}, "data": [[...]]}`) in its own
time; the file expires. Pending request IDs live in dlt resource state keyed by subject, so a re-run waits for
them instead of asking again. `request_data()` works in two loads (ask and commit the IDs, then wait) so that even
a run killed while waiting resumes without a new request. The data is personal data: it goes to the destination
and to files, never to logs or exception messages.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, Unpack
from urllib.parse import quote

import dlt
import orjson
from dlt.extract.resource import DltResource
from dlt.pipeline.exceptions import PipelineStepFailed

from copernica_source.client import CopernicaClient
from copernica_source.errors import (
    AuthenticationError,
    ConfigurationError,
    CopernicaAPIError,
    CopernicaError,
    NotFoundError,
    TransientError,
)
from copernica_source.settings import ConnectionOverrides, client_from_config

RESOURCE = "data_requests"
KINDS = ("profile", "subprofile", "email")
DEFAULT_TIMEOUT = 3600.0
UNSEEN_GRACE_S = 120.0  # a fresh request Copernica says it does not know is given this long to appear
# Statuses of a subject after a run. Rows in the table carry the first three.
PENDING, DELIVERED, EXPIRED, NOT_FOUND, FAILED = "pending", "delivered", "expired", "not_found", "failed"

COLUMNS: dict[str, dict[str, Any]] = {
    "request_id": {"data_type": "text", "nullable": False},
    "subject_type": {"data_type": "text"},
    "subject_id": {"data_type": "text"},
    "status": {"data_type": "text"},
    "requested_at": {"data_type": "timestamp"},
    "completed_at": {"data_type": "timestamp", "nullable": True},
    "data": {"data_type": "text", "nullable": True},
}

_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_NOT_YET = "not available"
_HEADER = re.compile(r"^(subject_)?type\s*[,;:\t]\s*(subject_)?id$", re.IGNORECASE)


@dataclass(frozen=True)
class Subject:
    """Whom a request is about: a profile ID, a subprofile ID or an e-mail address."""

    kind: str
    id: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"

    def path(self) -> str:
        """`@` may stand in a path segment (RFC 3986); everything else special, `+` included, is %-encoded."""
        return f"{self.kind}/{quote(self.id, safe='@')}/datarequest"


def subject(kind: str, value: object) -> Subject:
    """A validated subject; raises ConfigurationError before anything is asked of Copernica."""
    kind = kind.strip().lower()
    text = str(value).strip()
    if kind not in KINDS:
        raise ConfigurationError(f"unknown subject type {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "email":
        if len(text) > 254 or not _EMAIL.match(text):
            raise ConfigurationError(f"invalid e-mail address {text!r}")
    elif not text.isdigit() or int(text) <= 0:
        raise ConfigurationError(f"invalid {kind} ID {text!r}: a positive number is expected")
    else:
        text = str(int(text))
    return Subject(kind, text)


def parse_subject(line: str) -> Subject:
    """`profile:12`, `subprofile,7`, `email a@b.nl` or a bare e-mail address."""
    text = line.strip()
    match = re.match(r"^(profile|subprofile|email)\s*[:,;\t ]\s*(.+)$", text, re.IGNORECASE)
    if match:
        return subject(match.group(1), match.group(2).strip().strip('"'))
    if "@" in text:
        return subject("email", text)
    raise ConfigurationError(f"cannot read subject {text!r}: write profile:ID, subprofile:ID, email:ADDRESS")


def read_subjects(path: str | os.PathLike[str]) -> list[Subject]:
    """One subject per line (see parse_subject); blank lines, `#` lines and a `type,id` header are skipped."""
    out = []
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else None  # a decode error has no strerror
        raise ConfigurationError(f"cannot read the subjects file {path}: {reason or exc}") from None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or _HEADER.match(line):
            continue
        try:
            out.append(parse_subject(line))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{path}, line {number}: {exc}") from None
    return out


def make_subjects(
    profiles: Iterable[object] = (),
    subprofiles: Iterable[object] = (),
    emails: Iterable[str] = (),
    others: Iterable[Subject | str] = (),
) -> list[Subject]:
    """Validated, de-duplicated subjects in the order given."""
    found = [subject("profile", p) for p in profiles]
    found += [subject("subprofile", s) for s in subprofiles]
    found += [subject("email", e) for e in emails]
    found += [o if isinstance(o, Subject) else parse_subject(o) for o in others]
    return list({s.key: s for s in found}.values())


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
                return _NOT_YET, None
            if not _is_not_yet(payload):
                return "available", payload
            try:  # v1 says "not available (yet)" for pending and expired alike; its status call tells them apart
                status = self.client.get(f"datarequest/{rid}/status")
            except CopernicaError:
                return PENDING, None
            return (_NOT_YET, None) if _status_of(status) == _NOT_YET else (PENDING, None)
        try:
            status = self.client.get(f"datarequest/{rid}/status")
        except NotFoundError:
            return _NOT_YET, None
        state = _status_of(status)
        if state != "available":
            return (_NOT_YET, None) if state == _NOT_YET else (PENDING, None)
        try:
            payload = self.client.get(f"datarequest/{rid}/data")
        except NotFoundError:
            return PENDING, None  # /status said ready: a 404 now is a race; the next look tells expired apart
        return (PENDING, None) if _is_not_yet(payload) else ("available", payload)


def _status_of(answer: Any) -> str:
    return str(answer.get("status", "") if isinstance(answer, dict) else answer).strip().lower()


def _is_not_yet(payload: Any) -> bool:
    text = payload.get("data") if isinstance(payload, dict) else payload
    return isinstance(text, str) and _NOT_YET in text.lower()


def _gone(entry: dict[str, Any] | None, outcome: Outcome) -> bool:
    """"not available" means expired once Copernica has shown the request; a request it has never shown may
    just not be registered yet, so it only counts as gone after a grace period."""
    if entry is None or entry.get("seen"):
        return True
    return outcome.requested_at is None or (_now() - outcome.requested_at).total_seconds() > UNSEEN_GRACE_S


def _now() -> datetime:
    return datetime.now(UTC)


_T = TypeVar("_T")
_R = TypeVar("_R")


def _parallel(client: CopernicaClient, fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(client.max_concurrency, len(items))) as pool:
        return list(pool.map(fn, items))


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9@._+-]", "_", text)[:150]


def write_file(output_dir: str | os.PathLike[str], outcome: Outcome, text: str) -> str:
    """Atomically write one subject's file, readable by its owner only (it is personal data)."""
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{outcome.subject.kind}-{_safe_name(outcome.subject.id)}-{_safe_name(str(outcome.request_id))}.json"
    target = folder / name
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".partial-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(target)


def _requests(
    subjects: Sequence[Subject],
    client: CopernicaClient | None,
    connection: ConnectionOverrides,
    report: str | None,
    wait: bool,
    timeout: float,
    create: bool,
    output_dir: str | None,
    store_data: bool,
    poll_interval: float,
    on_outcome: Callable[[Outcome], None] | None,
    include_pending: bool,
) -> Iterator[dict[str, Any]]:
    pending_state: dict[str, dict[str, Any]] = dlt.current.resource_state(RESOURCE).setdefault("requests", {})
    own_client = client is None
    api = DataRequestApi(client or client_from_config(**connection))
    started = time.monotonic()

    def finish(outcome: Outcome, text: str | None = None) -> dict[str, Any] | None:
        if on_outcome:
            on_outcome(outcome)
        return outcome.row(text if store_data else None) if outcome.request_id else None

    try:
        waiting: list[Outcome] = []
        to_create: list[Subject] = []
        if include_pending:  # every request earlier runs left pending, named or not
            subjects = make_subjects(others=[*subjects, *(k for k in pending_state if ":" in k)])
        for who in subjects:
            entry = pending_state.get(who.key)
            if entry:
                requested = datetime.fromisoformat(entry["requested_at"])
                waiting.append(Outcome(who, PENDING, entry["request_id"], requested))
            elif create:
                to_create.append(who)

        def ask(who: Subject) -> Outcome:
            try:
                rid = api.create(who, report)
            except AuthenticationError:
                raise
            except NotFoundError as exc:
                return Outcome(who, NOT_FOUND, message=f"Copernica does not know this {who.kind} ({exc.message})")
            except CopernicaAPIError as exc:
                return Outcome(who, FAILED, message=f"Copernica refused the request: {exc.message}")
            except CopernicaError as exc:
                return Outcome(who, FAILED, message=f"could not ask: {exc}; run again to retry")
            return Outcome(who, PENDING, rid, _now())

        for outcome in _parallel(api.client, ask, to_create):
            if outcome.request_id:
                assert outcome.requested_at is not None  # ask() stamps every request it made
                pending_state[outcome.subject.key] = {
                    "request_id": outcome.request_id, "requested_at": outcome.requested_at.isoformat()}
                waiting.append(outcome)
            else:
                finish(outcome)

        def look(outcome: Outcome) -> tuple[Outcome, str, Any]:
            try:
                assert outcome.request_id is not None  # only outcomes with a request wait
                status, payload = api.check(outcome.request_id)
            except AuthenticationError:
                raise
            except CopernicaError as exc:
                outcome.message = f"status check failed: {exc}"
                return outcome, PENDING, None
            return outcome, status, payload

        interval = poll_interval
        while waiting:
            still: list[Outcome] = []
            for outcome, status, payload in _parallel(api.client, look, waiting):
                if status == "available":
                    text = orjson.dumps(payload).decode()
                    outcome.status, outcome.completed_at, outcome.data, outcome.message = DELIVERED, _now(), payload, ""
                    if output_dir:
                        outcome.path = write_file(output_dir, outcome, text)
                    pending_state.pop(outcome.subject.key, None)
                    row = finish(outcome, text)
                    if row:
                        yield row
                elif status == _NOT_YET and _gone(pending_state.get(outcome.subject.key), outcome):
                    outcome.status = EXPIRED
                    outcome.message = (f"Copernica no longer has request {outcome.request_id} (the file expired or "
                                       "the ID is unknown); run again to make a new request")
                    pending_state.pop(outcome.subject.key, None)
                    if row := finish(outcome):
                        yield row
                else:
                    if status == PENDING and outcome.subject.key in pending_state:
                        pending_state[outcome.subject.key]["seen"] = True
                    still.append(outcome)
            waiting = still
            left = timeout - (time.monotonic() - started)
            if not waiting or not wait or left <= 0:
                break
            time.sleep(min(interval, left))
            interval = min(interval * 1.5, 60.0)
        for outcome in waiting:
            if wait:
                outcome.message = "still pending at the timeout; run again to keep waiting (no new request is made)"
            else:
                outcome.message = outcome.message or "requested; run again with --wait (wait=True) to fetch it"
            if row := finish(outcome):
                yield row
    finally:
        if own_client:
            api.client.close()


def data_requests(
    subjects: Iterable[Subject | str],
    report: str | None = None,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    create: bool = True,
    output_dir: str | os.PathLike[str] | None = None,
    store_data: bool = True,
    poll_interval: float = 2.0,
    include_pending: bool = False,
    client: CopernicaClient | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    **connection: Unpack[ConnectionOverrides],
) -> DltResource:
    """The `data_requests` table as a dlt resource: one row per request (ID, subject, status, times, JSON).

    Subjects without a pending request are asked for (unless `create=False`), pending ones from earlier runs of
    the same pipeline are waited for. IDs asked for in a run are only remembered once that run's load commits:
    use `request_data()` (or run this first with `wait=False`) when a run may be killed while waiting.

    Args:
        subjects: whom to ask about: `Subject`s or text such as `profile:12`, `subprofile:7`, `email:a@b.nl`.
        report: an e-mail address or http(s) URL Copernica also sends the file to.
        wait: wait for pending requests (polling with backoff) instead of only asking.
        timeout: seconds to wait, at most.
        create: ask for subjects without a pending request (False: only wait for earlier ones).
        output_dir: also write one JSON file per delivered subject here (readable by the owner only).
        store_data: put the data itself in the table's `data` column (False: statuses only).
        poll_interval: seconds between the first polls; each wait is half as long again, up to a minute.
        include_pending: also wait for the pending requests of subjects not named this time.
        client: a client to use (and leave open) instead of one built from config.
        on_outcome: called with each subject's `Outcome` as it settles.
        **connection: overrides of `[sources.copernica]` (access_token, base_url, api_version, ...).

    Returns:
        The `data_requests` resource, merged on `request_id`.

    Raises:
        ConfigurationError: an invalid subject or `report`.
    """
    chosen = make_subjects(others=subjects)
    if report is not None and not str(report).strip():
        report = None
    if report and not (re.match(r"^https?://\S+$", report) or _EMAIL.match(report)):
        raise ConfigurationError(f"--report must be an e-mail address or an http(s) URL, not {report!r}")
    gen = _requests(chosen, client, connection, report, wait, float(timeout), create,
                    str(output_dir) if output_dir else None, store_data, poll_interval, on_outcome, include_pending)
    return dlt.resource(gen, name=RESOURCE, write_disposition="merge", primary_key="request_id",
                        columns=COLUMNS, max_table_nesting=0)


def default_pipeline(duckdb_file: str = "copernica.duckdb", dataset: str = "copernica_data",
                     pipelines_dir: str | None = None, destination: Any = None) -> dlt.Pipeline:
    """Its own pipeline name, so its state (the pending request IDs) never mixes with the load pipeline's."""
    # dlt annotates `pipelines_dir: str = None`: None, its default, is missing from the hint
    return dlt.pipeline(pipeline_name="copernica_data_requests", destination=destination or dlt.destinations.duckdb(
        duckdb_file), dataset_name=dataset, pipelines_dir=pipelines_dir)  # type: ignore[arg-type]


def request_data(
    subjects: Iterable[Subject | str],
    *,
    pipeline: dlt.Pipeline | None = None,
    report: str | None = None,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    output_dir: str | os.PathLike[str] | None = None,
    store_data: bool = True,
    poll_interval: float = 2.0,
    include_pending: bool = False,
    **connection: Unpack[ConnectionOverrides],
) -> list[Outcome]:
    """One call: ask for every subject, commit the request IDs, wait, deliver to the table and/or files.

    A re-run with the same pipeline waits for pending requests instead of asking again.

    Args:
        subjects: whom to ask about: `Subject`s or text such as `profile:12`, `subprofile:7`, `email:a@b.nl`.
        pipeline: the pipeline whose state keeps the pending request IDs (default: `default_pipeline()`).
        report: an e-mail address or http(s) URL Copernica also sends the file to.
        wait: wait for the requests to be ready instead of only asking.
        timeout: seconds the whole call may wait, at most.
        output_dir: also write one JSON file per delivered subject here (readable by the owner only).
        store_data: put the data itself in the table's `data` column (False: statuses only).
        poll_interval: seconds between the first polls; each wait is half as long again, up to a minute.
        include_pending: also wait for the pending requests of subjects not named this time.
        **connection: overrides of `[sources.copernica]` (access_token, base_url, api_version, ...).

    Returns:
        One Outcome per subject, in order, then any other pending ones (`status` pending/delivered/expired/
        not_found/failed; `message` says what to do).

    Raises:
        ConfigurationError: an invalid subject or `report`, or no access token.
        CopernicaError: Copernica refused or was unreachable past the retries.
    """
    chosen = make_subjects(others=subjects)
    pipeline = pipeline or default_pipeline()
    started = time.monotonic()
    outcomes: dict[str, Outcome] = {}
    client = client_from_config(**connection)

    def keep(outcome: Outcome) -> None:
        outcomes[outcome.subject.key] = outcome

    requests = partial(data_requests, chosen, report=report, output_dir=output_dir, store_data=store_data,
                       poll_interval=poll_interval, client=client, on_outcome=keep, include_pending=include_pending)
    try:
        _run(pipeline, requests(wait=False))  # ask; the IDs are committed with this load
        if wait and any(o.status == PENDING for o in outcomes.values()):
            left = max(0.0, float(timeout) - (time.monotonic() - started))
            _run(pipeline, requests(wait=True, timeout=left, create=False))
    finally:
        client.close()
    named = [outcomes.pop(s.key) for s in chosen if s.key in outcomes]
    return named + list(outcomes.values())


def _run(pipeline: dlt.Pipeline, resource: DltResource) -> None:
    try:
        pipeline.run(resource).raise_on_failed_jobs()
    except PipelineStepFailed as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, CopernicaError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from None
        raise


__all__ = ["data_requests", "request_data", "Outcome", "Subject", "subject", "parse_subject", "read_subjects",
           "make_subjects", "default_pipeline", "DataRequestApi"]

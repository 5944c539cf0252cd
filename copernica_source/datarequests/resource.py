"""GDPR data requests: ask Copernica for everything it holds on a subject, wait for the file, deliver it.

Copernica answers a request with an ID and builds a JSON file (`{"info": {...}, "data": [[...]]}`) in its own
time; the file expires. Pending request IDs live in dlt resource state keyed by subject, so a re-run waits for
them instead of asking again. `request_data()` works in two loads (ask and commit the IDs, then wait) so that even
a run killed while waiting resumes without a new request. The data is personal data: it goes to the caller
(`Outcome.data`), to owner-only files and, only when asked (`store_data`), to the destination; never to logs or
exception messages.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any, TypeVar, Unpack

import dlt
import orjson
from dlt.common.schema.typing import TColumnSchema
from dlt.extract.resource import DltResource
from dlt.pipeline.exceptions import PipelineStepFailed

from copernica_source.client import CopernicaClient
from copernica_source.datarequests.api import (
    DELIVERED,
    EXPIRED,
    FAILED,
    NOT_FOUND,
    NOT_YET,
    PENDING,
    DataRequestApi,
    Outcome,
    gone_for_good,
    utc_now,
    write_file,
)
from copernica_source.datarequests.subjects import Subject, make_subjects
from copernica_source.email_address import is_email
from copernica_source.errors import (
    AuthenticationError,
    ConfigurationError,
    CopernicaAPIError,
    CopernicaError,
    NotFoundError,
    copernica_cause,
)
from copernica_source.pipeline import drop_staging_dataset, finish_pending, no_secret_in_trace, own_staging
from copernica_source.settings import (
    DEFAULT_DATASET,
    DUCKDB_FILE,
    ConnectionOverrides,
    client_from_config,
    duckdb_destination,
)

RESOURCE = "data_requests"
DEFAULT_TIMEOUT = 3600.0

COLUMNS: dict[str, TColumnSchema] = {
    "request_id": {"data_type": "text", "nullable": False},
    "subject_type": {"data_type": "text"},
    "subject_id": {"data_type": "text"},
    "status": {"data_type": "text"},
    "requested_at": {"data_type": "timestamp"},
    "completed_at": {"data_type": "timestamp", "nullable": True},
    "data": {"data_type": "text", "nullable": True},
}

























_T = TypeVar("_T")
_R = TypeVar("_R")


def _parallel(client: CopernicaClient, fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(client.max_concurrency, len(items))) as pool:
        return list(pool.map(fn, items))






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
            return Outcome(who, PENDING, rid, utc_now())

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
                    outcome.status, outcome.completed_at = DELIVERED, utc_now()
                    outcome.data, outcome.message = payload, ""
                    if output_dir:
                        outcome.path = write_file(output_dir, outcome, text)
                    pending_state.pop(outcome.subject.key, None)
                    row = finish(outcome, text)
                    if row:
                        yield row
                elif status == NOT_YET and gone_for_good(pending_state.get(outcome.subject.key), outcome):
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
                outcome.message = outcome.message or "pending; run again with --wait (wait=True) to fetch it"
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
    store_data: bool = False,
    poll_interval: float = 2.0,
    include_pending: bool = False,
    client: CopernicaClient | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    **connection: Unpack[ConnectionOverrides],
) -> DltResource:
    """The `data_requests` table as a dlt resource: one row per request (ID, subject, status, times; the JSON
    only with `store_data`).

    Subjects without a pending request are asked for (unless `create=False`), pending ones from earlier runs of
    the same pipeline are waited for. IDs asked for in a run are only remembered once that run's load commits:
    use `request_data()` (or run this first with `wait=False`) when a run may be killed while waiting.

    Args:
        subjects: whom to ask about: `Subject`s or text such as `profile:12`, `subprofile:7`, `email:a@b.nl`.
        report: an e-mail address or http(s) URL Copernica also sends the file to.
        wait: wait for pending requests (polling with backoff) instead of only asking.
        timeout: seconds to wait, at most.
        create: ask for subjects without a pending request (False: only wait for earlier ones).
        output_dir: also write one JSON file per delivered subject here, named `<kind>-<request id>.json`
            (readable by the owner only; folders it creates are too).
        store_data: also put the data itself in the table's `data` column; off by default, as the table usually
            sits in an analytics warehouse that many can read (off: the table tracks statuses only).
        poll_interval: seconds between the first polls; each wait is half as long again, up to a minute.
        include_pending: also wait for the pending requests of subjects not named this time.
        client: a client to use (and leave open) instead of one built from config.
        on_outcome: called with each subject's `Outcome` as it settles.
        **connection: overrides of `[sources.copernica]` (access_token, base_url, api_version, ...).

    Returns:
        The `data_requests` resource, merged on `request_id`.

    Raises:
        ConfigurationError: an invalid subject or `report`, or nowhere for the data to go (no `store_data`,
            `output_dir` or `on_outcome`): a delivered request is not asked for again, so its data would be lost.
    """
    if not (store_data or output_dir or on_outcome):
        raise ConfigurationError("data_requests() needs somewhere to deliver the data: store_data=True, output_dir= "
                                 "or on_outcome= (a delivered request is not fetched again)")
    chosen = make_subjects(others=subjects)
    if report is not None and not str(report).strip():
        report = None
    if report and not (re.match(r"^https?://\S+$", report) or is_email(report)):
        raise ConfigurationError(f"--report must be an e-mail address or an http(s) URL, not {report!r}")
    gen = _requests(chosen, client, connection, report, wait, float(timeout), create,
                    str(output_dir) if output_dir else None, store_data, poll_interval, on_outcome, include_pending)
    return dlt.resource(gen, name=RESOURCE, write_disposition="merge", primary_key="request_id",
                        columns=COLUMNS, max_table_nesting=0)


def default_pipeline(duckdb_file: str = DUCKDB_FILE, dataset: str = DEFAULT_DATASET,
                     pipelines_dir: str | None = None, destination: Any = None) -> dlt.Pipeline:
    """Its own pipeline name, so its state (the pending request IDs) never mixes with the load pipeline's, and its
    own staging dataset (copernica_source.pipeline)."""
    pipeline = dlt.pipeline(pipeline_name="copernica_data_requests",
                            destination=destination or duckdb_destination(duckdb_file), dataset_name=dataset,
                            pipelines_dir=pipelines_dir)  # type: ignore[arg-type]  # dlt: `str = None`
    return own_staging(pipeline)


def request_data(
    subjects: Iterable[Subject | str],
    *,
    pipeline: dlt.Pipeline | None = None,
    report: str | None = None,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    output_dir: str | os.PathLike[str] | None = None,
    store_data: bool = False,
    poll_interval: float = 2.0,
    include_pending: bool = False,
    **connection: Unpack[ConnectionOverrides],
) -> list[Outcome]:
    """One call: ask for every subject, commit the request IDs, wait, deliver (Outcome.data; files, table if asked).

    A re-run with the same pipeline waits for pending requests instead of asking again.

    Args:
        subjects: whom to ask about: `Subject`s or text such as `profile:12`, `subprofile:7`, `email:a@b.nl`.
        pipeline: the pipeline whose state keeps the pending request IDs (default: `default_pipeline()`).
        report: an e-mail address or http(s) URL Copernica also sends the file to.
        wait: wait for the requests to be ready instead of only asking.
        timeout: seconds the whole call may wait, at most.
        output_dir: also write one JSON file per delivered subject here, named `<kind>-<request id>.json`
            (readable by the owner only; folders it creates are too).
        store_data: also put the data itself in the table's `data` column; off by default, as the table usually
            sits in an analytics warehouse that many can read (off: the table tracks statuses only).
        poll_interval: seconds between the first polls; each wait is half as long again, up to a minute.
        include_pending: also wait for the pending requests of subjects not named this time.
        **connection: overrides of `[sources.copernica]` (access_token, base_url, api_version, ...).

    Returns:
        One Outcome per subject, in order, then any other pending ones (`status` pending/delivered/expired/
        not_found/failed; `message` says what to do). A delivered one holds the parsed file in `data`, whether or
        not it was also stored or written.

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
    with no_secret_in_trace(pipeline):
        try:
            finish_pending(pipeline)  # dlt's run would load only that package, and ignore `resource`
            pipeline.run(resource).raise_on_failed_jobs()
            drop_staging_dataset(pipeline)  # only a staging dataset `own_staging` named
        except PipelineStepFailed as exc:
            cause = copernica_cause(exc)
            if cause is not None:
                raise cause from None
            raise




"""All HTTP of the push: one row at a time into one database (upsert, create or update; by a key field, or by
the profile's own ID with `PUT profile/$id`), and the database's definition (fields, interests) read before the
first write."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, get_args

import orjson

from copernica_source.client import CopernicaClient
from copernica_source.errors import (
    AuthenticationError,
    ConfigurationError,
    CopernicaAPIError,
    NotFoundError,
    TransientError,
    one_line,
)
from copernica_source.probes import rows_of
from copernica_source.push.columns import PROFILE_ID, Database, field_def, key_def, profile_id_key_problem
from copernica_source.push.journal import Journal, RowResult
from copernica_source.push.validation import CheckedRow, key_group

Mode = Literal["upsert", "create", "update"]


MODES: tuple[Mode, ...] = get_args(Mode)


DEFAULT_CONCURRENCY = 8


LOOKUP_LIMIT = 10


CREATE_ATTEMPTS = 4


class ProfileWriter:
    """Writes checked rows to one database through one client; thread-safe, one instance per load."""

    def __init__(self, client: CopernicaClient, db: Database, key_field: str, mode: str = "upsert",
                 concurrency: int = DEFAULT_CONCURRENCY) -> None:
        if mode not in MODES:
            raise ConfigurationError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.client = client
        self.db = db
        self.key_field = key_field
        self.mode = mode
        self.by_id = key_def(db, key_field) is PROFILE_ID  # `--key id`: PUT profile/$id, never a selector
        problem = profile_id_key_problem(mode, client.api_version) if self.by_id else None
        if problem:
            raise ConfigurationError(problem)
        self.concurrency = max(1, int(concurrency))
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="copernica-push")
        self._selector_checked = False
        self._selector_lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()

    # -- a batch -----------------------------------------------------------------------------------------
    def write(self, checked: Sequence[CheckedRow], journal: Journal | None = None) -> list[RowResult]:
        """Send the valid rows (rows of one key in order, keys side by side); rejected rows are only reported.
        Each row's result goes to the journal as it completes; rows of this load that already have a result (a
        batch replayed after a kill) are not sent again. Raises IncompleteBatch after the batch settles if
        Copernica was unavailable (or refused the token) for some row: rows not started by then are left without a
        result (the next run sends them); no other error stops a batch."""
        self.check_selector()
        results: list[RowResult | None] = [None] * len(checked)
        groups: dict[str, list[int]] = {}

        def record(i: int, result: RowResult) -> None:
            results[i] = result
            if journal is not None:
                journal.record(result)

        for i, c in enumerate(checked):
            earlier = journal.done(c.row) if journal is not None else None
            if earlier is not None:
                results[i] = earlier  # this load already wrote (or refused) the row: its result stands
            elif c.reason is not None:
                record(i, RowResult(c.row, c.key, "rejected", None, c.reason))
            else:
                groups.setdefault(key_group(c.key or ""), []).append(i)

        # after an outage (or a refused token) no further row is started: each would wait out the client's whole
        # retry time for nothing. The rows left have no result, so the next run sends them.
        stop = threading.Event()

        def run_group(indices: list[int]) -> None:
            for i in indices:
                if stop.is_set():
                    return
                try:
                    record(i, self.write_one(checked[i], journal))
                except BaseException:
                    stop.set()
                    raise

        futures = [self._pool.submit(run_group, idx) for idx in groups.values()]
        outage: BaseException | None = None
        for f in futures:
            exc = f.exception()
            if exc is not None and (outage is None or isinstance(exc, AuthenticationError)):
                outage = exc
        if journal is not None:
            journal.sync()
        if outage is not None:
            raise IncompleteBatch([r for r in results if r is not None], outage)
        return [r for r in results if r is not None]

    # -- one row -----------------------------------------------------------------------------------------
    def write_one(self, c: CheckedRow, journal: Journal | None = None) -> RowResult:
        """One row's result. Only an outage or a refused token stops the batch; anything else that goes wrong
        with this row (a 400, a value that cannot be encoded, an unexpected answer) is this row's failure."""
        attempt = _Attempt(journal, c, journal is not None and journal.was_sending(c.row))
        try:
            if self.by_id:
                return self._update_by_id(c, attempt)
            if self.mode == "upsert":
                return self._upsert(c, attempt)
            if self.mode == "create":
                return self._create(c, attempt)
            return self._update(c, attempt)
        except (TransientError, AuthenticationError):
            raise
        except CopernicaAPIError as exc:  # a 400 about this row: record it, never retry
            return RowResult(c.row, c.key, "failed", None, exc.message)
        except Exception as exc:  # noqa: BLE001 - one row's trouble must never block the rows after it
            when = ("after it was sent (check the profile in Copernica)" if attempt.sent
                    else "before it was sent")
            return RowResult(c.row, c.key, "failed", None, f"this row failed {when}: {one_line(exc)}")

    def _path(self) -> str:
        return f"database/{self.db.id}/profiles"

    def _selector(self, key: str) -> list[tuple[str, str]]:
        return [("fields[]", f"{self.key_field}=={key}")]

    def _body(self, c: CheckedRow) -> dict[str, Any]:
        if self.client.api_version == 1:
            return dict(c.fields)  # v1 takes the flat field map and no interests
        body: dict[str, Any] = {"fields": c.fields}
        if c.interests is not None:
            # a `name: 1|0` map of every interest: the pages do not say whether a list replaces a profile's
            # interests or adds to them; the full map means "exactly these" under either reading
            wanted = {name.lower() for name in c.interests}
            # names the database does not declare never get here: validation rejects the row (A36)
            body["interests"] = {name: int(name.lower() in wanted) for name in self.db.interests}
        return body

    def _sendable_body(self, c: CheckedRow) -> dict[str, Any]:
        """The body, encoded once before anything is sent: a value JSON cannot carry fails this row here, before
        its intent line, not the batch in the client."""
        body = self._body(c)
        orjson.dumps(body)
        return body

    def check_selector(self) -> None:
        """Copernica ignores a `fields[]` selector it cannot use, silently, and a PUT whose selector is ignored
        would update every profile of the database (rmuit). Once per load, before the first write, a key no
        profile can have must select nothing; otherwise nothing is written."""
        with self._selector_lock:
            if self._selector_checked or self.by_id:  # by ID no selector is sent
                return
            # a value no profile holds, of the key field's kind (MySQL would read a text probe as 0 for a number)
            numeric = self.db.fields.get(self.key_field.lower())
            if numeric is not None and numeric.type in ("integer", "float", "foreign_key"):
                probe = f"-{int.from_bytes(os.urandom(6), 'big') + 10**15}"
            else:
                probe = f"copernica-source-probe-{os.urandom(8).hex()}"
            page = self.client.get(self._path(), [*self._selector(probe), ("limit", 1), ("dataonly", "true")])
            if rows_of(page):
                raise ConfigurationError(
                    f"Copernica ignores the selector fields[]={self.key_field}==... on database {self.db.id} (a key "
                    "no profile has selected profiles), so a write could change every profile; nothing was written. "
                    "Check --key, and run `copernica check`"
                )
            self._selector_checked = True

    def lookup(self, key: str) -> list[int]:
        """IDs of the profiles the key selects (at most LOOKUP_LIMIT), by the same selector writes use; only rows
        whose key field really holds the key count (a selector Copernica ignored must not match them all)."""
        page = self.client.get(self._path(), [*self._selector(key), ("limit", LOOKUP_LIMIT), ("dataonly", "true")])
        wanted = key.strip().lower()
        out = []
        for row in rows_of(page):
            fields = {str(k).lower(): v for k, v in (row.get("fields") or {}).items()} if isinstance(row, dict) else {}
            if self.key_field.lower() not in fields or _same_key(str(fields[self.key_field.lower()]), wanted):
                out.append(int(row["ID"]))
        return out

    def _updated(self, c: CheckedRow, ids: list[int]) -> RowResult:
        if len(ids) > 1:
            shown = ", ".join(map(str, ids[:5])) + (" ..." if len(ids) > 5 else "")
            return RowResult(c.row, c.key, "updated", ids[0],
                             f"{len(ids)}{'+' if len(ids) >= LOOKUP_LIMIT else ''} profiles have this key and "
                             f"all were updated: {shown}")
        return RowResult(c.row, c.key, "updated", ids[0] if ids else None, "")

    def _upsert(self, c: CheckedRow, attempt: _Attempt) -> RowResult:
        assert c.key is not None
        body = self._sendable_body(c)
        attempt.sending()
        resp = self.client.request("PUT", self._path(), [*self._selector(c.key), ("create", "1")], body)
        # created or updated is told by the status (201) or X-Created, never by X-location: the pages say it
        # comes on updates too, and v2 answered every PUT with 303 + Location (docs/assumptions.md)
        if resp.status == 201 or resp.headers.get("X-Created") is not None:
            created = _created_id(resp.headers)
            if created is None:
                ids = self.lookup(c.key)
                created = ids[0] if ids else None
            return RowResult(c.row, c.key, "created", created, "")
        result = self._updated(c, self.lookup(c.key))
        if attempt.resumed:
            note = ("an interrupted run had sent this row and its answer was lost, so that run may have created "
                    "the profile")
            result.message = f"{note}; {result.message}" if result.message else note
        return result

    def _update(self, c: CheckedRow, attempt: _Attempt) -> RowResult:
        assert c.key is not None
        ids = self.lookup(c.key)
        if not ids:
            return RowResult(c.row, c.key, "failed", None, "not found: no profile has this key (update mode)")
        body = self._sendable_body(c)
        attempt.sent = True  # an update is safe to repeat: no intent line is needed
        self.client.request("PUT", self._path(), self._selector(c.key), body)
        return self._updated(c, ids)

    def _update_by_id(self, c: CheckedRow, attempt: _Attempt) -> RowResult:
        """`PUT profile/$id` once the profile is known to be this database's and not removed: Copernica still
        answers `GET profile/$id` for a removed profile (fields empty, `removed` a time), and an ID from another
        database must not be written with this database's fields."""
        assert c.key is not None
        pid = int(c.key)
        try:
            profile = self.client.get(f"profile/{pid}")
        except NotFoundError:
            return RowResult(c.row, c.key, "failed", None, "not found: no profile has this ID (update mode)")
        if not isinstance(profile, dict):
            return RowResult(c.row, c.key, "failed", None, f"GET profile/{pid} answered no profile: not sent")
        where = str(profile.get("database", "")).strip()
        if where != str(self.db.id):
            return RowResult(c.row, c.key, "failed", None,
                             f"profile {pid} is in database {where or '?'}, not {self.db.name!r} ({self.db.id}): "
                             "not sent")
        if profile.get("removed") not in (None, False, "", "0", "false"):
            return RowResult(c.row, c.key, "failed", pid,
                             f"profile {pid} was removed from Copernica ({profile.get('removed')}): not sent")
        body = self._sendable_body(c)
        attempt.sent = True  # an update is safe to repeat: no intent line is needed
        self.client.request("PUT", f"profile/{pid}", json=body)
        return RowResult(c.row, c.key, "updated", pid, "")

    def _create(self, c: CheckedRow, attempt: _Attempt) -> RowResult:
        """POST only while the key is absent: a POST whose answer was lost may have created the profile."""
        assert c.key is not None
        ids = self.lookup(c.key)
        if ids and attempt.resumed:  # the intent line says an interrupted run POSTed this row: it made the profile
            return RowResult(c.row, c.key, "created", ids[0], "created by the interrupted run; its answer was lost")
        if ids:
            return RowResult(c.row, c.key, "failed", ids[0],
                             f"a profile with this key already exists ({', '.join(map(str, ids[:5]))}); "
                             "create mode never updates (use upsert)")
        body = self._sendable_body(c)
        attempt.sending()
        for _ in range(CREATE_ATTEMPTS):
            try:
                resp = self.client.request("POST", self._path(), json=body, retry_unsafe=False)
            except TransientError:
                ids = self.lookup(c.key)
                if ids:
                    return RowResult(c.row, c.key, "created", ids[0], "the answer was lost; the profile was found")
                continue
            created = _created_id(resp.headers)
            if created is None:
                ids = self.lookup(c.key)
                created = ids[0] if ids else None
            return RowResult(c.row, c.key, "created", created, "")
        raise TransientError(f"POST {self._path()}: {CREATE_ATTEMPTS} answers lost; Copernica may be overloaded")


class _Attempt:
    """One row's attempt: whether an interrupted run had sent it (`resumed`), and whether this one has (`sent`)."""

    def __init__(self, journal: Journal | None, c: CheckedRow, resumed: bool) -> None:
        self.journal = journal
        self.row = c
        self.resumed = resumed
        self.sent = False

    def sending(self) -> None:
        """The intent line, flushed before the request that may create a profile."""
        if self.journal is not None:
            self.journal.intend(self.row.row, self.row.key)
        self.sent = True


def _same_key(stored: str, wanted: str) -> bool:
    """As Copernica compares: numbers as numbers, text case-insensitively."""
    stored = stored.strip().lower()
    if stored == wanted:
        return True
    try:
        return float(stored) == float(wanted)
    except ValueError:
        return False


class IncompleteBatch(Exception):
    """A batch that could not finish; carries the rows that did, so their results are kept."""

    def __init__(self, done: list[RowResult], cause: BaseException) -> None:
        super().__init__(str(cause))
        self.done = done
        self.cause = cause


def _created_id(headers: Any) -> int | None:
    """The ID of an entity the answer says it created: X-Created, else the tail of X-location/Location."""
    value = headers.get("X-Created")
    if value is None:
        location = headers.get("X-location") or headers.get("Location") or ""
        tail = location.rstrip("/").rsplit("/", 1)[-1]
        value = tail if tail.isdigit() else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None




def fetch_database(client: CopernicaClient, database: str | int) -> Database:
    """The database (by ID or name, as Copernica accepts both) with its field definitions."""
    ref = str(database).strip()
    if not ref:
        raise ConfigurationError("no database given: pass --database (an ID or a name)")
    try:
        entity = client.get(f"database/{ref}")
    except NotFoundError:
        raise ConfigurationError(f"Copernica has no database {ref!r} (by ID or name)") from None
    db_id = int(entity["ID"])
    fields = {str(f["name"]).lower(): field_def(f) for f in _every_row(client, f"database/{db_id}/fields")}
    interests = tuple(str(i["name"]) for i in _every_row(client, f"database/{db_id}/interests") if i.get("name"))
    return Database(db_id, str(entity.get("name", ref)), fields, interests)


def _every_row(client: CopernicaClient, path: str) -> list[dict[str, Any]]:
    """A short list whole, by start/limit; a page is short against the `limit` the server echoes."""
    out: list[dict[str, Any]] = []
    start = 0
    asked = 100 if client.api_version == 1 else 1000  # v1: "at most 100 objects" per call
    while True:
        page = client.get(path, {"start": start, "limit": asked})
        rows = page.get("data", []) if isinstance(page, dict) else list(page or [])
        out += [r for r in rows if isinstance(r, dict)]
        start += len(rows)
        served = page.get("limit", asked) if isinstance(page, dict) else asked
        if not rows or len(rows) < int(served or asked):
            return out



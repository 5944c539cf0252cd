"""Reverse path: a dlt destination that writes rows as profiles into one Copernica database, one result per row.

Why it is shaped this way:
- Copernica has no duplicate check on POST, so the default is an upsert (`PUT database/$id/profiles?fields[]=
  key==value&create=1`), which is safe to repeat: a retry or a re-run matches the profile the first one made.
  `create` mode never re-sends a POST whose answer was lost without first looking the key up.
- dlt checkpoints each batch of a load job in the load package, so a killed run resumes at the unfinished
  batch on the next `pipeline.run()`; rows of a batch go out concurrently (bounded), rows sharing a key in
  order, so two rows never race to create the same profile.
- Row results are appended to a CSV journal (`results_path`) as each batch finishes and are fsynced, so they
  survive a kill too. A batch replayed after a kill appends its rows again; `read_results` keeps the last.
- A 400 is that row's failure (recorded, not retried); only an outage (retries exhausted) fails the batch,
  as `DestinationTransientException`, so running again resumes.
"""

from __future__ import annotations

import csv
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, get_args

import dlt
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
from dlt.common.destination.exceptions import DestinationTerminalException, DestinationTransientException
from dlt.common.schema import TTableSchema
from dlt.common.storages.load_package import load_package_state
from dlt.common.typing import TDataItems, TSecretStrValue
from dlt.destinations import destination as DestinationFactory

from copernica_source.client import CopernicaClient
from copernica_source.errors import (
    AuthenticationError,
    ConfigurationError,
    CopernicaAPIError,
    CopernicaError,
    TransientError,
)
from copernica_source.probes import rows_of
from copernica_source.profile_validation import (
    CheckedRow,
    Database,
    RowPlan,
    check_row,
    fetch_database,
    key_group,
    plan_columns,
)
from copernica_source.settings import client_from_config

Mode = Literal["upsert", "create", "update"]
MODES: tuple[Mode, ...] = get_args(Mode)
DEFAULT_BATCH_SIZE = 250
DEFAULT_CONCURRENCY = 8
DEFAULT_RESULTS_PATH = "copernica_profiles_results.csv"
RESULT_COLUMNS = ("row", "key", "action", "profile_id", "message", "load_id")
LOOKUP_LIMIT = 10
CREATE_ATTEMPTS = 4


@dataclass
class RowResult:
    row: int | None
    key: str | None
    action: str  # created | updated | rejected | failed
    profile_id: int | None = None
    message: str = ""


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
        self.concurrency = max(1, int(concurrency))
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="copernica-push")
        self._selector_checked = False
        self._selector_lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()

    # -- a batch -----------------------------------------------------------------------------------------
    def write(self, checked: Sequence[CheckedRow]) -> list[RowResult]:
        """Send the valid rows (rows of one key in order, keys side by side); rejected rows are only reported.
        Raises TransientError after the batch settles if Copernica was unavailable for some row."""
        self.check_selector()
        results: list[RowResult | None] = [None] * len(checked)
        groups: dict[str, list[int]] = {}
        for i, c in enumerate(checked):
            if c.reason is not None:
                results[i] = RowResult(c.row, c.key, "rejected", None, c.reason)
            else:
                groups.setdefault(key_group(c.key or ""), []).append(i)

        def run_group(indices: list[int]) -> None:
            for i in indices:
                results[i] = self.write_one(checked[i])

        futures = [self._pool.submit(run_group, idx) for idx in groups.values()]
        outage: BaseException | None = None
        for f in futures:
            exc = f.exception()
            if exc is not None and (outage is None or isinstance(exc, AuthenticationError)):
                outage = exc
        if outage is not None:
            raise _Incomplete([r for r in results if r is not None], outage)
        return [r for r in results if r is not None]

    # -- one row -----------------------------------------------------------------------------------------
    def write_one(self, c: CheckedRow) -> RowResult:
        try:
            if self.mode == "upsert":
                return self._upsert(c)
            if self.mode == "create":
                return self._create(c)
            return self._update(c)
        except (TransientError, AuthenticationError):
            raise
        except CopernicaAPIError as exc:  # a 400 about this row: record it, never retry
            return RowResult(c.row, c.key, "failed", None, exc.message)

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
            body["interests"] = {name: int(name.lower() in wanted) for name in self.db.interests}
            known = {name.lower() for name in self.db.interests}
            body["interests"].update({name: 1 for name in c.interests if name.lower() not in known})
        return body

    def check_selector(self) -> None:
        """Copernica ignores a `fields[]` selector it cannot use, silently, and a PUT whose selector is ignored
        would update every profile of the database (rmuit). Once per load, before the first write, a key no
        profile can have must select nothing; otherwise nothing is written."""
        with self._selector_lock:
            if self._selector_checked:
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

    def _upsert(self, c: CheckedRow) -> RowResult:
        assert c.key is not None
        resp = self.client.request("PUT", self._path(), [*self._selector(c.key), ("create", "1")], self._body(c))
        # created or updated is told by the status (201) or X-Created, never by X-location: the pages say it
        # comes on updates too, and v2 answered every PUT with 303 + Location (docs/assumptions.md)
        if resp.status == 201 or resp.headers.get("X-Created") is not None:
            created = _created_id(resp.headers)
            if created is None:
                ids = self.lookup(c.key)
                created = ids[0] if ids else None
            return RowResult(c.row, c.key, "created", created, "")
        return self._updated(c, self.lookup(c.key))

    def _update(self, c: CheckedRow) -> RowResult:
        assert c.key is not None
        ids = self.lookup(c.key)
        if not ids:
            return RowResult(c.row, c.key, "failed", None, "not found: no profile has this key (update mode)")
        self.client.request("PUT", self._path(), self._selector(c.key), self._body(c))
        return self._updated(c, ids)

    def _create(self, c: CheckedRow) -> RowResult:
        """POST only while the key is absent: a POST whose answer was lost may have created the profile."""
        assert c.key is not None
        ids = self.lookup(c.key)
        if ids:
            return RowResult(c.row, c.key, "failed", ids[0],
                             f"a profile with this key already exists ({', '.join(map(str, ids[:5]))}); "
                             "create mode never updates (use upsert)")
        for _ in range(CREATE_ATTEMPTS):
            try:
                resp = self.client.request("POST", self._path(), json=self._body(c), retry_unsafe=False)
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


def _same_key(stored: str, wanted: str) -> bool:
    """As Copernica compares: numbers as numbers, text case-insensitively."""
    stored = stored.strip().lower()
    if stored == wanted:
        return True
    try:
        return float(stored) == float(wanted)
    except ValueError:
        return False


class _Incomplete(Exception):
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


# -- results journal -----------------------------------------------------------------------------------------
_JOURNAL_LOCK = threading.Lock()


def append_results(path: str, results: Iterable[RowResult], load_id: str = "") -> None:
    """Append row results to a CSV file and fsync it: what a killed run did is still known afterwards."""
    with _JOURNAL_LOCK:
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        with open(path, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(RESULT_COLUMNS)
            for r in results:
                writer.writerow([
                    "" if r.row is None else r.row, "" if r.key is None else r.key, r.action,
                    "" if r.profile_id is None else r.profile_id, r.message, load_id,
                ])
            f.flush()
            os.fsync(f.fileno())


RESULTS_SCHEMA = pa.schema([("row", pa.int64()), ("key", pa.string()), ("action", pa.string()),
                            ("profile_id", pa.int64()), ("message", pa.string()), ("load_id", pa.string())])


def read_results(path: str, latest_only: bool = True) -> pa.Table:
    """A results journal as a table; `latest_only` keeps the last result per row (a replayed batch repeats rows)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return RESULTS_SCHEMA.empty_table()
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(column_types=RESULTS_SCHEMA, strings_can_be_null=False,
                                             null_values=[""], quoted_strings_can_be_null=False),
    )
    table = table.select(list(RESULTS_SCHEMA.names))
    if not latest_only:
        return table
    rows = table.to_pylist()
    last: dict[Any, int] = {}
    for i, r in enumerate(rows):
        ident = ("row", r["row"]) if r["row"] is not None else ("msg", r["key"], r["message"])
        last[ident] = i
    keep = sorted(last.values())
    ordered = sorted(keep, key=lambda i: (rows[i]["row"] is None, rows[i]["row"] or 0, i))
    return pa.Table.from_pylist([rows[i] for i in ordered], schema=RESULTS_SCHEMA)


# -- the dlt destination ------------------------------------------------------------------------------------
@dataclass
class _LoadWriter:
    load_id: str
    signature: tuple[Any, ...]
    writer: ProfileWriter
    db: Database
    plans: dict[tuple[str, ...], RowPlan]

    def plan(self, columns: Sequence[str], settings: dict[str, Any]) -> RowPlan:
        """Column plan for the columns a batch really has (dlt's table schema keeps columns of earlier runs)."""
        ident = tuple(columns)
        if ident not in self.plans:
            try:
                self.plans[ident] = plan_columns(list(columns), self.db, settings["key"],
                                                 settings["interests_column"], settings["ignore_unknown_columns"])
            except ConfigurationError as exc:
                raise DestinationTerminalException(str(exc)) from exc
        return self.plans[ident]


_WRITERS: dict[tuple[str, str | None], _LoadWriter] = {}  # (load ID, table name: optional in dlt's TTableSchema)
_WRITERS_LOCK = threading.Lock()


def _writer_for(table: TTableSchema, settings: dict[str, Any]) -> _LoadWriter:
    """One client and database lookup per load package and table, reused by all its batches."""
    load_id = load_package_state()["load_id"]
    signature = tuple(sorted((k, str(v)) for k, v in settings.items()))
    ident = (load_id, table["name"])
    with _WRITERS_LOCK:
        for other in [k for k, w in _WRITERS.items() if w.load_id != load_id]:
            _WRITERS.pop(other).writer.close()
        current = _WRITERS.get(ident)
        if current is not None and current.signature == signature:
            return current
        overrides = {k: settings[k] for k in ("access_token", "base_url", "auth_url", "api_version")}
        try:
            client = client_from_config(max_concurrency=settings["concurrency"], **overrides)
            db = fetch_database(client, settings["database"])
            key_field = db.fields.get(str(settings["key"]).lower())
            if key_field is None:
                raise ConfigurationError(f"key {settings['key']!r} is not a field of database {db.name!r} ({db.id})")
            if client.api_version == 1 and settings.get("interests_column"):
                raise ConfigurationError("api_version 1 writes a flat field map and no interests: the interests "
                                         "column would be dropped; use api_version 4 for interests")
        except (ConfigurationError, AuthenticationError) as exc:
            raise DestinationTerminalException(str(exc)) from exc
        except TransientError as exc:
            raise DestinationTransientException(str(exc)) from exc
        writer = ProfileWriter(client, db, key_field.name, settings["mode"], settings["concurrency"])
        try:
            writer.check_selector()
        except ConfigurationError as exc:
            writer.close()
            raise DestinationTerminalException(str(exc)) from exc
        lw = _LoadWriter(load_id, signature, writer, db, {})
        _WRITERS[ident] = lw
        return lw


def close_writers() -> None:
    """Close the clients and thread pools kept for the loads of this process (the CLI calls it when done)."""
    with _WRITERS_LOCK:
        while _WRITERS:
            _WRITERS.popitem()[1].writer.close()


def _columns_of(items: TDataItems, key: str) -> list[str]:
    """Columns that hold a value in this batch, and the key column. dlt's table schema (and so each batch) keeps
    columns of earlier runs as nulls; an all-null column writes nothing, so it cannot be an unknown-column error."""
    if isinstance(items, (pa.RecordBatch, pa.Table)):
        return [c for c in items.schema.names
                if c.lower() == key.lower() or items.column(c).null_count < items.num_rows]
    seen: dict[str, None] = {}
    for i in items:
        seen.update(dict.fromkeys(k for k, v in i.items() if v is not None or k.lower() == key.lower()))
    return list(seen)


def _rows_of(items: TDataItems) -> list[dict[str, Any]]:
    if isinstance(items, (pa.RecordBatch, pa.Table)):
        rows: list[dict[str, Any]] = items.to_pylist()
        return rows
    return [dict(i) for i in items]


def _decode_interests(rows: list[dict[str, Any]], column: str | None) -> None:
    """A list column that went through dlt's JSON path arrives as JSON text."""
    if not column:
        return
    for r in rows:
        v = r.get(column)
        if isinstance(v, str) and v.lstrip().startswith("["):
            try:
                r[column] = orjson.loads(v)
            except orjson.JSONDecodeError:
                pass


@dlt.destination(
    name="copernica_profiles",
    batch_size=DEFAULT_BATCH_SIZE,
    loader_file_format="parquet",
    naming_convention="direct",
    skip_dlt_columns_and_tables=True,
    max_table_nesting=0,
    loader_parallelism_strategy="sequential",
)
def _copernica_profiles_sink(
    items: TDataItems,
    table: TTableSchema,
    database: str = dlt.config.value,
    key: str = dlt.config.value,
    mode: str = "upsert",
    concurrency: int = DEFAULT_CONCURRENCY,
    results_path: str = DEFAULT_RESULTS_PATH,
    interests_column: str | None = None,
    ignore_unknown_columns: bool = False,
    timezone: str = "Europe/Amsterdam",
    access_token: TSecretStrValue | None = None,
    base_url: str | None = None,
    auth_url: str | None = None,
    api_version: int | None = None,
) -> None:
    """One batch of a table: check every row, send the valid ones, append every row's result."""
    if mode not in MODES:
        raise DestinationTerminalException(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    settings = dict(database=database, key=key, mode=mode, concurrency=int(concurrency),
                    interests_column=interests_column, ignore_unknown_columns=bool(ignore_unknown_columns),
                    access_token=access_token, base_url=base_url, auth_url=auth_url, api_version=api_version)
    lw = _writer_for(table, settings)
    plan = lw.plan(_columns_of(items, key), settings)
    rows = _rows_of(items)
    _decode_interests(rows, interests_column)
    checked = [check_row(r, plan, timezone) for r in rows]
    load_id = lw.load_id
    try:
        results = lw.writer.write(checked)
    except _Incomplete as inc:
        append_results(results_path, inc.done, load_id)
        if isinstance(inc.cause, AuthenticationError):
            raise DestinationTerminalException(str(inc.cause)) from inc.cause
        if isinstance(inc.cause, CopernicaError):
            raise DestinationTransientException(
                f"Copernica was unavailable; this batch resumes on the next run: {inc.cause}") from inc.cause
        raise inc.cause from None  # the cause itself, not the _Incomplete that carried it here
    append_results(results_path, results, load_id)


def copernica_profiles(
    database: str | int | None = None,
    key: str | None = None,
    mode: Mode | None = None,
    *,
    concurrency: int | None = None,
    results_path: str | None = None,
    interests_column: str | None = None,
    ignore_unknown_columns: bool | None = None,
    timezone: str | None = None,
    batch_size: int | None = None,
    access_token: TSecretStrValue | None = None,
    base_url: str | None = None,
    auth_url: str | None = None,
    api_version: int | None = None,
) -> DestinationFactory:
    """A dlt destination that upserts (default), creates or updates profiles of a Copernica database.

    Arguments left None come from `[destination.copernica_profiles]` config; the connection (token, URLs)
    from `[sources.copernica]`, like every entry point. Row results go to `results_path` (CSV, appended).

    Args:
        database: the database's ID or name.
        key: the field that identifies a profile (e.g. "email", "customerid").
        mode: "upsert" (update, or create when absent), "create" (new keys only, never updates) or "update"
            (existing keys only, never creates).
        concurrency: requests in flight at once (default 8).
        results_path: the CSV the per-row results are appended to (`read_results` reads it back).
        interests_column: a column of interests (a list, or comma-separated text) to set on each profile.
        ignore_unknown_columns: skip columns that are not fields of the database instead of failing.
        timezone: Copernica's zone: date-time values that carry a zone are converted to it before they are sent
            (default Europe/Amsterdam).
        batch_size: rows per batch (default 250); a killed run resumes at the unfinished batch.
        access_token: overrides `[sources.copernica]`'s token.
        base_url: overrides `[sources.copernica]`'s API host.
        auth_url: overrides `[sources.copernica]`'s authentication URL.
        api_version: overrides `[sources.copernica]`'s API version.

    Returns:
        A dlt destination factory to give to `dlt.pipeline(destination=...)`.

    Raises:
        ConfigurationError: `mode` is not one of the three.
    """
    given: dict[str, Any] = dict(
        database=None if database is None else str(database), key=key, mode=mode, concurrency=concurrency,
        results_path=results_path, interests_column=interests_column,
        ignore_unknown_columns=ignore_unknown_columns, timezone=timezone, batch_size=batch_size,
        access_token=access_token, base_url=base_url, auth_url=auth_url, api_version=api_version,
    )
    if mode is not None and mode not in MODES:
        raise ConfigurationError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    return _copernica_profiles_sink(**{k: v for k, v in given.items() if v is not None})

"""Reverse path: a dlt destination that writes rows as profiles into one Copernica database, one result per row.

Why it is shaped this way:
- Copernica has no duplicate check on POST, so the default is an upsert (`PUT database/$id/profiles?fields[]=
  key==value&create=1`), which is safe to repeat: a retry or a re-run matches the profile the first one made.
  `create` mode never re-sends a POST whose answer was lost without first looking the key up.
- dlt checkpoints each batch of a load job in the load package, so a killed run resumes at the unfinished
  batch on the next `pipeline.run()`; rows of a batch go out concurrently (bounded), rows sharing a key in
  order, so two rows never race to create the same profile.
- Each row's result is appended to a CSV journal (`results_path`) as the row completes (fsynced once a batch),
  and a `sending` line goes before each request that may create a profile. A batch replayed after a kill sends
  only the rows of this load that have no result; a row with an intent but no result is resolved by asking
  Copernica (create mode) or reported as possibly created by the interrupted run (upsert).
- Anything wrong with one row (a 400, a value that cannot be sent) is that row's failure; only an outage
  (retries exhausted) fails the batch, as `DestinationTransientException`, so running again resumes (no further
  row of the batch is started: each would wait out the retry time too; see `copernica_profiles` for dlt's own
  retries of the batch). Any other
  stop is a `PushStopped` (terminal) whose message carries its cause and says what to do.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dlt
import orjson
import pyarrow as pa
from dlt.common.destination.exceptions import DestinationTerminalException, DestinationTransientException
from dlt.common.schema import TTableSchema
from dlt.common.storages.load_package import load_package_state
from dlt.common.typing import TDataItems, TSecretStrValue
from dlt.destinations import destination as DestinationFactory

from copernica_source.errors import AuthenticationError, ConfigurationError, TransientError, one_line
from copernica_source.push.columns import (
    PROFILE_ID,
    ROW_COLUMN,
    Database,
    RowPlan,
    key_def,
    plan_columns,
    profile_id_key_problem,
)
from copernica_source.push.journal import Journal
from copernica_source.push.validation import CheckedRow, check_row
from copernica_source.push.writer import (
    DEFAULT_CONCURRENCY,
    MODES,
    IncompleteBatch,
    Mode,
    ProfileWriter,
    fetch_database,
)
from copernica_source.settings import client_from_config

DEFAULT_BATCH_SIZE = 250
DEFAULT_RESULTS_PATH = "copernica_profiles_results.csv"


class PushStopped(DestinationTerminalException):
    """The push cannot go on, and running the same command again would stop the same way: `advice` says what
    to do instead. The message always carries the cause."""

    def __init__(self, message: str, advice: str) -> None:
        super().__init__(f"{message} ({advice})")
        self.reason = message
        self.advice = advice


class CopernicaUnavailable(DestinationTransientException):
    """Copernica was unavailable for some row of a batch: running again later resumes that batch."""


FIX_SETTINGS = "fix the setting, then run again; pass --discard-pending to drop the unfinished push"
NOT_AN_OUTAGE = ("this is not an outage, so running the same command again would stop the same way: fix the "
                 "input, or pass --discard-pending to drop the unfinished push (rows already done keep their results)")
FIX_TOKEN = "fix the access token in [sources.copernica], then run the same command again to finish the push"


# -- the dlt destination ------------------------------------------------------------------------------------
@dataclass
class _LoadWriter:
    load_id: str
    signature: tuple[Any, ...]
    writer: ProfileWriter
    db: Database
    plans: dict[tuple[tuple[str, ...], tuple[str, ...]], RowPlan]
    journal: Journal

    def plan(self, columns: Sequence[str], every_column: Sequence[str], settings: dict[str, Any]) -> RowPlan:
        """Column plan for the columns a batch really has (dlt's table schema keeps columns of earlier runs);
        `every_column` (all-null ones too) tells whether a loaded table's `fields__<name>` column is there."""
        ident = (tuple(columns), tuple(every_column))
        if ident not in self.plans:
            try:
                plan = plan_columns(list(columns), self.db, settings["key"], settings["interests_column"],
                                    settings["ignore_unknown_columns"], every_column)
                if plan.interest_columns and self.writer.client.api_version == 1:
                    raise ConfigurationError(
                        f"api_version 1 writes a flat field map and no interests: the interest columns "
                        f"{', '.join(plan.interest_columns)} would be dropped; use api_version 4 for interests")
            except ConfigurationError as exc:
                raise PushStopped(str(exc), "fix the input's columns, or pass --discard-pending") from exc
            self.plans[ident] = plan
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
            key_field = key_def(db, str(settings["key"]))
            if key_field is None:
                raise ConfigurationError(f"key {settings['key']!r} is not a field of database {db.name!r} ({db.id})")
            problem = profile_id_key_problem(settings["mode"], client.api_version) if key_field is PROFILE_ID else None
            if problem:
                raise ConfigurationError(problem)
            if client.api_version == 1 and settings.get("interests_column"):
                raise ConfigurationError("api_version 1 writes a flat field map and no interests: the interests "
                                         "column would be dropped; use api_version 4 for interests")
        except ConfigurationError as exc:
            raise PushStopped(str(exc), FIX_SETTINGS) from exc
        except AuthenticationError as exc:
            raise PushStopped(str(exc), FIX_TOKEN) from exc
        except TransientError as exc:
            raise CopernicaUnavailable(f"Copernica was unavailable: {exc}") from exc
        writer = ProfileWriter(client, db, key_field.name, settings["mode"], settings["concurrency"])
        try:
            writer.check_selector()
        except ConfigurationError as exc:
            writer.close()
            raise PushStopped(str(exc), FIX_SETTINGS) from exc
        except TransientError as exc:
            writer.close()
            raise CopernicaUnavailable(f"Copernica was unavailable: {exc}") from exc
        lw = _LoadWriter(load_id, signature, writer, db, {}, Journal(settings["results_path"], load_id))
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


def _every_column(items: TDataItems) -> list[str]:
    if isinstance(items, (pa.RecordBatch, pa.Table)):
        return list(items.schema.names)
    seen: dict[str, None] = {}
    for i in items:
        seen.update(dict.fromkeys(i))
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
    """One batch of a table: check every row, send the valid ones, journal every row's result. Only an outage is
    transient; every other stop is a PushStopped that names its cause (dlt would otherwise retry the batch)."""
    if mode not in MODES:
        raise PushStopped(f"mode must be one of {', '.join(MODES)}, not {mode!r}", FIX_SETTINGS)
    settings = dict(database=database, key=key, mode=mode, concurrency=int(concurrency),
                    interests_column=interests_column, ignore_unknown_columns=bool(ignore_unknown_columns),
                    access_token=access_token, base_url=base_url, auth_url=auth_url, api_version=api_version,
                    results_path=results_path)
    try:
        _write_batch(items, table, settings, timezone)
    except (DestinationTerminalException, DestinationTransientException):
        raise
    except Exception as exc:  # a bug or a surprise: stop once, with its cause, never retry blindly
        raise PushStopped(f"the push stopped on an unexpected error: {one_line(exc)}", NOT_AN_OUTAGE) from exc


def _write_batch(items: TDataItems, table: TTableSchema, settings: dict[str, Any], timezone: str) -> None:
    lw = _writer_for(table, settings)
    plan = lw.plan(_columns_of(items, settings["key"]), _every_column(items), settings)
    rows = _rows_of(items)
    _decode_interests(rows, settings["interests_column"])
    checked = [_checked(r, plan, timezone) for r in rows]
    try:
        lw.writer.write(checked, lw.journal)
    except IncompleteBatch as inc:
        if isinstance(inc.cause, AuthenticationError):
            raise PushStopped(str(inc.cause), FIX_TOKEN) from inc.cause
        if isinstance(inc.cause, TransientError):
            raise CopernicaUnavailable(
                f"Copernica was unavailable; this batch resumes on the next run: {inc.cause}") from inc.cause
        raise PushStopped(f"the push stopped on an unexpected error: {one_line(inc.cause)}",
                          NOT_AN_OUTAGE) from inc.cause


def _checked(values: dict[str, Any], plan: RowPlan, timezone: str) -> CheckedRow:
    """check_row, and a row whose check itself breaks is that row's rejection, never the batch's end."""
    try:
        return check_row(values, plan, timezone)
    except Exception as exc:  # noqa: BLE001 - reported on the row
        row = values.get(ROW_COLUMN)
        key = values.get(plan.key_column)
        return CheckedRow(int(row) if isinstance(row, int) else None, None if key is None else str(key)[:200],
                          {}, None, f"this row could not be checked: {one_line(exc)}")


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

    When Copernica stays unavailable past the client's own retries (`[sources.copernica] retry_max_seconds`),
    the rows of the batch not yet started are left unsent and the batch raises `CopernicaUnavailable`, a
    `DestinationTransientException`. dlt then puts the job back into the load package and, by default, tries it
    again in the same run up to `load.raise_on_max_retries` times (5), each try waiting out the client's retry
    time again, before `pipeline.run()` raises `PipelineStepFailed`; dlt also logs each try with its traceback.
    The package stays pending either way: the next `pipeline.run()` resumes it, and rows that already have a
    result are not sent again. To stop at the first outage, as `copernica push-profiles` does, set
    `raise_on_max_retries = 1` in the pipeline's `[<pipeline name>.load]` config section (or the environment
    variable `<PIPELINE_NAME>__LOAD__RAISE_ON_MAX_RETRIES=1`). Any other stop raises `PushStopped` (terminal):
    running again would stop the same way, so its message says what to do.

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

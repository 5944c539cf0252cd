"""Log tables: Copernica's daily logfiles (one download per day and type), as opt-in dlt resources.

The list of files drives what is read: `logfiles?type=T` names every file of a type (one request), the day comes
from the name, and a file loaded before is not fetched again unless its day is within `logfile_lookback_days`
of today (a day's file may still grow). Each file is streamed through pyarrow's CSV reader (logfile_csv.py). Rows
have no ID: `log_file` + `log_line` is the key and a file read again replaces its rows (merge key `log_file`),
so a file that grew, or was rewritten, ends up as Copernica serves it now. The names loaded are kept in the
resource's dlt state, committed with the load that carries the rows.

Readings the pages leave open are checked at run time (docs/assumptions.md A53-A56): an account that answers
`?type=` with dates (the "neither" answer) is listed per day instead; a name without a date is read every run.
"""

from __future__ import annotations

import difflib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, TypeVar
from urllib.parse import quote

import dlt
import httpx
import pyarrow as pa
from dlt.extract.resource import DltResource

from copernica_source.account import Account
from copernica_source.arrow_rows import Schema
from copernica_source.errors import ConfigurationError, UnexpectedAnswerError
from copernica_source.logfile_csv import CutShortError, LogFile, LogfileFormatError, read_csv
from copernica_source.tables import LOG_COLUMNS, LOG_TABLES, LOG_TYPES, TableSpec, dlt_hints, log_fields

log = logging.getLogger("copernica_source")
_T = TypeVar("_T")

_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_LOG_COLUMN_NAMES = frozenset(item.partition(":")[0] for item in LOG_COLUMNS.split())
FORMAT_ATTEMPTS = 3  # a body that does not parse is asked again this often (a damaged transfer heals; a new layout
# does not, and fails the run)
GATHER_ROWS = 20_000
GROUPS = {"html": "pom-", "draganddrop": "cdm-", "webhooks": "feedback-loop-"}
"""`logfiles` setting words that choose a group of log tables, by the log types' prefix."""


def chosen_log_tables(wanted: Iterable[str]) -> set[str]:
    """The log tables a `logfiles` setting names: "all", a product ("html", "draganddrop", "webhooks"), a log type
    ("pom-clicks") or a table name ("html_log_clicks")."""
    out: set[str] = set()
    for word in (str(w).strip() for w in wanted):
        if not word or word == "none":
            continue
        matched = {s.name for s in LOG_TABLES if word in ("all", s.name, s.log_type)
                   or (word in GROUPS and s.log_type.startswith(GROUPS[word]))}
        if not matched:
            choices = ["none", "all", *GROUPS, *(s.log_type for s in LOG_TABLES), *(s.name for s in LOG_TABLES)]
            close = difflib.get_close_matches(word, choices, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigurationError(f"logfiles: {word!r} is not a log table, log type or group; {hint}use "
                                     f"{', '.join(['all', *GROUPS, 'none'])}, a log type (pom-clicks) or a log table "
                                     "(html_log_clicks): `copernica tables | grep _log_` lists them")
        out |= matched
    return out


def logfile_resources(account: Account, selected: set[str], lookback_days: int, timezone: str) -> list[DltResource]:
    """One resource per log type, selected when named in `selected` (the others are listed and can be picked
    with `--resources`)."""
    return [_resource(account, spec, spec.name in selected, lookback_days, timezone) for spec in LOG_TABLES]


def _resource(account: Account, spec: TableSpec, selected: bool, lookback_days: int, timezone: str) -> DltResource:
    page_schema = Schema(tuple(c for c in spec.schema.columns if c.name not in _LOG_COLUMN_NAMES))
    fields = log_fields(spec.log_type)

    def read() -> Iterator[pa.Table]:
        s = account.settings
        backfill = s.end_date is not None
        state: dict[str, Any] = dlt.current.resource_state()
        # day -> {"names": files read whole, "read_on": the local date of the run that last read them}
        loaded: dict[str, dict[str, Any]] = state.setdefault("days", {})
        today = s.now_local().date()
        first, last = _local_days(s.start_date, s.end_date, s.tz)
        todo: list[LogFile] = []
        for day, names in _by_day(_names(account, spec.log_type, lambda d: _settled(loaded, d, lookback_days),
                                         first, last, backfill)):
            if (first and day and day < first) or (last and day and day > last):
                continue
            settled = _settled(loaded, day, lookback_days)
            done = set(loaded.get(day.isoformat(), {}).get("names", ())) if day else set()
            todo += [LogFile(name, day, fields, page_schema, spec.name) for name in names
                     if backfill or not settled or name not in done]
        jobs = [lambda file=file: _download(account, file, timezone) for file in todo]
        held: list[pa.Table] = []  # small files' rows gathered into one table: dlt's cost is per table handed on
        for index, batch in in_order(jobs, s.max_concurrency):
            if batch is not None:
                held.append(batch)
                if sum(t.num_rows for t in held) >= GATHER_ROWS:
                    yield pa.concat_tables(held, promote_options="default")
                    held = []
                continue
            file = todo[index]  # read whole: remember it (committed with the load that carries its rows)
            if file.day is not None:
                entry = loaded.setdefault(file.day.isoformat(), {"names": [], "read_on": today.isoformat()})
                entry["names"] = sorted({*entry["names"], file.name})
                entry["read_on"] = today.isoformat()
        if held:
            yield pa.concat_tables(held, promote_options="default")

    # a file's rows never repeat within a load, so the merge skips its de-duplication pass; the resources run side
    # by side (dlt's parallelized), so one type's queue does not hold the others back
    hints: dict[str, Any] = {
        "name": spec.name, "primary_key": list(spec.primary_key), "merge_key": list(spec.merge_key),
        "write_disposition": {"disposition": "merge", "strategy": "delete-insert", "deduplicated": True},
        "columns": dlt_hints(spec)["columns"], "selected": selected, "parallelized": True}
    resource: DltResource = dlt.resource(read, **hints)
    return resource.apply_hints(additional_table_hints={"description": spec.description})


def in_order(jobs: Sequence[Callable[[], Iterator[_T]]], workers: int, depth: int = 2
             ) -> Iterator[tuple[int, _T | None]]:
    """Run up to `workers` jobs (each a generator, a file's batches) side by side and hand on their items in job
    order, then `(index, None)` when job `index` is done. Each job runs at most `depth` items ahead of the consumer,
    so memory stays bounded by workers x depth items; an error in a job is raised here, in its turn."""
    cancel = threading.Event()
    queues: list[queue.Queue[Any]] = [queue.Queue(maxsize=depth) for _ in jobs]

    def put(out: queue.Queue[Any], item: Any) -> bool:
        """Hand an item on unless the consumer has gone (False then)."""
        while not cancel.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def run(index: int) -> None:
        try:
            for item in jobs[index]():
                if not put(queues[index], item):
                    return
            put(queues[index], _Done())
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, raised there in its turn
            put(queues[index], _Done(exc))

    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="logfile")
    try:
        for index in range(min(len(jobs), max(1, workers))):
            pool.submit(run, index)
        for index in range(len(jobs)):
            while True:
                item = queues[index].get()
                if isinstance(item, _Done):
                    if item.error is not None:
                        raise item.error
                    break
                yield index, item
            if index + max(1, workers) < len(jobs):
                pool.submit(run, index + max(1, workers))
            yield index, None
    finally:
        cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)


class _Done:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error


def _names(account: Account, log_type: str, settled: Callable[[date], bool], first: date | None,
           last: date | None, backfill: bool) -> list[str]:
    """Every file name of `log_type` (one request), or, where the account answers a type alone with its dates,
    the names of each day that needs reading (a request per day)."""
    answer = account.client.get("logfiles", [("type", log_type)])
    items = _strings(answer, f"logfiles?type={log_type}")
    if not items or not all(_DATE_ONLY.match(i) for i in items):
        return [i for i in items if _of_type(i, log_type)]
    names: list[str] = []
    for text in sorted(items):
        day = _day(text)
        if day is None or (first and day < first) or (last and day > last):
            continue
        if settled(day) and not backfill:
            continue  # read whole after it stopped growing: its files are known
        names += _strings(account.client.get("logfiles", [("date", text), ("type", log_type)]),
                          f"logfiles?date={text}&type={log_type}")
    return names


def _settled(loaded: dict[str, dict[str, Any]], day: date | None, lookback_days: int) -> bool:
    """Whether a day's files were last read when the day could no longer grow: more than `lookback_days` after
    it ended. Measured from that read, not from today, so a run after a long pause still reads the days the last
    run saw growing."""
    if day is None or day.isoformat() not in loaded:
        return False
    read_on = date.fromisoformat(loaded[day.isoformat()]["read_on"])
    return (read_on - day).days > max(0, lookback_days)


def _local_days(start: datetime | None, end: datetime | None, zone: tzinfo) -> tuple[date | None, date | None]:
    """The account's local days a backfill covers: from start's day up to the day before end (end is exclusive,
    as for the event lists: an end at local midnight does not take that day)."""
    first = start.astimezone(zone).date() if start else None
    last = (end.astimezone(zone) - timedelta(microseconds=1)).date() if end else None
    return first, last


def _of_type(name: str, log_type: str) -> bool:
    """Whether a listed name is a file of `log_type`: a name that starts with another type (`pom-clicks-old...` is
    not `pom-clicks`; an account that ignored `type` and listed everything) is left to that type's table; a name
    that starts with no known type is kept, the list was asked for this type."""
    owner = max((t for t in LOG_TYPES if name.startswith(t) and not name[len(t):len(t) + 1].isalnum()
                 and name[len(t):len(t) + 1] not in ("-", "_")), key=len, default=None)
    return owner in (None, log_type)


def _strings(answer: Any, where: str) -> list[str]:
    if isinstance(answer, dict) and isinstance(answer.get("data"), list):
        answer = answer["data"]  # the usual list envelope, should logfiles ever get one
    if not isinstance(answer, list) or not all(isinstance(i, str) for i in answer):
        raise UnexpectedAnswerError(f"GET {where} answered {type(answer).__name__}, not the list of names "
                                    "rest-get-logfiles-names.md describes; nothing was loaded")
    return [str(i) for i in answer]


def _day(name: str) -> date | None:
    match = _DAY.search(name)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _by_day(names: Sequence[str]) -> list[tuple[date | None, list[str]]]:
    """Names grouped by their day, oldest first, names without a day last (each read every run, with a warning)."""
    days: dict[date | None, list[str]] = {}
    for name in dict.fromkeys(names):
        days.setdefault(_day(name), []).append(name)
    if None in days:
        log.warning("logfiles %s hold no date in their names: they are read in full on every run",
                    ", ".join(days[None][:3]) + (" ..." if len(days[None]) > 3 else ""))
    return sorted(days.items(), key=lambda item: (item[0] is None, item[0] or date.min))


def _download(account: Account, file: LogFile, timezone: str) -> Iterator[pa.Table]:
    """The file's rows as typed batches. A download cut off mid-body is asked again and continues after the rows
    already yielded (a day's file only grows at its end); a body that does not parse is asked again too (it may
    be a damaged transfer) and fails the run if it stays so, with nothing of the run loaded."""
    client = account.client
    started = time.monotonic()
    attempt = 0
    yielded = 0
    path = f"logfile/{quote(file.name, safe='')}/csv"
    while True:
        try:
            with client.stream(path) as response:
                for batch in read_csv(response.iter_bytes(), file, timezone, skip=yielded):
                    yielded += batch.num_rows
                    yield batch
            return
        except (httpx.TransportError, CutShortError) as exc:
            reason = f"download cut off ({exc})" if isinstance(exc, CutShortError) else \
                f"connection lost mid-download ({type(exc).__name__})"
        except LogfileFormatError as exc:
            reason = f"{exc.problem} (asked again: a damaged transfer heals)"
            if attempt + 1 >= FORMAT_ATTEMPTS:
                raise LogfileFormatError(f"{exc} It did so on {FORMAT_ATTEMPTS} downloads in a row.", exc.problem) \
                    from None
        attempt += 1
        client.retry_wait(attempt, started, f"GET logfile {file.name}", reason)

"""The one loop: fetch pages side by side, type them into Arrow, hand them over in completion order.

Every table is read by a *plan*: seed tasks (a first page per window or key range) and a rule that turns
each finished page into the next step: follow-up tasks, and whether the page's rows are kept. A `Reader`
(made by `Account.reader`) runs a plan: it keeps `max_concurrency` requests in flight, runs the JSON parse
and the Arrow typing on its worker threads, and hands over typed batches (`read`) or parsed answers (`pages`)
as they arrive. Follow-ups go before new seeds, so a window is finished before the next one is opened.

Paging rules that hold for Copernica (see BEHAVIOUR.md section 2): `start` is a skip offset and gets slow
when deep, `total` is exact but costs, a short page is the last one. So a plan asks for `total` on the first
page of a range only, fetches the rest of the range by offset concurrently, and never goes deeper than
`max_offset_pages` pages: a longer key range continues from the last ID seen (keyset), a longer time window
is split in two.
"""

from __future__ import annotations

import io
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from copernica_source.arrow_rows import Schema, rows_to_arrow, struct_to_arrow
from copernica_source.client import CopernicaClient, cut_short
from copernica_source.errors import (
    CopernicaError,
    FilterIgnoredError,
    NotFoundError,
    UnexpectedAnswerError,
    exception_text,
)
from copernica_source.probes import rows_of
from copernica_source.timefmt import COPERNICA_TIME

BATCH_ROWS = 20_000
log = logging.getLogger("copernica_source")

TaskKind = Literal["first", "page", "walk", "range_end", "object"]
"""What a task asks for: the first page of a range (with its `total`), a page by offset, the next page of a
list walked without a total, the last page of a keyset range (its last ID opens the next range), one object."""

Via = Literal["arrow", "rows", "raw"]
"""How a page is parsed: by pyarrow straight into typed columns (the hot path), into Python rows then typed
(when Python needs the rows), or into Python only (the caller reads the answers; nothing typed)."""


@dataclass(frozen=True)
class Task:
    """One GET to make. `kind` and `meta` tell the plan what the answer means."""

    path: str
    params: tuple[tuple[str, Any], ...]
    kind: TaskKind = "page"
    start: int = 0
    meta: Any = None
    priority: bool = False
    more: tuple[int, int] | None = None  # (page size, end offset): the range's pages still to plan after this one


@dataclass(frozen=True)
class Page:
    """A finished task: its typed rows (may be empty) and what the plan learned from it."""

    task: Task
    table: pa.Table | None
    count: int
    total: int | None
    last_row: dict[str, Any] | None
    raw: Any = None  # the parsed answer, when the page took a Python path
    limit: int | None = None  # the page size the server says it used (it may ignore the one asked for)

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows of the parsed answer (envelope or bare array); empty when pyarrow typed the page (no Python
        rows were made)."""
        return [row for row in rows_of(self.raw) if isinstance(row, dict)]


@dataclass(frozen=True)
class Next:
    """What a plan makes of a finished page: the tasks it leads to (`priority` ones go first), and whether the
    page's rows are handed on (`keep=False`: the plan has them re-read another way, e.g. a window split in two)."""

    tasks: Sequence[Task] = ()
    keep: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))  # compares equal however the plan listed them


Handler = Callable[[Page], Next]


@dataclass(frozen=True)
class Plan:
    """How some lists are read: the first tasks, the rule that turns each finished page into the next step, and
    whether that rule reads a page's parsed rows (`Page.rows`), so that pages keep them."""

    seeds: Iterable[Task]
    handle: Handler
    reads_rows: bool = False


Derive = Callable[[Task, list[dict[str, Any]]], dict[str, Iterable[Any]]]
"""Columns computed for a page from its task and its parsed rows (e.g. the parent's ID the rows lack)."""


def from_parent(column: str) -> Derive:
    """`column` holds the parent's ID on every row: the `meta` of a task read per parent (lists_plan,
    objects_plan)."""

    def derive(task: Task, rows: list[dict[str, Any]]) -> dict[str, Iterable[Any]]:
        return {column: [task.meta] * len(rows)}

    return derive


@dataclass(frozen=True)
class Reader:
    """Reads the lists of one table by plans: `read` hands over typed batches, `pages` the parsed answers.
    Made by `Account.reader`, which fills in the client and the run's settings."""

    client: CopernicaClient
    schema: Schema | None  # None: answers read untyped, through `pages` only
    timezone: str
    page_size: int = 1000
    max_offset_pages: int = 50
    max_concurrency: int = 8
    derive: Derive | None = None  # columns computed per page (the rows then take the Python path)
    expect_missing: bool = False  # objects that are gone are what the caller looks for: no warning each
    missing_ok: bool = False  # a list whose parent is gone (deleted since it was listed) is empty, not an error
    table: str = ""  # the destination table: warnings about values loaded as null name it with the column

    def read(self, plan: Plan, batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
        """Every row the plan keeps, typed, in batches of about `batch_rows` rows (pages in completion order).
        Pages are parsed by pyarrow straight into columns unless Python needs their rows (derived columns, or
        a plan that reads them)."""
        if self.schema is None:
            raise ValueError("a reader without a schema reads pages, not typed tables")
        via: Via = "rows" if self.derive is not None or plan.reads_rows else "arrow"
        return batches(run(self, plan, via), batch_rows)

    def pages(self, plan: Plan) -> Iterator[Page]:
        """Every page the plan keeps, with its parsed answer (`raw`, `rows`) and no typing: for callers that read
        the answers themselves."""
        return run(self, plan, "raw")

    def fetch(self, task: Task, via: Via = "rows") -> Page:
        """One task's answer, checked for the shape of a list (or object) answer and typed; an answer that is
        not fails the run with the path and page named, before any cursor moves."""
        try:
            return self._fetch(task, via)
        except UnexpectedAnswerError as exc:
            if str(exc).startswith(task.path):
                raise
            raise type(exc)(f"{where(task)}: {exc}") from exc
        except CopernicaError:
            raise
        except (pa.ArrowException, TypeError, ValueError, OverflowError, KeyError, AttributeError) as exc:
            raise UnexpectedAnswerError(
                f"{where(task)}: an answer that cannot be typed ({type(exc).__name__}: {exception_text(exc)[:300]}); "
                f"{NOTHING_MOVED}"
            ) from exc

    def _fetch(self, task: Task, via: Via) -> Page:
        params = list(task.params)
        if task.kind == "object":
            try:
                return self._page(task, self.client.get(task.path, params), via)
            except NotFoundError as exc:  # e.g. an emailing removed since it was listed: skip it, load the rest
                if not self.expect_missing:
                    log.warning("%s: skipped, Copernica no longer has it (%s)", task.path, exc.message)
                return Page(task, None, 0, None, None)
        params += [("start", task.start), ("limit", self.page_size)]
        params.append(("total", "true" if task.kind == "first" else "false"))
        try:
            if via == "arrow":
                page, start = self._fetch_arrow(task, params)
            else:
                raw = self.client.get(task.path, params)
                page, start = self._page(task, raw, via), _echo(raw, "start")
        except NotFoundError as exc:
            if not self.missing_ok:
                raise
            log.warning("%s: skipped, Copernica no longer has its parent (%s)", task.path, exc.message)
            return Page(task, None, 0, 0, None)
        if start is not None and start != task.start:
            raise UnexpectedAnswerError(
                f"{task.path} answered start={start} when asked for start={task.start}: this list ignores the "
                "start parameter, so it cannot be paged without losing rows; run `copernica check` and report it"
            )
        return page

    def _fetch_arrow(self, task: Task, params: list[tuple[str, Any]]) -> tuple[Page, int | None]:
        """The hot path: pyarrow parses the body straight into columns (C++, without the GIL), so worker
        threads really run side by side; a page it cannot type faithfully takes the Python path (see
        struct_to_arrow). Also returns the `start` the server echoed."""
        body = self.client.get_bytes(task.path, params)
        try:
            parsed = pa_json.read_json(
                io.BytesIO(body), read_options=pa_json.ReadOptions(block_size=len(body) + 64, use_threads=False)
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            parsed = None
        if parsed is None or not _plain_envelope(parsed):  # anything unusual is read (and checked) by Python
            raw = _loads_or_refetch(self.client, task, params, body)
            return self._page(task, raw, "rows"), _echo(raw, "start")
        echo = {k: _envelope_int(task, k, parsed.column(k)[0].as_py()) if k in parsed.column_names else None
                for k in ENVELOPE_INTS}
        data = parsed.column("data")[0].values
        if data is None or len(data) == 0:
            return Page(task, None, 0, echo["total"], None, limit=echo["limit"]), echo["start"]
        assert self.schema is not None  # read() checked
        table = struct_to_arrow(data, self.schema, self.timezone, table=self.table) if data.null_count == 0 else None
        if table is None:
            raw = _loads_or_refetch(self.client, task, params, body)
            return self._page(task, raw, "rows"), _echo(raw, "start")
        last = data[len(data) - 1].as_py()
        check_ids(table)
        return Page(task, table, len(data), echo["total"], {k: last[k] for k in last if k.lower() == "id"},
                    limit=echo["limit"]), echo["start"]

    def _page(self, task: Task, raw: Any, via: Via) -> Page:
        if task.kind == "object":
            if not isinstance(raw, dict):
                raise UnexpectedAnswerError(f"{where(task)}: answered {_kind(raw)} where an object was expected; "
                                            f"{NOTHING_MOVED}")
            rows, total = ([raw] if raw else []), None
        else:
            rows, total = list_answer(task, raw, objects=via != "raw")
        table = None
        if via != "raw" and rows:
            if self.schema is None:
                raise ValueError("a reader without a schema reads pages, not typed tables")
            derived = self.derive(task, rows) if self.derive is not None else None
            table = rows_to_arrow(rows, self.schema, self.timezone, derived, table=self.table)
            check_ids(table)
        return Page(task, table, len(rows), total, rows[-1] if rows and isinstance(rows[-1], dict) else None, raw,
                    limit=_echo(raw, "limit"))


NOTHING_MOVED = "nothing was loaded and no cursor moved"
ENVELOPE_INTS = ("total", "limit", "start", "count")
MAX_ID = 2**62
"""IDs are Copernica's auto-increment counters; one at or above 2^62 (where the source's "never" probes sit,
`fields[]=id>2^62`) is no ID Copernica hands out, and a cursor there could never move on."""


def where(task: Task) -> str:
    """The path and page of a task, for error messages."""
    return task.path if task.kind == "object" else f"{task.path} (page start={task.start})"


def _kind(value: Any) -> str:
    """What a JSON value is, for error messages (never the whole value: answers can be big)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "null"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def _envelope_int(task: Task, key: str, value: Any) -> int | None:
    """A paging value of the envelope (`total`, `start`, `limit`, `count`): absent/null, or a whole number >= 0.
    Anything else means the page cannot be placed in its list, so nothing of it is trusted."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise UnexpectedAnswerError(f"{where(task)}: `{key}` is {_kind(value)}, not a whole number >= 0; {NOTHING_MOVED}")


def list_answer(task: Task, raw: Any, objects: bool = True) -> tuple[list[Any], int | None]:
    """The rows and `total` of a list answer, checked: a bare array, or an object whose `data` is an array and
    whose paging values are whole numbers. With `objects`, every row must be an object: a row of another kind
    would be dropped unseen while the cursor moves past it. Empty `data` is the normal end of a list."""
    if isinstance(raw, list):  # bare arrays (profileids and friends)
        rows: list[Any] = raw
        total: int | None = len(raw)
    elif isinstance(raw, dict):
        data = raw.get("data")
        if not isinstance(data, list):
            raise UnexpectedAnswerError(
                f"{where(task)}: a list answer whose `data` is {_kind(data)}, not an array; {NOTHING_MOVED}")
        rows = data
        echo = {key: _envelope_int(task, key, raw.get(key)) for key in ENVELOPE_INTS}
        total = echo["total"]
    else:
        raise UnexpectedAnswerError(f"{where(task)}: answered {_kind(raw)} where a list was expected; {NOTHING_MOVED}")
    if objects:
        wrong = next((row for row in rows if not isinstance(row, dict)), _NONE)
        if wrong is not _NONE:
            count = sum(1 for row in rows if not isinstance(row, dict))
            raise UnexpectedAnswerError(
                f"{where(task)}: {count} of {len(rows)} rows are not objects (e.g. {_kind(wrong)}); {NOTHING_MOVED}")
    return rows, total


_NONE = object()


def id_list(task: Task, raw: Any) -> list[int]:
    """A bare array of IDs (`profileids`, `subprofileids`; Copernica may write them as text): each a whole number
    in `[0, MAX_ID)`, or the answer is refused (an ID list decides what is deleted)."""
    rows, _ = list_answer(task, raw, objects=False)
    ids: list[int] = []
    for item in rows:
        value: int | None = None
        if isinstance(item, int) and not isinstance(item, bool):
            value = item
        elif isinstance(item, str) and item.isascii() and item.isdigit():
            value = int(item)
        if value is None or not 0 <= value < MAX_ID:
            raise UnexpectedAnswerError(f"{where(task)}: {_kind(item)} in a list of IDs; {NOTHING_MOVED}")
        ids.append(value)
    return ids


def entity_id(row: dict[str, Any], task: Task) -> int:
    """The `ID` of a row read by Python (a database, a collection): a whole number, or the answer is refused."""
    item = _key(row, "ID")
    if item is None:
        raise UnexpectedAnswerError(f"{where(task)}: a row without an ID; {NOTHING_MOVED}")
    return id_list(task, [item])[0]


def check_ids(table: pa.Table | None) -> None:
    """The `id` column is the merge key and (events) the cursor: a row without one cannot be merged, and an ID
    outside `[0, MAX_ID)` is no Copernica ID (a cursor there would stop loading for good)."""
    if table is None or "id" not in table.column_names or table.num_rows == 0:
        return
    ids = table.column("id")
    if not pa.types.is_integer(ids.type):
        return
    missing = ids.null_count
    if missing:
        raise UnexpectedAnswerError(f"{missing} of {table.num_rows} rows have no readable ID; {NOTHING_MOVED}")
    low, high = (v.as_py() for v in pc.min_max(ids).values())
    if low < 0 or high >= MAX_ID:
        bad = low if low < 0 else high
        raise UnexpectedAnswerError(f"ID {bad} is outside what Copernica hands out (0 to 2^62); {NOTHING_MOVED}")


def _plain_envelope(parsed: pa.Table) -> bool:
    """Whether pyarrow's parse is the usual envelope: one object, `data` an array of objects (or empty), and the
    paging values whole numbers (or null): what the hot path reads without looking further."""
    if "data" not in parsed.column_names or parsed.num_rows != 1:
        return False
    data_type = parsed.schema.field("data").type
    if not pa.types.is_list(data_type) or not (pa.types.is_struct(data_type.value_type)
                                                or pa.types.is_null(data_type.value_type)):
        return False
    return all(pa.types.is_integer(parsed.schema.field(k).type) or pa.types.is_null(parsed.schema.field(k).type)
               for k in ENVELOPE_INTS if k in parsed.column_names)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _echo(raw: Any, key: str) -> int | None:
    """A paging value the server echoed in its envelope (`start`, `limit`), if it did."""
    return _int_or_none(raw.get(key)) if isinstance(raw, dict) else None


def _loads_or_refetch(client: CopernicaClient, task: Task, params: list[tuple[str, Any]], body: bytes) -> Any:
    """The Python parse of a body pyarrow would not take. A body cut short is fetched again through the client's
    retries; one that is whole yet not JSON (NaN, a stray byte) is the server's answer: fail, never loop on it."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if cut_short(body):
            return client.get(task.path, params)
        raise UnexpectedAnswerError(
            f"{task.path} (page start={task.start}): the answer is not valid JSON ({str(exc)[:200]}); nothing was "
            "loaded and no cursor moved") from None


def run(reader: Reader, plan: Plan, via: Via) -> Iterator[Page]:
    """The scheduler (use `Reader.read` or `Reader.pages`): tasks on a thread pool, at most `max_concurrency`
    in flight; yields the pages the plan keeps, as they complete."""
    seed_iter = iter(plan.seeds)
    followups: deque[Task] = deque()
    in_flight: dict[Future[Page], Task] = {}
    pool = ThreadPoolExecutor(max_workers=reader.max_concurrency, thread_name_prefix="copernica")
    try:
        seeds_left = True
        while True:
            while len(in_flight) < reader.max_concurrency:
                if followups:
                    task = followups.popleft()
                elif seeds_left:
                    seed = next(seed_iter, None)
                    if seed is None:
                        seeds_left = False
                        break
                    task = seed
                else:
                    break
                in_flight[pool.submit(reader.fetch, task, via)] = task
            if not in_flight:
                return
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                in_flight.pop(future)
                page = future.result()  # a failed page fails the run: the cursor does not advance
                step = plan.handle(page)
                for task in step.tasks:
                    if task.priority:
                        followups.appendleft(task)
                    else:
                        followups.append(task)
                if step.keep:
                    yield page
    finally:
        for future in in_flight:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def batches(pages: Iterable[Page], batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
    """Pages gathered into batches of ~`batch_rows`: dlt's per-item overhead (hint evaluation, schema checks)
    is paid per batch, not per page, and memory stays bounded."""
    pending: list[pa.Table] = []
    rows = 0
    for page in pages:
        if page.table is not None and page.table.num_rows:
            pending.append(page.table)
            rows += page.table.num_rows
            if rows >= batch_rows:
                yield pa.concat_tables(pending, promote_options="default")
                pending, rows = [], 0
    if pending:
        yield pa.concat_tables(pending, promote_options="default")


# -- plans ---------------------------------------------------------------------------------------------------


def served_page_size(page: Page, asked: int) -> int:
    """How many rows the server puts on a page: the `limit` it echoes (a list may ignore the one asked for and
    serve its default), else what was asked, else (a first page shorter than asked but short of the total) the
    count it served. Offsets are computed from this, so a server that pages by 100 loses no rows."""
    if page.limit is not None and page.limit > 0:
        return page.limit
    if page.total is not None and 0 < page.count < min(asked, page.total) and page.task.start == 0:
        return page.count
    return asked


def offset_followups(page: Page, page_size: int, max_pages: int) -> list[Task]:
    """After the first page of a range: the remaining pages by offset, up to `max_pages` pages deep, planned
    `PLAN_AHEAD` at a time (`more_pages`), so a huge or false `total` costs no memory. A short first page is the
    whole range, whatever `total` says; a total that would take more than `MAX_PAGES` pages is refused."""
    task = page.task
    if page.total is None:  # the server ignored total=true: walk page by page
        return walk_on(page, page_size)
    size = served_page_size(page, page_size)
    if page.count < size:
        return []
    pages = min(math.ceil(page.total / size), max_pages)
    if pages > MAX_PAGES:
        raise UnexpectedAnswerError(
            f"{where(task)}: total={page.total:,} would take {pages:,} pages of {size:,} rows, more than any list "
            f"is read in ({MAX_PAGES:,} pages); a total this large is not believable; {NOTHING_MOVED}"
        )
    return offset_pages(task, size, 1, pages * size)


MAX_PAGES = 1_000_000
"""Pages one range may take (a billion rows at 1,000 a page): a `total` beyond it is refused, not planned."""
PLAN_AHEAD = 100
"""Pages of one range planned at a time: enough to keep `max_concurrency` busy, few enough to cost no memory."""


def offset_pages(task: Task, size: int, first: int, end: int) -> list[Task]:
    """Pages `first`, `first + 1`... of `size` rows below offset `end`, at most `PLAN_AHEAD` of them; the first
    carries the rest of the range (`more`), planned when it completes (`more_pages`)."""
    starts = range(first * size, end, size)
    tasks = [replace(task, kind="page", start=start, priority=False, more=None) for start in starts[:PLAN_AHEAD]]
    if tasks and len(starts) > PLAN_AHEAD:
        tasks[0] = replace(tasks[0], more=(size, end))
    return tasks


def more_pages(page: Page) -> list[Task]:
    """The next `PLAN_AHEAD` pages of a range, once the page carrying them is back full (a short one is the end:
    a `total` that overstated the list plans nothing more)."""
    if page.task.more is None:
        return []
    size, end = page.task.more
    if page.count < size:
        return []
    return offset_pages(page.task, size, page.task.start // size + PLAN_AHEAD, end)


def walk_on(page: Page, page_size: int) -> list[Task]:
    """Without a total (the server ignored `total=true`), the next page is known only when this one is full."""
    if page.count == 0 or page.count < served_page_size(page, page_size):
        return []
    return [replace(page.task, kind="walk", start=page.task.start + page.count, priority=True)]


Bounds = Callable[[datetime, "datetime | None"], list[tuple[str, Any]]]


def param_bounds(begin_param: str, end_param: str, time_format: str = COPERNICA_TIME,
                 resolution: timedelta = timedelta(seconds=1)) -> Bounds:
    """A window as two query parameters (`begintime`/`endtime`, `from`/`to`, `fromdate`/`todate`). No page says
    whether they include their ends, so each window starts one `resolution` early: a row on a boundary is read
    twice under inclusive bounds (merged away on the key) and once under exclusive ones, never lost."""

    def bounds(begin: datetime, end: datetime | None) -> list[tuple[str, Any]]:
        window = [(begin_param, (begin - resolution).strftime(time_format))]
        if end is not None:
            window.append((end_param, end.strftime(time_format)))
        return window

    return bounds


def condition_bounds(column: str) -> Bounds:
    """A window as `fields[]` conditions, whose operators say exactly what is in: `[begin, end)`, so windows
    never overlap and never leave a gap."""

    def bounds(begin: datetime, end: datetime | None) -> list[tuple[str, Any]]:
        window = [("fields[]", f"{column}>={begin.strftime(COPERNICA_TIME)}")]
        if end is not None:
            window.append(("fields[]", f"{column}<{end.strftime(COPERNICA_TIME)}"))
        return window

    return bounds


def windows_plan(
    reader: Reader, path: str, params: Sequence[tuple[str, Any]],
    windows: Iterable[tuple[datetime, datetime | None]], bounds: Bounds,
    resolution: timedelta = timedelta(seconds=1), now: Callable[[], datetime] = datetime.now,
) -> Plan:
    """Time windows read side by side; a window too big for `max_offset_pages` is split in two and re-read.

    A window without an end is open (no end parameter sent): the newest rows are read up to Copernica's own
    "now", whatever our clock says; `now()` is used only to find the middle when such a window is split."""

    def task_for(begin: datetime, end: datetime | None) -> Task:
        return Task(path, tuple(params) + tuple(bounds(begin, end)), kind="first", meta=(begin, end))

    def handle(page: Page) -> Next:
        task = page.task
        if task.kind == "walk":
            return Next(walk_on(page, reader.page_size))
        if task.kind != "first":
            return Next(more_pages(page))
        begin, end = task.meta
        size = served_page_size(page, reader.page_size)
        # a short first page is the whole window, whatever its total says
        too_deep = page.total is not None and page.total > reader.max_offset_pages * size and page.count >= size
        span_end = end if end is not None else max(now(), begin)
        middle = begin + ((span_end - begin) // 2 // resolution) * resolution
        if too_deep and begin < middle < span_end:  # re-read by the two halves (overlap is merged away)
            halves = [replace(task_for(begin, middle), priority=True), replace(task_for(middle, end), priority=True)]
            return Next(halves, keep=False)
        # a window that cannot be split further is read to its end, however deep
        return Next(offset_followups(page, reader.page_size, MAX_PAGES + 1 if too_deep else reader.max_offset_pages))

    return Plan((task_for(b, e) for b, e in windows), handle)


def check_ids_above(page: Page, anchor: int, ceiling: int | None = None) -> None:
    """An ID-keyset page must hold ascending IDs in `(anchor, ceiling]`. Copernica ignores a filter a list does
    not support, silently; a page that breaks this would make the keyset ask for the same rows forever or skip
    some, so the run stops here, before any cursor moves."""
    if page.table is None or page.table.num_rows == 0 or "id" not in page.table.column_names:
        return
    ids = page.table.column("id")
    low, high = pc.min(ids).as_py(), pc.max(ids).as_py()
    ordered = ids.length() < 2 or pc.all(pc.greater(ids.slice(1), ids.slice(0, ids.length() - 1))).as_py()
    if low is None or (low > anchor and (ceiling is None or high <= ceiling) and ordered):
        return
    asked = f"fields[]=id>{anchor}" + (f" and id<={ceiling}" if ceiling is not None else "")
    problem = "IDs outside the range asked for" if ordered else "IDs out of ascending order"
    raise (FilterIgnoredError if low <= anchor else UnexpectedAnswerError)(
        f"{page.task.path} answered {asked} with {problem} (lowest {low}, highest {high}): this list does not "
        "honour the ID filter or order by ID, so reading it by ID could repeat or skip rows; nothing was loaded "
        "and no cursor moved. Run `copernica check` and report its output"
    )


def keyset_plan(
    reader: Reader, path: str, params: Sequence[tuple[str, Any]], after_id: int, id_key: str = "ID"
) -> Plan:
    """Rows with `id > after_id`, ascending: ranges of `max_offset_pages` pages read by offset side by side;
    the last page of a range is fetched first, and its last ID opens the next range (keyset), so offsets stay
    shallow however many rows there are and new rows arriving during the run are picked up at the end."""

    def first(anchor: int) -> Task:
        return Task(path, tuple(params) + (("fields[]", f"id>{anchor}"),), kind="first", meta=anchor)

    def handle(page: Page) -> Next:
        task = page.task
        check_ids_above(page, task.meta)
        cap = reader.max_offset_pages
        if task.kind == "walk":
            return Next(walk_on(page, reader.page_size))
        if task.kind == "first":
            size = served_page_size(page, reader.page_size)
            if page.total is None or page.count < size or math.ceil(page.total / size) <= cap:
                return Next(offset_followups(page, reader.page_size, cap))
            last = replace(task, kind="range_end", start=(cap - 1) * size, priority=True)
            return Next([last] + offset_followups(page, reader.page_size, cap - 1))
        if task.kind == "range_end" and page.last_row is not None and page.count >= served_page_size(
                page, reader.page_size):
            return Next([replace(first(int(_key(page.last_row, id_key))), priority=True)])
        return Next()

    return Plan([first(after_id)], handle)


def lists_plan(
    reader: Reader, paths: Iterable[tuple[str, Any]], params: Sequence[tuple[str, Any]] = ()
) -> Plan:
    """Short lists (one per parent, e.g. the fields of each database): the first page of each with its total,
    the rest by offset side by side. `meta` of each task is the parent it was asked for."""
    seeds = (Task(p, tuple(params), kind="first", meta=m) for p, m in paths)

    def handle(page: Page) -> Next:
        if page.task.kind == "walk":
            return Next(walk_on(page, reader.page_size))
        return Next(offset_followups(page, reader.page_size, MAX_PAGES + 1) if page.task.kind == "first"
                    else more_pages(page))

    return Plan(seeds, handle)


def id_ranges_plan(
    reader: Reader, path: str, params: Sequence[tuple[str, Any]], ranges: Iterable[tuple[int, int | None]],
    id_key: str = "ID",
) -> Plan:
    """Rows in disjoint ID ranges `(lo, hi]` (hi None: open), read side by side, each from `fields[]=id>lo` and
    continued from its last ID while pages come back full: never an offset, so rows deleted or inserted while
    the ranges are read cannot shift a row past a page boundary. The list must be ordered by ID (the default)."""

    def task(lo: int, hi: int | None) -> Task:
        bound = (("fields[]", f"id<={hi}"),) if hi is not None else ()
        return Task(path, tuple(params) + (("fields[]", f"id>{lo}"),) + bound, kind="page", meta=(lo, hi))

    def handle(page: Page) -> Next:
        lo, hi = page.task.meta
        check_ids_above(page, lo, hi)
        if page.count < served_page_size(page, reader.page_size) or page.last_row is None:
            return Next()
        last = int(_key(page.last_row, id_key))
        return Next([] if hi is not None and last >= hi else [replace(task(last, hi), priority=True)])

    return Plan((task(lo, hi) for lo, hi in ranges), handle)


def split_ids(ids: Sequence[int], per_range: int) -> list[tuple[int, int | None]]:
    """Sorted IDs -> consecutive ranges `(lo, hi]` of `per_range` IDs each, the last one open (new rows)."""
    per_range = max(1, per_range)
    bounds: list[tuple[int, int | None]] = []
    lo = 0
    for i in range(per_range - 1, len(ids) - 1, per_range):
        bounds.append((lo, ids[i]))
        lo = ids[i]
    bounds.append((lo, None))
    return bounds


def objects_plan(paths: Iterable[tuple[str, Any]]) -> Plan:
    """One GET per object (e.g. statistics of each emailing); `meta` of each task is the object's ID."""
    return Plan((Task(p, (), kind="object", meta=m) for p, m in paths), lambda page: Next())


def _key(row: dict[str, Any], key: str) -> Any:
    return row[key] if key in row else row.get(key.lower(), row.get(key.upper()))

"""The engine's plans on fabricated pages, no HTTP: what each finished page leads to.

Each test builds the page a server could answer and checks the exact next step (tasks, offsets, anchors,
whether the page's rows are kept), so a plan that splits, hands off or walks differently fails here before
it reaches the simulator tests.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pytest

from copernica_source.arrow_rows import Schema, cols
from copernica_source.engine import (
    Next,
    Page,
    Plan,
    Reader,
    Task,
    check_ids_above,
    condition_bounds,
    id_ranges_plan,
    keyset_plan,
    lists_plan,
    offset_followups,
    param_bounds,
    served_page_size,
    split_ids,
    walk_on,
    windows_plan,
)
from copernica_source.errors import FilterIgnoredError, UnexpectedAnswerError

PAGE_SIZE = 10
MAX_PAGES = 3  # a range or window deeper than 30 rows (at 10 a page) is split or continued by keyset


class FakeClient:
    """Serves fixed answers per path and records what was asked; any other path fails the test."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, list[tuple[str, Any]]]] = []

    def get(self, path: str, params: Any = None) -> Any:
        self.asked.append((path, list(params or [])))
        return self.answers[path]

    def get_bytes(self, path: str, params: Any = None) -> bytes:
        return orjson.dumps(self.get(path, params))


def reader(client: Any = None, schema: Schema | None = None) -> Reader:
    return Reader(client or FakeClient({}), schema, "Europe/Amsterdam", page_size=PAGE_SIZE,
                  max_offset_pages=MAX_PAGES, max_concurrency=2)


def page(task: Task, count: int, total: int | None, ids: list[int] | None = None, limit: int | None = None) -> Page:
    """A finished page of `count` rows (IDs `ids` if given) with the `total` and `limit` the server sent."""
    ids = ids if ids is not None else list(range(1, count + 1))
    table = pa.table({"id": pa.array(ids, pa.int64())}) if ids else None
    return Page(task, table, count, total, {"ID": ids[-1]} if ids else None, limit=limit)


def starts(tasks: Any) -> list[int]:
    return [t.start for t in tasks]


def first_of(plan: Plan) -> Task:
    """The one seed of a plan (seeds may be a generator: taken once)."""
    [seed] = list(plan.seeds)
    return seed


# -- served_page_size and offsets ----------------------------------------------------------------------------


def test_served_page_size_honours_an_echoed_smaller_limit() -> None:
    task = Task("list", (), kind="first")
    assert served_page_size(page(task, 5, 23, limit=5), PAGE_SIZE) == 5
    # offsets then step by what was served, so no row between 5 and 10 is skipped
    assert starts(offset_followups(page(task, 5, 23, limit=5), PAGE_SIZE, 100)) == [5, 10, 15, 20]


def test_served_page_size_without_an_echo() -> None:
    first = Task("list", (), kind="first")
    # a short first page that is short of the total: the server pages by what it served
    assert served_page_size(page(first, 7, 23), PAGE_SIZE) == 7
    assert starts(offset_followups(page(first, 7, 23), PAGE_SIZE, 100)) == [7, 14, 21]
    # a short page that is the whole list, or a later page: what was asked
    assert served_page_size(page(first, 7, 7), PAGE_SIZE) == PAGE_SIZE
    assert served_page_size(page(Task("list", (), start=10), 7, 23), PAGE_SIZE) == PAGE_SIZE
    assert served_page_size(page(first, 10, 23, limit=0), PAGE_SIZE) == PAGE_SIZE  # an echo of 0 means nothing


def test_offset_followups_stop_at_max_pages_and_are_plain_pages() -> None:
    followups = offset_followups(page(Task("list", (("a", 1),), kind="first", priority=True), 10, 95), PAGE_SIZE, 4)
    assert starts(followups) == [10, 20, 30]
    assert {(t.kind, t.priority, t.params) for t in followups} == {("page", False, (("a", 1),))}


# -- walking a list without a total --------------------------------------------------------------------------


def test_offset_followups_walk_when_the_total_is_absent() -> None:
    first = Task("list", (), kind="first", meta="parent")
    [walk] = offset_followups(page(first, 10, None), PAGE_SIZE, 100)
    assert (walk.kind, walk.start, walk.priority, walk.meta) == ("walk", 10, True, "parent")
    assert offset_followups(page(first, 9, None), PAGE_SIZE, 100) == []  # a short page is the last one


def test_walk_on_continues_only_from_a_full_page() -> None:
    walking = Task("list", (), kind="walk", start=40)
    [after] = walk_on(page(walking, 10, None), PAGE_SIZE)
    assert (after.kind, after.start) == ("walk", 50)
    assert walk_on(page(walking, 3, None), PAGE_SIZE) == []
    assert walk_on(page(walking, 0, None, ids=[]), PAGE_SIZE) == []
    # a server that pages by 5 (echoed) fills a page with 5 rows
    assert starts(walk_on(page(walking, 5, None, limit=5), PAGE_SIZE)) == [45]


def test_lists_plan_walks_a_list_without_total_to_its_end() -> None:
    plan = lists_plan(reader(), [("database/1/fields", 1)])
    seed = first_of(plan)
    assert (seed.kind, seed.meta) == ("first", 1)
    step = plan.handle(page(seed, 10, None))
    [walk] = step.tasks
    assert step.keep and (walk.kind, walk.start) == ("walk", 10)
    [again] = plan.handle(page(walk, 10, None)).tasks
    assert again.start == 20
    assert plan.handle(page(again, 4, None)).tasks == ()


def test_lists_plan_reads_every_page_of_a_long_list() -> None:
    plan = lists_plan(reader(), [("databases", None)])
    step = plan.handle(page(first_of(plan), 10, 95))
    assert starts(step.tasks) == [10, 20, 30, 40, 50, 60, 70, 80, 90]  # short lists: no max_offset_pages cap
    assert plan.handle(page(step.tasks[0], 10, None)) == Next()


# -- time windows --------------------------------------------------------------------------------------------

BEGIN = datetime(2024, 1, 1)
END = datetime(2024, 1, 3)


def window_plan(windows: list[tuple[datetime, datetime | None]], now: datetime = END) -> Plan:
    return windows_plan(reader(), "html/emailings", [("status", "all")], windows,
                        param_bounds("begintime", "endtime"), now=lambda: now)


def test_windows_plan_splits_a_window_whose_total_exceeds_max_offset_pages() -> None:
    plan = window_plan([(BEGIN, END)])
    seed = first_of(plan)
    assert seed.kind == "first" and seed.meta == (BEGIN, END)
    assert seed.params == (("status", "all"), ("begintime", "2023-12-31 23:59:59"), ("endtime", "2024-01-03 00:00:00"))
    step = plan.handle(page(seed, 10, 31))  # 31 rows: deeper than 3 pages of 10
    assert not step.keep  # the halves read the same rows again
    middle = datetime(2024, 1, 2)
    assert [t.meta for t in step.tasks] == [(BEGIN, middle), (middle, END)]
    assert all(t.kind == "first" and t.priority for t in step.tasks)
    assert step.tasks[1].params[1:] == (("begintime", "2024-01-01 23:59:59"), ("endtime", "2024-01-03 00:00:00"))


def test_windows_plan_reads_a_window_that_fits_by_offset() -> None:
    plan = window_plan([(BEGIN, END)])
    step = plan.handle(page(first_of(plan), 10, 30))  # exactly 3 pages: no split
    assert step.keep
    assert starts(step.tasks) == [10, 20]
    assert all(t.kind == "page" and t.meta == (BEGIN, END) for t in step.tasks)
    assert plan.handle(page(step.tasks[0], 10, None)) == Next()  # later pages lead nowhere


def test_windows_plan_splits_by_the_page_size_the_server_served() -> None:
    plan = window_plan([(BEGIN, END)])
    seed = first_of(plan)
    assert not plan.handle(page(seed, 5, 16, limit=5)).keep  # 16 > 3 pages of 5
    step = plan.handle(page(seed, 5, 15, limit=5))  # 3 pages of 5: read by offset
    assert step.keep and starts(step.tasks) == [5, 10]


def test_windows_plan_splits_an_open_window_at_the_middle_of_now() -> None:
    now = datetime(2024, 1, 5)
    plan = window_plan([(BEGIN, None)], now=now)
    seed = first_of(plan)
    assert [k for k, _ in seed.params] == ["status", "begintime"]  # open: no end sent, Copernica's "now" ends it
    step = plan.handle(page(seed, 10, 100))
    middle = datetime(2024, 1, 3)
    assert [t.meta for t in step.tasks] == [(BEGIN, middle), (middle, None)]
    assert not step.keep


def test_windows_plan_reads_a_window_too_short_to_split_to_its_end() -> None:
    one_second = (BEGIN, BEGIN + timedelta(seconds=1))
    plan = window_plan([one_second])
    step = plan.handle(page(first_of(plan), 10, 55))
    assert step.keep
    assert starts(step.tasks) == [10, 20, 30, 40, 50]  # past max_offset_pages: nothing else would read them


def test_windows_plan_walks_a_window_without_total() -> None:
    plan = window_plan([(BEGIN, END)])
    [walk] = plan.handle(page(first_of(plan), 10, None)).tasks
    assert (walk.kind, walk.start) == ("walk", 10)
    [on] = plan.handle(page(walk, 10, None)).tasks
    assert on.start == 20


def test_condition_bounds_are_half_open() -> None:
    assert condition_bounds("timestamp")(BEGIN, END) == [("fields[]", "timestamp>=2024-01-01 00:00:00"),
                                                         ("fields[]", "timestamp<2024-01-03 00:00:00")]
    assert condition_bounds("timestamp")(BEGIN, None) == [("fields[]", "timestamp>=2024-01-01 00:00:00")]


# -- ID keyset -----------------------------------------------------------------------------------------------


def test_keyset_plan_hands_off_from_the_last_id_of_a_range() -> None:
    plan = keyset_plan(reader(), "html/clicks", [("a", "b")], 100)
    seed = first_of(plan)
    assert (seed.kind, seed.meta, seed.params) == ("first", 100, (("a", "b"), ("fields[]", "id>100")))
    step = plan.handle(page(seed, 10, 95, ids=list(range(101, 111))))  # 95 rows: more than one range of 3 pages
    assert step.keep
    range_end, *middle = step.tasks
    assert (range_end.kind, range_end.start, range_end.priority) == ("range_end", 20, True)  # last page first
    assert [(t.kind, t.start) for t in middle] == [("page", 10)]
    # the range's last page is full: the next range starts above its last ID
    [next_range] = plan.handle(page(range_end, 10, None, ids=list(range(121, 131)))).tasks
    assert (next_range.kind, next_range.meta, next_range.priority) == ("first", 130, True)
    assert next_range.params == (("a", "b"), ("fields[]", "id>130"))
    assert next_range.start == 0


def test_keyset_plan_ends_on_a_short_range_end_and_reads_a_short_list_by_offset() -> None:
    plan = keyset_plan(reader(), "html/clicks", [], 0)
    seed = first_of(plan)
    assert plan.handle(page(Task("html/clicks", seed.params, kind="range_end", start=20, meta=0), 4, None,
                            ids=[21, 22, 23, 24])).tasks == ()
    step = plan.handle(page(seed, 10, 25))  # fits in one range: plain offsets, no hand-off
    assert [(t.kind, t.start) for t in step.tasks] == [("page", 10), ("page", 20)]


def test_keyset_plan_stops_when_the_id_filter_is_ignored() -> None:
    plan = keyset_plan(reader(), "html/clicks", [], 500)
    with pytest.raises(FilterIgnoredError, match="id>500"):
        plan.handle(page(first_of(plan), 3, 3, ids=[1, 2, 3]))  # IDs at or below the anchor: filter ignored


def test_check_ids_above() -> None:
    task = Task("html/clicks", (), kind="first", meta=100)
    check_ids_above(page(task, 3, 3, ids=[101, 150, 151]), 100)  # fine
    check_ids_above(page(task, 3, 3, ids=[101, 150, 151]), 100, 151)  # fine, ceiling included
    check_ids_above(page(task, 0, 0, ids=[]), 100)  # an empty page says nothing
    with pytest.raises(FilterIgnoredError, match="IDs outside the range"):
        check_ids_above(page(task, 2, 2, ids=[100, 101]), 100)  # the anchor itself is not above it
    with pytest.raises(UnexpectedAnswerError, match="IDs outside the range"):
        check_ids_above(page(task, 2, 2, ids=[101, 152]), 100, 151)  # above the ceiling
    with pytest.raises(UnexpectedAnswerError, match="out of ascending order"):
        check_ids_above(page(task, 3, 3, ids=[101, 103, 102]), 100)
    with pytest.raises(FilterIgnoredError, match="out of ascending order"):
        check_ids_above(page(task, 2, 2, ids=[101, 5]), 100)


# -- ID ranges -----------------------------------------------------------------------------------------------


def test_split_ids() -> None:
    assert split_ids(list(range(1, 11)), 3) == [(0, 3), (3, 6), (6, 9), (9, None)]
    assert split_ids(list(range(1, 10)), 3) == [(0, 3), (3, 6), (6, None)]  # the last range is open: new rows
    assert split_ids([5, 80, 81, 200], 2) == [(0, 80), (80, None)]
    assert split_ids([], 10) == [(0, None)]
    assert split_ids([1, 2, 3], 0) == [(0, 1), (1, 2), (2, None)]  # at least one ID a range


def test_id_ranges_plan_continues_a_full_range_from_its_last_id_up_to_its_bound() -> None:
    plan = id_ranges_plan(reader(), "database/1/profiles", [("orderby", "id")], [(0, 50), (50, None)])
    low, high = list(plan.seeds)
    assert low.params == (("orderby", "id"), ("fields[]", "id>0"), ("fields[]", "id<=50"))
    assert high.params == (("orderby", "id"), ("fields[]", "id>50"))
    [more] = plan.handle(page(low, 10, None, ids=list(range(1, 11)))).tasks
    assert (more.meta, more.priority, more.start) == ((10, 50), True, 0)
    assert more.params[1:] == (("fields[]", "id>10"), ("fields[]", "id<=50"))
    assert plan.handle(page(more, 10, None, ids=list(range(41, 51)))).tasks == ()  # reached its bound
    assert plan.handle(page(high, 9, None, ids=list(range(51, 60)))).tasks == ()  # short: the end
    with pytest.raises(UnexpectedAnswerError):
        plan.handle(page(low, 2, None, ids=[10, 60]))  # a row past the range's bound


# -- the scheduler: a page a plan does not keep is not handed on ---------------------------------------------


def test_read_hands_on_only_the_pages_a_plan_keeps() -> None:
    client = FakeClient({
        "whole": {"data": [{"ID": "1"}, {"ID": "2"}], "total": 2, "start": 0, "limit": 10},
        "again": {"data": [{"ID": "3"}], "total": 1, "start": 0, "limit": 10},
    })

    def handle(page: Page) -> Next:
        if page.task.path == "whole":
            return Next([Task("again", (), kind="first", priority=True)], keep=False)
        return Next()

    tables = list(reader(client, Schema(cols("ID:int"))).read(Plan([Task("whole", (), kind="first")], handle)))
    assert [t.column("id").to_pylist() for t in tables] == [[3]]
    assert [path for path, _ in client.asked] == ["whole", "again"]
    assert ("total", "true") in client.asked[0][1] and ("limit", PAGE_SIZE) in client.asked[0][1]


def test_pages_hand_on_parsed_answers_untyped() -> None:
    client = FakeClient({"database/1/fields": [{"ID": "7", "name": "age"}]})  # a bare array
    [page_] = list(reader(client).pages(lists_plan(reader(client), [("database/1/fields", 1)])))
    assert page_.table is None and page_.rows == [{"ID": "7", "name": "age"}] and page_.task.meta == 1
    with pytest.raises(ValueError, match="schema"):
        reader(client).read(lists_plan(reader(client), [("database/1/fields", 1)]))

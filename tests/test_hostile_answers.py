"""Hostile or broken answers on the load path, served over real HTTP by a rewriting proxy in front of the
simulator: each either loads correctly or fails the run with one line naming the path, the page and what was
wrong, before dlt commits anything; the next run against the unmodified simulator loads everything."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dlt.pipeline.exceptions import PipelineStepFailed

from copernica_source.arrow_rows import column_name
from copernica_source.engine import PLAN_AHEAD, Page, Reader, Task, lists_plan, more_pages, offset_followups
from copernica_source.errors import UnexpectedAnswerError
from tests.helpers import SMALL, UNCHANGED, load, make_pipeline, proxied, query, table_ids
from tests.test_engagement import DATA as ENGAGEMENT_DATA
from tests.test_engagement import expected_ids
from tests.test_engine_plans import FakeClient

Answer = Callable[[Any], Any]
DATA = dict(ENGAGEMENT_DATA, events=1500, emailings=6)


def on_rows(change: Callable[[list[Any]], None]) -> Answer:
    """Change the rows of every non-empty list answer of the path (a copy)."""

    def answer(parsed: Any) -> Any:
        if not (isinstance(parsed, dict) and isinstance(parsed.get("data"), list) and parsed["data"]):
            return UNCHANGED
        parsed = copy.deepcopy(parsed)
        change(parsed["data"])
        return parsed

    return answer


def on_envelope(key: str, value: Any) -> Answer:
    def answer(parsed: Any) -> Any:
        if not (isinstance(parsed, dict) and isinstance(parsed.get("data"), list) and parsed["data"]):
            return UNCHANGED
        return {**parsed, key: value}

    return answer


def set_id(value: Any) -> Answer:
    return on_rows(lambda rows: rows[0].__setitem__("ID" if "ID" in rows[0] else "id", value))


def set_key(key: str, value: Any) -> Answer:
    return on_rows(lambda rows: rows[0].__setitem__(key, value))


def error_of(info: pytest.ExceptionInfo[PipelineStepFailed]) -> str:
    """The package's own error in dlt's chain of wrappers: the line a user reads."""
    cause: BaseException | None = info.value
    while cause is not None and not isinstance(cause, UnexpectedAnswerError):
        cause = cause.__cause__ or cause.__context__
    assert cause is not None, f"no UnexpectedAnswerError behind {info.value!r}"
    return str(cause)


def refused(sim: Any, pipeline: Any, resource: str, path: str, answer: Answer, **settings: Any) -> str:
    """Run `resource` with the answers of `path` (a regex) rewritten; it must fail with an UnexpectedAnswerError,
    leave the pipeline's state as it was, and change no table. Returns the error's one line."""

    def rewrite(at: str, query_: dict[str, list[str]], parsed: Any) -> Any:
        return answer(parsed) if re.fullmatch(path, at) else UNCHANGED

    state = copy.deepcopy(pipeline.state.get("sources"))
    counts = _counts(pipeline)
    with proxied(sim, rewrite) as proxy, pytest.raises(PipelineStepFailed) as info:
        load(proxy, pipeline, resources=[resource], retry_max_seconds=2, **settings)
    assert proxy.rewritten, f"{path} was never asked for"
    message = error_of(info)
    assert "\n" not in message and message.startswith(path.split("\\")[0].split("[")[0].split("(")[0]), message
    assert pipeline.state.get("sources") == state, f"state moved after: {message}"
    assert _counts(pipeline) == counts, f"rows changed after: {message}"
    return message


def _counts(pipeline: Any) -> dict[str, int]:
    try:
        tables = [r[0] for r in query(pipeline, "SELECT table_name FROM information_schema.tables "
                                                "WHERE table_schema = 'copernica' AND table_name NOT LIKE '_dlt%'")]
    except Exception:  # noqa: BLE001 - no dataset yet
        return {}
    return {t: query(pipeline, f"SELECT count(*) FROM copernica.{t}")[0][0] for t in tables}


def _engagement(resource: str) -> tuple[str, Any]:
    from copernica_source.tables import engagement_tables

    product, _, name = resource.partition("_")
    return product, next(s for s in engagement_tables(product) if s.name == name)


EVENT_CASES: list[tuple[str, Answer, str]] = [
    # the case: rows that are not objects were skipped while the cursor moved past them
    ("rows not objects", on_rows(lambda rows: rows.extend([1, "x", None])), "rows are not objects"),
    ("data an object", on_envelope("data", {"ID": "1"}), "`data` is an object"),
    ("data text", on_envelope("data", "abc"), "`data` is str"),
    ("total text", on_envelope("total", "many"), "`total` is str 'many'"),
    ("total negative", on_envelope("total", -5), "`total` is int -5"),
    ("start boolean", on_envelope("start", True), "`start` is the boolean true"),
    ("limit float", on_envelope("limit", 2.5), "`limit` is float 2.5"),
    ("ID id Id", on_rows(lambda rows: rows[0].update({"id": 1, "Id": 2})), "keys 'ID', 'id', 'Id'"),
    ("smtp-response twice", set_key("smtp_response", "250"), "'smtp-response', 'smtp_response'"),
    ("_dlt_id", set_key("_dlt_id", "x"), "'_dlt_id'"),
    ("_dlt_load_id", set_key("_dlt_load_id", "1"), "'_dlt_load_id'"),
    ("empty key", set_key("", "x"), "key '' gives no column name"),
    ("ID 2^63-1", set_id(2**63 - 1), "ID 9223372036854775807 is outside"),
    ("ID 2^64", set_id(2**64), "does not fit a 64-bit integer"),
    ("ID negative", set_id(-1), "ID -1 is outside"),
    ("ID boolean", set_id(True), "column id: a boolean"),
    ("ID object", set_id({"a": 1}), "column id: an object"),
    ("ID text", set_id("abc"), "have no readable ID"),
    ("ID null", set_id(None), "have no readable ID"),
    ("ID 1e300", set_id(1e300), "does not fit a 64-bit integer"),
    ("ID 1.5", set_id(1.5), "have no readable ID"),
    ("emailing an array", set_key("emailing", [1, 2]), "column emailing: an array"),
    ("timestamp an object", set_key("timestamp", {"t": 1}), "column timestamp: an object"),
    # whole answers that are not JSON: failed at once, never fetched again and again as if cut short
    ("NaN as an ID", lambda parsed: re.sub(rb'"ID": "?\d+"?', b'"ID": NaN', json.dumps(parsed).encode(), count=1),
     "the answer is not valid JSON"),
    ("a byte after the document", lambda parsed: json.dumps(parsed).encode() + b"x", "not valid JSON"),
]


def test_hostile_event_pages_fail_cleanly_and_the_next_run_loads_everything(
    tmp_path: Path, copernica_simulator_factory: Any
) -> None:
    sim = copernica_simulator_factory(**DATA)
    pipeline = make_pipeline(tmp_path)
    resources = ["html_deliveries", "html_clicks"]
    load(sim, pipeline, resources=resources)
    sim.advance(days=2)  # new events: each hostile run has rows (and a cursor) to get wrong
    for name, answer, expected in EVENT_CASES:
        # deliveries: the ID keyset on pyarrow's hot path; clicks: timestamp windows (its filter is not promised)
        resource = "html_deliveries" if name != "rows not objects" else "html_clicks"
        message = refused(sim, pipeline, resource, resource.replace("_", "/"), answer)
        assert expected in message and "(page start=" in message, (name, message)
    load(sim, pipeline, resources=resources)
    for resource in resources:
        product, spec = _engagement(resource)
        assert table_ids(pipeline, resource) == expected_ids(sim, product, spec), resource


def test_values_representable_in_the_declared_type_load(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    """Odd but readable answers are no reason to stop: odd keys are columns, "3.0" and 3.0 are 3, text that is no
    number is a null (with a warning), and a `total` far beyond what the pages hold ends at the short page."""
    sim = copernica_simulator_factory(**DATA)
    pipeline = make_pipeline(tmp_path)

    def odd(rows: list[Any]) -> None:
        rows[0].update({"keys": "k", "items": {"a": 1}, "naïve ключ 日本 🎉": "u", "attempt": 3.0})
        if len(rows) > 1:
            rows[1].update({"attempt": "x3", "profile": "7.0"})

    answers = {"html/deliveries": on_rows(odd), "html/clicks": on_envelope("total", 10**12)}

    def rewrite(at: str, query_: dict[str, list[str]], parsed: Any) -> Any:
        return answers[at](parsed) if at in answers else UNCHANGED

    with proxied(sim, rewrite) as proxy:
        load(proxy, pipeline, resources=["html_deliveries", "html_clicks"], retry_max_seconds=2)
    for resource in ("html_deliveries", "html_clicks"):
        product, spec = _engagement(resource)
        assert table_ids(pipeline, resource) == expected_ids(sim, product, spec), resource
    first = min(table_ids(pipeline, "html_deliveries"))
    unicode_column = column_name("naïve ключ 日本 🎉")  # whatever dlt's naming makes of it
    (keys, items, odd_key, attempt), = query(
        pipeline, f"SELECT keys, items, {unicode_column}, attempt FROM copernica.html_deliveries WHERE id = {first}")
    assert (keys, items, attempt) == ("k", '{"a":1}', 3) and odd_key == "u"
    (attempt, profile), = query(pipeline, "SELECT attempt, profile FROM copernica.html_deliveries ORDER BY id "
                                          "LIMIT 1 OFFSET 1")
    assert attempt is None and profile == 7


def test_hostile_emailing_and_structure_lists_fail_cleanly(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(**DATA)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=["html_emailings", "databases", "database_fields"])
    cases: list[tuple[str, str, Answer, str, dict[str, Any]]] = [
        ("html_emailings", "html/emailings", on_rows(lambda rows: rows.append("x")), "rows are not objects", {}),
        ("html_emailings", "html/emailings", on_rows(lambda rows: rows[0].update({"Id": 5})),
         "'Id' all become column 'id'", {}),
        ("html_emailings", "html/emailings", set_key("timestamp", [2024]), "column timestamp: an array", {}),
        ("html_emailings", "html/emailings", set_key("destinations", True), "column destinations: a boolean", {}),
        # a cursor value that cannot be read stops the run in our words, not dlt's incremental's
        ("html_emailings", "html/emailings", set_key("timestamp", True), "have no readable timestamp", {}),
        ("html_emailings", "html/emailings", set_key("timestamp", "1e400"), "have no readable timestamp", {}),
        ("databases", "databases", on_envelope("data", {"a": 1}), "`data` is an object", {}),
        ("databases", "databases", on_envelope("count", "2"), "`count` is str", {}),
        # a total no list holds, on a full first page (page_size=2): refused at once, nothing planned for it
        ("databases", "databases", on_envelope("total", 10**12), "total=1,000,000,000,000 would take",
         {"page_size": 2}),
        ("database_fields", r"database/\d+/fields", set_key("_dlt_load_id", "x"), "'_dlt_load_id'", {}),
    ]
    for resource, path, answer, expected, settings in cases:
        message = refused(sim, pipeline, resource, path, answer, **settings)
        assert expected in message, (resource, message)
    # the next run against the unchanged account reads the lists whole
    load(sim, pipeline, resources=["html_emailings", "databases", "database_fields"])
    assert table_ids(pipeline, "databases") == sorted(int(r["ID"]) for r in sim.dataset.rows("databases"))
    product, spec = _engagement("html_emailings")
    assert table_ids(pipeline, "html_emailings") == expected_ids(sim, product, spec)


def test_hostile_profile_answers_fail_cleanly(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(**dict(SMALL, profiles=120))
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=["profiles"])
    sim.advance(days=1)
    cases: list[tuple[str, Answer, str]] = [
        (r"database/\d+/profileids", lambda ids: [*ids, "x"] if isinstance(ids, list) else UNCHANGED,
         "str 'x' in a list of IDs"),
        (r"database/\d+/profileids", lambda ids: [*ids, 2**63] if isinstance(ids, list) else UNCHANGED,
         "in a list of IDs"),
        (r"database/\d+/profiles", set_key("modified", {"a": 1}), "`modified` is \"{'a': 1}\", not a time"),
        (r"database/\d+/profiles", set_key("created", {"a": 1}), "column created: an object"),
        (r"database/\d+/profiles", on_rows(lambda rows: rows.append(None)), "rows are not objects"),
        (r"database/\d+/profiles", on_envelope("total", "lots"), "`total` is str 'lots'"),
        ("databases", set_id("abc"), "str 'abc' in a list of IDs"),
        ("databases", set_key("name", {"n": 1}), "a row whose name is dict"),
    ]
    for path, answer, expected in cases:
        message = refused(sim, pipeline, "profiles", path, answer)
        assert expected in message, (path, message)
    load(sim, pipeline, resources=["profiles"])
    want = sorted(int(r["ID"]) for r in sim.dataset.rows("database/1/profiles"))
    assert table_ids(pipeline, "profiles_customers") == want


def _page(task: Task, count: int, total: int | None, limit: int | None = 100) -> Page:
    return Page(task, None, count, total, None, limit=limit)


def test_follow_up_pages_are_planned_a_chunk_at_a_time() -> None:
    """A total of a million pages plans `PLAN_AHEAD` of them; the rest come as earlier pages return full, and a
    short page (the list really ended) plans nothing more."""
    first = Task("list", (), kind="first")
    tasks = offset_followups(_page(first, 100, 100 * 1_000_000), 100, 10**7)
    assert len(tasks) == PLAN_AHEAD and [t.start for t in tasks[:2]] == [100, 200]
    carrier = tasks[0]
    assert carrier.more is not None and all(t.more is None for t in tasks[1:])
    following = more_pages(_page(carrier, 100, None))
    assert len(following) == PLAN_AHEAD and following[0].start == (1 + PLAN_AHEAD) * 100
    assert more_pages(_page(carrier, 40, None)) == []  # short: the total overstated the list
    assert offset_followups(_page(first, 30, 10**12), 100, 10**7) == []  # a short first page is the whole list
    with pytest.raises(UnexpectedAnswerError, match="not believable"):
        offset_followups(_page(first, 100, 10**12), 100, 10**10)
    # plans hand the next chunk on from the page that carries it
    plan = lists_plan(Reader(FakeClient({}), None, "UTC", page_size=100), [("list", None)])
    step = plan.handle(_page(first, 100, 100 * 10 * PLAN_AHEAD))
    assert len(step.tasks) == PLAN_AHEAD
    assert len(plan.handle(_page(step.tasks[0], 100, None)).tasks) == PLAN_AHEAD


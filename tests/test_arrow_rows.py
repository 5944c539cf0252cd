"""Typing a page into Arrow: the declared types whatever shape Copernica's JSON takes, nothing dropped."""

from __future__ import annotations

import io
import logging
from datetime import UTC, date, datetime
from typing import Any, cast

import orjson
import pyarrow as pa
import pyarrow.json as pa_json
import pytest

from copernica_source.arrow_rows import TIMESTAMP, Schema, cols, rows_to_arrow
from copernica_source.client import CopernicaClient
from copernica_source.engine import Reader, Task, Via
from copernica_source.tables import PROFILES, SUBPROFILES, TableSpec

SCHEMA = Schema(cols("ID:int timestamp:ts from_address.email:str smtp-response:str messageID:str success:bool "
                     "report:json attempts:int"))


def test_uniform_and_irregular_pages_give_the_same_typed_table() -> None:
    uniform = [
        {"ID": "1", "timestamp": "2025-01-31 12:00:00", "from_address": {"name": "a", "email": "a@x.nl"},
         "smtp-response": "250 ok", "messageID": "m1", "success": True, "report": {"a": 1}, "attempts": 1},
        {"ID": "2", "timestamp": "2025-07-01 12:00:00", "from_address": {"name": "b", "email": "b@x.nl"},
         "smtp-response": "", "messageID": "m2", "success": False, "report": {"b": [1, 2]}, "attempts": "2"},
    ]
    irregular = [dict(uniform[0]), {k: v for k, v in uniform[1].items() if k != "attempts"} | {"attempts": "2"}]
    irregular[1] = dict(reversed(list(irregular[1].items())))
    a = rows_to_arrow(uniform, SCHEMA, "Europe/Amsterdam")
    b = rows_to_arrow(irregular, SCHEMA, "Europe/Amsterdam")
    assert a.schema == b.schema == SCHEMA.arrow()
    assert a.to_pylist() == b.to_pylist()
    rows = a.to_pylist()
    assert rows[0]["id"] == 1 and rows[1]["attempts"] == 2
    # winter (CET, +1) and summer (CEST, +2) local times become the right UTC instants
    assert rows[0]["timestamp"] == datetime(2025, 1, 31, 11, 0, tzinfo=UTC)
    assert rows[1]["timestamp"] == datetime(2025, 7, 1, 10, 0, tzinfo=UTC)
    assert rows[0]["from_address__email"] == "a@x.nl" and rows[0]["message_id"] == "m1"
    assert rows[1]["smtp_response"] is None, "Copernica's empty string is a null"
    # JSON columns keep each row's own keys (no unified struct with invented nulls)
    assert orjson.loads(rows[0]["report"]) == {"a": 1} and orjson.loads(rows[1]["report"]) == {"b": [1, 2]}


def test_mixed_types_zero_dates_and_missing_keys() -> None:
    rows = [
        {"ID": 5, "timestamp": "0000-00-00 00:00:00", "success": "1", "attempts": 3},
        {"ID": "6", "timestamp": "2025-03-30 02:30:00", "success": None},  # a time that does not exist (DST)
        {"ID": "7", "timestamp": "2025-10-26 02:30:00", "success": "0", "attempts": ""},  # an ambiguous one
    ]
    table = rows_to_arrow(rows, SCHEMA, "Europe/Amsterdam")
    assert table.schema == SCHEMA.arrow()
    got = table.to_pylist()
    assert [r["id"] for r in got] == [5, 6, 7]
    assert got[0]["timestamp"] is None, "a zero date means no value"
    assert got[1]["timestamp"] == datetime(2025, 3, 30, 1, 0, tzinfo=UTC)
    assert got[2]["timestamp"] == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)
    assert [r["success"] for r in got] == [True, None, False]
    assert [r["attempts"] for r in got] == [3, None, None]
    assert got[0]["from_address__email"] is None


def test_undeclared_keys_are_kept_as_text_columns() -> None:
    rows = [{"ID": "1", "brand-new": "x", "nested_new": {"k": 1}}, {"ID": "2", "brand-new": 7}]
    table = rows_to_arrow(rows, SCHEMA, "UTC")
    assert table.column("brand_new").to_pylist() == ["x", "7"]
    assert table.column("nested_new").to_pylist() == ['{"k":1}', None]
    assert table.schema.field("brand_new").type == pa.string()


def test_arrow_json_path_and_python_path_type_a_page_identically() -> None:
    """The hot path (pyarrow parses the body) and the Python path (orjson rows) must agree value for value."""
    import io

    import pyarrow.json as pa_json

    from copernica_source.arrow_rows import struct_to_arrow

    schema = Schema(cols("ID:int link:str timestamp:ts referer:str emailing:int profile:int subprofile:int "
                         "from_address.email:str success:bool"))
    rows = [
        {"ID": str(i), "link": f"https://x.nl/é/{i}", "timestamp": f"2025-0{1 + i % 9}-1{i % 9} 0{i % 10}:15:00",
         "referer": None if i % 3 else "", "emailing": str(1000 + i), "profile": str(i * 7), "subprofile": None,
         "from_address": {"name": "n", "email": f"e{i}@x.nl"}, "success": i % 2 == 0, "extra_key": f"v{i}"}
        for i in range(1, 60)
    ]
    body = orjson.dumps({"start": 0, "count": len(rows), "data": rows})
    parsed = pa_json.read_json(io.BytesIO(body), read_options=pa_json.ReadOptions(block_size=len(body) + 64))
    via_arrow = struct_to_arrow(parsed.column("data")[0].values, schema, "Europe/Amsterdam")
    via_python = rows_to_arrow(rows, schema, "Europe/Amsterdam")
    assert via_arrow is not None
    assert via_arrow.schema == via_python.schema
    assert via_arrow.to_pylist() == via_python.to_pylist()


def test_arrow_json_path_declines_pages_it_cannot_keep_faithfully() -> None:
    import io

    import pyarrow.json as pa_json

    from copernica_source.arrow_rows import struct_to_arrow

    body = orjson.dumps({"data": [{"ID": "1", "report": {"a": 1}}, {"ID": "2", "report": {"b": 2}}]})
    parsed = pa_json.read_json(io.BytesIO(body))
    assert struct_to_arrow(parsed.column("data")[0].values, SCHEMA, "UTC") is None  # a declared JSON column
    unknown_nested = Schema(cols("ID:int"))
    assert struct_to_arrow(parsed.column("data")[0].values, unknown_nested, "UTC") is None
    # text that pyarrow reads as a time would come back re-formatted: the Python path keeps it as sent
    body = orjson.dumps({"data": [{"ID": "1", "title": "2025-01-01T10:00:00"}]})
    parsed = pa_json.read_json(io.BytesIO(body))
    assert struct_to_arrow(parsed.column("data")[0].values, Schema(cols("ID:int title:str")), "UTC") is None


# -- warnings about values loaded as null: they name table.column (issue 12) ----------------------------------

CHECKED = Schema(cols("ID:int timestamp:ts attempts:int score:float success:bool day:date"))


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "copernica_source" and r.levelno >= logging.WARNING]


def test_a_value_loaded_as_null_is_named_by_table_and_column_once_per_page(caplog: pytest.LogCaptureFixture) -> None:
    rows = [
        {"ID": "1", "timestamp": "abc", "attempts": "x3", "score": "high", "success": "maybe", "day": "someday"},
        {"ID": "2", "timestamp": "later", "attempts": "1.5", "score": "1.5", "success": "1", "day": "2025-01-31"},
        {"ID": "3", "timestamp": "0000-00-00 00:00:00", "attempts": "", "score": "", "success": "",
         "day": "0000-00-00"},  # Copernica's "no value": null without a word
    ]
    with caplog.at_level(logging.WARNING, logger="copernica_source"):
        table = rows_to_arrow(rows, CHECKED, "Europe/Amsterdam", table="html_clicks")
    assert sorted(_warnings(caplog)) == sorted([
        "html_clicks.timestamp: 2 time value(s) could not be read and were loaded as null, e.g. 'abc'",
        "html_clicks.attempts: 2 value(s) are not integers and were loaded as null, e.g. 'x3'",
        "html_clicks.score: 1 value(s) are not numbers and were loaded as null, e.g. 'high'",
        "html_clicks.success: 1 value(s) are not truth values and were loaded as null, e.g. 'maybe'",
        "html_clicks.day: 1 date value(s) could not be read and were loaded as null, e.g. 'someday'",
    ]), "one line per column and page, each naming table.column"
    got = table.to_pylist()
    assert [r["timestamp"] for r in got] == [None, None, None] and [r["attempts"] for r in got] == [None] * 3
    assert [r["score"] for r in got] == [None, 1.5, None] and [r["success"] for r in got] == [None, True, None]
    assert [r["day"] for r in got] == [None, date(2025, 1, 31), None]


def test_the_arrow_json_path_names_table_and_column_too(caplog: pytest.LogCaptureFixture) -> None:
    from copernica_source.arrow_rows import struct_to_arrow

    rows = [{"ID": str(i), "timestamp": "2025-01-31 12:00:00" if i % 2 else "soon"} for i in range(1, 7)]
    body = orjson.dumps({"data": rows})
    parsed = pa_json.read_json(io.BytesIO(body))
    with caplog.at_level(logging.WARNING, logger="copernica_source"):
        table = struct_to_arrow(parsed.column("data")[0].values, Schema(cols("ID:int timestamp:ts")), "UTC",
                                table="html_impressions")
    assert table is not None and table.column("timestamp").null_count == 3
    assert _warnings(caplog) == [
        "html_impressions.timestamp: 3 time value(s) could not be read and were loaded as null, e.g. 'soon'"]


@pytest.mark.parametrize("via", ["arrow", "rows"])
def test_a_reader_passes_its_table_to_the_typing(via: Via, caplog: pytest.LogCaptureFixture) -> None:
    """The engine knows the table (Account.reader(table=...)): both parse paths name it."""
    answer = {"start": 0, "count": 2, "total": 2,
              "data": [{"ID": "1", "timestamp": "2025-01-31 12:00:00"}, {"ID": "2", "timestamp": "Tuesday"}]}

    class OnePage:
        def get(self, path: str, params: Any = None) -> Any:
            return answer

        def get_bytes(self, path: str, params: Any = None) -> bytes:
            return orjson.dumps(answer)

    reader = Reader(cast(CopernicaClient, OnePage()), Schema(cols("ID:int timestamp:ts")), "UTC",
                    table="draganddrop_clicks")
    with caplog.at_level(logging.WARNING, logger="copernica_source"):
        page = reader.fetch(Task("draganddrop/clicks", (), kind="first"), via)
    assert page.table is not None and page.table.num_rows == 2
    assert _warnings(caplog) == [
        "draganddrop_clicks.timestamp: 1 time value(s) could not be read and were loaded as null, e.g. 'Tuesday'"]


# -- `removed` of profiles and subprofiles: `false` or the removal time (A26), `true` a removal without one (A47)


@pytest.mark.parametrize("spec", [PROFILES, SUBPROFILES], ids=["profiles", "subprofiles"])
def test_removed_false_loads_as_null_quietly_and_a_time_as_a_timestamp(
    spec: TableSpec, caplog: pytest.LogCaptureFixture
) -> None:
    from copernica_source.arrow_rows import struct_to_arrow

    live = [{"ID": str(i), "created": "2024-01-01 10:00:00", "modified": "2024-02-01 10:00:00", "removed": False}
            for i in range(1, 4)]
    mixed = [{**live[0], "removed": False}, {**live[1], "removed": "false"},
             {**live[2], "removed": "2024-05-01 10:00:00"}]
    body = orjson.dumps({"data": live})
    with caplog.at_level(logging.WARNING, logger="copernica_source"):
        via_arrow = struct_to_arrow(pa_json.read_json(io.BytesIO(body)).column("data")[0].values, spec.schema,
                                    "Europe/Amsterdam", table="profiles_customers")
        via_python = rows_to_arrow(live, spec.schema, "Europe/Amsterdam", table="profiles_customers")
        typed = rows_to_arrow(mixed, spec.schema, "Europe/Amsterdam", table="profiles_customers")
    assert _warnings(caplog) == [], "`false` is Copernica's 'not removed', not an unreadable time"
    assert via_arrow is not None and via_arrow.column("removed").to_pylist() == [None] * 3
    assert via_python.column("removed").to_pylist() == [None] * 3
    assert typed.schema.field("removed").type == TIMESTAMP
    assert typed.column("removed").to_pylist() == [None, None, datetime(2024, 5, 1, 8, 0, tzinfo=UTC)]  # CEST


def test_removed_true_is_a_removal_at_an_unknown_time_loaded_as_null_with_a_warning(
    caplog: pytest.LogCaptureFixture
) -> None:
    rows = [{"ID": "1", "removed": True}, {"ID": "2", "removed": "true"}, {"ID": "3", "removed": False}]
    with caplog.at_level(logging.WARNING, logger="copernica_source"):
        table = rows_to_arrow(rows, PROFILES.schema, "Europe/Amsterdam", table="profiles_customers")
    assert table.column("removed").to_pylist() == [None, None, None]
    assert _warnings(caplog) == [
        "profiles_customers.removed: 2 value(s) are `true`, a yes without a time (for `removed`: removed at an "
        "unknown time), and were loaded as null"]

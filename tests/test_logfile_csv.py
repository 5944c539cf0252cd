"""Parsing a logfile's CSV body as it streams: header or not, types, cut-off and damaged bodies, bounded memory."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from copernica_source.arrow_rows import Schema
from copernica_source.logfile_csv import CutShortError, LogFile, LogfileFormatError, read_csv
from copernica_source.tables import LOG_TABLES, log_fields

FIELDS = log_fields("pom-clicks")
SPEC = next(t for t in LOG_TABLES if t.log_type == "pom-clicks")
PAGE_SCHEMA = Schema(tuple(c for c in SPEC.schema.columns if not c.name.startswith("log_")))
ROW = ('m1,2024-06-11 12:30:00,1.2.3.4,"Agent: a, b\r\nHost: x",a@b.nl,t1;t2,NL,Netherlands,NH,Amsterdam,55,'
       'copernica.com,g1,10,,3,4\n')


def _file(day: date | None = date(2024, 6, 11)) -> LogFile:
    return LogFile("pom-clicks.2024-06-11.log", day, FIELDS, PAGE_SCHEMA, "html_log_clicks")


def _chunks(body: bytes, size: int = 7) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i:i + size]


def _read(body: bytes, skip: int = 0, size: int = 7) -> pa.Table:
    batches = list(read_csv(_chunks(body, size), _file(), "Europe/Amsterdam", skip=skip))
    return pa.concat_tables(batches) if batches else pa.table({})


def test_rows_without_header_are_the_page_fields_in_order_typed() -> None:
    table = _read((ROW * 3).encode())
    first = table.slice(0, 1).to_pylist()[0]
    assert first["id"] == "m1" and first["ip"] == "1.2.3.4" and first["city"] == "Amsterdam"
    assert first["header"] == "Agent: a, b\r\nHost: x"  # a quoted line break stays inside its value
    assert first["time"] == datetime(2024, 6, 11, 10, 30, tzinfo=UTC)  # summer time: UTC+2
    assert (first["profile"], first["subprofile"], first["template"], first["document"]) == (10, None, 3, 4)
    assert table["log_line"].to_pylist() == [1, 2, 3]
    assert set(table["log_file"].to_pylist()) == {"pom-clicks.2024-06-11.log"}
    assert set(table["log_date"].to_pylist()) == {date(2024, 6, 11)}
    assert table.schema.field("time").type == pa.timestamp("us", tz="UTC")


def test_a_header_row_is_detected_and_its_order_used_with_new_and_aliased_names() -> None:
    names = list(FIELDS)
    names[13] = "profileid"  # the JSON example's name for the page's `profile`
    header = ",".join(["time", "id", *names[2:], "extra"]) + "\n"
    values = ROW.rstrip("\n").split(",")
    # swap the first two values to the header's order, and add the extra column
    row = ",".join([values[1], values[0], *values[2:], "more"]) + "\n"
    table = _read((header + row * 2).encode())
    first = table.slice(0, 1).to_pylist()[0]
    assert first["id"] == "m1" and first["profile"] == 10 and first["extra"] == "more"
    assert table["log_line"].to_pylist() == [1, 2]  # the header is not a data row


def test_skip_continues_after_rows_taken_before() -> None:
    table = _read((ROW * 5).encode(), skip=3)
    assert table["log_line"].to_pylist() == [4, 5]


def test_a_body_without_its_last_line_break_was_cut_off() -> None:
    with pytest.raises(CutShortError, match="ends mid-row"):
        _read((ROW * 3).encode()[:-10])


def test_a_row_with_another_number_of_fields_fails_naming_file_and_fields() -> None:
    with pytest.raises(LogfileFormatError) as caught:
        _read((ROW + "a,b,c\n" + ROW).encode())
    message = str(caught.value)
    assert "pom-clicks.2024-06-11.log" in message and "Expected 17 columns, got 3" in message
    assert "linkinfo" in message and "next run reads the file again" in message


def test_an_empty_file_has_no_rows() -> None:
    assert list(read_csv(iter([]), _file(), "UTC")) == []
    assert list(read_csv(iter([b""]), _file(), "UTC")) == []


def test_crlf_line_ends_and_empty_values() -> None:
    body = ROW.replace(",10,,3,4\n", ",,,,\r\n")
    table = _read(body.encode())
    row = table.to_pylist()[0]
    assert (row["profile"], row["template"], row["document"]) == (None, None, None)


def test_memory_stays_bounded_on_a_large_file() -> None:
    """600 MB streamed through: the process grows by a bounded amount, not by the file's size."""
    script = textwrap.dedent(f"""
        import resource
        from copernica_source.arrow_rows import Schema
        from copernica_source.logfile_csv import LogFile, read_csv
        from copernica_source.tables import LOG_TABLES, log_fields
        spec = next(t for t in LOG_TABLES if t.log_type == "pom-clicks")
        schema = Schema(tuple(c for c in spec.schema.columns if not c.name.startswith("log_")))
        block = {ROW.encode()!r} * 5000
        def chunks():
            for _ in range((600 * 2**20) // len(block)):
                yield block
        f = LogFile("pom-clicks.2024-06-11.log", None, log_fields("pom-clicks"), schema, "html_log_clicks")
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rows = sum(b.num_rows for b in read_csv(chunks(), f, "Europe/Amsterdam"))
        print(rows, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    rows, grew_mb = (int(x) for x in done.stdout.split())
    assert rows > 3_000_000
    assert grew_mb < 350, f"parsing 600 MB grew the process by {grew_mb} MB"

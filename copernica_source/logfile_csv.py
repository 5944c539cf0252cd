"""A logfile's CSV body, parsed as it streams in, into typed Arrow batches.

pyarrow's streaming CSV reader reads the HTTP body through a small file adapter, a block at a time, so a
multi-gigabyte day never sits in memory. The pages leave open whether a file starts with a header row (the
download is "a CSV file without header", the answer "a CSV file with optionally a header row"): the first line is
looked at, and a line of known field names is a header (its order is then used); otherwise the columns are the
page's fields in the page's order, and a row with another number of fields fails with the file and line named.
A body that does not end with a line break was cut off (Copernica's files end every row with one).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import pyarrow as pa
import pyarrow.csv as pacsv

from copernica_source.arrow_rows import Schema, column_name, text_to_arrow
from copernica_source.errors import UnexpectedAnswerError

BLOCK_BYTES = 2 * 2**20  # ~10k log rows per batch: measured faster and half the memory of 8 MB blocks
_PEEK_LIMIT = 64 * 2**10  # a header row is short; a first line longer than this is data


class CutShortError(Exception):
    """The body ended without its last line break: the download was cut off (the caller retries it)."""


class LogfileFormatError(UnexpectedAnswerError):
    """A logfile that does not look as the pages describe: a row with the wrong number of fields, broken quoting."""


class _Body(io.RawIOBase):
    """The response's byte chunks as a readable file, with what was peeked at put back in front."""

    def __init__(self, chunks: Iterator[bytes], head: bytes) -> None:
        self._chunks = chunks
        self._pending = memoryview(head)
        self._last = head[-1:]
        self.size = len(head)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                if self.size and self._last != b"\n":
                    raise CutShortError(f"the body ends mid-row after {self.size:,} bytes")
                return 0
            if chunk:
                self._pending = memoryview(chunk)
                self._last = chunk[-1:]
                self.size += len(chunk)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


@dataclass(frozen=True)
class LogFile:
    """One file to read: its name, the day it is about (None when its name holds no date) and its type's layout."""

    name: str
    day: date | None
    fields: tuple[str, ...]
    schema: Schema  # the page's fields, typed (without the loader's log_* columns)
    table: str  # for warnings: `table.column`


def read_csv(chunks: Iterable[bytes], file: LogFile, timezone: str, skip: int = 0) -> Iterator[pa.Table]:
    """Typed batches of `file`'s data rows after the first `skip` (rows an earlier, cut-off attempt yielded),
    each with `log_file`, `log_line` and `log_date`."""
    stream = iter(chunks)
    head = _first_line(stream)
    header = _header(head, file.fields)
    names = header or list(file.fields)
    reader = _open(_Body(stream, head), names, skip_header=header is not None, file=file)
    line = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise LogfileFormatError(_format_problem(file, line, header is not None, str(exc))) from None
        first, line = line, line + batch.num_rows
        if line <= skip:
            continue
        if first < skip:
            batch = batch.slice(skip - first)
            first = skip
        yield _typed(pa.Table.from_batches([batch]), file, timezone, first)


def _first_line(stream: Iterator[bytes]) -> bytes:
    """The bytes up to and including the first line break (or the first chunks, when none comes soon)."""
    head = b""
    while b"\n" not in head and len(head) < _PEEK_LIMIT:
        chunk = next(stream, None)
        if chunk is None:
            break
        head += chunk
    return head


def _header(head: bytes, fields: Sequence[str]) -> list[str] | None:
    """The first line's names when it is a header row: every value a field name of the page (in any order), or
    most of them, with new names kept as columns of their own. None for a data row."""
    line = head.split(b"\n", 1)[0].rstrip(b"\r")
    if not line or len(line) >= _PEEK_LIMIT:
        return None
    try:
        values = next(csv.reader([line.decode("utf-8", "replace")]))
    except (csv.Error, StopIteration):
        return None
    known = {column_name(f) for f in fields}
    names = [_known_as(v.strip(), known) for v in values]
    matches = sum(1 for v in names if v in known)
    if matches < max(1, (len(fields) + 1) // 2) or len(set(names)) != len(names) or not all(names):
        return None
    return names


def _known_as(name: str, known: set[str]) -> str:
    """A header name as the page's field it is: the pages name one value `profile` in one list and `profileid` in
    another (and in the JSON example), so `profileid` in a header of a type whose page says `profile` is that
    field (and the other way round); any other name stays as it is (a column of its own)."""
    plain = column_name(name) if name else name
    for candidate in (plain, plain.removesuffix("id"), f"{plain}id"):
        if candidate in known:
            return candidate
    return name


def _open(body: _Body, names: list[str], skip_header: bool, file: LogFile) -> pacsv.CSVStreamingReader:
    try:
        return pacsv.open_csv(
            io.BufferedReader(body, buffer_size=2**20),
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if skip_header else 0,
                                           block_size=BLOCK_BYTES, use_threads=True),
            # the request `header` field may hold line breaks inside quotes
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except StopIteration:  # pyarrow: an empty body has no first block
        return _Empty()
    except pa.ArrowInvalid as exc:
        if "Empty CSV file" in str(exc):
            return _Empty()
        raise LogfileFormatError(_format_problem(file, 0, skip_header, str(exc))) from None


class _Empty:
    def read_next_batch(self) -> pa.RecordBatch:
        raise StopIteration


def _typed(raw: pa.Table, file: LogFile, timezone: str, first: int) -> pa.Table:
    typed = text_to_arrow(raw, file.schema, timezone, table=file.table)
    n = typed.num_rows
    return (typed.append_column("log_file", pa.array([file.name] * n, pa.string()))
            .append_column("log_line", pa.array(range(first + 1, first + n + 1), pa.int64()))
            .append_column("log_date", pa.array([file.day] * n, pa.date32())))


def _format_problem(file: LogFile, after: int, header: bool, problem: str) -> str:
    layout = ("its header row's columns" if header else
              f"the {len(file.fields)} fields rest-*-logfile.md lists ({', '.join(file.fields)})")
    return (f"logfile {file.name}: {problem.strip()} (after data row {after:,}); expected {layout}. Nothing of this "
            "run was loaded and no day was marked done: the next run reads the file again. If it keeps failing, "
            "Copernica changed the file's layout: report it with this message")

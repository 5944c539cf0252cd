"""The push's results journal: one line per row result, appended as each row completes, so a killed run's results
survive, and `sending` intent lines, so a resumed run knows which rows the killed one may have written.

Files and folders are private (0600 / 0700): the journal holds the keys, which are often e-mail addresses."""

from __future__ import annotations

import csv
import os
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv

RESULT_COLUMNS = ("row", "key", "action", "profile_id", "message", "load_id")
SENDING = "sending"  # an intent line: the row is about to be sent (never a row's final result)
NOT_SENT = "not_sent"  # a row the push stopped before (the command adds these; never in the journal)
FILE_MODE = 0o600
DIR_MODE = 0o700


@dataclass
class RowResult:
    row: int | None
    key: str | None
    action: str  # created | updated | rejected | failed (| sending in the journal, not_sent in the results)
    profile_id: int | None = None
    message: str = ""


_JOURNAL_LOCK = threading.Lock()


def make_private_dirs(path: str) -> None:
    """Create the missing folders of `path` (a folder) as 0700: what the push writes holds personal data."""
    path = os.path.abspath(path)
    missing: list[str] = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            pass


def open_private(path: str, mode: str = "a") -> IO[str]:
    """Open a text file for writing, created 0600 (an existing file is made 0600 too), its folders 0700."""
    make_private_dirs(os.path.dirname(os.path.abspath(path)))
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return os.fdopen(fd, mode, newline="", encoding="utf-8")


_LINE_AND_BIDI = frozenset("\u2028\u2029\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str | None) -> str:
    """A key as it is shown on the terminal and written to results: control characters (C0, DEL, C1), line
    separators and bidi overrides escaped as \\x00, \\x1b, \\u202e..., so a key can neither drive the terminal
    (titles, colours, cursor) nor hide in or break a results file. Other text is unchanged; None is ""."""
    if not text:
        return ""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if unicodedata.category(ch) == "Cc" or ch in _LINE_AND_BIDI:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _line(r: RowResult, load_id: str) -> list[Any]:
    return ["" if r.row is None else r.row, printable(r.key), r.action,
            "" if r.profile_id is None else r.profile_id, r.message, load_id]


def append_results(path: str, results: Iterable[RowResult], load_id: str = "") -> None:
    """Append row results to a CSV file and fsync it: what a killed run did is still known afterwards."""
    with _JOURNAL_LOCK, open_private(path) as f:
        writer = csv.writer(f)
        if f.tell() == 0:
            writer.writerow(RESULT_COLUMNS)
        writer.writerows(_line(r, load_id) for r in results)
        f.flush()
        os.fsync(f.fileno())


class Journal:
    """The journal of one load: appends each row's result (or intent) at once, and remembers, for a replayed
    batch, which rows of this load already have a final result and which were being sent when a run died."""

    def __init__(self, path: str, load_id: str) -> None:
        self.path = path
        self.load_id = load_id
        self._lock = threading.Lock()
        self.final: dict[int, RowResult] = {}
        self.sending: set[int] = set()
        for r in _read_lines(path):
            if r["load_id"] != load_id or r["row"] is None:
                continue
            if r["action"] == SENDING:
                self.sending.add(r["row"])
            else:
                self.final[r["row"]] = RowResult(r["row"], r["key"], r["action"], r["profile_id"], r["message"])

    def record(self, result: RowResult) -> None:
        """A row's final result: written and flushed now (a kill loses at most the rows in flight)."""
        self._append(result)
        if result.row is not None:
            with self._lock:
                self.final[result.row] = result

    def intend(self, row: int | None, key: str | None) -> None:
        """The row is about to be written: flushed before the request, so a resumed run checks before resending."""
        self._append(RowResult(row, key, SENDING))
        if row is not None:
            with self._lock:
                self.sending.add(row)

    def done(self, row: int | None) -> RowResult | None:
        """The final result this load already has for the row (a batch replayed after a kill), or None."""
        with self._lock:
            return None if row is None else self.final.get(row)

    def was_sending(self, row: int | None) -> bool:
        with self._lock:
            return row is not None and row in self.sending

    def sync(self) -> None:
        """fsync once a batch: flushed lines survive a killed process; fsync makes them survive a crash too."""
        with _JOURNAL_LOCK:
            if os.path.exists(self.path):
                fd = os.open(self.path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def _append(self, r: RowResult) -> None:
        with _JOURNAL_LOCK, open_private(self.path) as f:
            writer = csv.writer(f)
            if f.tell() == 0:
                writer.writerow(RESULT_COLUMNS)
            writer.writerow(_line(r, self.load_id))
            f.flush()


RESULTS_SCHEMA = pa.schema([("row", pa.int64()), ("key", pa.string()), ("action", pa.string()),
                            ("profile_id", pa.int64()), ("message", pa.string()), ("load_id", pa.string())])


def _read_lines(path: str) -> list[dict[str, Any]]:
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return []
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=1 << 24),
        convert_options=pacsv.ConvertOptions(column_types=RESULTS_SCHEMA, strings_can_be_null=False,
                                             null_values=[""], quoted_strings_can_be_null=False),
    )
    rows: list[dict[str, Any]] = table.select(list(RESULTS_SCHEMA.names)).to_pylist()
    return rows


def read_results(path: str, latest_only: bool = True) -> pa.Table:
    """A results journal as a table; `latest_only` keeps the last final result per row (a replayed batch repeats
    rows) and drops the `sending` intent lines."""
    rows = _read_lines(path)
    if not latest_only:
        return pa.Table.from_pylist(rows, schema=RESULTS_SCHEMA)
    last: dict[Any, int] = {}
    for i, r in enumerate(rows):
        if r["action"] == SENDING:
            continue
        ident = ("row", r["row"]) if r["row"] is not None else ("msg", r["key"], r["message"])
        last[ident] = i
    keep = sorted(last.values())
    ordered = sorted(keep, key=lambda i: (rows[i]["row"] is None, rows[i]["row"] or 0, i))
    return pa.Table.from_pylist([rows[i] for i in ordered], schema=RESULTS_SCHEMA)

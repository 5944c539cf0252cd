"""The push's results journal: one line per row result, appended and fsynced, so a killed run's results survive."""

from __future__ import annotations

import csv
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

RESULT_COLUMNS = ("row", "key", "action", "profile_id", "message", "load_id")


@dataclass
class RowResult:
    row: int | None
    key: str | None
    action: str  # created | updated | rejected | failed
    profile_id: int | None = None
    message: str = ""


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



"""Input readers of the push: CSV/TSV, Parquet, JSON lines and DuckDB into numbered Arrow batches, each input
checked to be readable before anything is written."""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from copernica_source.errors import ConfigurationError
from copernica_source.push.columns import ROW_COLUMN
from copernica_source.push.journal import RowResult

READ_BATCH = 10_000
MIN_BLOCK = 1 << 22  # pyarrow's CSV block: a record must fit in one
MAX_BLOCK = 1 << 30
MAX_CELL = 1 << 24  # characters in one CSV cell (the csv module's own default is 131,072)


@dataclass
class InputData:
    """An input checked to be readable: its columns (after --map), batches with `_row`, and unreadable records."""

    description: str
    columns: list[str]
    batches: Callable[[], Iterator[pa.RecordBatch]]
    problems: list[RowResult] = field(default_factory=list)
    rows: int = 0


class InputError(ConfigurationError):
    """The input cannot be read (missing, empty, malformed beyond single records)."""


def _numbered(batches: Iterator[pa.RecordBatch], skip: set[int] | None = None) -> Iterator[pa.RecordBatch]:
    """Add the 1-based input record number; records in `skip` (unreadable ones, reported apart) keep theirs."""
    skip = skip or set()
    n = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        numbers = []
        for _ in range(batch.num_rows):
            n += 1
            while n in skip:
                n += 1
            numbers.append(n)
        yield batch.append_column(ROW_COLUMN, pa.array(numbers, pa.int64()))


def read_csv_input(path: str, delimiter: str = ",") -> InputData:
    """All columns as text (typed later against the field definitions); empty cells are null.
    A first pass with the csv module finds records with the wrong number of cells, by record and line."""
    header: list[str] | None = None
    problems: list[RowResult] = []
    bad: set[int] = set()
    rows = 0
    widest = 0  # characters of the longest record: pyarrow needs a block that holds it whole
    if csv.field_size_limit() < MAX_CELL:
        csv.field_size_limit(MAX_CELL)  # a large cell is one row's problem (the field's limit), not the file's
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f, strict=True, delimiter=delimiter)
            for record in reader:
                if header is None:
                    header = record
                    continue
                if not record:
                    continue  # blank line, as pyarrow skips it
                rows += 1
                widest = max(widest, sum(map(len, record)) + len(record))
                if len(record) != len(header):
                    bad.add(rows)
                    problems.append(RowResult(rows, None, "rejected", None,
                                              f"malformed CSV record at line {reader.line_num}: {len(record)} cells, "
                                              f"the header has {len(header)}"))
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise InputError(f"{path}: a cell near line {reader.line_num} is longer than {MAX_CELL:,} characters; "
                             "no Copernica field holds that much: shorten it or drop the column") from None
        raise InputError(f"{path}: malformed CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if header is None or not any(h.strip() for h in header):
        raise InputError(f"{path}: the file is empty (no header row)")
    _check_header(path, header)
    block = _block_size(widest)

    def batches() -> Iterator[pa.RecordBatch]:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=block),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=lambda row: "skip"),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                 strings_can_be_null=True, null_values=[""]),
        )
        yield from _numbered(iter(reader), bad)

    return InputData(path, list(header), batches, problems, rows - len(bad))


def _block_size(widest: int) -> int:
    """A pyarrow block that holds the longest record whole (4 bytes a character covers UTF-8 and doubled quotes),
    so one large cell does not make the file unreadable."""
    block = MIN_BLOCK
    while block < 4 * widest + (1 << 16) and block < MAX_BLOCK:
        block *= 2
    return block


def _check_header(path: str, header: list[str]) -> None:
    blank = [i + 1 for i, h in enumerate(header) if not h.strip()]
    if blank:
        raise InputError(f"{path}: header column(s) {blank} have no name")
    dupes = sorted(h for h, n in Counter(header).items() if n > 1)
    if dupes:
        raise InputError(f"{path}: duplicate column names {dupes}")


def read_parquet_input(path: str) -> InputData:
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    columns = list(pf.schema_arrow.names)
    if not columns:
        raise InputError(f"{path}: the file is empty (no columns)")
    _check_header(path, columns)
    return InputData(path, columns, lambda: _numbered(pf.iter_batches(READ_BATCH)), [], pf.metadata.num_rows)


def read_jsonl_input(path: str) -> InputData:
    """One JSON object a line. Parsed line by line (not pyarrow.json), so one bad line is that row's rejection,
    and a column holding numbers in one line and text in another is not a whole-file error; scalars become text
    (typed later against the field definitions), lists stay lists (interests)."""
    columns: dict[str, None] = {}
    problems: list[RowResult] = []
    bad: set[int] = set()
    rows = 0
    with open(path, "rb") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            rows += 1
            reason: str | None
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                obj, reason = None, f"malformed JSON at line {line_no}: {exc}"
            else:
                reason = None if isinstance(obj, dict) else f"line {line_no} is not a JSON object"
            if reason is None:
                nested = [k for k, v in obj.items() if isinstance(v, dict)]
                reason = f"line {line_no}: nested objects in {nested}" if nested else None
            if reason:
                bad.add(rows)
                problems.append(RowResult(rows, None, "rejected", None, reason))
                continue
            columns.update(dict.fromkeys(obj))
    if rows == 0:
        raise InputError(f"{path}: the file is empty (no JSON lines)")
    if not columns:  # not one line was an object: the file is not JSON lines at all (e.g. one JSON array)
        raise InputError(f"{path}: not JSON lines (one JSON object a line): {problems[0].message}")
    names = list(columns)

    def batches() -> Iterator[pa.RecordBatch]:
        out: list[dict[str, Any]] = []
        n = 0
        with open(path, "rb") as f:
            for line in f:
                if not line.strip():
                    continue
                n += 1
                if n in bad:
                    continue
                obj = orjson.loads(line)
                row = {c: _jsonl_value(obj.get(c)) for c in names}
                row[ROW_COLUMN] = n
                out.append(row)
                if len(out) >= READ_BATCH:
                    yield _jsonl_batch(out, names)
                    out = []
        if out:
            yield _jsonl_batch(out, names)

    return InputData(path, names, batches, problems, rows - len(bad))


def _jsonl_value(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, list):
        return [None if i is None else str(i) for i in v]
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def _jsonl_batch(rows: list[dict[str, Any]], names: list[str]) -> pa.RecordBatch:
    types = {}
    for c in names:
        is_list = any(isinstance(r[c], list) for r in rows)
        types[c] = pa.list_(pa.string()) if is_list else pa.string()
        if is_list:  # a text value in a list column becomes a one-item list
            for r in rows:
                if isinstance(r[c], str):
                    r[c] = [s for s in r[c].split(",")]
    schema = pa.schema([(c, types[c]) for c in names] + [(ROW_COLUMN, pa.int64())])
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def read_duckdb_input(path: str, table: str | None, query: str | None) -> InputData:
    if not os.path.exists(path):
        raise InputError(f"{path}: no such DuckDB file")
    if bool(table) == bool(query):
        raise InputError("with --duckdb give exactly one of --table NAME or --query SQL")
    try:
        sql = _one_select(query) if query else "SELECT * FROM " + ".".join(
            '"' + p.replace('"', '""') + '"' for p in str(table).split("."))
        with duckdb.connect(path, read_only=True) as con:
            # the newline: a query ending in a -- comment must not comment out the closing parenthesis
            columns = [d[0] for d in con.execute(f"SELECT * FROM ({sql}\n) LIMIT 0").description]
            rows = con.execute(f"SELECT count(*) FROM ({sql}\n)").fetchall()[0][0]
    except duckdb.Error as exc:
        raise InputError(f"{path}: {str(exc).splitlines()[0]}") from None
    _check_header(path, columns)

    def batches() -> Iterator[pa.RecordBatch]:
        read = 0
        try:
            with duckdb.connect(path, read_only=True) as con:
                for batch in _numbered(iter(con.sql(sql).to_arrow_reader(READ_BATCH))):
                    read += batch.num_rows
                    yield batch
        except (duckdb.Error, OSError, pa.ArrowException) as exc:
            # DuckDB runs most of a query while streaming: its message is the only way to know what to fix
            cause = " ".join(str(exc).split("\n\n")[0].split()) or type(exc).__name__
            raise InputError(f"{path}: the query failed after {read:,} rows: {cause}; fix the query (running it "
                             "again as it is fails the same way)") from None

    return InputData(f"{path}: {query or table}", columns, batches, [], rows)


def _one_select(query: str) -> str:
    """The query's text when it is one SELECT statement (WITH, VALUES, FROM-first included), as DuckDB's parser
    reads it, without a trailing semicolon; InputError otherwise: it is read as a table, so anything else
    (DELETE, a second statement, PRAGMA, COPY) would only fail with a puzzling syntax error."""
    statements = duckdb.extract_statements(query)  # a syntax error is DuckDB's Parser Error, shown as it is
    kinds = [s.type for s in statements]
    if kinds != [duckdb.StatementType.SELECT]:
        names = [str(k.name) for k in kinds]
        found = (f"this one has {len(names)} statements ({', '.join(names)})" if len(names) > 1
                 else f"this one is a {names[0]} statement" if names else "this one has no statement")
        raise InputError(f"--query must be one SELECT statement (it is read as a table); {found}")
    return str(statements[0].query).strip().rstrip(";").rstrip()


def apply_map(data: InputData, pairs: list[str]) -> InputData:
    """--map src=dst renames input columns to Copernica field names."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src.strip() or not dst.strip():
            raise ConfigurationError(f"--map takes SRC=DST, not {pair!r}")
        mapping[src.strip()] = dst.strip()
    if not mapping:
        return data
    missing = [s for s in mapping if s not in data.columns]
    if missing:
        raise ConfigurationError(f"--map names columns that are not in the input: {missing}")
    columns = [mapping.get(c, c) for c in data.columns]
    _check_header("after --map", columns)
    inner = data.batches

    def batches() -> Iterator[pa.RecordBatch]:
        for b in inner():
            yield b.rename_columns([mapping.get(c, c) for c in b.schema.names])

    return InputData(data.description, columns, batches, data.problems, data.rows)


def select_columns(data: InputData, names: dict[str, str]) -> InputData:
    """Only the columns in `names` (and the row number), renamed to their values, in the input's order."""
    columns = [c for c in data.columns if c in names]
    inner = data.batches

    def batches() -> Iterator[pa.RecordBatch]:
        for b in inner():
            kept = [c for c in b.schema.names if c in names or c == ROW_COLUMN]
            b = b.select(kept)
            yield b.rename_columns([names.get(c, c) for c in kept])

    return InputData(data.description, [names[c] for c in columns], batches, data.problems, data.rows)

"""`copernica push-profiles`: push rows of a file or a DuckDB query into a Copernica database as profiles.

The command checks the whole input before the first write (readable, key and columns known to the database),
then runs a dlt pipeline that ends in the `copernica_profiles` destination. A killed run leaves a load package
behind; running the same command again finishes that package (rows already done are not sent again) instead
of pushing the input a second time. When Copernica stays unavailable past the client's retries
(retry_max_seconds) the push stops at once, with one `error:` line: run the same command again later to finish.
Row results go to `--results` (CSV or Parquet), one per input row (rows a stopped push never reached are
`not_sent`; keys with control characters are shown escaped, e.g. \x1b), and a summary is printed; the results
file a run replaces is kept as `<name>.previous.<ext>`. The exit code is 1 when any row was rejected, failed or
not sent. The results, the journal and the pipeline's folder are private (0600/0700).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from dlt.common import logger as dlt_logger
from dlt.common.configuration.providers import EnvironProvider
from dlt.common.pipeline import get_dlt_pipelines_dir
from dlt.pipeline.exceptions import PipelineStepFailed

from copernica_source.errors import (
    AuthenticationError,
    ConfigurationError,
    CopernicaError,
    TransientError,
    causes,
    one_line,
)
from copernica_source.push.columns import (
    ROW_COLUMN,
    ProfileValidationError,
    RowPlan,
    incomplete_interests,
    plan_columns,
    profile_id_key_problem,
    sent_columns,
)
from copernica_source.push.destination import (
    DEFAULT_BATCH_SIZE,
    FIX_TOKEN,
    NOT_AN_OUTAGE,
    CopernicaUnavailable,
    PushStopped,
    close_writers,
    copernica_profiles,
)
from copernica_source.push.inputs import (
    InputData,
    InputError,
    apply_map,
    read_csv_input,
    read_duckdb_input,
    read_jsonl_input,
    read_parquet_input,
    select_columns,
)
from copernica_source.push.journal import (
    DIR_MODE,
    FILE_MODE,
    NOT_SENT,
    RESULTS_SCHEMA,
    RowResult,
    append_results,
    make_private_dirs,
    open_private,
    printable,
    read_results,
)
from copernica_source.push.validation import check_row, key_group
from copernica_source.push.writer import DEFAULT_CONCURRENCY, MODES, fetch_database
from copernica_source.settings import client_from_config, pipelines_dir_help

TABLE_NAME = "profiles"
DEFAULT_RESULTS = "push_profiles_results.csv"
RERUN = ("Copernica was unavailable: run the same command again to finish the push (rows already done are not "
         "sent again)")
FIX_INPUT = "fix the input (or the query), then run again; no row of this input was sent"


# -- readers ------------------------------------------------------------------------------------------------
def open_input(args: argparse.Namespace) -> InputData:
    if args.duckdb:
        return read_duckdb_input(args.duckdb, args.table, args.query)
    path = args.input
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.getsize(path) == 0:
        raise InputError(f"{path}: the file is empty")
    kind = args.format or _format_of(path)
    if kind == "tsv":
        return read_csv_input(path, delimiter="\t")
    readers: dict[str, Callable[[str], InputData]] = {
        "csv": read_csv_input, "parquet": read_parquet_input, "jsonl": read_jsonl_input}
    return readers[kind](path)


def _positive_int(text: str) -> int:
    """argparse type for counts that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _format_of(path: str) -> str:
    name = path.lower()
    for suffix, kind in ((".csv", "csv"), (".tsv", "tsv"), (".parquet", "parquet"), (".pq", "parquet"),
                         (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".json", "jsonl")):
        if name.endswith(suffix):
            return kind
    raise InputError(f"{path}: cannot tell the format from the name; pass --format csv|tsv|parquet|jsonl")


# -- the command --------------------------------------------------------------------------------------------
EXAMPLES = """\
examples:
  copernica push-profiles --input people.csv --database customers --key email --dry-run
  copernica push-profiles --input people.csv --database customers --key email
  copernica push-profiles --duckdb copernica.duckdb --query "SELECT email, city FROM crm" --database 4 --key email
  copernica push-profiles --input new.parquet --database customers --key customerid --mode create \\
      --map cust_no=customerid --interests hobbies
  copernica push-profiles --duckdb copernica.duckdb --table copernica_data.profiles_customers \\
      --database customers --key id --mode update    # a loaded table, fixed in SQL, back by profile ID
"""


def add_push_profiles_command(commands: Any) -> None:
    p = commands.add_parser("push-profiles", help="create or update Copernica profiles from a file or DuckDB",
                            description=__doc__, epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", metavar="PATH", help="CSV, TSV, Parquet or JSON lines file to push (this or --duckdb)")
    src.add_argument("--duckdb", metavar="PATH", help="DuckDB file (with --table or --query)")
    p.add_argument("--table", help="table (or view) in the DuckDB file to push (this or --query)")
    p.add_argument("--query", help="one SELECT statement on the DuckDB file")
    p.add_argument("--format", choices=["csv", "tsv", "parquet", "jsonl"], help="input format (default: from the name)")
    p.add_argument("--database",
                   help="database ID or name to push into (default: destination.copernica_profiles.database)")
    p.add_argument("--key", help="field that identifies a profile, e.g. email or customerid, or id (the profile's "
                                 "own ID, with --mode update) (default: destination.copernica_profiles.key)")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="upsert (default): update or create; create: only new keys; update: only existing keys")
    p.add_argument("--map", action="append", default=[], metavar="SRC=DST",
                   help="rename a column to a field (repeatable; default: columns are fields)")
    p.add_argument("--interests", metavar="COLUMN",
                   help="column with interests: a list or comma-separated text (default: none)")
    p.add_argument("--ignore-unknown-columns", action="store_true",
                   help="skip columns that are not fields (default: refuse them)")
    p.add_argument("--dry-run", action="store_true", help="check every row, write nothing (default: push)")
    p.add_argument("--concurrency", type=_positive_int, default=None,
                   help=f"requests at once (default {DEFAULT_CONCURRENCY})")
    p.add_argument("--batch-size", type=_positive_int, default=DEFAULT_BATCH_SIZE,
                   help=f"rows per checkpoint (default {DEFAULT_BATCH_SIZE})")
    p.add_argument("--results", metavar="PATH", default=DEFAULT_RESULTS,
                   help=f"per-row results, .csv or .parquet (a file it replaces is kept as NAME.previous.EXT; "
                        f"default {DEFAULT_RESULTS})")
    p.add_argument("--timezone", default="Europe/Amsterdam",
                   help="zone Copernica's date-times are in (default Europe/Amsterdam)")
    p.add_argument("--pipeline-name", default="copernica_push_profiles",
                   help="dlt pipeline name: names the folder of an interrupted push (default copernica_push_profiles)")
    p.add_argument("--pipelines-dir", default=None, help=pipelines_dir_help("pipeline state (an interrupted push)"))
    p.add_argument("--discard-pending", action="store_true",
                   help="drop an interrupted push (of this input or another) and start afresh")
    p.set_defaults(run=run_push_profiles)


def _setting(value: Any, name: str, default: Any = None) -> Any:
    if value is not None:
        return value
    found: Any = dlt.config.get(f"destination.copernica_profiles.{name}")
    return default if found is None else found


def run_push_profiles(args: argparse.Namespace) -> int:
    started = time.monotonic()
    database = _setting(args.database, "database")
    key = _setting(args.key, "key")
    mode = _setting(args.mode, "mode", "upsert")
    concurrency_setting = _setting(args.concurrency, "concurrency", DEFAULT_CONCURRENCY)
    try:
        concurrency = _positive_int(str(concurrency_setting))
    except argparse.ArgumentTypeError as exc:
        raise ConfigurationError(f"concurrency: {exc}") from None
    if not database or not key:
        raise ConfigurationError("--database and --key are required (or destination.copernica_profiles.database/key)")
    if mode not in MODES:
        raise ConfigurationError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if args.input and (args.table or args.query):
        raise ConfigurationError("--table and --query go with --duckdb, not --input")

    data = apply_map(open_input(args), args.map)
    with client_from_config(max_concurrency=concurrency) as client:
        db = fetch_database(client, database)
        api_version = client.api_version
    plan = plan_columns(data.columns, db, key, args.interests, args.ignore_unknown_columns)
    _say_columns(plan)
    problem = incomplete_interests(plan)
    if problem:
        raise ProfileValidationError(problem)
    problem = profile_id_key_problem(mode, api_version) if plan.by_profile_id else None
    if problem:
        raise ConfigurationError(problem)
    # from here on only what is sent, named as Copernica names it: a loaded table's own columns never reach dlt
    data = select_columns(data, sent_columns(plan))
    plan = plan_columns(data.columns, db, key, args.interests, args.ignore_unknown_columns)
    by = "profile ID" if plan.by_profile_id else plan.key_field.name
    print(f"pushing {data.rows:,} rows of {data.description} to database {db.name!r} ({db.id}) by "
          f"{by}, mode {mode}", file=sys.stderr)
    if args.dry_run:
        return _dry_run(data, plan, args, mode)

    # the pipeline's folder holds rows and keys: private when the push creates it (dlt makes it anew: chmod after)
    pipelines_dir = args.pipelines_dir or get_dlt_pipelines_dir()
    new_folder = not os.path.isdir(os.path.join(pipelines_dir, args.pipeline_name))
    make_private_dirs(pipelines_dir)
    working_dir = dlt.pipeline(args.pipeline_name, pipelines_dir=args.pipelines_dir).working_dir
    if new_folder:
        os.chmod(working_dir, DIR_MODE)
    journal = os.path.join(working_dir, "push_results_journal.csv")  # with the pipeline: a resume finds it
    destination = copernica_profiles(
        database=db.id, key=plan.key_field.name, mode=mode, concurrency=concurrency, results_path=journal,
        interests_column=args.interests, ignore_unknown_columns=args.ignore_unknown_columns,
        timezone=args.timezone, batch_size=args.batch_size)
    # with its destination: dropping a pending push aborts its package through the loader
    pipeline = dlt.pipeline(args.pipeline_name, pipelines_dir=args.pipelines_dir, destination=destination,
                            dataset_name="copernica_push")
    fingerprint = _fingerprint(args, db.id, plan.key_field.name, mode)
    state_path = os.path.join(pipeline.working_dir, "push_run.json")
    state = _load_json(state_path)
    resume = False
    if pipeline.has_pending_data:
        if args.discard_pending:
            pipeline.abort_packages()
        elif state.get("fingerprint") == fingerprint and state.get("status") == "running":
            resume = True
        else:
            raise ConfigurationError(
                f"an interrupted push ({state.get('input', 'unknown input')}) is pending in pipeline "
                f"{args.pipeline_name!r}: run that command again to finish it, or pass --discard-pending")
    stopped: tuple[str, str] | None = None
    try:
        with _stop_at_first_outage(args.pipeline_name), _quiet_job_errors():
            if resume:
                print("resuming the interrupted push: rows already done are not sent again", file=sys.stderr)
                pipeline.run(destination=destination)
            else:
                if os.path.exists(journal):
                    os.remove(journal)
                append_results(journal, data.problems)
                _save_json(state_path, {"fingerprint": fingerprint, "status": "running", "input": data.description})
                pipeline.run(dlt.resource(data.batches(), name=TABLE_NAME), destination=destination)
        _save_json(state_path, {"fingerprint": fingerprint, "status": "done", "input": data.description})
    except PipelineStepFailed as exc:
        stopped = _stop_reason(exc)
        if exc.step == "extract":  # the input broke before anything was sent: nothing to resume
            pipeline.abort_packages()
            _save_json(state_path, {"fingerprint": fingerprint, "status": "failed", "input": data.description})
    finally:
        close_writers()
    results = _with_unsent(read_results(journal), data, plan)
    _write_results(results, args.results)
    return _summary(results, args.results, time.monotonic() - started, stopped)


def _say_columns(plan: RowPlan) -> None:
    """What the push makes of columns that are not plain fields, before anything is checked or sent."""
    if plan.ignored:
        print(f"ignoring columns that are not fields: {', '.join(plan.ignored)}", file=sys.stderr)
    if plan.system_columns:
        print(f"leaving out columns the loader adds (not fields, never sent): {', '.join(plan.system_columns)}",
              file=sys.stderr)
    if plan.interest_columns:
        print(f"interests from {len(plan.interest_columns)} columns (true sets the interest, false removes it, "
              f"empty leaves it): {', '.join(plan.interest_columns)}", file=sys.stderr)


@contextlib.contextmanager
def _stop_at_first_outage(pipeline_name: str) -> Iterator[None]:
    """dlt retries a job that raised DestinationTransientException (`load.raise_on_max_retries`, 5 by default), and
    each retry would wait out the client's retry time again: an outage would hold the push for many times
    `retry_max_seconds`. The client has already retried by then, so this pipeline gives up at the first transient
    job failure; the job goes back to the package, which stays pending, and the next run resumes it. Set for this
    pipeline and this run only (its environment key wins over config files), and put back afterwards."""
    name = EnvironProvider.get_key_name("raise_on_max_retries", pipeline_name, "load")
    before = os.environ.get(name)
    os.environ[name] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


class _OwnJobErrors(logging.Filter):
    """Drops dlt's log records about a job that stopped on our own exceptions (an outage, a PushStopped): dlt logs
    each with its whole traceback, and the command's summary says the same in one `error:` line with advice.
    Anything else dlt logs (a failure we did not raise) still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, (CopernicaUnavailable, PushStopped)):
            return False
        text = record.getMessage() if record.args else str(record.msg)
        return not ((text.startswith("Job for ") and " retried in load " in text)
                    or (text.startswith("Package ") and " was not fully loaded" in text))


@contextlib.contextmanager
def _quiet_job_errors() -> Iterator[None]:
    """_OwnJobErrors on dlt's logger for the run (dlt logs to "dlt", or to the root logger when configured so)."""
    loggers = {logging.getLogger("dlt")}
    if isinstance(dlt_logger.LOGGER, logging.Logger):
        loggers.add(dlt_logger.LOGGER)
    own = _OwnJobErrors()
    for log in loggers:
        log.addFilter(own)
    try:
        yield
    finally:
        for log in loggers:
            log.removeFilter(own)


def _with_unsent(results: pa.Table, data: InputData, plan: RowPlan) -> pa.Table:
    """Every input row once: a row with no result (the push stopped before it) is added as `not_sent`."""
    total = data.rows + len(data.problems)
    seen = set(results.column("row").to_pylist())
    missing = [n for n in range(1, total + 1) if n not in seen]
    if not missing:
        return results
    keys = _keys_of(data, plan.key_column, set(missing))
    extra = [dict(row=n, key=printable(keys.get(n)), action=NOT_SENT, profile_id=None,
                  message="not sent: the push stopped before this row", load_id="") for n in missing]
    table = pa.concat_tables([results, pa.Table.from_pylist(extra, schema=RESULTS_SCHEMA)])
    return table.sort_by([("row", "ascending")])


def _keys_of(data: InputData, column: str, rows: set[int]) -> dict[int, str]:
    """The keys of some rows, read again from the input; none when the input cannot be read again."""
    out: dict[int, str] = {}
    try:
        for batch in data.batches():
            if column not in batch.schema.names:
                return out
            numbers = batch.column(ROW_COLUMN).to_pylist()
            if not rows.intersection(numbers):
                continue
            for n, key in zip(numbers, batch.column(column).to_pylist(), strict=True):
                if n in rows and key is not None:
                    out[n] = str(key)[:200]
    except Exception:  # noqa: BLE001 - the keys only help the reader; the rows are listed either way
        pass
    return out


def _dry_run(data: InputData, plan: Any, args: argparse.Namespace, mode: str) -> int:
    """Every row checked as the real run checks it, with the same key cell ("" when there is none); a valid row whose
    key an earlier valid row has too (as Copernica matches keys) says so: the real run writes both, in order."""
    results = list(data.problems)
    first_of: dict[str, int] = {}
    for batch in data.batches():
        for row in batch.to_pylist():
            c = check_row(row, plan, args.timezone)
            message = c.reason or ""
            if not c.reason and c.key:
                first = first_of.setdefault(key_group(c.key), c.row or 0)
                if first != c.row:
                    message = _same_key_note(first, mode)
            results.append(RowResult(c.row, printable(c.key), "rejected" if c.reason else "valid", None, message))
    table = pa.Table.from_pylist([dict(row=r.row, key=printable(r.key), action=r.action, profile_id=r.profile_id,
                                       message=r.message, load_id="dry-run") for r in results],
                                 schema=RESULTS_SCHEMA)
    table = table.sort_by([("row", "ascending")])
    _write_results(table, args.results)
    return _summary(table, args.results, 0.0, None, dry_run=True)


def _same_key_note(first: int, mode: str) -> str:
    if mode == "create":
        return (f"valid; the same key as row {first}: create mode makes one profile per key, so this row would fail "
                f"(row {first} creates the profile first)")
    if mode == "update":
        return f"valid; the same key as row {first}: this row updates the same profile after row {first}"
    return f"valid; the same key as row {first}: this row updates the profile row {first} makes (its values win)"


def _write_results(table: pa.Table, path: str) -> None:
    """Write the results whole and private (0600, new folders 0700): they hold the keys, often e-mail addresses.
    Keys are written with control characters escaped (printable). An existing results file is kept as
    `<name>.previous.<ext>` (one generation, also 0600) and the command says so: the results of a run are the
    only list of the profile IDs it made, and the next run (a failed one, a dry run) must not silently lose it."""
    if "key" in table.schema.names:
        keys = [printable(k) for k in table.column("key").to_pylist()]
        table = table.set_column(table.schema.get_field_index("key"), "key", pa.array(keys, pa.string()))
    tmp = f"{path}.{os.getpid()}.tmp"
    with open_private(tmp, "w") as f:
        f.flush()
    if path.lower().endswith((".parquet", ".pq")):
        pq.write_table(table, tmp)
    else:
        pacsv.write_csv(table, tmp)
    if os.path.isfile(path) and os.path.getsize(path) > 0:
        previous = previous_results_path(path)
        os.chmod(path, FILE_MODE)
        os.replace(path, previous)
        print(f"the previous results in {path} are kept in {previous}", file=sys.stderr)
    os.replace(tmp, path)


def previous_results_path(path: str) -> str:
    """Where the results a run replaces are kept: results.csv -> results.previous.csv."""
    stem, ext = os.path.splitext(path)
    return f"{stem}.previous{ext}"


def _summary(results: pa.Table, path: str, seconds: float, stopped: tuple[str, str] | None,
             dry_run: bool = False) -> int:
    counts = Counter(results.column("action").to_pylist())
    order = ["valid"] if dry_run else ["created", "updated"]
    parts = [f"{counts.get(a, 0):,} {a}" for a in order + ["rejected", "failed"]]
    if counts.get(NOT_SENT):
        parts.append(f"{counts[NOT_SENT]:,} not sent")
    rate = f" in {seconds:.1f}s" if seconds else ""
    print(("dry run: " if dry_run else "") + ", ".join(parts) + rate + f"; row results in {path}")
    for r in results.filter(pa.compute.is_in(results.column("action"), pa.array(["rejected", "failed"]))) \
            .slice(0, 10).to_pylist():
        print(f"  row {r['row']} ({printable(r['key'])}): {r['action']}: {r['message']}", file=sys.stderr)
    if stopped:
        reason, advice = stopped
        print(f"error: {reason}", file=sys.stderr)
        print(f"the push stopped before the end: {advice}", file=sys.stderr)
        return 1
    return 1 if counts.get("rejected") or counts.get("failed") or counts.get(NOT_SENT) else 0


def _stop_reason(exc: BaseException) -> tuple[str, str]:
    """Why the push stopped (always with its cause) and what to do: a re-run is advised only after an outage."""
    chain = list(causes(exc))
    for e in chain:
        if isinstance(e, PushStopped):
            return e.reason, e.advice
    for e in chain:
        if isinstance(e, AuthenticationError):
            return str(e), FIX_TOKEN
        if isinstance(e, (CopernicaUnavailable, TransientError)):
            return str(e), RERUN
    for e in chain:
        if isinstance(e, (InputError, ConfigurationError)):
            return str(e), FIX_INPUT
    for e in chain:
        if isinstance(e, CopernicaError):
            return str(e), NOT_AN_OUTAGE
    return _cause(exc), NOT_AN_OUTAGE


def _cause(exc: BaseException) -> str:
    """The innermost exception's one-line text with its type: never an empty 'with exception:'."""
    chain = list(causes(exc))
    inner = [e for e in chain if not type(e).__module__.startswith("dlt.")]
    return one_line(inner[-1] if inner else chain[-1])


def _fingerprint(args: argparse.Namespace, db_id: int, key: str, mode: str) -> str:
    path = args.input or args.duckdb
    st = os.stat(path)
    ident = [os.path.abspath(path), st.st_size, st.st_mtime_ns, args.table, args.query, db_id, key, mode,
             args.map, args.interests, args.ignore_unknown_columns]
    return hashlib.sha256(json.dumps(ident, default=str).encode()).hexdigest()


def _load_json(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            return dict(json.load(f))
    except (OSError, ValueError):
        return {}


def _save_json(path: str, data: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open_private(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)

"""`copernica load`: run the engagement pipeline (or the demo against the bundled simulator) and summarise."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from dlt.common.typing import TRefreshMode
from dlt.common.utils import custom_environ
from dlt.pipeline.exceptions import InvalidPipelineName, PipelineStepFailed

from copernica_source.account import parse_moment
from copernica_source.cli.failures import KNOWN, failure_line
from copernica_source.cli.load_summary import LoadSummary
from copernica_source.cli.models import add_models_arguments, build_and_print
from copernica_source.cli.pipeline_args import add_pipeline_arguments, pipeline_from_args, pipeline_name_of
from copernica_source.cli.progress import StepProgress, listening, progress_mode, use_system_allocator
from copernica_source.cli.report import write_report_for
from copernica_source.cli.tables import select_resources
from copernica_source.client import CopernicaClient
from copernica_source.errors import ConfigurationError
from copernica_source.logfiles import chosen_log_tables
from copernica_source.models import models_installed
from copernica_source.pipeline import scheduled_run
from copernica_source.settings import DUCKDB_MEMORY_LIMIT, LOAD_ID_ON_ROWS, account_timezone
from copernica_source.source import check_settings, copernica_source

DEMO_EVENTS = 20_000
DEMO_REPORT = "copernica_demo_report.html"


LOAD_DESCRIPTION = """\
`copernica load`: read Copernica (emailings, statistics, destinations, engagement events, the account's
structure, profiles and subprofiles) and load it into DuckDB or any dlt destination, incrementally: each run
reads what is new since the last one (dlt state in the pipeline's folder) and merges it on the tables' keys.
Progress: one live line on a terminal, nothing in a log file (--progress: a line per step there too; --quiet:
none). Then the rows each table received (on a terminal; a log file gets the one total line) and any deletions
held back; --summary-json writes all of it for an orchestrator.

Settings come from [sources.copernica] (.dlt/config.toml, .dlt/secrets.toml) or SOURCES__COPERNICA__<KEY>;
--products, --database-ids, --lookback-days, --logfiles, --start-date and --end-date override them for this run.
`copernica tables` lists the tables; exit status 0 loaded, 1 failed, 2 bad arguments.
"""

LOAD_EXAMPLES = """\
examples:
  copernica load --demo                              # the bundled simulator, no account needed
  copernica load                                     # everything, into copernica.duckdb
  copernica load --resources html_clicks,profiles_customers --products html
  copernica load --database-ids 1,4 --lookback-days 7
  copernica load --logfiles html --start-date 2025-01-01 --end-date 2026-01-01   # a backfill, with logfiles;
                                                     # the incremental state left alone
"""


def add_load_command(commands: Any) -> None:
    p = commands.add_parser("load", help="load Copernica into DuckDB or any dlt destination",
                            description=LOAD_DESCRIPTION, epilog=LOAD_EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_pipeline_arguments(p, demo_help="start the bundled simulator and load it (no account needed), then build "
                                        "the models and write copernica_demo_report.html when the [models] extra is "
                                        "installed (default: load the account in [sources.copernica])")
    p.add_argument("--duckdb-memory-limit", default=DUCKDB_MEMORY_LIMIT,
                   help=f"DuckDB memory for the load step (default {DUCKDB_MEMORY_LIMIT}; 'none' for DuckDB's default)")
    p.add_argument("--resources", default=None, metavar="NAMES",
                   help="comma-separated resource or table names to load, e.g. html_clicks,profiles_customers "
                        "(a profiles_<db> / subprofiles_<db>_<col> table selects the profiles / subprofiles "
                        "resource; `copernica tables` lists them; default: all)")
    p.add_argument("--products", default=None, metavar="LIST",
                   help="mail products whose engagement tables are loaded, comma-separated: html, draganddrop "
                        "(default: the products setting, else both)")
    p.add_argument("--database-ids", default=None, metavar="IDS",
                   help="comma-separated database IDs: limit the structure, profile and subprofile tables to "
                        "them (default: the database_ids setting, else all databases)")
    p.add_argument("--lookback-days", type=float, default=None, metavar="DAYS",
                   help="re-read window for late draganddrop events and destinations (default: the lookback_days "
                        "setting, else 3)")
    p.add_argument("--logfiles", default=None, metavar="LIST",
                   help="also load these log tables from Copernica's daily logfiles, comma-separated: all, html, "
                        "draganddrop, webhooks, log types (pom-clicks) or table names (html_log_clicks) "
                        "(default: the logfiles setting, else none)")
    p.add_argument("--start-date", default=None,
                   help="load from this date (YYYY-MM-DD[ HH:MM:SS], Copernica time; default: where the last run "
                        "ended, or everything on the first run)")
    p.add_argument("--end-date", default=None,
                   help="load up to, not including, this date: a backfill, which leaves the incremental state "
                        "(where the next run continues) alone (default: up to now)")
    p.add_argument("--full-refresh", action="store_true",
                   help="drop this source's tables and state (only the --resources ones, if given), load everything")
    p.add_argument("--wait-for-lock", type=float, default=0.0, metavar="SECONDS",
                   help="when another run of this pipeline is in progress, wait this long for it (default: "
                        "refuse). Loads into one PostgreSQL dataset also take turns in their load step, whatever "
                        "their pipeline: that wait has no limit and a warning names the load it waits for")
    p.add_argument("--quiet", action="store_true",
                   help="print nothing on success but deletions held back (errors and warnings still print)")
    p.add_argument("--progress", action="store_true",
                   help="show progress even when stderr is not a terminal: one line per finished step (default: "
                        "a live line on a terminal only)")
    p.add_argument("--summary-json", default=None, metavar="FILE",
                   help="also write what the run did (status, rows per table, API requests, load IDs, error) as "
                        "JSON to FILE, on success and on failure (a command line that does not parse, exit 2 with "
                        "the usage text, writes none)")
    p.add_argument("--models", action=argparse.BooleanOptionalAction, default=None,
                   help="after a successful load, build and test the analyst models, as `copernica models` does "
                        "(default: on with --demo when dbt is installed, else off)")
    add_models_arguments(p)
    p.add_argument("--demo-events", type=int, default=DEMO_EVENTS, help=argparse.SUPPRESS)
    p.set_defaults(run=run_load)


def source_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The source settings given as flags: only those, so config and env vars still supply the others."""
    kwargs: dict[str, Any] = {}
    if args.start_date:
        kwargs["start_date"] = args.start_date
    if args.end_date:
        kwargs["end_date"] = args.end_date
    if args.products is not None:
        kwargs["products"] = [p.strip() for p in args.products.split(",") if p.strip()]
    if args.database_ids is not None:
        kwargs["database_ids"] = args.database_ids  # text "1,4": the source reads it as config text, with its errors
    if args.lookback_days is not None:
        kwargs["lookback_days"] = args.lookback_days
    if args.logfiles is not None:
        kwargs["logfiles"] = [p.strip() for p in args.logfiles.split(",") if p.strip()]
    return kwargs


@contextlib.contextmanager
def _demo_simulator(events: int, *, quiet: bool) -> Iterator[dict[str, Any]]:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from copernica_source.simulator import Simulator

    # the demo account's clock is today (midnight), so "last 30 days" queries find its newest rows
    today = datetime.now(ZoneInfo("Europe/Amsterdam")).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    # it answers `GET webhooks`, as some accounts do: a first run should not greet people with a warning
    with Simulator(events=events, seed=1, now=today, quirks="literal,undocumented_gets=present") as sim:
        if not quiet:
            print(f"demo: simulator at {sim.base_url} ({events} html clicks and the rest)", file=sys.stderr)
        yield {"access_token": sim.access_token, "base_url": sim.base_url, "auth_url": sim.auth_url}


class _HeldBack(logging.Handler):
    """Collects the deletions a run held back, so the summary can end with them: a scheduler's log shows the
    last lines first."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "held_back", False):
            self.lines.append(record.getMessage())


def run_load(args: argparse.Namespace) -> int:
    held_back = _HeldBack()
    summary = LoadSummary(held_back=held_back.lines)  # the same list: filled while the run goes
    # every row says which load wrote it (dlt leaves `_dlt_load_id` off Arrow rows unless asked): what freshness
    # checks and "what did the last load change" queries need. A setting of the user's own still wins.
    load_id_on_rows = {} if LOAD_ID_ON_ROWS in os.environ else {LOAD_ID_ON_ROWS: "true"}
    started = time.monotonic()
    try:
        with listening(held_back), custom_environ(load_id_on_rows):
            return _run_load(args, summary)
    except KNOWN as exc:  # the line `main` prints for others, with which run it was
        line, code = failure_line(exc)
        summary.status, summary.error = "failed", line
        summary.seconds = round(time.monotonic() - started, 3)
        which = "" if isinstance(exc, InvalidPipelineName) else f" {summary.which_run()}"  # the name is the error
        print(f"error: {line}{which}", file=sys.stderr)
        return code
    except Exception as exc:
        summary.status, summary.error = "failed", failure_line(exc)[0]
        summary.seconds = round(time.monotonic() - started, 3)
        raise
    finally:
        if args.summary_json:
            summary.write_json(args.summary_json)


def _run_load(args: argparse.Namespace, summary: LoadSummary) -> int:
    use_system_allocator()
    started = time.monotonic()
    requests_before = CopernicaClient.total_requests()

    def failed(message: str, code: int = 1) -> int:
        print(f"error: {message} {summary.which_run()}", file=sys.stderr)  # a log shared by runs: which one
        summary.status, summary.error = "failed", message
        summary.seconds = round(time.monotonic() - started, 3)
        summary.api_requests = CopernicaClient.total_requests() - requests_before
        return code

    # what the run loads into, for a summary of a run that fails before its pipeline exists
    summary.pipeline, summary.destination, summary.dataset = pipeline_name_of(args), args.destination, args.dataset
    try:  # usage errors, told before anything starts (exit 2, as argparse's own)
        if args.logfiles:
            chosen_log_tables(args.logfiles.split(","))
        for flag in ("start_date", "end_date"):
            parse_moment(getattr(args, flag), "UTC", "--" + flag.replace("_", "-"))
        flags = source_settings(args)
        flags.pop("logfiles", None)
        check_settings(**flags, timezone=getattr(args, "timezone", None) or account_timezone())
    except ConfigurationError as exc:
        return failed(str(exc), 2)
    demo: contextlib.AbstractContextManager[dict[str, Any]]
    if args.demo:
        demo = _demo_simulator(args.demo_events, quiet=args.quiet)
    else:
        demo = contextlib.nullcontext({})
    with demo as connection:
        source = copernica_source(**dict(connection), **source_settings(args))
        if args.resources:
            wanted = [r.strip() for r in args.resources.split(",") if r.strip()]
            if args.logfiles:  # "also load these log tables": added to the tables asked for
                wanted += sorted(chosen_log_tables(args.logfiles.split(",")) - set(wanted))
            selection = select_resources(wanted, source.resources)
            for note in selection.notes:
                print(note, file=sys.stderr)
            if selection.error:
                return failed(selection.error, 2)
            source = source.with_resources(*selection.resources)
        limit = None if str(args.duckdb_memory_limit).lower() == "none" else args.duckdb_memory_limit
        mode = progress_mode(sys.stderr, quiet=args.quiet, forced=args.progress)
        pipeline = pipeline_from_args(args, memory_limit=limit, progress=StepProgress(mode, sys.stderr))
        summary.read_pipeline(pipeline)
        # the demo starts over each time: the simulator's data is the same on every start. With --resources, a
        # full refresh drops only the selected tables and their state
        refresh: TRefreshMode | None = None
        if args.full_refresh or args.demo:
            refresh = "drop_resources" if args.resources else "drop_sources"

        def finishing() -> None:
            print("finishing the load an interrupted run left behind, then loading what is new", file=sys.stderr)

        # one run per pipeline (a second one would extract everything again and race for the state), merging
        # through its own staging dataset, dropped once the load completed
        try:
            with scheduled_run(pipeline, wait_for_lock=args.wait_for_lock, on_pending=finishing):
                # dlt annotates `refresh: TRefreshMode = None`: None, its default, is missing from the hint
                info = pipeline.run(source, refresh=refresh)  # type: ignore[arg-type]
                info.raise_on_failed_jobs()
        except PipelineStepFailed as exc:
            return failed(failure_line(exc)[0])
    summary.read_trace(pipeline)
    summary.seconds = round(time.monotonic() - started, 3)
    summary.api_requests = CopernicaClient.total_requests() - requests_before
    if not args.quiet:
        summary.print(sys.stdout, per_table=sys.stdout.isatty())
    else:
        for line in summary.held_back:
            print(f"held back: {line}")
    if args.models is None and args.demo and not models_installed() and not args.quiet:
        print("models and report skipped: they need dbt and plotly, pip install 'copernica-source[models]'",
              file=sys.stderr)
    if args.models or (args.models is None and args.demo and models_installed()):
        status = build_and_print(pipeline, args, on_outcome=summary.read_models)
        if status == 0 and args.demo:  # the demo shows the whole path: raw tables, models, report
            args.output = DEMO_REPORT
            print(f"report: {write_report_for(args, pipeline)}")
        return status
    return 0

"""`copernica data-request`: GDPR data requests for one or many subjects, as one command.

Prints one line per subject (subject, request ID, status, file or what to do) and nothing of the data itself.
The data goes into owner-only files `<kind>-<request id>.json` (--output, default ./copernica_data_requests);
into the destination's table only with --store-data.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from copernica_source.datarequests.api import DELIVERED, PENDING
from copernica_source.datarequests.resource import DEFAULT_TIMEOUT, default_pipeline, request_data
from copernica_source.datarequests.subjects import make_subjects, read_subjects
from copernica_source.errors import ConfigurationError
from copernica_source.private_files import private_dir
from copernica_source.settings import DEFAULT_DATASET, DUCKDB_FILE, duckdb_destination, pipelines_dir_help

DEFAULT_OUTPUT = "copernica_data_requests"

EXAMPLES = """\
examples:
  copernica data-request --email jan@example.com --wait      # request, wait, write the file
  copernica data-request --profile 1234,5678                 # request only; a later --pending run delivers
  copernica data-request --pending --wait                    # deliver what earlier runs left pending
  copernica data-request --file subjects.txt --output ./gdpr --wait --timeout 600
"""


def add_data_request_command(commands: Any) -> None:
    p = commands.add_parser("data-request", help="GDPR: request, wait for and deliver what Copernica holds on people",
                            description=__doc__, epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", action="append", default=[], metavar="ID", help="profile ID (repeat or comma-separate)")
    p.add_argument("--subprofile", action="append", default=[], metavar="ID",
                   help="subprofile ID (repeat or comma-separate)")
    p.add_argument("--email", action="append", default=[], metavar="ADDRESS",
                   help="e-mail address (repeat or comma-separate)")
    p.add_argument("--file", action="append", default=[], metavar="PATH",
                   help="subjects, one a line: profile:ID, subprofile:ID, email:ADDRESS or a bare address")
    p.add_argument("--pending", action="store_true",
                   help="also check every request earlier runs left pending; alone (no subjects) it waits for them")
    p.add_argument("--report", default=None,
                   help="e-mail address or URL Copernica also sends the file to (default: none)")
    p.add_argument("--wait", action="store_true",
                   help="poll (with backoff) until the data is available (default: request and report the status once)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds --wait waits at most (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--output", default=None, metavar="DIR",
                   help="write each subject's JSON file into DIR, owner-only (default without --store-data: "
                        f"./{DEFAULT_OUTPUT})")
    p.add_argument("--store-data", dest="store_data", action="store_true", default=False,
                   help="also put the data itself into the destination's table (default: statuses only)")
    p.add_argument("--no-store-data", dest="store_data", action="store_false",
                   help="the default, kept for older scripts: the table tracks requests only")
    p.add_argument("--destination", default="duckdb", help="any dlt destination name (default: duckdb)")
    p.add_argument("--duckdb-file", default=DUCKDB_FILE,
                   help=f"DuckDB file for --destination duckdb (default {DUCKDB_FILE})")
    p.add_argument("--dataset", default=DEFAULT_DATASET, help=f"dataset (schema) name (default {DEFAULT_DATASET})")
    p.add_argument("--pipelines-dir", default=None, help=pipelines_dir_help("the pending request IDs"))
    p.add_argument("--api-version", type=int, choices=(1, 4), default=None, help="REST API version (default 4)")
    p.add_argument("--poll-interval", type=float, default=2.0, help=argparse.SUPPRESS)
    p.set_defaults(run=run_data_request)


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _output_folder(given: str | None, store_data: bool) -> str | None:
    """The folder for the delivered files, created owner-only before anything is asked: without --store-data the
    files are the only place the data goes, so it falls back to DEFAULT_OUTPUT rather than being lost."""
    if given is None and store_data:
        return None
    folder = given or DEFAULT_OUTPUT
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ConfigurationError(f"--output {folder} is a file; give a directory (it is created if missing)")
    try:
        return str(private_dir(folder))
    except OSError as exc:
        raise ConfigurationError(f"cannot create the --output folder {folder}: {exc.strerror or exc}") from None


def run_data_request(args: argparse.Namespace) -> int:
    from_files = [s for path in args.file for s in read_subjects(path)]
    subjects = make_subjects(_split(args.profile), _split(args.subprofile), _split(args.email), from_files)
    if not subjects and not args.pending:
        raise ConfigurationError("no subjects: give --profile, --subprofile, --email, --file or --pending")
    # `--pending` alone is there to collect what earlier runs asked for: it waits (README)
    wait = bool(args.wait or (args.pending and not subjects))
    output = _output_folder(args.output, args.store_data)
    destination: Any = args.destination
    if destination == "duckdb":
        if not subjects and not os.path.exists(args.duckdb_file):  # the pending requests live in that file
            print(f"nothing to do: no subjects, and no {args.duckdb_file} with pending requests", file=sys.stderr)
            return 0
        destination = duckdb_destination(args.duckdb_file)
    pipeline = default_pipeline(dataset=args.dataset, pipelines_dir=args.pipelines_dir, destination=destination)
    outcomes = request_data(
        subjects, pipeline=pipeline, report=args.report, wait=wait, timeout=args.timeout, output_dir=output,
        store_data=args.store_data, poll_interval=args.poll_interval, include_pending=args.pending,
        api_version=args.api_version,
    )
    if not outcomes:
        print("nothing to do: no subjects and no pending requests", file=sys.stderr)
    width = max(len(str(o.subject)) for o in outcomes) if outcomes else 0
    for o in outcomes:
        where = o.path or o.message or (f"in {args.dataset}.data_requests" if o.status == DELIVERED else "")
        print(f"{o.subject!s:<{width}}  {o.request_id or '-':<12}  {o.status:<9}  {where}".rstrip())
    written = sum(1 for o in outcomes if o.path)
    if written:
        print(f"wrote {written} file{'s' * (written != 1)} into {output} (readable by you only)", file=sys.stderr)
    done = {DELIVERED} if wait else {DELIVERED, PENDING}
    failed = [o for o in outcomes if o.status not in done]
    if failed:
        print(f"{len(failed)} of {len(outcomes)} subjects not delivered", file=sys.stderr)
    return 1 if failed else 0

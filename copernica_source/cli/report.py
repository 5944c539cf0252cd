"""`copernica report`: one self-contained HTML file with the charts an e-mail marketer looks at first (activity,
funnel, rates, bounces, unsubscribes, links, devices, hours, time to first open), drawn from the dbt models that
`copernica models` builds in the dataset `copernica load` wrote. It opens offline: plotly.js is inside the file.

Only reads: the load pipeline's state (its folder in the pipelines directory) is left alone. Prints the report's
path. Give the --timezone the models were built with (both default to the source's timezone setting).
Exit status 0 written, 1 failed (models not built, destination not reachable, output not writable), 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.destination.exceptions import DestinationException

from copernica_source.cli.pipeline_args import add_pipeline_arguments, duckdb_file, reading_pipeline
from copernica_source.errors import ConfigurationError, root_message
from copernica_source.settings import account_timezone

DEFAULT_OUTPUT = "copernica_report.html"

EXAMPLES = """\
examples:
  copernica load && copernica models && copernica report      # writes copernica_report.html
  copernica report --output report.html --duckdb-file copernica_demo.duckdb
  copernica report --destination postgres --dataset marketing --output /srv/www/copernica.html
"""


def add_report_command(commands: Any) -> None:
    p = commands.add_parser("report", help="write an HTML report (charts) from the dbt models; opens offline",
                            description=__doc__, epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", default=DEFAULT_OUTPUT, metavar="PATH",
                   help=f"the HTML file to write, replaced in one step, owner-only (default {DEFAULT_OUTPUT})")
    add_pipeline_arguments(p, demo_help="use the tables `copernica load --demo` wrote", keeps_state=False)
    p.add_argument("--timezone", default=None,
                   help="the time zone the models' local days and hours are in, for the labels (default: the "
                        "source's timezone setting, else Europe/Amsterdam; as for `copernica models`)")
    p.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    print(write_report_for(args))
    return 0


def write_report_for(args: argparse.Namespace, pipeline: dlt.Pipeline | None = None) -> Path:
    """Write the report for the flags' dataset (or `pipeline`'s, as `copernica load --demo` does)."""
    output = Path(args.output)
    if output.is_dir():
        raise ConfigurationError(f"--output {args.output} is a folder; give the HTML file's path")
    try:
        from copernica_source.report import destination_dataset, sql_client_query, write_report
    except ModuleNotFoundError as exc:
        if exc.name != "plotly":
            raise
        raise ConfigurationError("copernica report draws with plotly, which is not installed: "
                                 "pip install 'copernica-source[models]'") from None
    with contextlib.ExitStack() as stack:
        if pipeline is None:
            pipeline = stack.enter_context(reading_pipeline(args))
        where = pipeline.destination.destination_name
        if where == "duckdb":
            where = f"duckdb {os.path.basename(duckdb_file(args))}"
        timezone = getattr(args, "timezone", None) or account_timezone()  # load --demo has no --timezone flag
        try:
            with sql_client_query(pipeline) as query:
                written = write_report(output, query, destination_dataset(pipeline), timezone=timezone,
                                       destination=where)
        except ConfigFieldMissingException as exc:
            name = pipeline.destination.destination_name
            raise ConfigurationError(
                f"missing {', '.join(exc.fields)} for destination {name}: put them in [destination.{name}.credentials]"
                f" of .dlt/secrets.toml, or set DESTINATION__{name.upper()}__CREDENTIALS") from None
        except DestinationException as exc:
            raise ConfigurationError(f"cannot read dataset {args.dataset} in {where}: {root_message(exc, 300)}") \
                from None
    return written.resolve()

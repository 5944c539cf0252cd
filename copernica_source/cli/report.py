"""`copernica report`: one self-contained HTML file with the charts an e-mail marketer looks at first (activity,
funnel, rates, bounces, unsubscribes, links, devices, hours, time to first open), drawn from the dbt models that
`copernica models` builds in the dataset `copernica load` wrote. It opens offline: plotly.js is inside the file.

Only reads: the load pipeline's state (its folder under ~/.dlt) is left alone. Prints the report's path.
Exit status 0 written, 1 failed (models not built, destination not reachable), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import dlt
from dlt.common.configuration import with_config
from dlt.common.configuration.exceptions import ConfigFieldMissingException
from dlt.common.destination.exceptions import DestinationException

from copernica_source.check import DEFAULT_TIMEZONE
from copernica_source.cli.load import DEFAULT_PIPELINE
from copernica_source.errors import ConfigurationError, root_message
from copernica_source.settings import DEFAULT_DATASET, DUCKDB_FILE, duckdb_destination

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
    p.add_argument("--destination", default="duckdb",
                   help="the dlt destination `copernica load` wrote to (default: duckdb)")
    p.add_argument("--duckdb-file", default=DUCKDB_FILE,
                   help=f"DuckDB file for --destination duckdb (default {DUCKDB_FILE})")
    p.add_argument("--dataset", default=DEFAULT_DATASET,
                   help=f"dataset (schema) holding the raw tables and the models (default {DEFAULT_DATASET})")
    p.add_argument("--pipeline-name", default=DEFAULT_PIPELINE,
                   help="dlt pipeline name: selects [<name>.destination...] credentials as for `copernica load` "
                        f"(default {DEFAULT_PIPELINE})")
    p.set_defaults(run=run_report)


def _timezone(timezone: str = DEFAULT_TIMEZONE) -> str:
    """The account's time zone, from the same `[sources.copernica]` setting the load uses."""
    return str(timezone)


_configured_timezone = with_config(_timezone, sections=("sources", "copernica"))


def run_report(args: argparse.Namespace) -> int:
    output = Path(args.output)
    if output.is_dir():
        raise ConfigurationError(f"--output {args.output} is a folder; give the HTML file's path")
    try:
        from copernica_source.report import destination_dataset, sql_client_query, write_report
    except ModuleNotFoundError as exc:
        if exc.name != "plotly":
            raise
        raise ConfigurationError("copernica report draws with plotly, which is not installed: pip install plotly") \
            from None
    destination: Any = args.destination
    where = str(destination)
    if destination == "duckdb":
        if not os.path.isfile(args.duckdb_file):  # duckdb_destination would create an empty one
            raise ConfigurationError(f"no DuckDB file {args.duckdb_file}: run `copernica load` and "
                                     "`copernica models` first, or give --duckdb-file")
        destination = duckdb_destination(args.duckdb_file)
        where = f"duckdb {os.path.basename(args.duckdb_file)}"
    timezone = _configured_timezone()
    # dlt saves a pipeline's state when it is created with another destination or dataset: a folder of its own,
    # thrown away after, keeps the load pipeline's state (its cursors) out of reach of a read-only command
    with tempfile.TemporaryDirectory(prefix="copernica-report-") as working:
        pipeline = dlt.pipeline(pipeline_name=args.pipeline_name, destination=destination,
                                dataset_name=args.dataset, pipelines_dir=working)
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
    print(written.resolve())
    return 0

"""`copernica load | models | report | tables | check | push-profiles | data-request | simulator`: the command line.

Each command reads the same `[sources.copernica]` settings (.dlt/config.toml, .dlt/secrets.toml or
SOURCES__COPERNICA__<KEY> environment variables); `copernica COMMAND --help` describes one command."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from copernica_source.cli.failures import KNOWN, failure_line
from copernica_source.cli.progress import routed_logs
from copernica_source.private_files import private_umask

Command = Callable[[argparse.Namespace], int]

EXAMPLES = """\
examples:
  copernica load --demo                        # the bundled simulator into copernica_demo.duckdb, no account
  copernica check                              # is the token right, how does the account answer
  copernica tables                             # every table the source can load
  copernica report --output report.html        # charts from the dbt models, one HTML file
  copernica load --resources html_clicks,profiles_customers
  copernica push-profiles --input people.csv --database customers --key email --dry-run
"""


def version_line() -> str:
    """`copernica-source <version>` of the installed distribution."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"copernica-source {version('copernica-source')}"
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "copernica-source (version unknown: not installed)"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulator":  # the simulator owns its options
        from copernica_source.simulator.cli import main as simulator_main

        return simulator_main(argv[1:])
    parser = argparse.ArgumentParser(prog="copernica", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=version_line(),
                        help="print copernica-source and its version, then exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from copernica_source.cli.check import add_check_command
    from copernica_source.cli.data_request import add_data_request_command
    from copernica_source.cli.load import add_load_command
    from copernica_source.cli.models import add_models_command
    from copernica_source.cli.push import add_push_profiles_command
    from copernica_source.cli.report import add_report_command
    from copernica_source.cli.tables import add_tables_command

    add_load_command(commands)
    add_models_command(commands)
    add_tables_command(commands)
    add_push_profiles_command(commands)
    add_data_request_command(commands)
    add_check_command(commands)
    add_report_command(commands)
    commands.add_parser("simulator", help="run the bundled Copernica API simulator (see `copernica simulator -h`)")
    args = parser.parse_args(argv)
    try:
        # what a command creates may hold personal data (DuckDB files, dlt's load packages); dlt's log records
        # and ours come out as one plain line each
        with private_umask(), routed_logs(sys.stderr):
            return int(args.run(args))
    except KNOWN as exc:
        line, code = failure_line(exc)
        print(f"error: {line}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `copernica tables | head`: the reader is gone, so is the rest of the output
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141


if __name__ == "__main__":
    sys.exit(main())

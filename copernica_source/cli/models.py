"""`copernica models`: build the analyst models (a dbt package shipped inside copernica_source) where
`copernica load` wrote the raw tables, run their tests, and say what was built and what failed."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import dlt

from copernica_source.cli.pipeline_args import add_pipeline_arguments, reading_pipeline
from copernica_source.models import MODELS, ModelsOutcome, build_models

MODELS_DESCRIPTION = f"""\
Build the analyst models in the dataset `copernica load` wrote, with the same settings (destination,
credentials, dataset), through dlt's dbt runner, then run the models' tests. The models:
  {", ".join(MODELS)}
and the seed copernica_error_types. Needs the [models] extra (dbt-core and dbt-duckdb; dbt-postgres etc. for a
warehouse). Exit status 1 when a model or a test fails; tests marked warn only warn.
"""

MODELS_EXAMPLES = """\
examples:
  copernica models                               # ./copernica.duckdb, dataset copernica_data
  copernica models --demo                        # after `copernica load --demo`
  copernica models --destination postgres --dataset marketing
  copernica load --models                        # load, then build the models: one scheduled command
"""


def add_models_command(commands: Any) -> None:
    p = commands.add_parser("models", help="build and test the analyst models (dbt) on the loaded tables",
                            description=MODELS_DESCRIPTION, epilog=MODELS_EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_pipeline_arguments(p, demo_help="use the tables `copernica load --demo` wrote", keeps_state=False)
    add_models_arguments(p)
    p.set_defaults(run=run_models)


def add_models_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timezone", default=None,
                   help="the account's time zone for daily figures and hours (default: the source's timezone "
                        "setting, else Europe/Amsterdam)")
    p.add_argument("--skip-tests", action="store_true", help="build the models without running their tests")


def run_models(args: argparse.Namespace) -> int:
    with reading_pipeline(args) as pipeline:
        return build_and_print(pipeline, args)


def build_and_print(pipeline: dlt.Pipeline, args: argparse.Namespace,
                    on_outcome: Callable[[ModelsOutcome], None] | None = None) -> int:
    """Build the models for `pipeline` and print what a scheduler's log should keep: one line per model, the
    test tally, and each failing test with dbt's message."""
    started = time.monotonic()
    outcome = build_models(pipeline, timezone=args.timezone, run_tests=not args.skip_tests)
    _print_outcome(outcome, time.monotonic() - started, quiet=getattr(args, "quiet", False))
    if on_outcome is not None:
        on_outcome(outcome)
    return 0 if outcome.ok else 1


def _print_outcome(outcome: ModelsOutcome, seconds: float, *, quiet: bool) -> None:
    """One line per model, the test tally, the total; with quiet only what failed or warned (on stderr)."""
    if not quiet:
        print(f"\nmodels in dataset '{outcome.dataset}'")
        width = max([len(m.name) for m in outcome.models] + [5])
        for model in outcome.models:
            status = "built" if model.status == "success" else model.status
            note = "" if model.message in ("OK", "") else model.message
            print(f"  {model.name:<{width}}  {status:<7} {model.seconds:6.2f}s  {note}".rstrip())
    if outcome.tests:
        passed = sum(1 for t in outcome.tests if t.status == "pass")
        if not quiet:
            print(f"tests: {passed} passed, {len(outcome.warned_tests)} warned, {len(outcome.failed_tests)} failed")
        for test in outcome.warned_tests + outcome.failed_tests:
            print(f"  {test.status}: {test.name}: {test.message}", file=sys.stderr)
    for model in outcome.models:
        if model.failed:
            print(f"error: model {model.name} failed: {model.message}", file=sys.stderr)
        elif model.status != "success":
            print(f"error: model {model.name} {model.status}: {model.message}".rstrip(": "), file=sys.stderr)
    built = sum(1 for m in outcome.models if m.status == "success")
    if not quiet:
        print(f"{built} of {len(outcome.models)} models built in {seconds:.1f}s")

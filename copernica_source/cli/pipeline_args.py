"""The destination, dataset and pipeline flags every command that reads or writes the loaded tables shares, so
`copernica models` and `copernica report` find exactly what `copernica load` wrote."""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import dlt

from copernica_source.errors import ConfigurationError
from copernica_source.pipeline import own_staging
from copernica_source.settings import DEFAULT_DATASET, DUCKDB_FILE, duckdb_destination, pipelines_dir_help

DEFAULT_PIPELINE = "copernica"
DEMO_PIPELINE = "copernica_demo"
DEMO_DUCKDB_FILE = "copernica_demo.duckdb"  # the demo never writes into a real account's tables


def add_pipeline_arguments(p: argparse.ArgumentParser, *, demo_help: str, keeps_state: bool = True) -> None:
    """The flags; a command that only reads (keeps_state=False) has no --pipelines-dir: it keeps no state."""
    p.add_argument("--demo", action="store_true", help=demo_help)
    p.add_argument("--destination", default="duckdb", help="any dlt destination name (default: duckdb)")
    p.add_argument("--duckdb-file", default=None,
                   help=f"DuckDB file for --destination duckdb (default {DUCKDB_FILE}; {DEMO_DUCKDB_FILE} with --demo)")
    p.add_argument("--dataset", default=DEFAULT_DATASET,
                   help=f"dataset (schema) name in the destination (default {DEFAULT_DATASET})")
    what = ("names the folder that holds its state, the cursors, and selects [<name>.destination...] credentials"
            if keeps_state else "the load's pipeline name: selects [<name>.destination...] credentials as it does")
    p.add_argument("--pipeline-name", default=DEFAULT_PIPELINE,
                   help=f"dlt pipeline name: {what} (default {DEFAULT_PIPELINE}; {DEMO_PIPELINE} with --demo)")
    if keeps_state:
        p.add_argument("--pipelines-dir", default=None, help=pipelines_dir_help("pipeline state (cursors)"))


def duckdb_file(args: argparse.Namespace) -> str:
    """The DuckDB file the flags name (with --destination duckdb)."""
    return str(args.duckdb_file or (DEMO_DUCKDB_FILE if args.demo else DUCKDB_FILE))


def pipeline_name_of(args: argparse.Namespace) -> str:
    """The pipeline name the flags give: the demo never touches the state of a real account's pipeline."""
    name = str(args.pipeline_name)
    return DEMO_PIPELINE if args.demo and name == DEFAULT_PIPELINE else name


def pipeline_from_args(args: argparse.Namespace, *, memory_limit: str | None = None, pipelines_dir: str | None = None,
                       **kwargs: Any) -> dlt.Pipeline:
    """The pipeline the flags name, staging in a dataset of its own; `kwargs` go to dlt.pipeline (e.g. progress)."""
    destination: Any = args.destination
    if destination == "duckdb":
        destination = duckdb_destination(duckdb_file(args), memory_limit)
    pipeline_name = pipeline_name_of(args)
    folder: str | None = pipelines_dir or getattr(args, "pipelines_dir", None)
    pipeline: dlt.Pipeline = dlt.pipeline(
        pipeline_name=pipeline_name, destination=destination, dataset_name=args.dataset,
        pipelines_dir=folder,  # type: ignore[arg-type]  # dlt annotates it str, its default None included
        **kwargs)
    return own_staging(pipeline)


@contextlib.contextmanager
def reading_pipeline(args: argparse.Namespace) -> Iterator[dlt.Pipeline]:
    """The pipeline the flags name, for a command that only reads the loaded tables (and builds models there).

    dlt saves a pipeline's state when it is created with another destination or dataset: a folder of its own,
    thrown away after, keeps the load pipeline's state (its cursors) out of reach.
    """
    if args.destination == "duckdb":
        path = duckdb_file(args)
        if not os.path.isfile(path):  # duckdb_destination would create an empty one, and dbt empty models in it
            raise ConfigurationError(f"no DuckDB file {os.path.abspath(path)}: `copernica load` has not written there "
                                     "(run it first, or check --duckdb-file)")
    with tempfile.TemporaryDirectory(prefix="copernica-read-") as working:
        yield pipeline_from_args(args, pipelines_dir=working)

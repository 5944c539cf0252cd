"""The destination, dataset and pipeline flags every command that reads or writes the loaded tables shares, so
`copernica models` and `copernica report` find exactly what `copernica load` wrote."""

from __future__ import annotations

import argparse
from typing import Any

import dlt

from copernica_source.settings import DEFAULT_DATASET, DUCKDB_FILE, duckdb_destination, pipelines_dir_help

DEFAULT_PIPELINE = "copernica"
DEMO_PIPELINE = "copernica_demo"
DEMO_DUCKDB_FILE = "copernica_demo.duckdb"  # the demo never writes into a real account's tables


def add_pipeline_arguments(p: argparse.ArgumentParser, *, demo_help: str) -> None:
    p.add_argument("--demo", action="store_true", help=demo_help)
    p.add_argument("--destination", default="duckdb", help="any dlt destination name (default: duckdb)")
    p.add_argument("--duckdb-file", default=None,
                   help=f"DuckDB file for --destination duckdb (default {DUCKDB_FILE}; {DEMO_DUCKDB_FILE} with --demo)")
    p.add_argument("--dataset", default=DEFAULT_DATASET,
                   help=f"dataset (schema) name in the destination (default {DEFAULT_DATASET})")
    p.add_argument("--pipeline-name", default=DEFAULT_PIPELINE,
                   help=f"dlt pipeline name: names the folder that holds its state, the cursors "
                        f"(default {DEFAULT_PIPELINE}; {DEMO_PIPELINE} with --demo)")
    p.add_argument("--pipelines-dir", default=None, help=pipelines_dir_help("pipeline state (cursors)"))


def duckdb_file(args: argparse.Namespace) -> str:
    """The DuckDB file the flags name (with --destination duckdb)."""
    return str(args.duckdb_file or (DEMO_DUCKDB_FILE if args.demo else DUCKDB_FILE))


def pipeline_from_args(args: argparse.Namespace, *, memory_limit: str | None = None, **kwargs: Any) -> dlt.Pipeline:
    """The pipeline the flags name; `kwargs` go to dlt.pipeline (e.g. progress)."""
    destination: Any = args.destination
    if destination == "duckdb":
        destination = duckdb_destination(duckdb_file(args), memory_limit)
    pipeline_name = args.pipeline_name
    if args.demo and pipeline_name == DEFAULT_PIPELINE:
        pipeline_name = DEMO_PIPELINE  # the demo never touches the state of a real account's pipeline
    pipeline: dlt.Pipeline = dlt.pipeline(pipeline_name=pipeline_name, destination=destination,
                                          dataset_name=args.dataset, pipelines_dir=args.pipelines_dir, **kwargs)
    return pipeline

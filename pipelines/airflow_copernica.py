"""Copernica in Airflow, on dlt's Airflow helper (`dlt.helpers.airflow_helper.PipelineTasksGroup`).

Put this file in the DAGs folder of an Airflow 2.5+ or 3.x deployment whose workers have copernica-source
installed (`pip install copernica-source`, or from a git URL), and give the settings to dlt as on any machine:
the Airflow Variable `dlt_secrets_toml` holding a secrets.toml (dlt reads it in the task), or env vars on the
workers:

    SOURCES__COPERNICA__ACCESS_TOKEN=...
    COPERNICA_DESTINATION=postgres                       # any dlt destination; DuckDB only on a single worker
    DESTINATION__POSTGRES__CREDENTIALS=postgresql://loader:...@warehouse:5432/analytics

One DAG, `copernica`, every hour: four tasks, one per table group (`html` and `draganddrop` engagement,
`structure`, `profiles`), each under a pipeline of its own (`copernica_html`, ...) with a staging dataset of its
own (`<dataset>_staging_copernica_html`, ...: copernica_source.pipeline), so they run side by side without sharing
state or staged rows, dropped after each load (the helper wipes the task's folder, so a failed load is never
resumed from it, and no second copy of the profiles stays there). The helper gives each
task a fresh dlt folder and wipes it after, so each run restores its pipeline's state (the cursors) from the
destination: any worker can run any task, and a warehouse is the place for it. `max_active_runs=1` keeps two
runs of a group from overlapping (they would read the same rows twice and race for the state). Into DuckDB
(one file, one writer at a time) the tasks run one after another.

A backfill of a period is `copernica load --start-date ... --end-date ...` (or the Dagster recipe's daily
partitions): with an end date the cursors the hourly runs continue from are left alone.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import dlt
import pendulum
from dlt.common.destination import Destination
from dlt.helpers.airflow_helper import PipelineTasksGroup

from copernica_source import copernica_source
from copernica_source.pipeline import drop_staging_after_each_run, own_staging
from copernica_source.settings import (
    DEFAULT_DATASET,
    DUCKDB_FILE,
    LOAD_ID_ON_ROWS,
    account_timezone,
    duckdb_destination,
)
from copernica_source.tables import PRODUCTS

try:  # Airflow 3
    from airflow.sdk import chain, dag
except ImportError:  # Airflow 2
    from airflow.decorators import dag  # type: ignore[no-redef]
    from airflow.models.baseoperator import chain  # type: ignore[no-redef]

# every row carries the ID of the load that wrote it, as `copernica load` does (the task parses this file too)
os.environ.setdefault(LOAD_ID_ON_ROWS, "true")
# dlt asks Airflow for the Variable dlt_secrets_toml and its known fragments (`sources.copernica`, ...), not for
# one Variable per setting it resolves: by default it looks each setting up on its own, which made a small task
# take 3-6 times as long and puts Variable lookups in every parse of this file. Set it to false for settings kept
# in Variables of their own (`sources.copernica.access_token`)
os.environ.setdefault("PROVIDERS__AIRFLOW_SECRETS__ONLY_TOML_FRAGMENTS", "true")

DESTINATION = os.environ.get("COPERNICA_DESTINATION", "duckdb")
DATASET = os.environ.get("COPERNICA_DATASET", DEFAULT_DATASET)
DUCKDB_PATH = os.environ.get("COPERNICA_DUCKDB_FILE", DUCKDB_FILE)

# the resources of each task: the ones the source selects, as `copernica load` does (the log tables only where the
# `logfiles` setting names them), read from the source itself (no request is made without a run)
_names = list(copernica_source(access_token="dag-definition-only").selected_resources)
GROUPS: dict[str, list[str]] = {product: [n for n in _names if n.startswith(f"{product}_")] for product in PRODUCTS}
GROUPS["profiles"] = ["profiles", "subprofiles"]
GROUPS["structure"] = [n for n in _names if not any(n in g for g in GROUPS.values())]


def _destination() -> Any:
    if DESTINATION == "duckdb":  # absolute: dlt keeps the path in the pipeline's state
        return dlt.destinations.duckdb(os.path.abspath(DUCKDB_PATH))
    return Destination.from_reference(DESTINATION)


def _private_duckdb() -> None:
    """Before a run: the DuckDB file created 0600, as `copernica load` creates it (never while parsing)."""
    if DESTINATION == "duckdb":
        duckdb_destination(DUCKDB_PATH)


def _source(group: str) -> Any:
    """Built in the task, when it runs: the token is read there (Variable `dlt_secrets_toml` or env), never
    while the scheduler parses this file."""
    return lambda: copernica_source().with_resources(*GROUPS[group])


@dag(
    dag_id="copernica",
    schedule="15 * * * *",
    start_date=pendulum.datetime(2024, 1, 1, tz=account_timezone()),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5), "execution_timeout": timedelta(hours=3)},
    tags=["copernica", "dlt"],
)
def copernica() -> None:
    # the group first: it points dlt at a fresh data folder, where the pipelines below must be made
    tasks = PipelineTasksGroup("copernica", use_data_folder=False, wipe_local_data=True)
    runs = []
    for group in ("structure", "profiles", *PRODUCTS):
        pipeline = own_staging(dlt.pipeline(pipeline_name=f"copernica_{group}", destination=_destination(),
                                            dataset_name=DATASET))
        drop_staging_after_each_run(pipeline)  # the helper runs it: nothing resumes from the staging dataset
        runs += tasks.add_run(pipeline, _source(group), decompose="none", on_before_run=_private_duckdb)
    if DESTINATION == "duckdb":
        chain(*runs)  # one writer at a time


copernica()

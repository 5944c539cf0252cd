"""Copernica in Dagster, on the official dlt integration (dagster-dlt's `@dlt_assets` and `DagsterDltResource`).

    pip install "copernica-source[dagster,postgres]" dagster-webserver
    export SOURCES__COPERNICA__ACCESS_TOKEN=...              # or .dlt/secrets.toml, as for `copernica load`
    export COPERNICA_DESTINATION=postgres                     # credentials in [destination.postgres.credentials]
    dagster dev -f dagster_copernica.py

Four asset groups, one dlt asset per resource (`dlt_copernica_<resource>`):

- `copernica_html`, `copernica_draganddrop`: each product's emailings, statistics, destinations and events, in
  daily partitions (the account's time zone). A partition loads its day as a backfill: `start_date`..`end_date`,
  which in copernica_source reads only that day and leaves every incremental cursor alone. Each partition runs
  under a pipeline of its own (`copernica_html_20250101`), which merges through a staging dataset of its own
  (`<dataset>_staging_copernica_html_20250101`, dropped after its load: copernica_source.pipeline), so partitions
  run side by side: no shared pipeline state, no shared run lock, and no merge reading rows another partition put
  in a shared staging table. Re-running a partition is safe (rows are merged on their keys).
- `copernica_structure`: databases, fields, interests, collections, selections, webhooks (read whole each run).
- `copernica_profiles`: profiles and subprofiles, incremental on `modified` (their cursor lives in the
  destination: each run restores it from there, so any worker can run them).

Two schedules: `copernica_engagement_daily` loads yesterday's partition and re-loads the two days before it
(late events and changing statistics), one run per day side by side; `copernica_people_hourly` loads the
structure and the profiles. One run per pipeline at a time: a second run of the same group or partition is
refused at once (copernica_source.run_lock), or waits `wait_for_lock` seconds.

Side by side needs a destination that takes several writers: PostgreSQL, Snowflake, BigQuery... A DuckDB file
takes one writer process at a time: into DuckDB, run one at a time (`dagster instance concurrency set
copernica_load 1`: every asset here is in the pool `copernica_load`).

Settings (environment, read when Dagster loads this file): COPERNICA_DESTINATION (default duckdb),
COPERNICA_DUCKDB_FILE (copernica.duckdb), COPERNICA_DATASET (copernica_data), COPERNICA_PARTITIONS_START (the
first day, YYYY-MM-DD, default 2024-01-01). The resource `copernica` (CopernicaTarget) takes the same settings
in code.
"""

# no `from __future__ import annotations`: Dagster reads the asset functions' annotations at definition time
import atexit
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import dlt
from dagster_dlt import DagsterDltResource, dlt_assets
from dlt.common.destination import Destination
from dlt.pipeline.helpers import retry_schema_update
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random

from copernica_source import copernica_source
from copernica_source.pipeline import own_staging, scheduled_run
from copernica_source.settings import (
    DEFAULT_DATASET,
    DUCKDB_FILE,
    LOAD_ID_ON_ROWS,
    account_timezone,
    duckdb_destination,
)
from copernica_source.tables import PRODUCTS

# every row carries the ID of the load that wrote it, as `copernica load` does
os.environ.setdefault(LOAD_ID_ON_ROWS, "true")

DESTINATION = os.environ.get("COPERNICA_DESTINATION", "duckdb")
POOL = "copernica_load"
REFRESH_DAYS = 3  # the daily schedule loads yesterday and re-loads the days before it, as `lookback_days` does

# the account's days: Copernica's times are local to `timezone` ([sources.copernica], Europe/Amsterdam)
daily = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("COPERNICA_PARTITIONS_START", "2024-01-01"), timezone=account_timezone()
)


class CopernicaTarget(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where the assets load: a dlt destination and dataset. The Copernica token and settings are read as by
    `copernica load` ([sources.copernica] or SOURCES__COPERNICA__*); warehouse credentials from
    [destination.<name>.credentials] or DESTINATION__<NAME>__CREDENTIALS."""

    destination: str = DESTINATION
    duckdb_file: str = os.environ.get("COPERNICA_DUCKDB_FILE", DUCKDB_FILE)
    dataset: str = os.environ.get("COPERNICA_DATASET", DEFAULT_DATASET)
    pipelines_dir: str | None = None  # dlt's default when None (~/.dlt/pipelines; /var/dlt/pipelines as root)
    wait_for_lock: float = 0.0  # seconds a run waits for another run of its group or partition

    def pipeline(self, name: str) -> dlt.Pipeline:
        """A pipeline named `name`, merging through a staging dataset of its own (`<dataset>_staging_<name>`) as
        `copernica load` does, unless `staging_dataset_name_layout` is configured."""
        if self.destination == "duckdb":
            destination: Any = duckdb_destination(self.duckdb_file)  # the file created 0600
        else:
            destination = Destination.from_reference(self.destination)
        # dlt's progress in the run's log; without its memory figures, which need psutil (a warning per run)
        progress = dlt.progress.log(dump_system_stats=False)
        return own_staging(dlt.pipeline(pipeline_name=name, destination=destination, dataset_name=self.dataset,
                                        pipelines_dir=self.pipelines_dir, progress=progress))  # type: ignore[arg-type]


def _resources() -> dict[str, list[str]]:
    """The tables the source selects, as `copernica load` does: the log tables only where the `logfiles` setting
    names them ([sources.copernica] logfiles = "html", or SOURCES__COPERNICA__LOGFILES), in their product's group."""
    names = list(copernica_source(access_token="definitions-only").selected_resources)  # no request is made
    groups = {product: [n for n in names if n.startswith(f"{product}_")] for product in PRODUCTS}
    groups["profiles"] = ["profiles", "subprofiles"]
    groups["structure"] = [n for n in names if not any(n in g for g in groups.values())]
    return groups


GROUPS = _resources()


# dlt.pipeline() writes a folder: every process that loads these definitions (the code server, each run) makes
# the definitions' pipelines in a folder of its own, or runs starting together trip over each other's
_DEFINITIONS_DIR = tempfile.mkdtemp(prefix="copernica-dagster-definitions-")
atexit.register(shutil.rmtree, _DEFINITIONS_DIR, ignore_errors=True)


def _definition(group: str, **settings: Any) -> tuple[Any, dlt.Pipeline]:
    """The source and pipeline @dlt_assets reads the assets from; each run builds its own with the real token."""
    source = copernica_source(access_token="definitions-only", **settings).with_resources(*GROUPS[group])
    pipeline = dlt.pipeline(f"copernica_{group}", destination=DESTINATION, dataset_name=DEFAULT_DATASET,
                            pipelines_dir=_DEFINITIONS_DIR)
    return source, pipeline


def _run(dagster_dlt: DagsterDltResource, context: dg.AssetExecutionContext, target: CopernicaTarget,
         make_source: Callable[[], Any], name: str, partition: bool = False) -> Iterator[Any]:
    pipeline = target.pipeline(name)
    # as `copernica load`: the pipeline's run lock, a load an interrupted run left finished first, the staging
    # dataset dropped after the load
    with scheduled_run(pipeline, wait_for_lock=target.wait_for_lock):
        # runs starting together on a new dataset race to create its tables; dlt's advice is to run the load
        # again, which applies only what is still missing (DagsterDltResource starts the pipeline afresh)
        for attempt in Retrying(stop=stop_after_attempt(4), wait=wait_random(1, 5), reraise=True,
                                retry=retry_if_exception(retry_schema_update())):
            with attempt:
                results = list(dagster_dlt.run(context=context, dlt_source=make_source(), dlt_pipeline=pipeline))
    yield from results
    if partition:  # a partition's folder is of no use once its rows are in (a new one for every day)
        shutil.rmtree(pipeline.working_dir, ignore_errors=True)


def _day(moment: datetime) -> str:
    return moment.strftime("%Y%m%d")


def engagement_assets(product: str) -> dg.AssetsDefinition:
    """One product's engagement tables, in daily partitions that each load their day as a backfill."""
    source, pipeline = _definition(product, products=[product])

    @dlt_assets(
        dlt_source=source, dlt_pipeline=pipeline, name=f"copernica_{product}", group_name=f"copernica_{product}",
        partitions_def=daily, backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1), pool=POOL,
    )
    def assets(context: dg.AssetExecutionContext, dagster_dlt: DagsterDltResource,
               copernica: CopernicaTarget) -> Iterator[Any]:
        window = context.partition_time_window  # one day; a range when a backfill runs several in one run
        days = _day(window.start) if window.end - window.start <= timedelta(days=1) else (
            f"{_day(window.start)}_{_day(window.end - timedelta(days=1))}")
        name = f"copernica_{product}_{days}"

        def source() -> Any:
            run = copernica_source(products=[product], start_date=window.start, end_date=window.end)
            return run.with_resources(*GROUPS[product])

        yield from _run(dagster_dlt, context, copernica, source, name, partition=True)

    return assets


def whole_assets(group: str) -> dg.AssetsDefinition:
    """The structure or the profiles: not partitioned, one pipeline (and one run at a time) per group."""
    source, pipeline = _definition(group)

    @dlt_assets(dlt_source=source, dlt_pipeline=pipeline, name=f"copernica_{group}",
                group_name=f"copernica_{group}", pool=POOL)
    def assets(context: dg.AssetExecutionContext, dagster_dlt: DagsterDltResource,
               copernica: CopernicaTarget) -> Iterator[Any]:
        yield from _run(dagster_dlt, context, copernica, lambda: copernica_source().with_resources(*GROUPS[group]),
                        f"copernica_{group}")

    return assets


html_assets = engagement_assets("html")
draganddrop_assets = engagement_assets("draganddrop")
structure_assets = whole_assets("structure")
profiles_assets = whole_assets("profiles")

engagement_job = dg.define_asset_job(
    "copernica_engagement", selection=dg.AssetSelection.groups("copernica_html", "copernica_draganddrop"),
)
people_job = dg.define_asset_job(
    "copernica_people", selection=dg.AssetSelection.groups("copernica_structure", "copernica_profiles"),
)


@dg.schedule(job=engagement_job, cron_schedule="30 1 * * *", execution_timezone=account_timezone())
def copernica_engagement_daily(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
    """Yesterday's partition, and the days before it again: one run each, side by side."""
    keys = daily.get_partition_keys(current_time=context.scheduled_execution_time)[-REFRESH_DAYS:]
    for key in keys:
        yield dg.RunRequest(run_key=f"{key}@{context.scheduled_execution_time:%Y-%m-%d}", partition_key=key)


copernica_people_hourly = dg.ScheduleDefinition(
    name="copernica_people_hourly", job=people_job, cron_schedule="15 * * * *"
)

defs = dg.Definitions(
    assets=[html_assets, draganddrop_assets, structure_assets, profiles_assets],
    jobs=[engagement_job, people_job],
    schedules=[copernica_engagement_daily, copernica_people_hourly],
    resources={"dagster_dlt": DagsterDltResource(), "copernica": CopernicaTarget()},
)

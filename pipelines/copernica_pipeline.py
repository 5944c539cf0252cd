"""Load Copernica engagement data into DuckDB (or any dlt destination). Copy into your scheduler and adapt.

Credentials: SOURCES__COPERNICA__ACCESS_TOKEN or .dlt/secrets.toml ([sources.copernica] access_token = "...").

`own_staging` gives the pipeline a staging dataset of its own (`copernica_data_staging_copernica`: loads under other
pipeline names into the same dataset never meet there); `scheduled_run` runs it as `copernica load` does: one run of a
pipeline at a time, a load an interrupted run left finished first, and the staging dataset dropped once the load
completed.
"""

import os

import dlt

from copernica_source import copernica_source
from copernica_source.pipeline import own_staging, scheduled_run

# every row carries the ID of the load that wrote it, as `copernica load` does (or put add_dlt_load_id = true
# under [normalize.parquet_normalizer] in .dlt/config.toml)
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")


def load_everything(destination: str = "duckdb") -> None:
    """The scheduled run: everything new since the last run (the first run loads all history)."""
    pipeline = own_staging(dlt.pipeline("copernica", destination=destination, dataset_name="copernica_data"))
    with scheduled_run(pipeline):
        info = pipeline.run(copernica_source())
        info.raise_on_failed_jobs()
    print(info)  # the load step's outcome: which packages loaded where
    print(pipeline.last_trace.last_normalize_info)  # rows per table


def load_html_engagement() -> None:
    """Only the HTML mailings' events, e.g. for a more frequent schedule."""
    pipeline = own_staging(dlt.pipeline("copernica", destination="duckdb", dataset_name="copernica_data"))
    source = copernica_source(products=["html"]).with_resources(
        "html_clicks", "html_impressions", "html_deliveries", "html_errors"
    )
    with scheduled_run(pipeline):
        pipeline.run(source).raise_on_failed_jobs()


def backfill(start_date: str, end_date: str) -> None:
    """Re-load a past period; with an end date the incremental state of scheduled runs is left alone."""
    pipeline = own_staging(dlt.pipeline("copernica", destination="duckdb", dataset_name="copernica_data"))
    with scheduled_run(pipeline):
        pipeline.run(copernica_source(start_date=start_date, end_date=end_date)).raise_on_failed_jobs()


if __name__ == "__main__":
    load_everything()

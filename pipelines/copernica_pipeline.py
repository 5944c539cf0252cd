"""Load Copernica engagement data into DuckDB (or any dlt destination). Copy into your scheduler and adapt.

Credentials: SOURCES__COPERNICA__ACCESS_TOKEN or .dlt/secrets.toml ([sources.copernica] access_token = "...").
"""

import os

import dlt

from copernica_source import copernica_source

# every row carries the ID of the load that wrote it, as `copernica load` does (or put add_dlt_load_id = true
# under [normalize.parquet_normalizer] in .dlt/config.toml)
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")


def load_everything(destination: str = "duckdb") -> None:
    """The scheduled run: everything new since the last run (the first run loads all history)."""
    pipeline = dlt.pipeline("copernica", destination=destination, dataset_name="copernica_data")
    info = pipeline.run(copernica_source())
    info.raise_on_failed_jobs()
    print(info)  # the load step's outcome: which packages loaded where
    print(pipeline.last_trace.last_normalize_info)  # rows per table


def load_html_engagement() -> None:
    """Only the HTML mailings' events, e.g. for a more frequent schedule."""
    pipeline = dlt.pipeline("copernica", destination="duckdb", dataset_name="copernica_data")
    source = copernica_source(products=["html"]).with_resources(
        "html_clicks", "html_impressions", "html_deliveries", "html_errors"
    )
    pipeline.run(source).raise_on_failed_jobs()


def backfill(start_date: str, end_date: str) -> None:
    """Re-load a past period; with an end date the incremental state of scheduled runs is left alone."""
    pipeline = dlt.pipeline("copernica", destination="duckdb", dataset_name="copernica_data")
    pipeline.run(copernica_source(start_date=start_date, end_date=end_date)).raise_on_failed_jobs()


if __name__ == "__main__":
    load_everything()

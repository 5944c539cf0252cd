"""`copernica report`'s library side: one self-contained HTML file (plotly.js inlined once, no network) drawn
from the dbt models (`copernica__*`) in the dataset the raw tables were loaded into.

    with sql_client_query(pipeline) as query:
        write_report("report.html", query, destination_dataset(pipeline), timezone="Europe/Amsterdam")
"""

from copernica_source.report.build import build_report, write_report
from copernica_source.report.dlt_query import destination_dataset, sql_client_query
from copernica_source.report.queries import MODELS, ModelsMissingError, Query

__all__ = ["build_report", "write_report", "sql_client_query", "destination_dataset", "ModelsMissingError", "Query",
           "MODELS"]

"""GDPR data requests: ask Copernica for everything it holds on people, wait for it, keep it. Copy and adapt.

Credentials: SOURCES__COPERNICA__ACCESS_TOKEN or .dlt/secrets.toml ([sources.copernica] access_token = "...").
Run it again after an interruption or a timeout: pending requests are waited for, not asked again.
"""

import dlt

from copernica_source import data_requests
from copernica_source.datarequests import read_subjects, request_data


def answer_requests(subjects_file: str = "subjects.txt", output_dir: str = "gdpr") -> None:
    """The privacy team's batch: one JSON file per person in `output_dir` and the `data_requests` table in DuckDB."""
    outcomes = request_data(read_subjects(subjects_file), output_dir=output_dir, wait=True, timeout=3600)
    for o in outcomes:  # prints who and where, never the data
        print(o.subject, o.request_id, o.status, o.path or o.message)


def in_your_own_pipeline() -> None:
    """The resource in any dlt pipeline: ask and commit the request IDs first, then wait in a second run. The data
    goes where you say: files (`output_dir`) or, by explicit choice, the table's `data` column (`store_data`)."""
    pipeline = dlt.pipeline("copernica_data_requests", destination="duckdb", dataset_name="copernica_data")
    subjects = ["profile:12", "subprofile:7", "email:someone@example.com"]
    pipeline.run(data_requests(subjects, wait=False, output_dir="gdpr")).raise_on_failed_jobs()
    waited = data_requests(subjects, wait=True, timeout=3600, create=False, output_dir="gdpr")
    pipeline.run(waited).raise_on_failed_jobs()


if __name__ == "__main__":
    answer_requests()

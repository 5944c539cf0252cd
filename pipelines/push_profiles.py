"""Push profiles from the warehouse into a Copernica database. Copy into your scheduler and adapt.

Credentials: SOURCES__COPERNICA__ACCESS_TOKEN or .dlt/secrets.toml ([sources.copernica] access_token = "..."),
the same place the source reads them. Database, key and mode may also live in config.toml:

    [destination.copernica_profiles]
    database = "Customers"    # ID or name
    key = "email"
    mode = "upsert"           # upsert | create | update

Re-running is safe: upserts match the profile by key, and a killed run resumes at its unfinished batch.
"""

import sys

import dlt

from copernica_source import copernica_profiles


def push_audience_from_duckdb(duckdb_file: str = "warehouse.duckdb") -> None:
    """An audience query in DuckDB, upserted by email; per-row results appended to a CSV next to it."""
    import duckdb

    with duckdb.connect(duckdb_file, read_only=True) as con:
        audience = con.sql(
            "SELECT email, firstname, lastname, customer_id AS customerid FROM marts.audience").to_arrow_table()
    pipeline = dlt.pipeline("copernica_push_audience", destination=copernica_profiles(
        database="Customers", key="email", results_path="audience_push_results.csv"))
    pipeline.run(audience, table_name="audience").raise_on_failed_jobs()


def push_with_the_command(path: str) -> int:
    """The same through `copernica push-profiles`: checks the whole file first, writes a results file, and
    exits non-zero when a row was rejected or failed (so a scheduler notices)."""
    from copernica_source.cli import main

    return main(["push-profiles", "--input", path, "--database", "Customers", "--key", "email",
                 "--results", "push_results.csv"])


if __name__ == "__main__":
    sys.exit(push_with_the_command(sys.argv[1] if len(sys.argv) > 1 else "audience.csv"))

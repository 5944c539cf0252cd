"""Test helpers: pipelines into real DuckDB files, loading from the simulator over real HTTP, reading back.

Plain functions and constants the tests import (`from tests.helpers import ...`); the fixtures are in conftest.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import duckdb

from copernica_source import copernica_source

# Small but complete data: every table has rows, every page path (several pages, keyset ranges) is taken.
SMALL = dict(seed=7, events=3000, emailings=12, destinations_per_emailing=40, profiles=300, history_days=60)


def connection(sim: Any) -> dict[str, Any]:
    return {"access_token": sim.access_token, "base_url": sim.base_url, "auth_url": sim.auth_url}


def make_pipeline(tmp_path: Path, name: str = "copernica_test", destination: Any = None) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        destination=destination or dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
        dataset_name="copernica",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def load(sim: Any, pipeline: dlt.Pipeline, **kwargs: Any) -> Any:
    """One scheduled run of the source against the simulator."""
    resources = kwargs.pop("resources", None)
    source = copernica_source(**connection(sim), **kwargs)
    if resources:
        source = source.with_resources(*resources)
    info = pipeline.run(source)
    info.raise_on_failed_jobs()
    return info


def duckdb_path(pipeline: dlt.Pipeline) -> str:
    return pipeline.destination_client().config.credentials.database  # type: ignore[attr-defined]


def query(pipeline: dlt.Pipeline, sql: str) -> list[tuple[Any, ...]]:
    with pipeline.sql_client() as client:
        return [tuple(r) for r in client.execute_sql(sql)]


def table_ids(pipeline: dlt.Pipeline, table: str, key: str = "id") -> list[Any]:
    return [r[0] for r in query(pipeline, f"SELECT {key} FROM copernica.{table} ORDER BY {key}")]


def duckdb_types(path: str, table: str) -> dict[str, str]:
    con = duckdb.connect(path, read_only=True)
    try:
        return {
            name: dtype
            for name, dtype in con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'copernica' AND table_name = ?",
                [table],
            ).fetchall()
        }
    finally:
        con.close()

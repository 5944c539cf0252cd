"""What users do after a load: dlt's `pipeline.dataset()` and DuckDB itself read the tables (dependency bounds in
pyproject.toml keep these working: sqlglot < 30.22, duckdb < 2)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import duckdb

from tests.helpers import SMALL, duckdb_path, load, make_pipeline


def test_pipeline_dataset_reads_the_loaded_tables(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(**SMALL)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=["html_emailings", "html_clicks"])
    dataset = pipeline.dataset()
    ids = [r[0] for r in dataset.html_clicks.select("id").order_by("id").limit(3).fetchall()]
    assert ids == sorted(int(r["ID"]) for r in sim.dataset.rows("html/clicks"))[:3]
    assert dataset.html_emailings.arrow().num_rows == len(list(sim.dataset.rows("html/emailings")))
    assert len(dataset.html_clicks.limit(5).df()) == 5


def test_the_duckdb_file_opens_with_the_storage_version_duckdb_1_reads(
        tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(**SMALL)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=["html_emailings"])
    path = duckdb_path(pipeline)
    with open(path, "rb") as f:
        header = f.read(20)
    # DuckDB's main header: an 8-byte checksum, b"DUCK", then the storage version; DuckDB 1.x (its CLI, dbt-duckdb)
    # reads versions 64-68 and refuses 2.x's 69 ("created with a newer version of DuckDB")
    assert header[8:12] == b"DUCK"
    assert 64 <= struct.unpack("<Q", header[12:20])[0] <= 68
    con = duckdb.connect(path, read_only=True)
    assert con.execute("SELECT count(*) FROM copernica.html_emailings").fetchone() == (len(list(sim.dataset.rows(
        "html/emailings"))),)

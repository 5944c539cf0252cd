"""What users do after a load: dlt's `pipeline.dataset()` reads the tables (pyproject bounds sqlglot below 30.22,
whose releases broke every dataset query of dlt 1.31), and the DuckDB command line opens the file. dbt reading it
is tests/test_models.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import dlt
import pytest

from copernica_source.settings import duckdb_destination
from copernica_source.simulator import Simulator
from tests.helpers import SMALL, load, make_pipeline, query


def test_pipeline_dataset_reads_the_loaded_tables(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(**SMALL)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=["html_emailings", "html_clicks"])
    dataset = pipeline.dataset()
    ids = [r[0] for r in dataset.html_clicks.select("id").order_by("id").limit(3).fetchall()]
    assert ids == sorted(int(r["ID"]) for r in sim.dataset.rows("html/clicks"))[:3]
    assert len(dataset.html_emailings.fetchall()) == len(list(sim.dataset.rows("html/emailings")))
    assert len(dataset.html_clicks.limit(5).df()) == 5


def test_the_duckdb_command_line_opens_the_file_a_load_writes(tmp_path: Path) -> None:
    """The README's `duckdb copernica.duckdb`: the DuckDB CLI on the index is 1.x while the library is 2.x; the
    file is created in a storage format both read, and keeps it through dlt's writes."""
    cli = Path(sys.executable).parent / "duckdb"
    if not cli.exists() and not os.environ.get("CI"):
        pytest.skip("the duckdb command line (duckdb-cli, in the [dev] extra) is not installed")
    db = tmp_path / "cli.duckdb"
    with Simulator(**SMALL) as sim:
        pipeline = dlt.pipeline("cli_check", destination=duckdb_destination(str(db)), dataset_name="copernica_data",
                                pipelines_dir=str(tmp_path / "p"))
        load(sim, pipeline)
    counted = subprocess.run([str(cli), "-csv", "-noheader", str(db), "-c",
                              "select count(*) from copernica_data.html_clicks"],
                             capture_output=True, text=True, timeout=60)
    assert counted.returncode == 0, counted.stderr
    assert int(counted.stdout.strip()) == query(pipeline, "select count(*) from copernica_data.html_clicks")[0][0] > 0

"""What users do after a load: dlt's `pipeline.dataset()` reads the tables (pyproject bounds sqlglot below 30.22,
whose releases broke every dataset query of dlt 1.31)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers import SMALL, load, make_pipeline


def test_pipeline_dataset_reads_the_loaded_tables(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(**SMALL)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=["html_emailings", "html_clicks"])
    dataset = pipeline.dataset()
    ids = [r[0] for r in dataset.html_clicks.select("id").order_by("id").limit(3).fetchall()]
    assert ids == sorted(int(r["ID"]) for r in sim.dataset.rows("html/clicks"))[:3]
    assert len(dataset.html_emailings.fetchall()) == len(list(sim.dataset.rows("html/emailings")))
    assert len(dataset.html_clicks.limit(5).df()) == 5

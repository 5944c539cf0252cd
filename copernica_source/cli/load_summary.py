"""What a load did, from dlt's own trace (no table is scanned): printed for a person or a log file, and written as
JSON for an orchestrator (`--summary-json`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import dlt

from copernica_source.models import ModelsOutcome
from copernica_source.private_files import write_private

SUMMARY_VERSION = 1


@dataclass
class LoadSummary:
    """One run of `copernica load`. `tables` holds the rows each table received in this run."""

    status: str = "ok"  # ok | failed
    pipeline: str = ""
    destination: str = ""
    dataset: str = ""
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    seconds: float = 0.0
    api_requests: int = 0
    rows: int = 0
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    load_ids: list[str] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)
    error: str | None = None
    models: dict[str, Any] | None = None
    version: int = SUMMARY_VERSION

    def read_pipeline(self, pipeline: dlt.Pipeline) -> None:
        """Which pipeline, destination and dataset the run loads: known before it fails, if it does."""
        self.pipeline = pipeline.pipeline_name
        self.destination = pipeline.destination.destination_name if pipeline.destination else ""
        self.dataset = pipeline.dataset_name

    def read_trace(self, pipeline: dlt.Pipeline) -> None:
        """Rows per table from the normalize step of the last run, load IDs from its load step."""
        self.read_pipeline(pipeline)
        trace = pipeline.last_trace
        counts = dict(trace.last_normalize_info.row_counts) if trace and trace.last_normalize_info else {}
        self.tables = {t: {"rows": n} for t, n in sorted(counts.items()) if not t.startswith("_dlt")}
        self.rows = sum(t["rows"] for t in self.tables.values())
        if trace and trace.last_load_info:
            self.load_ids = list(trace.last_load_info.loads_ids)

    def read_models(self, outcome: ModelsOutcome) -> None:
        """The models step of `load --models`: what was built, the test tally, what failed."""
        self.models = {
            "ok": outcome.ok,
            "built": [m.name for m in outcome.models if not m.failed],
            "failed": [m.name for m in outcome.models if m.failed],
            "tests": {"passed": sum(1 for t in outcome.tests if t.status == "pass"),
                      "warned": [t.name for t in outcome.warned_tests],
                      "failed": [t.name for t in outcome.failed_tests]},
        }
        if not outcome.ok:
            self.status = "failed"
            self.error = "models: " + ", ".join([m.name for m in outcome.models if m.failed]
                                                + [t.name for t in outcome.failed_tests])

    def which_run(self) -> str:
        """`(pipeline copernica, started 2026-11-26T01:17:00+00:00)`: the run a line of a shared log belongs to."""
        return f"(pipeline {self.pipeline}, started {self.started_at})"

    def line(self) -> str:
        """The one line a scheduler's log keeps: which run (pipeline, start in UTC) as well as what it did, for a
        log that cron appends to without times of its own."""
        where = f"{self.destination} dataset '{self.dataset}'"
        run = self.which_run()
        if self.status != "ok":
            return (f"load failed after {self.seconds:.1f}s with {self.api_requests:,} API requests {run}: "
                    f"{self.error}")
        tables = f"{len(self.tables)} table{'s' * (len(self.tables) != 1)}"
        return (f"loaded {self.rows:,} rows into {tables} of {where} in {self.seconds:.1f}s "
                f"with {self.api_requests:,} API requests {run}")

    def print(self, out: TextIO, *, per_table: bool) -> None:
        if per_table and self.tables:
            width = max([len(t) for t in self.tables] + [5])
            print(f"\n{'table':<{width}}  {'rows loaded':>11}", file=out)
            for table, figures in self.tables.items():
                print(f"{table:<{width}}  {figures['rows']:>11,}", file=out)
        print(self.line(), file=out)
        for line in self.held_back:
            print(f"held back: {line}", file=out)

    def write_json(self, path: str | Path) -> None:
        """Written in one step (no half file for an orchestrator to read), owner-only like every file we write."""
        write_private(path, json.dumps(asdict(self), indent=2) + "\n")

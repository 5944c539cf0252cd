"""pipelines/github-actions-copernica.yml, the GitHub Actions recipe: it parses, its schedule is hourly, what it
installs is a valid requirement of this package and of dlt's extras, every flag it passes exists, and its Load
step's own shell script, run twice on fresh machines (no dlt folder) into PostgreSQL, continues from the state
the destination kept; a backfill run through the same script leaves that state alone."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
import uuid
from importlib.metadata import metadata
from pathlib import Path
from typing import Any

import dlt
import pytest
import yaml
from packaging.requirements import Requirement

from tests.deploy_support import PIPELINES, ROOT
from tests.helpers import SMALL, drop_pg_datasets

pytestmark = pytest.mark.deploy

WORKFLOW = PIPELINES / "github-actions-copernica.yml"


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def step(name: str) -> dict[str, Any]:
    steps = workflow()["jobs"]["load"]["steps"]
    return next(s for s in steps if s.get("name") == name)


def cli_help(*command: str) -> str:
    return subprocess.run([sys.executable, "-m", "copernica_source.cli", *command, "--help"], capture_output=True,
                          text=True, check=True, timeout=60).stdout


def test_workflow_parses_and_is_hourly_with_one_run_at_a_time() -> None:
    data = workflow()
    (cron,) = [entry["cron"] for entry in data["on"]["schedule"]]
    minute, *rest = cron.split()
    assert minute.isdigit() and rest == ["*", "*", "*", "*"], cron
    assert set(data["on"]["workflow_dispatch"]["inputs"]) == {"start_date", "end_date", "resources"}
    assert data["concurrency"]["cancel-in-progress"] is False
    # hourly runs share one group; a backfill (dates given) has one of its own, so it runs beside them
    group = data["concurrency"]["group"]
    assert "inputs.start_date" in group and "github.run_id" in group and "'copernica-load'" in group, group
    job = data["jobs"]["load"]
    assert job["env"]["SOURCES__COPERNICA__ACCESS_TOKEN"] == "${{ secrets.COPERNICA_ACCESS_TOKEN }}"
    for destination in ("POSTGRES", "SNOWFLAKE", "BIGQUERY"):
        assert f"DESTINATION__{destination}__CREDENTIALS" in job["env"]
    # inputs reach the shell through env only (never pasted into the script: no injection)
    for s in job["steps"]:
        assert "${{" not in s.get("run", ""), s["name"]


def test_install_step_installs_this_package_from_git_with_a_real_dlt_extra() -> None:
    script = step("Install copernica-source")["run"]
    (quoted,) = re.findall(r'"(copernica-source @ [^"]+)"', script)
    requirement = Requirement(quoted.replace("${COPERNICA_SOURCE_GIT}", "https://github.com/your-org/copernica-source")
                              .replace("${COPERNICA_SOURCE_REF}", "v0.1.0"))
    assert requirement.name == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    assert requirement.url == "git+https://github.com/your-org/copernica-source@v0.1.0"
    assert '"dlt[${COPERNICA_DESTINATION}]"' in script
    extras = set(metadata("dlt").get_all("Provides-Extra") or [])
    assert {"postgres", "snowflake", "bigquery"} <= extras
    assert "copernica --version" in script
    assert subprocess.run([sys.executable, "-m", "copernica_source.cli", "--version"], capture_output=True,
                          text=True, check=True, timeout=60).stdout.startswith("copernica-source ")


def test_every_flag_the_load_step_passes_exists() -> None:
    script = step("Load")["run"]
    assert "copernica load " in script
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", script))
    assert flags == {"--destination", "--dataset", "--progress", "--summary-json", "--start-date", "--end-date",
                     "--pipeline-name", "--resources"}
    known = set(re.findall(r"--[a-z][a-z-]+", cli_help("load")))
    assert flags <= known, flags - known


@pytest.mark.parametrize(("env", "error"), [
    ({"DESTINATION__POSTGRES__CREDENTIALS": ""}, "the secret POSTGRES_CREDENTIALS is not set"),
    ({"START_DATE": "2025-12-01"}, "a backfill needs both start_date and end_date"),
    ({"END_DATE": "2025-12-08"}, "a backfill needs both start_date and end_date"),
])
def test_load_step_stops_with_an_annotation_on_missing_inputs(tmp_path: Path, env: dict[str, str], error: str) -> None:
    """An unset secret or half a backfill: a GitHub error annotation that names it, before anything runs."""
    script = step("Load")["run"]
    full = {"PATH": os.environ["PATH"], "COPERNICA_DESTINATION": "postgres", "COPERNICA_DATASET": "d",
            "DESTINATION__POSTGRES__CREDENTIALS": "postgresql://u@h/db", "START_DATE": "", "END_DATE": "",
            "RESOURCES": "", "GITHUB_RUN_ID": "7", **env}
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=full, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and f"::error title=copernica::{error}" in done.stdout, (done.stdout, done.stderr)
    assert not (tmp_path / "copernica-load.txt").exists()  # copernica never ran


def test_held_back_step_warns(tmp_path: Path) -> None:
    script = step("Deletions held back")["run"]
    (tmp_path / "copernica-load.txt").write_text("loaded 10 rows\nheld back: profiles_customers: 5 of 6 rows\n")
    out = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "::warning title=copernica::" in out.stdout
    (tmp_path / "copernica-load.txt").write_text("loaded 10 rows\n")
    out = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout == ""


@pytest.mark.slow
@pytest.mark.postgres
def test_load_step_continues_from_the_state_in_the_warehouse(
    copernica_simulator_factory: Any, postgres_dsn: str, tmp_path: Path
) -> None:
    psycopg2 = pytest.importorskip("psycopg2")
    sim = copernica_simulator_factory(**SMALL)
    dataset = f"gha_{uuid.uuid4().hex[:10]}"
    script = step("Load")["run"]

    def run_on_a_fresh_machine(n: int, **inputs: str) -> dict[str, int]:
        """The Load step's script on a new machine; the rows each table received, from the run's dlt trace."""
        machine = tmp_path / f"runner{n}"
        machine.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__", "DLT_"))}
        env.update(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",  # `copernica` as pip installed it
            HOME=str(machine), DLT_DATA_DIR=str(machine / ".dlt"),  # nothing left from an earlier run
            COPERNICA_DESTINATION="postgres", COPERNICA_DATASET=dataset,
            SOURCES__COPERNICA__ACCESS_TOKEN=sim.access_token, SOURCES__COPERNICA__BASE_URL=sim.base_url,
            SOURCES__COPERNICA__AUTH_URL=sim.auth_url, DESTINATION__POSTGRES__CREDENTIALS=postgres_dsn,
            START_DATE=inputs.get("start_date", ""), END_DATE=inputs.get("end_date", ""),
            RESOURCES=inputs.get("resources", ""), GITHUB_RUN_ID=str(n),
        )
        done = subprocess.run(["bash", "-e", "-c", script], cwd=machine, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
        assert f"dataset '{dataset}'" in (machine / "copernica-load.txt").read_text()  # tee kept the summary
        summary = json.loads((machine / "copernica-summary.json").read_text())  # the artifact the step uploads
        assert summary["status"] == "ok" and summary["dataset"] == dataset, summary
        name = f"copernica_backfill_{n}" if inputs.get("start_date") else "copernica"  # a backfill's own pipeline
        pipeline = dlt.attach(name, pipelines_dir=str(machine / ".dlt" / "pipelines"))
        return dict(pipeline.last_trace.last_normalize_info.row_counts)

    try:
        first = run_on_a_fresh_machine(1)
        assert first["html_clicks"] == SMALL["events"]
        # another machine, no dlt folder: the cursors come back from PostgreSQL and no click is loaded again
        assert run_on_a_fresh_machine(2).get("html_clicks", 0) == 0
        # a backfill by hand: that week's clicks again, and the hourly runs' cursor left where it was
        backfill = run_on_a_fresh_machine(3, start_date="2025-12-01", end_date="2025-12-08", resources="html_clicks")
        assert 0 < backfill["html_clicks"] < SMALL["events"]
        assert run_on_a_fresh_machine(4, resources="html_clicks").get("html_clicks", 0) == 0
        with psycopg2.connect(postgres_dsn) as con, con.cursor() as cur:
            cur.execute(f"SELECT count(*), count(DISTINCT id) FROM {dataset}.html_clicks")
            assert cur.fetchone() == (SMALL["events"], SMALL["events"])
    finally:
        with psycopg2.connect(postgres_dsn) as con:  # commits on leaving: the dataset and its staging ones
            drop_pg_datasets(con, dataset)

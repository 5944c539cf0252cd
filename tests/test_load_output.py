"""What `copernica load` prints, read the way a scheduler's log file or a terminal holds it: a few lines on
success in a log, a live line on a terminal, dlt's records as our lines, and a JSON summary for orchestrators."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from copernica_source.simulator import Simulator
from tests.helpers import SMALL

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    with Simulator(**SMALL) as simulator:
        yield simulator


def _env(sim: Any, token: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"SOURCES__COPERNICA__ACCESS_TOKEN": token or sim.access_token,
                "SOURCES__COPERNICA__BASE_URL": sim.base_url, "SOURCES__COPERNICA__AUTH_URL": sim.auth_url})
    env.pop("COLUMNS", None)
    return env


def _cmd(tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "copernica_source.cli", "load", "--duckdb-file", str(tmp_path / "o.duckdb"),
            "--pipelines-dir", str(tmp_path / "pipelines"), *extra]


def _run(tmp_path: Path, sim: Any, *extra: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cmd(tmp_path, *extra), env=_env(sim, token), capture_output=True, text=True, timeout=300)


def test_a_scheduled_run_logs_a_few_lines_and_a_json_summary(tmp_path: Path, sim: Any) -> None:
    """stderr and stdout not terminals, as under cron: no progress, one total line, the details in the JSON."""
    summary_path = tmp_path / "summary.json"
    done = _run(tmp_path, sim, "--summary-json", str(summary_path))
    assert done.returncode == 0, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) <= 3, lines  # the total, and at most the webhooks note
    assert "\r" not in done.stdout + done.stderr and "\x1b" not in done.stdout + done.stderr
    total = [line for line in lines if line.startswith("loaded ")]
    assert len(total) == 1 and "API requests" in total[0], lines
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "ok" and summary["error"] is None
    assert summary["api_requests"] > 0 and summary["load_ids"]
    assert oct(summary_path.stat().st_mode & 0o777) == "0o600"
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    try:  # the rows the summary reports are the rows in the tables after a first load
        for table in ("html_clicks", "draganddrop_deliveries", "profiles_customers"):
            assert summary["tables"][table]["rows"] >= con.execute(
                f"select count(*) from copernica_data.{table}").fetchone()[0] > 0
    finally:
        con.close()
    assert f"loaded {summary['rows']:,} rows into {len(summary['tables'])} tables" in total[0]
    con = duckdb.connect(str(tmp_path / "o.duckdb"), read_only=True)
    try:  # every row says which load wrote it
        for table in ("html_clicks", "databases", "profiles_customers", "html_emailing_statistics"):
            assert con.execute(f"select distinct _dlt_load_id from copernica_data.{table}").fetchall() == [
                (summary["load_ids"][0],)], table
    finally:
        con.close()

    # the next run reads only what is new: the summary says so, still in one line
    again = _run(tmp_path, sim, "--summary-json", str(summary_path))
    assert again.returncode == 0, again.stderr
    second = json.loads(summary_path.read_text())
    assert second["rows"] < summary["rows"]
    # and a list the account does not answer was said once: an hourly log is one line per run from then on
    if any("webhooks: skipped" in line for line in lines):
        assert [line for line in (again.stdout + again.stderr).splitlines() if line.strip()] == [
            again.stdout.strip()], again.stderr


def test_quiet_prints_nothing_on_success_and_progress_prints_a_line_per_step(tmp_path: Path, sim: Any) -> None:
    quiet = _run(tmp_path, sim, "--quiet", "--resources", "html_emailings,html_clicks")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "" and quiet.stderr.strip() == ""
    steps = _run(tmp_path, sim, "--progress", "--resources", "html_emailings,html_clicks", "--full-refresh")
    assert steps.returncode == 0, steps.stderr
    step_lines = [line for line in steps.stderr.splitlines() if line.split(":")[0] in ("extract", "normalize", "load")]
    assert [line.split(":")[0] for line in step_lines][:1] == ["extract"], steps.stderr
    assert {line.split(":")[0] for line in step_lines} == {"extract", "normalize", "load"}, steps.stderr
    assert len(steps.stderr.splitlines()) <= 6, steps.stderr
    assert "html_clicks" in step_lines[0]
    assert "_dlt" not in steps.stderr  # dlt's state table is not one of the user's tables


def test_a_failed_run_writes_a_failed_summary_without_the_token(tmp_path: Path, sim: Any) -> None:
    wrong = "not-the-t0ken-9f8e7d"
    summary_path = tmp_path / "failed.json"
    done = _run(tmp_path, sim, "--summary-json", str(summary_path), "--resources", "html_clicks", token=wrong)
    assert done.returncode == 1
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "failed" and summary["error"]
    # an orchestrator reading it knows which load failed
    assert (summary["pipeline"], summary["destination"], summary["dataset"]) == (
        "copernica", "duckdb", "copernica_data"), summary
    # the same words, and which run it was: a log cron appends to holds many runs
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: {summary['error']} (pipeline {summary['pipeline']}, started {summary['started_at']})")
    assert wrong not in summary_path.read_text() and wrong not in done.stderr


def test_dlt_log_records_come_out_as_one_plain_line(capsys: pytest.CaptureFixture[str]) -> None:
    """dlt re-creates its logger on every pipeline (taking over the first handler it finds and giving it its own
    format); while a command runs, its records still come out as one `warning: dlt: ...` line."""
    import io
    import logging

    from dlt.common import logger as dlt_logger

    from copernica_source.cli.progress import routed_logs

    out = io.StringIO()
    with routed_logs(out):
        dlt_logger._create_logger("dlt", "INFO", "{asctime}|[{levelname}]|{message}", "p", {})
        logging.getLogger("dlt").warning("destination changed\n  from duckdb to postgres")
        logging.getLogger("dlt").info("an INFO record stays out of a run's output")
        logging.getLogger("copernica_source.engine").warning("ours too")
    assert out.getvalue().splitlines() == ["warning: dlt: destination changed from duckdb to postgres",
                                           "warning: ours too"]


def test_a_scheduled_run_with_dlt_at_info_still_prints_only_our_lines(tmp_path: Path, sim: Any) -> None:
    env = _env(sim)
    env["RUNTIME__LOG_LEVEL"] = "INFO"  # dlt's INFO records exist, but a run prints only warnings and errors
    done = subprocess.run(_cmd(tmp_path, "--resources", "html_emailings"), env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr
    assert len(done.stdout.strip().splitlines()) == 1, done.stdout


def test_a_terminal_gets_one_live_line_then_the_table(tmp_path: Path, sim: Any) -> None:
    """Under a pseudo-terminal: the progress rewrites one line in place, then a row count per table."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(_cmd(tmp_path, "--resources", "html_emailings,html_clicks,html_deliveries"),
                            env=_env(sim), stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=120) == 0
    screen = b"".join(chunks).decode()
    assert "\r\x1b[Kextract: " in screen  # rewritten in place, not a page per step
    after = screen.rsplit("\r\x1b[K", 1)[-1]
    rows = [line.split() for line in after.splitlines() if line.startswith("html_")]
    assert [r[0] for r in rows] == ["html_clicks", "html_deliveries", "html_emailings"], after
    assert after.strip().splitlines()[-1].startswith("loaded "), after


def test_the_summary_line_counts_tables_in_words() -> None:
    from copernica_source.cli.load_summary import LoadSummary

    one = LoadSummary(pipeline="p", destination="duckdb", dataset="d", rows=5, tables={"t": {"rows": 5}})
    assert "loaded 5 rows into 1 table of duckdb dataset 'd'" in one.line()
    two = LoadSummary(pipeline="p", destination="duckdb", dataset="d", rows=5,
                      tables={"t": {"rows": 2}, "u": {"rows": 3}})
    assert "into 2 tables of" in two.line()

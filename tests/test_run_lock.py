"""One run per pipeline: a second `copernica load` of the same pipeline is refused at once (or waits, by flag),
and a killed run never leaves a lock that blocks the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from copernica_source.cli import main
from copernica_source.run_lock import RunInProgressError, lock_path, run_lock


@pytest.fixture
def sim(copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    s = copernica_simulator_factory(events=300, emailings=2, destinations_per_emailing=3, profiles=20)
    monkeypatch.setenv("SOURCES__COPERNICA__ACCESS_TOKEN", s.access_token)
    monkeypatch.setenv("SOURCES__COPERNICA__BASE_URL", s.base_url)
    monkeypatch.setenv("SOURCES__COPERNICA__AUTH_URL", s.auth_url)
    return s


def _load(tmp_path: Path, *extra: str) -> int:
    return main(["load", "--duckdb-file", str(tmp_path / "l.duckdb"), "--pipelines-dir", str(tmp_path / "p"),
                 "--pipeline-name", "locked", "--resources", "html_emailings", *extra])


def _pipelines_dir(tmp_path: Path) -> str:
    return str(tmp_path / "p")


def test_a_second_run_of_the_same_pipeline_is_refused_at_once(
        sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with run_lock(_pipelines_dir(tmp_path), "locked"):
        before = len(sim.requests)
        started = time.monotonic()
        assert _load(tmp_path) == 1
        assert time.monotonic() - started < 10
        assert len(sim.requests) == before  # refused before a single request
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: another run of pipeline 'locked' is in progress (PID {os.getpid()}, started ")
    assert "--wait-for-lock" in err[-1]
    assert _load(tmp_path) == 0  # released: the next run goes ahead


def test_wait_for_lock_waits_for_the_other_run_to_end(sim: Any, tmp_path: Path) -> None:
    held = threading.Event()

    def hold_briefly() -> None:
        with run_lock(_pipelines_dir(tmp_path), "locked"):
            held.set()
            time.sleep(1.5)

    other = threading.Thread(target=hold_briefly)
    other.start()
    held.wait(10)
    started = time.monotonic()
    assert _load(tmp_path, "--wait-for-lock", "30") == 0
    assert time.monotonic() - started >= 1.0  # it waited for the holder instead of running beside it
    other.join()
    con = duckdb.connect(str(tmp_path / "l.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM copernica_data.html_emailings").fetchone() == (2,)


def test_a_lock_held_past_the_wait_is_refused_with_the_wait_named(tmp_path: Path) -> None:
    waited = r"did not end within --wait-for-lock 0.3s"
    with (run_lock(str(tmp_path), "p"), pytest.raises(RunInProgressError, match=waited),
          run_lock(str(tmp_path), "p", wait_seconds=0.3)):
        pass


def test_a_killed_run_leaves_no_lock_behind(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from copernica_source.run_lock import run_lock\n"
        f"with run_lock({str(tmp_path)!r}, 'p'):\n    print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunInProgressError, match=f"PID {holder.pid}"), run_lock(str(tmp_path), "p"):
            pass
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        with run_lock(str(tmp_path), "p"):  # the kernel released the dead process's lock
            assert Path(lock_path(str(tmp_path), "p")).read_text().split()[0] == str(os.getpid())
    finally:
        holder.kill()
        holder.wait(10)

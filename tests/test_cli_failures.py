"""`copernica load`'s failures as a scheduler's log and an orchestrator see them: one line on stderr that says what
was wrong and what to do, the same text as the --summary-json's `error` (with the pipeline, destination and
dataset), the right exit code (2 for usage errors), and never a secret, not even a malformed one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from copernica_source.run_lock import run_lock

ROOT = Path(__file__).resolve().parents[1]

NO_DRIVER = """
import sys
sys.modules["psycopg2"] = None  # as in an install without dlt[postgres]
from copernica_source.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _load(tmp_path: Path, *flags: str, env: dict[str, str] | None = None,
          child: tuple[str, ...] = ("-m", "copernica_source.cli")) -> tuple[subprocess.CompletedProcess[str], dict]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    base.update(PYTHONPATH=str(ROOT), SOURCES__COPERNICA__ACCESS_TOKEN="not-used-token",
                SOURCES__COPERNICA__BASE_URL="http://127.0.0.1:9", SOURCES__COPERNICA__AUTH_URL="http://127.0.0.1:9",
                **(env or {}))
    summary = tmp_path / "summary.json"
    done = subprocess.run([sys.executable, *child, "load", "--pipelines-dir", str(tmp_path / "p"),
                           "--duckdb-file", str(tmp_path / "c.duckdb"), "--resources", "databases",
                           "--summary-json", str(summary), *flags],
                          cwd=tmp_path, env=base, capture_output=True, text=True, timeout=120)
    return done, (json.loads(summary.read_text()) if summary.exists() else {})


def _one_error_line(done: subprocess.CompletedProcess[str], summary: dict) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    which = f" (pipeline {summary['pipeline']}, started {summary['started_at']})"  # which run, for a shared log
    assert summary["status"] == "failed" and lines[0] == f"error: {summary['error']}{which}", (summary, lines)
    return lines[0].removesuffix(which)


def test_a_malformed_connection_string_is_named_and_never_shown(tmp_path: Path) -> None:
    secret = "s3cret-Passw0rd"
    done, summary = _load(tmp_path, "--destination", "postgres",
                          env={"DESTINATION__POSTGRES__CREDENTIALS": f"postgresql//loader:{secret} at db-host"})
    assert done.returncode == 1
    line = _one_error_line(done, summary)
    assert "credentials cannot be read as PostgresCredentials" in line and "postgresql://username:password@" in line
    assert secret not in done.stderr + done.stdout + json.dumps(summary)
    # nor in any file the run left: dlt pickles a failed run's trace with its exceptions' attributes
    left = [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert left == [], left
    assert (summary["pipeline"], summary["destination"], summary["dataset"]) == (
        "copernica", "postgres", "copernica_data")


@pytest.mark.parametrize("command", [("data-request", "--email", "someone@example.com"),
                                     ("models",), ("report", "--output", "r.html")])
def test_every_command_names_a_malformed_connection_string_without_showing_it(
        tmp_path: Path, command: tuple[str, ...]) -> None:
    secret = "s3cret-Passw0rd"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "DESTINATION__"))}
    env.update(PYTHONPATH=str(ROOT), SOURCES__COPERNICA__ACCESS_TOKEN="not-used-token",
               SOURCES__COPERNICA__BASE_URL="http://127.0.0.1:9", SOURCES__COPERNICA__AUTH_URL="http://127.0.0.1:9",
               DESTINATION__POSTGRES__CREDENTIALS=f"postgresql//loader:{secret} at db-host",
               HOME=str(tmp_path), DLT_DATA_DIR=str(tmp_path / "dlt"))  # every file it writes, under tmp_path
    done = subprocess.run([sys.executable, "-m", "copernica_source.cli", *command, "--destination", "postgres"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and secret not in done.stderr + done.stdout, done.stderr[-3000:]
    left = [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert left == [], left
    assert done.stderr.strip().splitlines()[-1].startswith(
        "error: credentials cannot be read as PostgresCredentials"), done.stderr[-3000:]


def test_missing_destination_credentials_say_where_they_go(tmp_path: Path) -> None:
    done, summary = _load(tmp_path, "--destination", "postgres")
    assert done.returncode == 1
    assert _one_error_line(done, summary) == (
        "error: missing credentials of the postgres destination: put it in [destination.postgres] of "
        ".dlt/secrets.toml, or set DESTINATION__POSTGRES__CREDENTIALS")


def test_a_missing_database_driver_says_what_to_install(tmp_path: Path) -> None:
    done, summary = _load(tmp_path, "--destination", "postgres", child=("-c", NO_DRIVER),
                          env={"DESTINATION__POSTGRES__CREDENTIALS": "postgresql://loader:pw@127.0.0.1:9/db"})
    assert done.returncode == 1
    line = _one_error_line(done, summary)
    assert "the postgres destination needs its driver (psycopg2)" in line
    assert 'pip install "copernica-source[postgres]"' in line
    assert "pw@" not in done.stderr + json.dumps(summary)


def test_a_run_refused_for_another_run_says_so_in_the_summary_too(tmp_path: Path) -> None:
    with run_lock(str(tmp_path / "p"), "copernica"):
        done, summary = _load(tmp_path)
    assert done.returncode == 1
    assert "another run of pipeline 'copernica' is in progress" in _one_error_line(done, summary)
    assert summary["seconds"] > 0


@pytest.mark.parametrize("flags", [("--start-date", "bogus"), ("--end-date", "10:00"), ("--logfiles", "clickz"),
                                   ("--products", "foo"), ("--database-ids", "abc"), ("--lookback-days", "-1"),
                                   ("--timezone", "Mars/X"),
                                   ("--start-date", "2025-12-01", "--end-date", "2025-11-01")])
def test_a_bad_flag_value_is_a_usage_error_before_anything_starts(tmp_path: Path, flags: tuple[str, ...]) -> None:
    done, summary = _load(tmp_path, *flags)
    assert done.returncode == 2
    line = _one_error_line(done, summary)
    assert flags[-1] in line, line  # the value it refuses
    assert not (tmp_path / "c.duckdb").exists()  # nothing made

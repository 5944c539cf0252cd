"""Shared fixtures: an isolated dlt home per test, a PostgreSQL server. Helper functions are in helpers.py."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# With Airflow installed (the [airflow] extra, for the deploy tests), dlt would read the Airflow Variable
# dlt_secrets_toml in every process that resolves config: each test and `copernica` subprocess would import
# Airflow, create ~/airflow/airflow.db, and pay ~7 s per pipeline run. The Airflow test turns it back on for its own
# process, where it is what is tested.
os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")


@pytest.fixture(autouse=True)
def _isolated_dlt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test gets its own dlt home: no state or config leaks between tests or from the developer's machine.
    dlt sets up its logger once per process, on the stderr of the test that happened to be running (pytest's
    capture): a later test would log into that closed stream, so log handlers on a closed stream are pointed back
    at the real stderr."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "WARNING")
    monkeypatch.chdir(tmp_path)
    _reopen_log_streams()
    yield
    _reopen_log_streams()


def _reopen_log_streams() -> None:
    for name in ("dlt", "copernica_source", ""):
        for handler in logging.getLogger(name).handlers:
            stream = getattr(handler, "stream", None)
            if isinstance(handler, logging.StreamHandler) and getattr(stream, "closed", False):
                handler.stream = sys.__stderr__  # not setStream: it flushes the closed stream first


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """A real PostgreSQL server: `.ci/run` starts one and exports COPERNICA_TEST_POSTGRES.
    Locally the test skips without one; under CI (CI=true) it fails instead of skipping."""
    dsn = os.environ.get("COPERNICA_TEST_POSTGRES")
    if not dsn:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but COPERNICA_TEST_POSTGRES is not set: .ci/run must start PostgreSQL")
        pytest.skip("no PostgreSQL server (set COPERNICA_TEST_POSTGRES=postgresql://user@host:port/db)")
    yield dsn

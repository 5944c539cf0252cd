"""Shared fixtures: an isolated dlt home per test, a PostgreSQL server. Helper functions are in helpers.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_dlt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own dlt home: no state or config leaks between tests or from the developer's machine."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt_data"))
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "WARNING")
    monkeypatch.chdir(tmp_path)


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

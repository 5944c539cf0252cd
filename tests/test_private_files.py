"""Owner-only folders and files for personal data: the helpers, the DuckDB destination, the data-request files."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from copernica_source.datarequests import request_data
from copernica_source.private_files import private_dir, private_umask, write_private
from copernica_source.settings import duckdb_destination
from tests.helpers import connection


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask() -> Any:
    """The common default: what is created is readable by everyone unless the code says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_private_dir_creates_each_missing_folder_0700_and_leaves_existing_ones(tmp_path: Path, open_umask: Any) -> None:
    os.chmod(tmp_path, 0o755)
    target = private_dir(tmp_path / "a" / "b" / "c")
    assert target == tmp_path / "a" / "b" / "c" and target.is_dir()
    assert [_mode(p) for p in (tmp_path / "a", tmp_path / "a" / "b", target)] == [0o700] * 3
    assert _mode(tmp_path) == 0o755
    os.chmod(tmp_path / "a", 0o750)
    private_dir(tmp_path / "a" / "d")
    assert _mode(tmp_path / "a") == 0o750 and _mode(tmp_path / "a" / "d") == 0o700
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError):
        private_dir(tmp_path / "file")


def test_write_private_is_owner_only_and_atomic(tmp_path: Path, open_umask: Any) -> None:
    path = write_private(tmp_path / "out" / "profile-7.json", '{"a": 1}')
    assert path.read_text() == '{"a": 1}'
    assert _mode(path) == 0o600 and _mode(tmp_path / "out") == 0o700
    write_private(path, "{}")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["profile-7.json"]  # no partial file left


def test_private_umask_applies_inside_only(tmp_path: Path, open_umask: Any) -> None:
    with private_umask():
        (tmp_path / "inside").write_text("x")
    (tmp_path / "outside").write_text("x")
    assert _mode(tmp_path / "inside") == 0o600 and _mode(tmp_path / "outside") == 0o644


def test_duckdb_destination_creates_the_file_owner_only_and_leaves_an_existing_one(
    tmp_path: Path, open_umask: Any
) -> None:
    """Without the CLI's umask: the library's DuckDB files are owner-only too, before and after dlt writes."""
    created = tmp_path / "new" / "warehouse.duckdb"
    pipeline = dlt.pipeline("private_test", destination=duckdb_destination(created), dataset_name="people",
                            pipelines_dir=str(tmp_path / "pipelines"))
    pipeline.run([{"id": 1, "email": "someone@example.com"}], table_name="people").raise_on_failed_jobs()
    con = duckdb.connect(str(created), read_only=True)
    assert con.execute("SELECT email FROM people.people").fetchall() == [("someone@example.com",)]
    con.close()
    assert _mode(created) == 0o600 and _mode(created.parent) == 0o700

    shared = tmp_path / "shared.duckdb"
    duckdb.connect(str(shared)).close()
    os.chmod(shared, 0o644)
    duckdb_destination(shared)
    assert _mode(shared) == 0o644


def test_request_data_output_folders_are_owner_only(
    copernica_simulator_factory: Callable[..., Any], tmp_path: Path, open_umask: Any
) -> None:
    sim = copernica_simulator_factory(seed=5, events=100, profiles=50, datarequest_delay_s=0.1)
    pid = sim.dataset.layout.profile_id(1, 0)
    out = tmp_path / "gdpr" / "2024"
    outcomes = request_data([f"profile:{pid}", "email:someone@example.com"], output_dir=out, poll_interval=0.05,
                            timeout=20, **connection(sim))
    assert [o.status for o in outcomes] == ["delivered", "delivered"], [o.message for o in outcomes]
    assert _mode(tmp_path / "gdpr") == 0o700 and _mode(out) == 0o700
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{o.subject.kind}-{o.request_id}.json" for o in outcomes)
    assert all(_mode(p) == 0o600 for p in out.iterdir())

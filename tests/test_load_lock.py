"""Loads into one PostgreSQL dataset take turns in their load step (copernica_source.pipeline.serialize_loads).

Separate staging datasets keep two loads' staged rows apart, but two merges of the same keys at the same moment
each delete nothing the other has committed yet and both insert: a helper saw the row twice in 1 of 6 tries (a
backfill of today beside the hourly run is the everyday case). The load step holds a PostgreSQL advisory lock of
the dataset; extract and normalize still run side by side."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt
import pytest

from copernica_source.pipeline import load_lock_key, own_staging, serialize_loads
from tests.helpers import SMALL, drop_pg_datasets

pytestmark = [pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("html_clicks", "html_impressions", "html_emailings")


@pytest.fixture
def pg(postgres_dsn: str) -> Iterator[tuple[Any, str]]:
    """A connection to the server (autocommit) and a dataset name of this test's own, dropped after."""
    import psycopg2

    dataset = f"lock_{uuid.uuid4().hex[:8]}"
    con = psycopg2.connect(postgres_dsn)
    con.autocommit = True
    try:
        yield con, dataset
    finally:
        drop_pg_datasets(con, dataset)
        con.close()


SLOW_MERGE_CHILD = """
import sys
from dlt.destinations.job_client_impl import SqlLoadJob
from copernica_source.cli import main

split = SqlLoadJob._split_fragments

def with_a_pause_after_the_delete(self, sql):
    # the merge's transaction waits between its DELETE and its INSERT: loads merging at once overlap there for sure
    fragments = []
    for fragment in split(self, sql):
        fragments.append(fragment)
        if fragment.lstrip().upper().startswith("DELETE FROM") and "html_clicks" in fragment:
            fragments.append("SELECT pg_sleep(3);")
    return fragments

SqlLoadJob._split_fragments = with_a_pause_after_the_delete
sys.exit(main(sys.argv[1:]))
"""


def _start(sim: Any, postgres_dsn: str, tmp_path: Path, dataset: str, name: str, days: int,
           *child: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "SOURCES__COPERNICA__ACCESS_TOKEN": sim.access_token, "SOURCES__COPERNICA__BASE_URL": sim.base_url,
           "SOURCES__COPERNICA__AUTH_URL": sim.auth_url, "DESTINATION__POSTGRES__CREDENTIALS": postgres_dsn}
    start, end = sim.now - timedelta(days=days), sim.now + timedelta(days=1)
    return subprocess.Popen(
        [sys.executable, *(child or ("-m", "copernica_source.cli")), "load", "--destination", "postgres",
         "--dataset", dataset, "--pipeline-name", name, "--pipelines-dir", str(tmp_path / "p"),
         "--resources", ",".join(TABLES),
         "--quiet", "--start-date", start.strftime("%Y-%m-%d"), "--end-date", end.strftime("%Y-%m-%d")],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ids(con: Any, dataset: str) -> dict[str, list[Any]]:
    out = {}
    with con.cursor() as cur:
        for table in TABLES:
            cur.execute(f'SELECT id FROM "{dataset}"."{table}"')
            out[table] = sorted(r[0] for r in cur.fetchall())
    return out


@pytest.mark.slow
def test_a_load_waits_in_its_load_step_while_another_holds_the_datasets_load_lock(
        copernica_simulator_factory: Any, postgres_dsn: str, pg: tuple[Any, str], tmp_path: Path) -> None:
    con, dataset = pg
    sim = copernica_simulator_factory(**SMALL)
    holder = con.cursor()
    holder.execute("SET application_name = 'other-load'")
    holder.execute("SELECT pg_advisory_lock(%s)", (load_lock_key(dataset),))  # another load, in its load step
    run = _start(sim, postgres_dsn, tmp_path, dataset, "waits", days=30)
    try:
        assert run.stderr is not None
        line = run.stderr.readline()  # extract and normalize done, the load step asks for the lock
        # the warning says who holds it, for a person deciding whether to wait
        assert (f"another load into dataset '{dataset}' is in its load step (PostgreSQL pid {con.get_backend_pid()}, "
                "application 'other-load'); waiting for it to end") in line, (
            line, run.communicate(timeout=60))
        time.sleep(1.0)
        assert run.poll() is None  # still waiting: nothing written
        with con.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (dataset,))
            assert cur.fetchone() == (0,)
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s)", (load_lock_key(dataset),))
    _, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert all(_ids(con, dataset).values())
    with con.cursor() as cur:  # and the lock was given back
        cur.execute("SELECT pg_try_advisory_lock(%s), pg_advisory_unlock(%s)", (load_lock_key(dataset),) * 2)
        assert cur.fetchone() == (True, True)


@pytest.mark.slow
def test_loads_of_the_same_rows_at_once_into_one_postgres_dataset_land_each_row_once(
        copernica_simulator_factory: Any, postgres_dsn: str, pg: tuple[Any, str], tmp_path: Path) -> None:
    """Two backfills of the same days under two pipeline names, started together, each merge pausing between its
    DELETE and its INSERT (without the lock both transactions delete nothing the other committed, and both
    insert): every row once."""
    con, dataset = pg
    sim = copernica_simulator_factory(**SMALL)
    first = _start(sim, postgres_dsn, tmp_path, dataset, "reference", days=20)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    want = _ids(con, dataset)
    assert all(want.values()) and all(len(set(ids)) == len(ids) for ids in want.values())
    with con.cursor() as cur:
        cur.execute(";".join(f'TRUNCATE "{dataset}"."{t}"' for t in TABLES))
    runs = [_start(sim, postgres_dsn, tmp_path, dataset, f"same_{n}", 20, "-c", SLOW_MERGE_CHILD) for n in range(2)]
    for run in runs:
        _, err = run.communicate(timeout=180)
        assert run.returncode == 0, err
    assert _ids(con, dataset) == want


def test_own_staging_makes_loads_take_turns_once_and_keeps_it_through_drop(tmp_path: Path) -> None:
    pipeline = own_staging(dlt.pipeline("turns", destination="postgres", dataset_name="d",
                                        pipelines_dir=str(tmp_path)))
    wrapped = pipeline.load
    assert getattr(wrapped, "_takes_load_lock", False)
    assert serialize_loads(own_staging(pipeline)).load is wrapped  # not wrapped twice
    pipeline.drop()  # dlt re-initializes the same object: Dagster's and Airflow's helpers do this before a run
    assert pipeline.load is wrapped


def test_the_lock_key_is_per_dataset_and_fits_a_bigint() -> None:
    keys = {load_lock_key(name) for name in ("copernica_data", "copernica_data2", "other")}
    assert len(keys) == 3 and all(-(2**63) <= k < 2**63 for k in keys)
    assert load_lock_key("copernica_data") == load_lock_key("copernica_data")

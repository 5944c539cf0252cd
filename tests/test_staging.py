"""Every load of this package merges through a staging dataset of its own pipeline (`<dataset>_staging_<pipeline>`),
dropped once the load completed: no staging tables beside the real ones, loads under other pipeline names into the
same dataset never meet there, a failed load keeps what its resume needs, and a layout the user configured wins."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.common.storages.load_package import PackageStorage

from copernica_source import copernica_source
from copernica_source.cli import main
from copernica_source.pipeline import (
    MAX_DATASET_NAME,
    configured_staging_layout,
    drop_staging_after_each_run,
    drop_staging_dataset,
    own_staging,
    scheduled_run,
    stages_in_own_dataset,
    staging_layout,
)
from copernica_source.run_lock import RunInProgressError, run_lock
from copernica_source.settings import LOAD_ID_ON_ROWS, duckdb_destination
from copernica_source.tables import PRODUCTS, PROFILES, STRUCTURE_TABLES, SUBPROFILES, engagement_tables
from tests.helpers import SMALL, drop_pg_datasets, query
from tests.test_engagement import assert_matches_simulator
from tests.test_profiles import assert_equals_account

ROOT = Path(__file__).resolve().parents[1]
DATASET = "copernica"  # the name the helpers of test_engagement and test_profiles query


@pytest.fixture
def sim(copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    s = copernica_simulator_factory(**SMALL)
    for key, value in _source_env(s).items():
        monkeypatch.setenv(key, value)
    return s


def _source_env(sim: Any) -> dict[str, str]:
    return {"SOURCES__COPERNICA__ACCESS_TOKEN": sim.access_token, "SOURCES__COPERNICA__BASE_URL": sim.base_url,
            "SOURCES__COPERNICA__AUTH_URL": sim.auth_url}


def _load(tmp_path: Path, *extra: str, name: str = "copernica") -> int:
    return main(["load", "--duckdb-file", str(tmp_path / "s.duckdb"), "--pipelines-dir", str(tmp_path / "p"),
                 "--pipeline-name", name, "--dataset", DATASET, "--quiet", *extra])


def _schemas(path: Path) -> dict[str, int]:
    """Every schema of the DuckDB file but DuckDB's own, with its table count (information_schema)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE catalog_name = current_database() "
            "AND schema_name NOT IN ('main', 'information_schema', 'pg_catalog')").fetchall()]
        return {n: con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ?",
                               [n]).fetchone()[0] for n in names}
    finally:
        con.close()


def _staging_tables(path: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [tuple(r) for r in con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE '%staging%'"
        ).fetchall()]
    finally:
        con.close()


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[dlt.Pipeline]:
    """A pipeline that only reads the file `_load` writes (its own folder: the load's state stays untouched)."""
    yield dlt.pipeline("reader", destination=dlt.destinations.duckdb(str(tmp_path / "s.duckdb")),
                       dataset_name=DATASET, pipelines_dir=str(tmp_path / "reader"))


def _keyed_tables(pipeline: dlt.Pipeline) -> dict[str, tuple[str, ...]]:
    """Every loaded table with its primary key, from tables.py (profile tables by their prefix)."""
    loaded = {r[0] for r in query(pipeline, "SELECT table_name FROM information_schema.tables WHERE "
                                            f"table_schema = '{DATASET}' AND table_name NOT LIKE '_dlt%'")}
    keys = {f"{p}_{s.name}": s.primary_key for p in PRODUCTS for s in engagement_tables(p)}
    keys |= {s.name: s.primary_key for s in STRUCTURE_TABLES}
    for table in loaded:
        if table.startswith(("profiles_", "subprofiles_")):
            keys[table] = (SUBPROFILES if table.startswith("sub") else PROFILES).primary_key
    return {t: keys[t] for t in sorted(loaded)}


def _assert_every_key_once(pipeline: dlt.Pipeline) -> None:
    tables = _keyed_tables(pipeline)
    assert len(tables) > 30
    for table, key in tables.items():
        cols = ", ".join(key)
        (rows, distinct), = query(pipeline, f"SELECT count(*), count(DISTINCT ({cols})) FROM {DATASET}.{table}")
        assert rows == distinct, table


# -- the name ------------------------------------------------------------------------------------------------


def test_the_staging_dataset_is_named_after_the_pipeline_and_fits_postgres() -> None:
    naming = NamingConvention()
    assert staging_layout("copernica", "copernica_data") % "copernica_data" == "copernica_data_staging_copernica"
    assert staging_layout("copernica_demo", "x") == "%s_staging_copernica_demo"
    assert staging_layout("My-Pipeline.2", "x") == "%s_staging_my_pipeline_2"  # as dlt's naming writes it
    dataset = "d" * 30
    long_names = [f"copernica_backfill_{day}_of_the_html_product" for day in ("20250101", "20250102")]
    names = [staging_layout(p, dataset) % dataset for p in long_names]
    assert names[0] != names[1]  # cut, and told apart by a hash of the pipeline name
    for name in [*names, *(staging_layout(p, "copernica_data") % "copernica_data" for p in ("a", "_1x", "Ünïcode"))]:
        assert len(name) <= MAX_DATASET_NAME, name
        assert naming.normalize_table_identifier(name) == name  # dlt keeps it as it is: no rename, no warning
        assert name.startswith(dataset if name.startswith("d") else "copernica_data_staging_")


# -- a layout the user configured wins ---------------------------------------------------------------------


@pytest.mark.parametrize("env", [
    {"DESTINATION__STAGING_DATASET_NAME_LAYOUT": "%s_mine"},
    {"DESTINATION__DUCKDB__STAGING_DATASET_NAME_LAYOUT": "%s_mine"},
    {"STAGED__DESTINATION__DUCKDB__STAGING_DATASET_NAME_LAYOUT": "%s_mine"},  # for this pipeline only
    {"STAGING_DATASET_NAME_LAYOUT": "%s_mine"},
])
def test_a_configured_layout_wins_wherever_dlt_finds_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pipeline = own_staging(dlt.pipeline("staged", destination=dlt.destinations.duckdb(str(tmp_path / "c.duckdb")),
                                        dataset_name="copernica_data", pipelines_dir=str(tmp_path / "p")))
    assert configured_staging_layout("duckdb", "staged") == "%s_mine"
    assert pipeline.destination_client().config.staging_dataset_name_layout == "%s_mine"  # type: ignore[attr-defined]
    assert not stages_in_own_dataset(pipeline)


def test_without_a_configured_layout_the_pipeline_stages_in_its_own_dataset(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTHER__DESTINATION__DUCKDB__STAGING_DATASET_NAME_LAYOUT", "%s_other")  # another pipeline's
    factory = dlt.destinations.duckdb(str(tmp_path / "c.duckdb"))
    pipeline = own_staging(dlt.pipeline("staged", destination=factory, dataset_name="copernica_data",
                                        pipelines_dir=str(tmp_path / "p")))
    client = pipeline.destination_client()
    assert client.config.staging_dataset_name_layout == "%s_staging_staged"  # type: ignore[attr-defined]
    assert stages_in_own_dataset(pipeline)
    assert "staging_dataset_name_layout" not in factory.config_params  # the caller's factory is left as it was
    # a layout given to the destination factory is the user's too
    given = own_staging(dlt.pipeline("given", destination=dlt.destinations.duckdb(
        str(tmp_path / "g.duckdb"), staging_dataset_name_layout="%s_given"), dataset_name="d",
        pipelines_dir=str(tmp_path / "p")))
    assert given.destination_client().config.staging_dataset_name_layout == "%s_given"  # type: ignore[attr-defined]
    assert not stages_in_own_dataset(given)


def test_copernica_load_keeps_a_staging_dataset_configured_in_config_toml(tmp_path: Path, sim: Any) -> None:
    """The user's `.dlt/config.toml` names the staging dataset: it is used, and left alone after the load."""
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "config.toml").write_text('[destination.duckdb]\nstaging_dataset_name_layout = "%s_mine"\n')
    env = {**os.environ, **_source_env(sim),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "copernica_source.cli", "load", "--duckdb-file", "s.duckdb",
                           "--pipelines-dir", "p", "--resources", "html_emailings,databases", "--quiet"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    schemas = _schemas(tmp_path / "s.duckdb")
    assert set(schemas) == {"copernica_data", "copernica_data_mine"}
    assert schemas["copernica_data_mine"] >= 2  # the staging copies of html_emailings and databases


# -- copernica load ------------------------------------------------------------------------------------------


def test_copernica_load_leaves_no_staging_tables_and_the_next_run_still_merges(
        tmp_path: Path, sim: Any, reader: dlt.Pipeline) -> None:
    assert _load(tmp_path) == 0
    assert set(_schemas(tmp_path / "s.duckdb")) == {DATASET}
    assert _staging_tables(tmp_path / "s.duckdb") == []

    before = dict(query(reader, f"SELECT id, modified FROM {DATASET}.profiles_customers"))
    sim.advance(days=3)  # new emailings and events, late ones, profiles modified, created and deleted
    assert _load(tmp_path) == 0
    assert set(_schemas(tmp_path / "s.duckdb")) == {DATASET}
    assert _staging_tables(tmp_path / "s.duckdb") == []
    assert_matches_simulator(sim, reader)
    assert_equals_account(sim, reader)  # updates applied: each profile with its current `modified`
    after = dict(query(reader, f"SELECT id, modified FROM {DATASET}.profiles_customers"))
    assert any(after[i] != before[i] for i in set(after) & set(before)), "the run should have updated profiles"
    _assert_every_key_once(reader)


def test_a_load_failed_in_its_load_step_keeps_its_staging_dataset_and_the_next_run_completes_it(
        tmp_path: Path, sim: Any, reader: dlt.Pipeline, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The emailings' rows are staged (their copy job committed), then the load step fails before the merge: the
    resumed package merges from the rows staged there, so the staging dataset must outlive the failed run."""
    complete_job = _fail_once_staged(monkeypatch)
    resources = ("--resources", "html_emailings,html_emailing_statistics")
    assert _load(tmp_path, *resources) == 1
    staging = f"{DATASET}_staging_copernica"
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    try:
        staged = con.execute(f"SELECT count(*) FROM {staging}.html_emailings").fetchone()[0]
    finally:
        con.close()
    assert staged == len(list(sim.dataset.rows("html/emailings"))) > 0

    monkeypatch.setattr(PackageStorage, "complete_job", complete_job)
    capsys.readouterr()
    assert _load(tmp_path, *resources) == 0
    assert "finishing the load an interrupted run left behind" in capsys.readouterr().err
    assert set(_schemas(tmp_path / "s.duckdb")) == {DATASET}
    ids = [r[0] for r in query(reader, f"SELECT id FROM {DATASET}.html_emailings ORDER BY id")]
    assert ids == sorted(int(r["id"]) for r in sim.dataset.rows("html/emailings"))


def _fail_once_staged(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the load step fail right after html_emailings' rows were copied into the staging dataset (its parquet
    job committed, the merge not run); returns dlt's own `complete_job`, to put back."""
    complete_job = PackageStorage.complete_job

    def fail_after_staging(self: Any, load_id: str, file_name: str) -> Any:
        if file_name.startswith("html_emailings.") and file_name.endswith(".parquet"):
            raise RuntimeError("the load step stops here")
        return complete_job(self, load_id, file_name)

    monkeypatch.setattr(PackageStorage, "complete_job", fail_after_staging)
    return complete_job


EARLIER_RELEASE_KILLED = """
import os, signal, sys
import dlt
from dlt.common.storages.load_storage import LoadStorage
from copernica_source import copernica_source
from copernica_source.settings import duckdb_destination

duckdb_file, pipelines_dir = sys.argv[1:3]
commit_schema_update = LoadStorage.commit_schema_update

def commit_then_die(self, load_id, applied_update):
    # the tables and their staging copies exist (dlt makes them once per package), no job has run yet
    commit_schema_update(self, load_id, applied_update)
    os.kill(os.getpid(), signal.SIGKILL)

LoadStorage.commit_schema_update = commit_then_die
# what the previous release's `copernica load` ran: dlt's shared `<dataset>_staging`
pipeline = dlt.pipeline("copernica", destination=duckdb_destination(duckdb_file), dataset_name="copernica",
                        pipelines_dir=pipelines_dir)
pipeline.run(copernica_source().with_resources("html_emailings", "html_clicks"))
"""


def test_a_load_an_earlier_release_left_pending_is_finished_through_its_old_staging_dataset(
        tmp_path: Path, sim: Any, reader: dlt.Pipeline) -> None:
    """Upgraded while a load was half done (killed in its load step, after dlt created the tables and their staging
    copies in `<dataset>_staging`, which it does once per package): the resumed jobs must stage their rows there.
    Through the pipeline's own staging dataset, which nothing creates on a resume, every job failed, and every run
    after, until the package was dropped by hand."""
    env = {**os.environ, LOAD_ID_ON_ROWS: "true",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    killed = subprocess.run([sys.executable, "-c", EARLIER_RELEASE_KILLED, str(tmp_path / "s.duckdb"),
                             str(tmp_path / "p")], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert "copernica_staging" in _schemas(tmp_path / "s.duckdb")

    assert _load(tmp_path, "--resources", "html_emailings,html_clicks") == 0
    assert set(_schemas(tmp_path / "s.duckdb")) == {DATASET, "copernica_staging"}  # the old one just stays
    for table, path, key in (("html_emailings", "html/emailings", "id"), ("html_clicks", "html/clicks", "ID")):
        ids = [r[0] for r in query(reader, f"SELECT id FROM {DATASET}.{table} ORDER BY id")]
        assert ids == sorted(int(r[key]) for r in sim.dataset.rows(path)), table
    assert _load(tmp_path, "--resources", "html_emailings,html_clicks") == 0  # and the next run stages its own
    assert set(_schemas(tmp_path / "s.duckdb")) == {DATASET, "copernica_staging"}


def test_a_run_failed_by_api_faults_changes_nothing_and_the_next_run_completes(
        tmp_path: Path, sim: Any, reader: dlt.Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    resources = ("--resources", "html_clicks,draganddrop_clicks,profiles")
    assert _load(tmp_path, *resources) == 0
    sim.advance(days=2)
    monkeypatch.setenv("SOURCES__COPERNICA__RETRY_MAX_SECONDS", "1")
    sim.set_faults(1.0, kinds=("503",))  # Copernica answers nothing but 503 for a while
    assert _load(tmp_path, *resources) == 1
    assert set(_schemas(tmp_path / "s.duckdb")) == {DATASET}
    sim.set_faults(0.0)
    assert _load(tmp_path, *resources) == 0
    assert set(_schemas(tmp_path / "s.duckdb")) == {DATASET}
    for table, path in (("html_clicks", "html/clicks"), ("draganddrop_clicks", "draganddrop/clicks"),
                        ("profiles_customers", "database/1/profiles")):
        ids = [r[0] for r in query(reader, f"SELECT id FROM {DATASET}.{table} ORDER BY id")]
        assert ids == sorted(int(r.get("ID", r.get("id"))) for r in sim.dataset.rows(path)), table


def test_a_dataset_loaded_with_dlts_shared_staging_dataset_keeps_working(
        tmp_path: Path, sim: Any, reader: dlt.Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """The previous release merged through `<dataset>_staging`: the next `copernica load` merges through its own
    staging dataset; the old one stays as it was (README)."""
    monkeypatch.setenv(LOAD_ID_ON_ROWS, "true")  # as that release's `copernica load` set it
    old = dlt.pipeline("copernica", destination=duckdb_destination(tmp_path / "s.duckdb"), dataset_name=DATASET,
                       pipelines_dir=str(tmp_path / "p"))
    old.run(copernica_source()).raise_on_failed_jobs()
    assert "copernica_staging" in _schemas(tmp_path / "s.duckdb")

    sim.advance(days=3)
    assert _load(tmp_path) == 0
    assert set(_schemas(tmp_path / "s.duckdb")) == {DATASET, "copernica_staging"}
    assert_matches_simulator(sim, reader)
    assert_equals_account(sim, reader)
    _assert_every_key_once(reader)


def test_scheduled_run_refuses_a_second_run_of_the_same_pipeline(tmp_path: Path) -> None:
    """Two runs of one pipeline would share its staging dataset (and its state): the run lock still refuses the
    second, in the pipeline scripts as in `copernica load` (tests/test_run_lock.py)."""
    pipeline = own_staging(dlt.pipeline("twice", destination=dlt.destinations.duckdb(str(tmp_path / "t.duckdb")),
                                        dataset_name="d", pipelines_dir=str(tmp_path / "p")))
    with (run_lock(pipeline.pipelines_dir, "twice"),
          pytest.raises(RunInProgressError, match="another run of pipeline 'twice' is in progress"),
          scheduled_run(pipeline)):
        pytest.fail("the block ran beside another run")
    with scheduled_run(pipeline):
        pipeline.run([{"id": 1}], table_name="t", write_disposition="merge", primary_key="id").raise_on_failed_jobs()
    assert set(_schemas(tmp_path / "t.duckdb")) == {"d"}  # merged, then its staging dataset dropped


def test_a_pipeline_run_by_a_schedulers_helper_drops_its_staging_dataset_after_each_run(tmp_path: Path) -> None:
    """dlt's Airflow helper calls `run` itself (and drops the pipeline first, re-initializing the same object)."""
    pipeline = own_staging(dlt.pipeline("helper", destination=dlt.destinations.duckdb(str(tmp_path / "h.duckdb")),
                                        dataset_name="d", pipelines_dir=str(tmp_path / "p")))
    assert drop_staging_after_each_run(drop_staging_after_each_run(pipeline)).run is pipeline.run  # wrapped once
    for rows in ([{"id": 1}], [{"id": 1}, {"id": 2}]):
        pipeline.drop()
        pipeline.run(rows, table_name="t", write_disposition="merge", primary_key="id").raise_on_failed_jobs()
        assert set(_schemas(tmp_path / "h.duckdb")) == {"d"}  # merged, then its staging dataset dropped
    assert query(pipeline, "SELECT id FROM d.t ORDER BY id") == [(1,), (2,)]


def test_drop_staging_dataset_keeps_it_while_a_package_is_pending(tmp_path: Path) -> None:
    destination = dlt.destinations.duckdb(str(tmp_path / "pending.duckdb"))
    pipeline = own_staging(dlt.pipeline("pending", destination=destination, dataset_name="d",
                                        pipelines_dir=str(tmp_path / "p")))
    pipeline.extract([{"id": 1}], table_name="t", write_disposition="merge", primary_key="id")
    pipeline.normalize()
    assert pipeline.has_pending_data
    assert drop_staging_dataset(pipeline) is None
    pipeline.load()
    with pipeline.sql_client() as client:
        client.execute_sql("CREATE SCHEMA IF NOT EXISTS d_staging_pending")  # as a merge leaves it
    assert drop_staging_dataset(pipeline) == "d_staging_pending"
    assert set(_schemas(tmp_path / "pending.duckdb")) == {"d"}


# -- two loads at once into one PostgreSQL dataset -----------------------------------------------------------

BACKFILL_TABLES = ("html_clicks", "html_deliveries", "draganddrop_clicks", "draganddrop_destinations")

PAUSED_CHILD = """
import os, sys, time
from dlt.common.storages.load_package import PackageStorage
from copernica_source.cli import main

staged, go = sys.argv[1:3]
complete_job = PackageStorage.complete_job

def pause_once_staged(self, load_id, file_name):
    # html_clicks' rows are in the staging dataset (a copy job, not the merge's .sql): wait there while the other
    # load runs start to end
    if file_name.startswith("html_clicks.") and not file_name.endswith(".sql") and not os.path.exists(staged):
        open(staged, "w").close()
        deadline = time.monotonic() + 90
        while not os.path.exists(go) and time.monotonic() < deadline:
            time.sleep(0.05)
    return complete_job(self, load_id, file_name)

PackageStorage.complete_job = pause_once_staged
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.postgres
@pytest.mark.slow
def test_two_loads_at_once_under_other_pipeline_names_into_one_postgres_dataset_land_every_row_once(
        tmp_path: Path, sim: Any, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two backfills of the same tables (other days, so other rows) loading into one dataset side by side, as a
    scheduler's partitions do. Through one shared staging dataset a load truncated the other's staged rows when it
    started (those rows never landed), merged them as its own, or lost the race to create the staging tables.

    The first attempt makes the worst interleaving happen for sure: one load waits with its rows staged while the
    other runs start to end. The others run free, side by side."""
    import psycopg2

    dataset = f"staging_{uuid.uuid4().hex[:8]}"
    day = timedelta(days=1)
    windows = {"a": (sim.now - 50 * day, sim.now - 35 * day), "b": (sim.now - 25 * day, sim.now - 10 * day)}
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_dsn)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}

    def args(name: str, window: str) -> list[str]:
        start, end = windows[window]
        return ["load", "--destination", "postgres", "--dataset", dataset, "--pipeline-name", name,
                "--pipelines-dir", str(tmp_path / "p"), "--resources", ",".join(BACKFILL_TABLES), "--quiet",
                "--start-date", start.strftime("%Y-%m-%d"), "--end-date", end.strftime("%Y-%m-%d")]

    def start(window: str, attempt: int, *child: str) -> subprocess.Popen[str]:
        command = [*child] if child else ["-m", "copernica_source.cli"]
        return subprocess.Popen([sys.executable, *command, *args(f"load_{window}_{attempt}", window)], env=env,
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finished(run: subprocess.Popen[str]) -> None:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err

    con = psycopg2.connect(postgres_dsn)
    con.autocommit = True
    try:
        # the reference: the two windows one after the other (this also creates the tables: the race of loads
        # starting together on a new dataset to create its tables is dlt's, and not this test's)
        assert main(args("reference", "a")) == 0 and main(args("reference", "b")) == 0
        want = _ids_by_table(con, dataset)
        assert all(want.values()), want
        for attempt in range(3):
            with con.cursor() as cur:
                cur.execute(";".join(f'TRUNCATE "{dataset}"."{t}"' for t in BACKFILL_TABLES))
            if attempt == 0:
                staged, go = tmp_path / "staged", tmp_path / "go"
                paused = start("a", attempt, "-c", PAUSED_CHILD, str(staged), str(go))
                while not staged.exists():
                    assert paused.poll() is None, paused.communicate()[1]
                    time.sleep(0.05)
                # the other load extracts and normalizes, then waits for the dataset's load lock (test_load_lock)
                other = start("b", attempt)
                assert other.stderr is not None
                line = other.stderr.readline()
                # it names the load that holds the lock: pipeline and process
                assert f"application 'copernica-source load_a_{attempt} pid {paused.pid}'" in line, (
                    line, other.communicate()[1])
                assert "is in its load step (PostgreSQL pid" in line and "; waiting for it to end" in line, line
                go.touch()
                finished(paused)
                finished(other)
            else:
                for run in [start(window, attempt) for window in windows]:
                    finished(run)
            got = _ids_by_table(con, dataset)
            for table in BACKFILL_TABLES:
                assert sorted(got[table]) == sorted(want[table]), f"{table}, attempt {attempt}"
            with con.cursor() as cur:
                cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{dataset}%",))
                assert [r[0] for r in cur.fetchall()] == [dataset]  # every staging dataset dropped
    finally:
        drop_pg_datasets(con, dataset)
        con.close()


def _ids_by_table(con: Any, dataset: str) -> dict[str, list[Any]]:
    out = {}
    with con.cursor() as cur:
        for table in BACKFILL_TABLES:
            cur.execute(f'SELECT id FROM "{dataset}"."{table}"')
            out[table] = [r[0] for r in cur.fetchall()]
    return out

"""pipelines/dagster_copernica.py materialized by Dagster against the simulator: two daily partitions of both
products' engagement assets (each its own pipeline and staging dataset, the incremental state untouched), then
the structure and profiles, into one DuckDB file."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dlt
import duckdb
import pytest

from copernica_source import copernica_source
from copernica_source.run_lock import run_lock
from tests.deploy_support import PIPELINES, need, point_at, recipe
from tests.helpers import SMALL, drop_pg_datasets

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

DAYS = ("2025-12-10", "2025-12-11")  # inside the simulator's 60 days of history (its clock is 2026-01-01)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_dagster_materializes_partitions_and_groups(
    copernica_simulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dg = need("dagster", "dagster")
    dagster_dlt = need("dagster_dlt", "dagster")
    point_at(copernica_simulator_factory(**SMALL), monkeypatch)
    module = recipe("dagster_copernica.py", monkeypatch)
    database = tmp_path / "warehouse" / "copernica.duckdb"
    pipelines_dir = tmp_path / "pipelines"
    resources = {
        "dagster_dlt": dagster_dlt.DagsterDltResource(),
        "copernica": module.CopernicaTarget(duckdb_file=str(database), pipelines_dir=str(pipelines_dir)),
    }
    instance = dg.DagsterInstance.ephemeral()

    # the definitions load as `dagster dev` would load them, every asset and schedule there
    defs = module.defs
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"dlt_copernica_html_clicks", "dlt_copernica_draganddrop_clicks", "dlt_copernica_databases",
            "dlt_copernica_profiles", "dlt_copernica_html_emailing_statistics"} <= keys
    assert {s.name for s in defs.schedules} == {"copernica_engagement_daily", "copernica_people_hourly"}

    engagement = [module.html_assets, module.draganddrop_assets]
    for day in DAYS:
        result = dg.materialize(engagement, partition_key=day, resources=resources, instance=instance)
        assert result.success
        materialized = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
        assert "dlt_copernica_html_clicks" in {m.replace("/", "_") for m in materialized}
    # the partitions merged through staging datasets of their own (test_partitions_stage_apart says why) and
    # dropped them: the shared one was never made
    con = duckdb.connect(str(database), read_only=True)
    schemas = {r[0] for r in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
    con.close()
    assert "copernica_data" in schemas and not [s for s in schemas if "staging" in s], schemas
    result = dg.materialize([module.structure_assets, module.profiles_assets], resources=resources, instance=instance)
    assert result.success

    assert oct(database.stat().st_mode & 0o777) == "0o600"  # created private, as `copernica load` does
    con = duckdb.connect(str(database), read_only=True)
    try:
        con.execute("SET TimeZone = 'Europe/Amsterdam'")
        for table in ("html_clicks", "html_deliveries", "html_impressions", "draganddrop_clicks",
                      "draganddrop_deliveries"):  # the events of both days, and nothing outside them
            days = dict(con.execute(
                f"SELECT strftime(CAST(timestamp AS DATE), '%Y-%m-%d'), count(*) FROM copernica_data.{table} GROUP BY 1"
            ).fetchall())
            assert set(days) == set(DAYS), (table, days)
            # every row says which load wrote it, as with `copernica load`
            unmarked = f"SELECT count(*) FROM copernica_data.{table} WHERE _dlt_load_id IS NULL"
            assert con.execute(unmarked).fetchone() == (0,)
        for table in ("databases", "database_fields"):
            assert con.execute(f"SELECT count(*) FROM copernica_data.{table}").fetchone()[0] > 0
        profile_tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'copernica_data' "
            "AND table_name LIKE 'profiles_%'").fetchall()]
        assert profile_tables
        assert sum(con.execute(f"SELECT count(*) FROM copernica_data.{t}").fetchone()[0] for t in profile_tables) > 0
        # each partition ran as its own pipeline, dropped its staging dataset after, and left no cursor behind
        schemas = {r[0] for r in con.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
        assert not [s for s in schemas if s.startswith("copernica_data_staging_")], schemas
        state = con.execute("SELECT DISTINCT pipeline_name FROM copernica_data._dlt_pipeline_state").fetchall()
        names = {r[0] for r in state}
        assert {"copernica_html_20251210", "copernica_html_20251211", "copernica_draganddrop_20251211",
                "copernica_structure", "copernica_profiles"} <= names
    finally:
        con.close()
    left = sorted(p.name for p in pipelines_dir.iterdir() if not p.name.startswith("."))
    assert left == ["copernica_profiles", "copernica_structure"], left  # partition folders removed after a run


def test_partition_window_is_the_accounts_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """A partition's start_date..end_date is its day in the account's time zone (the daily schedule's days)."""
    need("dagster", "dagster")
    module = recipe("dagster_copernica.py", monkeypatch)
    window = module.daily.time_window_for_partition_key("2025-03-30")  # the night clocks go forward
    assert window.start == datetime(2025, 3, 30, tzinfo=AMSTERDAM)
    assert window.end == datetime(2025, 3, 31, tzinfo=AMSTERDAM)
    assert window.end.astimezone(UTC) - window.start.astimezone(UTC) == timedelta(hours=23)


RUN_PARTITION = r"""
import importlib.util, sys
import dagster as dg
from dagster_dlt import DagsterDltResource

spec = importlib.util.spec_from_file_location("dagster_copernica", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
target = module.CopernicaTarget(pipelines_dir=sys.argv[3])
result = dg.materialize([module.html_assets, module.draganddrop_assets], partition_key=sys.argv[2],
                        resources={"dagster_dlt": DagsterDltResource(), "copernica": target},
                        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
sys.exit(0 if result.success else 1)
"""


@pytest.mark.postgres
def test_partitions_side_by_side_into_postgres(
    copernica_simulator_factory: Any, postgres_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three partitions at once, each in its own process as Dagster runs them, into one PostgreSQL dataset:
    every event of the three days lands exactly once, and no staging dataset is left behind. (Whether two
    merges overlap here is up to timing; test_partitions_stage_apart holds the reason they may.)"""
    need("dagster", "dagster")
    psycopg2 = pytest.importorskip("psycopg2")
    sim = copernica_simulator_factory(**dict(SMALL, events=20_000))
    point_at(sim, monkeypatch)
    dataset = f"dagster_{uuid.uuid4().hex[:10]}"
    days = ("2025-12-01", "2025-12-02", "2025-12-03")
    env = {**os.environ, "COPERNICA_DESTINATION": "postgres", "COPERNICA_DATASET": dataset,
           "DESTINATION__POSTGRES__CREDENTIALS": postgres_dsn, "PROVIDERS__ENABLE_AIRFLOW_SECRETS": "false"}
    recipe_file = str(PIPELINES / "dagster_copernica.py")
    try:
        logs = [tmp_path / f"run_{day}.log" for day in days]  # files, not pipes: a run blocked on a full pipe
        runs = []                                              # could hold a lock another run waits for
        for day, log in zip(days, logs, strict=True):
            with log.open("w") as out:
                runs.append(subprocess.Popen(
                    [sys.executable, "-c", RUN_PARTITION, recipe_file, day, str(tmp_path / "pipelines")],
                    env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT))
        codes = [run.wait(timeout=300) for run in runs]
        assert codes == [0, 0, 0], [log.read_text()[-3000:] for log in logs]

        # the truth: the same three days in one plain backfill
        reference = dlt.pipeline("reference", destination=dlt.destinations.duckdb(str(tmp_path / "ref.duckdb")),
                                 dataset_name="reference_data", pipelines_dir=str(tmp_path / "ref"))
        reference.run(copernica_source(start_date=days[0], end_date="2025-12-04").with_resources(
            *(r for r in copernica_source(access_token="x").resources if r.endswith(("_clicks", "_deliveries")))
        )).raise_on_failed_jobs()
        with psycopg2.connect(postgres_dsn) as con, con.cursor() as cur:
            for table in ("html_clicks", "html_deliveries", "draganddrop_clicks", "draganddrop_deliveries"):
                cur.execute(f"SELECT id FROM {dataset}.{table}")
                ids = [row[0] for row in cur.fetchall()]
                assert len(ids) == len(set(ids)), f"{table}: {len(ids) - len(set(ids))} rows twice"
                with reference.sql_client() as client:
                    expected = {row[0] for row in client.execute_sql(f"SELECT id FROM {table}")}
                assert set(ids) == expected and expected, table
            cur.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                        (f"{dataset}_staging%",))
            assert cur.fetchall() == []  # each partition dropped its staging dataset
    finally:
        with psycopg2.connect(postgres_dsn) as con:  # commits on leaving: the dataset and its staging ones
            drop_pg_datasets(con, dataset)


def test_a_partition_already_running_is_refused(
    copernica_simulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same partition twice at once (a re-execution while it runs) would share a pipeline: refused."""
    dg = need("dagster", "dagster")
    dagster_dlt = need("dagster_dlt", "dagster")
    point_at(copernica_simulator_factory(**SMALL), monkeypatch)
    module = recipe("dagster_copernica.py", monkeypatch)
    pipelines_dir = tmp_path / "pipelines"
    target = module.CopernicaTarget(duckdb_file=str(tmp_path / "c.duckdb"), pipelines_dir=str(pipelines_dir))
    with run_lock(str(pipelines_dir), "copernica_html_20251210"):
        result = dg.materialize([module.html_assets], partition_key="2025-12-10", raise_on_error=False,
                                resources={"dagster_dlt": dagster_dlt.DagsterDltResource(), "copernica": target},
                                instance=dg.DagsterInstance.ephemeral())
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "another run of pipeline 'copernica_html_20251210' is in progress" in str(failure.event_specific_data)


def test_the_log_tables_are_in_only_where_the_logfiles_setting_names_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """As with `copernica load`: the 18 log tables are opt-in (each would download logfiles on every run)."""
    need("dagster", "dagster")
    monkeypatch.delenv("SOURCES__COPERNICA__LOGFILES", raising=False)
    groups = recipe("dagster_copernica.py", monkeypatch).GROUPS
    assert [n for names in groups.values() for n in names if "_log_" in n] == []
    monkeypatch.setenv("SOURCES__COPERNICA__LOGFILES", "html")
    groups = recipe("dagster_copernica.py", monkeypatch).GROUPS
    logs = {g: [n for n in names if "_log_" in n] for g, names in groups.items()}
    assert len(logs["html"]) == 9 and all(n.startswith("html_log_") for n in logs["html"]), logs
    assert logs["draganddrop"] == logs["structure"] == logs["profiles"] == [], logs


def test_partitions_stage_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each partition merges through a staging dataset of its own (copernica_source.pipeline's layout, as `copernica
    load`). Sharing one, two loads running at once truncate and merge each other's staging rows: with four backfills
    made to load at the same moment into PostgreSQL, 2 of 3 tries left rows twice in tables merged on `id` (none with
    a staging dataset each). A layout the user configured wins."""
    need("dagster", "dagster")
    from dlt.common.schema import Schema

    module = recipe("dagster_copernica.py", monkeypatch)
    target = module.CopernicaTarget(duckdb_file=str(tmp_path / "c.duckdb"), pipelines_dir=str(tmp_path / "p"))

    def staging_of(name: str) -> str:
        config = target.pipeline(name).destination_client().config
        return str(config.normalize_staging_dataset_name(Schema("copernica")))

    assert {staging_of(f"copernica_html_{day}") for day in ("20251210", "20251211")} == {
        "copernica_data_staging_copernica_html_20251210", "copernica_data_staging_copernica_html_20251211"}
    assert staging_of("copernica_structure") == "copernica_data_staging_copernica_structure"
    monkeypatch.setenv("DESTINATION__STAGING_DATASET_NAME_LAYOUT", "%s_shared_staging")
    assert staging_of("copernica_html_20251210") == "copernica_data_shared_staging"

"""pipelines/dagster_copernica.py materialized by Dagster against the simulator: two daily partitions of both
products' engagement assets (each its own pipeline and staging dataset, the incremental state untouched), then
the structure and profiles, into one DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest

from tests.deploy_support import need, point_at, recipe
from tests.helpers import SMALL

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

DAYS = ("2025-12-10", "2025-12-11")  # inside the simulator's 60 days of history (its clock is 2026-01-01)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def test_dagster_materializes_partitions_and_groups(
    copernica_simulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dg = need("dagster", "dagster")
    dagster_dlt = need("dagster_dlt", "dagster")
    point_at(copernica_simulator_factory(**SMALL), monkeypatch)
    module = recipe("dagster_copernica.py")
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
    module = recipe("dagster_copernica.py")
    window = module.daily.time_window_for_partition_key("2025-03-30")  # the night clocks go forward
    assert window.start == datetime(2025, 3, 30, tzinfo=AMSTERDAM)
    assert window.end == datetime(2025, 3, 31, tzinfo=AMSTERDAM)
    assert window.end.astimezone(UTC) - window.start.astimezone(UTC) == timedelta(hours=23)

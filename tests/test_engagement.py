"""The main job end to end: the simulator over real HTTP -> copernica_source -> real DuckDB files."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from copernica_source.tables import PRODUCTS, engagement_tables
from tests.helpers import SMALL, duckdb_path, duckdb_types, load, make_pipeline, query, table_ids

# The simulated clock sits at today's midnight, as a live account's would: windows up to "now" stay few.
TODAY = datetime.now(ZoneInfo("Europe/Amsterdam")).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
DATA = dict(SMALL, now=TODAY)
LIST_TABLES = [(p, s) for p in PRODUCTS for s in engagement_tables(p) if not s.parent]


def _api_id(row: dict[str, Any]) -> Any:
    value = row.get("ID", row.get("id"))
    return int(value) if str(value).isdigit() else value


def expected_ids(sim: Any, product: str, spec: Any) -> list[Any]:
    return sorted(_api_id(r) for r in sim.dataset.rows(spec.path.format(p=product)))


def assert_matches_simulator(sim: Any, pipeline: Any) -> None:
    for product, spec in LIST_TABLES:
        table = f"{product}_{spec.name}"
        assert table_ids(pipeline, table) == expected_ids(sim, product, spec), table


def snapshot(pipeline: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every engagement table's full content (all columns but dlt's own), ordered: for equality of whole loads."""
    out = {}
    for product in PRODUCTS:
        for spec in engagement_tables(product):
            table = f"{product}_{spec.name}"
            columns = ", ".join(c.name for c in spec.schema.columns)
            key = ", ".join(spec.primary_key)
            out[table] = query(pipeline, f"SELECT {columns} FROM copernica.{table} ORDER BY {key}")
    return out


def test_full_load_has_every_row_with_declared_types(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(**DATA)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline)

    assert_matches_simulator(sim, pipeline)
    assert sim.dataset.count("html/clicks") == DATA["events"]

    types = duckdb_types(duckdb_path(pipeline), "html_clicks")
    assert types["id"] == "BIGINT" and types["emailing"] == "BIGINT" and types["profile"] == "BIGINT"
    assert types["timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert duckdb_types(duckdb_path(pipeline), "html_unsubscribes")["success"] == "BOOLEAN"
    assert duckdb_types(duckdb_path(pipeline), "html_deliveries")["smtp_response"] == "VARCHAR"
    emailing_types = duckdb_types(duckdb_path(pipeline), "draganddrop_emailings")
    assert emailing_types["destinations"] == "BIGINT" and emailing_types["from_address__email"] == "VARCHAR"

    # one row, value by value: naive Copernica time in Europe/Amsterdam becomes the right instant
    api_row = next(iter(sim.dataset.rows("html/clicks")))
    (ts, link, profile) = query(
        pipeline, f"SELECT timestamp, link, profile FROM copernica.html_clicks WHERE id = {int(api_row['ID'])}")[0]
    local = datetime.strptime(api_row["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert ts == local and link == api_row["link"] and profile == int(api_row["profile"])

    # statistics equal the events actually loaded for each emailing
    stats = dict(query(pipeline, "SELECT emailing_id, clicks__total FROM copernica.html_emailing_statistics"))
    clicks = dict(query(pipeline, "SELECT emailing, count(*) FROM copernica.html_clicks GROUP BY emailing"))
    assert len(stats) == len(table_ids(pipeline, "html_emailings"))
    assert all(stats[e] == clicks.get(e, 0) for e in stats)


def test_rerun_without_new_data_adds_nothing_and_reads_little(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(**DATA)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline)
    first_requests = len(sim.requests)
    before = snapshot(pipeline)
    assert first_requests > 100

    info = load(sim, pipeline)
    engagement = [r for r in sim.requests[first_requests:] if "/html/" in r.path or "/draganddrop/" in r.path]
    assert snapshot(pipeline) == before
    assert len(engagement) < 60, f"a run with nothing new made {len(engagement)} engagement requests"
    loaded = info.pipeline.last_trace.last_normalize_info.row_counts
    assert not any(loaded.get(f"html_{kind}") for kind in ("clicks", "deliveries", "impressions", "errors")), loaded
    # draganddrop re-reads only its lookback (3 of 60 days), not the history
    assert loaded.get("draganddrop_clicks", 0) < len(table_ids(pipeline, "draganddrop_clicks")) / 10
    # html events on lists that honour the ID filter are read from the last ID: one request each
    event_paths = [r for r in sim.requests[first_requests:] if r.path.endswith("/html/deliveries")]
    assert len(event_paths) == 1 and any(v.startswith("id>") for v in event_paths[0].query.get("fields[]", []))
    # lists whose pages promise only the timestamp filter re-read their lookback by time; nothing new is loaded
    clicks = [r for r in sim.requests[first_requests:] if r.path.endswith("/html/clicks")]
    assert any(v.startswith("timestamp>=") for r in clicks for v in r.query.get("fields[]", []))
    assert len(clicks) < 10


def test_after_time_advances_only_new_and_late_rows_are_fetched(
    tmp_path: Path, copernica_simulator_factory: Any
) -> None:
    sim = copernica_simulator_factory(**DATA)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline)
    clicks_before = len(table_ids(pipeline, "html_clicks"))
    dd_max_before = max(table_ids(pipeline, "draganddrop_clicks"))
    sim.advance(days=3)
    # late events: inserted after the first run (higher IDs) but stamped before its "now"
    late = [int(r["ID"]) for r in sim.dataset.rows("draganddrop/clicks")
            if int(r["ID"]) > dd_max_before and r["timestamp"] < TODAY.strftime("%Y-%m-%d %H:%M:%S")]
    assert late, "the simulator should have produced late draganddrop clicks"
    requests_before = len(sim.requests)

    info = load(sim, pipeline)
    assert_matches_simulator(sim, pipeline)
    new_clicks = len(table_ids(pipeline, "html_clicks")) - clicks_before
    assert new_clicks > 0
    loaded = info.pipeline.last_trace.last_normalize_info.row_counts
    assert loaded["html_clicks"] == new_clicks, "html clicks: only rows after the cursor are read"
    assert set(late) <= set(table_ids(pipeline, "draganddrop_clicks")), "late events within the lookback are loaded"
    assert len(sim.requests) - requests_before < 120


def test_mixed_faults_give_the_same_tables(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    clean_sim = copernica_simulator_factory(**DATA)
    clean = make_pipeline(tmp_path, "clean")
    load(clean_sim, clean)

    faulty_sim = copernica_simulator_factory(**DATA, fault_rate=0.10)
    faulty = make_pipeline(tmp_path, "faulty")
    load(faulty_sim, faulty)

    faults = [r.fault for r in faulty_sim.requests if r.fault]
    assert len(set(faults)) >= 4, f"the run should have met several kinds of fault, met {set(faults)}"
    assert snapshot(faulty) == snapshot(clean)


def test_backfill_with_end_date_leaves_incremental_state_alone(
    tmp_path: Path, copernica_simulator_factory: Any
) -> None:
    sim = copernica_simulator_factory(**DATA)
    pipeline = make_pipeline(tmp_path)
    start, end = TODAY - timedelta(days=40), TODAY - timedelta(days=20)
    load(sim, pipeline, start_date=start.strftime("%Y-%m-%d"), end_date=end.strftime("%Y-%m-%d"),
         resources=["html_clicks", "draganddrop_clicks"])
    for table in ("html_clicks", "draganddrop_clicks"):
        lo, hi, n = query(pipeline, f"SELECT min(timestamp), max(timestamp), count(*) FROM copernica.{table}")[0]
        assert n > 0
        tz = ZoneInfo("Europe/Amsterdam")
        assert lo >= start.replace(tzinfo=tz) and hi <= end.replace(tzinfo=tz) + timedelta(seconds=1)
    # the backfill did not move the cursor: a normal run still loads everything
    load(sim, pipeline, resources=["html_clicks", "draganddrop_clicks"])
    for product, spec in LIST_TABLES:
        if spec.name == "clicks":
            assert table_ids(pipeline, f"{product}_clicks") == expected_ids(sim, product, spec)


def test_legacy_prefix_accounts_are_detected(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(**DATA, prefixes="legacy")
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=["html_clicks", "draganddrop_emailings"])
    assert table_ids(pipeline, "html_clicks") == sorted(int(r["ID"]) for r in sim.dataset.rows("publisher/clicks"))
    assert any("/v4/publisher/clicks" in r.path for r in sim.requests)


@pytest.mark.postgres
def test_same_load_into_postgres(tmp_path: Path, copernica_simulator_factory: Any, postgres_dsn: str) -> None:
    import dlt

    sim = copernica_simulator_factory(**DATA)
    duck = make_pipeline(tmp_path, "duck")
    load(sim, duck)
    dataset = f"copernica_test_{datetime.now().strftime('%H%M%S%f')}"
    pg = dlt.pipeline(pipeline_name="pg", destination=dlt.destinations.postgres(postgres_dsn), dataset_name=dataset,
                      pipelines_dir=str(tmp_path / "pipelines"))
    info = pg.run(__import__("copernica_source").copernica_source(
        access_token=sim.access_token, base_url=sim.base_url, auth_url=sim.auth_url))
    info.raise_on_failed_jobs()
    try:
        with pg.sql_client() as client:
            for product, spec in LIST_TABLES:
                table = f"{product}_{spec.name}"
                cols = ", ".join(c.name for c in spec.schema.columns)
                got = [tuple(r) for r in client.execute_sql(f"SELECT {cols} FROM {dataset}.{table} ORDER BY id")]
                want = query(duck, f"SELECT {cols} FROM copernica.{table} ORDER BY id")
                assert got == want, table
            kinds = dict(client.execute_sql(
                "SELECT column_name, data_type FROM information_schema.columns "
                f"WHERE table_schema = '{dataset}' AND table_name = 'html_clicks'"))
            assert kinds["id"] == "bigint" and kinds["timestamp"] == "timestamp with time zone"
    finally:
        with pg.sql_client() as client:
            client.drop_dataset()


def test_an_outage_fails_the_run_without_moving_cursors_and_the_next_run_catches_up(
    tmp_path: Path, copernica_simulator_factory: Any
) -> None:
    import time

    from dlt.pipeline.exceptions import PipelineStepFailed

    from copernica_source.errors import TransientError

    sim = copernica_simulator_factory(**DATA)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=["html_clicks", "draganddrop_clicks"])
    sim.advance(days=2)
    sim.set_faults(1.0, kinds=("503",))  # Copernica's load balancer answers nothing but 503 for a while
    started = time.monotonic()
    with pytest.raises(PipelineStepFailed) as info:
        load(sim, pipeline, resources=["html_clicks", "draganddrop_clicks"], retry_max_seconds=2)
    assert time.monotonic() - started < 30, "retries are bounded by retry_max_seconds"
    cause: BaseException | None = info.value
    while cause is not None and not isinstance(cause, TransientError):
        cause = cause.__cause__ or cause.__context__
    assert cause is not None and "run again later" in str(cause)

    sim.set_faults(0.0)
    load(sim, pipeline, resources=["html_clicks", "draganddrop_clicks"])
    for product, spec in LIST_TABLES:
        if spec.name == "clicks":
            assert table_ids(pipeline, f"{product}_clicks") == expected_ids(sim, product, spec)

"""The log tables against the simulator over HTTP: the same events as the event lists, incremental by file,
cut-off and damaged downloads, and the readings the pages leave open (docs/assumptions.md A53-A58)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dlt
import pytest

from copernica_source.tables import LOG_TABLES
from tests.helpers import connection, load, make_pipeline, query

ZONE = "Europe/Amsterdam"
EVENT_LOGS = {  # event table -> its log type, per product
    "html": {"clicks": "pom-clicks", "deliveries": "pom-deliveries", "impressions": "pom-impressions",
             "errors": "pom-errors", "unsubscribes": "pom-unsubscribes", "abuses": "pom-abuses"},
    "draganddrop": {"clicks": "cdm-click", "deliveries": "cdm-delivery", "impressions": "cdm-impression",
                    "errors": "cdm-error", "unsubscribes": "cdm-unsubscribe", "abuses": "cdm-abuse"},
}
TABLE_OF = {spec.log_type: spec.name for spec in LOG_TABLES}
YEAR = dict(seed=11, events=2500, emailings=14, destinations_per_emailing=30, profiles=200, history_days=365)
SHORT = dict(seed=5, events=1500, emailings=8, destinations_per_emailing=30, profiles=150, history_days=12)


def _today() -> datetime:
    """The simulator's clock at today's local midnight: the connector's "recent days" are the simulator's."""
    return datetime.now(ZoneInfo(ZONE)).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)


def _log_counts(pipeline: dlt.Pipeline, types: list[str]) -> dict[str, dict[str, int]]:
    """{date: {type: rows}} of the loaded log tables, counted by the file's day, as the simulator's truth is."""
    out: dict[str, dict[str, int]] = {}
    tables = {r[0] for r in query(pipeline, "select table_name from information_schema.tables")}
    for log_type in types:
        if TABLE_OF[log_type] not in tables:  # no file of this type was listed: dlt made no table
            continue
        for day, n in query(pipeline, f"select cast(log_date as varchar), count(*) from {TABLE_OF[log_type]} "
                                      "group by 1"):
            out.setdefault(day, {})[log_type] = n
    return out


def _truth(sim: Any, types: list[str]) -> dict[str, dict[str, int]]:
    counts = sim.dataset.logfile_counts()
    out = {day: {t: n for t, n in per.items() if t in types} for day, per in counts.items()}
    return {day: per for day, per in out.items() if per}


def _downloads(sim: Any, since: int = 0) -> list[str]:
    return [r.path.split("/")[-2] for r in sim.requests[since:] if "/logfile/" in r.path and r.status == 200]


@pytest.mark.slow
def test_a_year_through_logfiles_equals_the_event_lists_per_day_and_type(
        copernica_simulator_factory: Any, tmp_path: Path) -> None:
    sim = copernica_simulator_factory(**YEAR)
    pipeline = make_pipeline(tmp_path)
    compared = [t for kinds in EVENT_LOGS.values() for t in kinds.values()] + ["pom-attempts"]
    events = [f"{p}_{k}" for p, kinds in EVENT_LOGS.items() for k in kinds] + ["html_destinations"]
    load(sim, pipeline, logfiles=["all"], resources=events + [TABLE_OF[t] for t in compared])
    assert query(pipeline, "select count(distinct log_date) from html_log_attempts")[0][0] > 300  # a year of days
    for product, kinds in EVENT_LOGS.items():
        for kind, log_type in kinds.items():
            events = dict(query(pipeline, f"select cast(cast(timezone('{ZONE}', timestamp) as date) as varchar), "
                                          f"count(*) from {product}_{kind} group by 1"))
            logged = dict(query(pipeline, f"select cast(log_date as varchar), count(*) from {TABLE_OF[log_type]} "
                                          "group by 1"))
            assert events and logged == events, f"{log_type} per day differs from {product}_{kind}"
    # the clicks themselves: the same moments, addresses and profiles
    lists = query(pipeline, "select timestamp, ip, profile from html_clicks")
    logs = query(pipeline, "select time, ip, profile from html_log_clicks")
    assert Counter(logs) == Counter(lists)
    assert _log_counts(pipeline, compared) == _truth(sim, compared)
    # every send attempt links to its send by the message ID
    orphans = query(pipeline, "select count(*) from html_log_attempts a left join html_destinations d on d.id = a.id "
                              "where d.id is null")
    assert orphans == [(0,)]
    geo = query(pipeline, "select count(*) from html_log_clicks where countrycode is not null and city is not null")
    assert geo[0][0] > 0


def test_incremental_runs_fetch_only_new_and_recent_files(copernica_simulator_factory: Any, tmp_path: Path) -> None:
    sim = copernica_simulator_factory(**SHORT, now=_today() + timedelta(hours=10))
    pipeline = make_pipeline(tmp_path)
    types = ["pom-clicks", "cdm-click", "pom-attempts"]
    load(sim, pipeline, logfiles=types, resources=[TABLE_OF[t] for t in types])
    first = _downloads(sim)
    assert len(first) == sum(len(per) for per in _truth(sim, types).values())
    seen = len(sim.requests)
    load(sim, pipeline, logfiles=types, resources=[TABLE_OF[t] for t in types])  # nothing new: recent days only
    today = _today().date()
    again = _downloads(sim, seen)
    assert again and all(today - timedelta(days=3) <= _day(n) <= today for n in again)
    sim.advance(hours=6)  # today's files grow
    seen = len(sim.requests)
    load(sim, pipeline, logfiles=types, resources=[TABLE_OF[t] for t in types])
    assert all(_day(n) >= today - timedelta(days=3) for n in _downloads(sim, seen))
    assert _log_counts(pipeline, types) == _truth(sim, types)  # grown files replaced, nothing twice
    keys = query(pipeline, "select count(*), count(distinct (log_file, log_line)) from html_log_clicks")
    assert keys[0][0] == keys[0][1]


def _day(name: str) -> Any:
    return datetime.strptime(name.split(".")[1], "%Y-%m-%d").date()


def test_a_cut_off_download_resumes_and_a_damaged_one_fails_cleanly_until_the_next_run(
        copernica_simulator_factory: Any, tmp_path: Path) -> None:
    sim = copernica_simulator_factory(**SHORT)
    types = ["pom-clicks"]
    pipeline = make_pipeline(tmp_path)
    sim.arm_logfile_faults("cut", times=2)
    sim.arm_logfile_faults("503")
    load(sim, pipeline, logfiles=types, resources=["html_log_clicks"], retry_max_seconds=20)
    assert [r.fault for r in sim.requests if r.fault][:3] == ["cut", "cut", "503"]
    assert _log_counts(pipeline, types) == _truth(sim, types)

    other = make_pipeline(tmp_path, "damaged")
    sim.arm_logfile_faults("corrupt", times=3)  # every attempt of one file: the run must fail
    with pytest.raises(Exception, match=r"logfile pom-impressions\.\d{4}-\d\d-\d\d\.log: CSV parse error"):
        load(sim, other, logfiles=["pom-impressions"], resources=["html_log_impressions"], max_concurrency=1)
    tables = {r[0] for r in query(other, "select table_name from information_schema.tables")}
    assert "html_log_impressions" not in tables or query(other, "select count(*) from html_log_impressions") == [(0,)]
    assert not other.state.get("sources", {}).get("copernica", {}).get("resources", {}).get("html_log_impressions")
    load(sim, other, logfiles=["pom-impressions"], resources=["html_log_impressions"])
    assert _log_counts(other, ["pom-impressions"]) == _truth(sim, ["pom-impressions"])


@pytest.mark.parametrize("quirks", ["strict", "lenient", "literal,logfile_type_listing=dates,logfile_split=parts"])
def test_every_reading_loads_the_same_rows(copernica_simulator_factory: Any, tmp_path: Path, quirks: str) -> None:
    """Header row or not, quoting, time zone, files in parts, dates in any order, `?type=` answered with dates,
    pom-clicks-old: the loaded rows are the simulator's, per day and type."""
    sim = copernica_simulator_factory(**SHORT, quirks=quirks, logfile_part_rows=40)
    utc = sim.config.quirks.startswith("strict")
    pipeline = make_pipeline(tmp_path)
    types = ["pom-clicks", "pom-clicks-old", "cdm-impression", "pom-errors", "feedback-loop-errors"]
    load(sim, pipeline, logfiles=types, resources=[TABLE_OF[t] for t in types],
         logfile_timezone="UTC" if utc else None)
    assert _log_counts(pipeline, types) == _truth(sim, types)
    truth = [(r["time"], r["ip"], r["profile"]) for day in sim.dataset.logfile_dates()
             for r in sim.dataset.logfile_rows("pom-clicks", day)]
    zone = ZoneInfo("UTC" if utc else ZONE)
    loaded = [(t.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"), ip, p)
              for t, ip, p in query(pipeline, "select time, ip, profile from html_log_clicks")]
    assert Counter(loaded) == Counter(truth)
    header_lines = query(pipeline, "select count(*) from html_log_clicks where header like '%\n%'")
    assert header_lines[0][0] > 0  # quoted line breaks stayed inside their values


def test_the_cli_chooses_log_tables_by_flag_and_explains_a_wrong_name(
        copernica_simulator_factory: Any, tmp_path: Path) -> None:
    sim = copernica_simulator_factory(**SHORT)
    env = {"SOURCES__COPERNICA__" + k.upper(): v for k, v in connection(sim).items()}
    base = [sys.executable, "-m", "copernica_source.cli", "load", "--duckdb-file", str(tmp_path / "c.duckdb"),
            "--pipelines-dir", str(tmp_path / "p"), "--products", "html", "--resources",
            "html_emailings,html_log_errors"]
    done = subprocess.run([*base, "--logfiles", "pom-errrors"], capture_output=True, text=True, timeout=300,
                          env={**_env(), **env})
    # a usage error (2, as a wrong --resources), told before anything starts: no DuckDB file made
    assert done.returncode == 2 and "'pom-errrors' is not a log table" in done.stderr and "pom-errors" in done.stderr
    assert not (tmp_path / "c.duckdb").exists()
    done = subprocess.run(base, capture_output=True, text=True, timeout=300, env={**_env(), **env})
    assert done.returncode == 0, done.stderr
    assert "html_log_errors" in done.stdout + done.stderr or "loaded" in done.stdout + done.stderr
    import duckdb

    with duckdb.connect(str(tmp_path / "c.duckdb"), read_only=True) as db:
        n = db.execute("select count(*) from copernica_data.html_log_errors").fetchone()
    assert n is not None and n[0] == sum(per.get("pom-errors", 0) for per in _truth(sim, ["pom-errors"]).values())


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__COPERNICA__")}


def _clock_of(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The connector's "now" follows the simulator's clock (the machine's clock cannot be moved in a test)."""
    from copernica_source.account import Settings

    monkeypatch.setattr(Settings, "now_local", lambda self: sim.now)


def test_a_run_after_a_long_pause_still_completes_the_days_the_last_run_saw_growing(
        copernica_simulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = copernica_simulator_factory(**SHORT, now=datetime(2025, 12, 10, 10))
    _clock_of(sim, monkeypatch)
    pipeline = make_pipeline(tmp_path)
    types = ["pom-clicks", "cdm-impression"]
    load(sim, pipeline, logfiles=types, resources=[TABLE_OF[t] for t in types])
    sim.advance(days=5)  # the scheduler was down: 12-10 (read at 10:00) and the days before it grew since
    seen = len(sim.requests)
    load(sim, pipeline, logfiles=types, resources=[TABLE_OF[t] for t in types])
    again = {_day(n) for n in _downloads(sim, seen)}
    assert datetime(2025, 12, 10).date() in again and datetime(2025, 12, 7).date() in again
    assert min(again) >= datetime(2025, 12, 7).date()  # 12-06 was read three days after it ended: settled
    assert _log_counts(pipeline, types) == _truth(sim, types)


def test_a_backfill_reads_the_accounts_local_days_and_counts_for_the_next_run(
        copernica_simulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = copernica_simulator_factory(**SHORT, now=datetime(2025, 12, 10, 10))
    _clock_of(sim, monkeypatch)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, logfiles=["pom-clicks"], resources=["html_log_clicks", "html_clicks"],
         start_date="2025-12-02", end_date="2025-12-05")
    days = query(pipeline, "select min(log_date), max(log_date) from html_log_clicks")[0]
    assert [d.isoformat() for d in days] == ["2025-12-02", "2025-12-04"]  # local days, the end day excluded
    logged, listed = (query(pipeline, f"select count(*) from {t}") for t in ("html_log_clicks", "html_clicks"))
    assert logged == listed
    seen = len(sim.requests)
    load(sim, pipeline, logfiles=["pom-clicks"], resources=["html_log_clicks"])
    read = {_day(n) for n in _downloads(sim, seen)}
    assert not read & {datetime(2025, 12, d).date() for d in (2, 3, 4)}  # the backfill's files count as read
    assert _log_counts(pipeline, ["pom-clicks"]) == _truth(sim, ["pom-clicks"])

"""The models' use of the log tables, against the simulator's own log rows (never the loaded tables):
`copernica__geography` (clicks and opens per emailing and place) and `log_attempts`/`log_retries` per send in
`copernica__recipients`; and that the models still build, empty, when no log table was loaded."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import dlt
import pytest

from copernica_source.models import build_models
from copernica_source.simulator import Simulator
from tests.helpers import load

pytestmark = [pytest.mark.models, pytest.mark.slow]

TZ = "Europe/Amsterdam"
SIM = dict(seed=9, events=1500, emailings=6, destinations_per_emailing=60, profiles=200, history_days=20,
           now=datetime(2025, 11, 10))
LOGS = ["pom-clicks", "pom-impressions", "pom-attempts", "pom-retries", "cdm-click", "cdm-impression",
        "cdm-attempts", "cdm-retry"]
PLACED = {("html", "click"): "pom-clicks", ("html", "open"): "pom-impressions",
          ("draganddrop", "click"): "cdm-click", ("draganddrop", "open"): "cdm-impression"}


def _rows(sim: Simulator, log_type: str) -> Iterator[dict[str, Any]]:
    for day in sim.dataset.logfile_dates():
        yield from sim.dataset.logfile_rows(log_type, day)


def _read(pipeline: dlt.Pipeline, sql: str) -> list[dict[str, Any]]:
    with pipeline.sql_client() as client, client.execute_query(sql) as cursor:
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, dlt.Pipeline, Any]]:
    folder = tmp_path_factory.mktemp("models_logs")
    with Simulator(**SIM) as sim:
        pipeline = dlt.pipeline(pipeline_name="models_logs", destination=dlt.destinations.duckdb(
            str(folder / "m.duckdb")), dataset_name="copernica", pipelines_dir=str(folder / "pipelines"))
        load(sim, pipeline, timezone=TZ, logfiles=LOGS)
        outcome = build_models(pipeline, timezone=TZ)
        yield sim, pipeline, outcome


def test_models_with_log_tables_build_and_pass_their_tests(built: Any) -> None:
    _, _, outcome = built
    assert outcome.models and all(m.status == "success" for m in outcome.models), outcome.log[-3000:]
    assert "copernica__geography" in {m.name for m in outcome.models}
    assert not outcome.failed_tests, [t.name for t in outcome.failed_tests]


def test_geography_counts_every_logged_click_and_open_by_emailing_and_place(built: Any) -> None:
    sim, pipeline, _ = built
    mailing = {r["id"]: r["mailingid"] for t in ("pom-attempts", "cdm-attempts") for r in _rows(sim, t)}
    truth: Counter[tuple[Any, ...]] = Counter()
    for (product, event_type), log_type in PLACED.items():
        for r in _rows(sim, log_type):
            truth[(product, mailing.get(r["id"]), event_type, r["countrycode"] or None, r["regioncode"] or None,
                   r["city"] or None)] += 1
    rows = _read(pipeline, "select * from copernica__geography")
    got = {(r["product"], r["emailing_id"], r["event_type"], r["country_code"], r["region_code"], r["city"]):
           r["events"] for r in rows}
    assert got == dict(truth)
    assert any(r["country_code"] is None for r in rows) and any(r["city"] for r in rows)  # unknown places kept
    assert len({r["geography_key"] for r in rows}) == len(rows)


def test_recipients_carry_each_sends_attempts_and_retries_from_the_logs(built: Any) -> None:
    sim, pipeline, _ = built
    attempts = Counter(r["id"] for t in ("pom-attempts", "cdm-attempts") for r in _rows(sim, t))
    retries = Counter(r["id"] for t in ("pom-retries", "cdm-retry") for r in _rows(sim, t))
    sends = _read(pipeline, """
        select r.product, r.log_attempts, r.log_retries, coalesce(h.id, d.message_id) as message_id
        from copernica__recipients r
        left join html_destinations h on r.product = 'html' and h.internal = r.destination_id
        left join draganddrop_destinations d on r.product = 'draganddrop' and d.id = r.destination_id""")
    assert sends and all(s["message_id"] for s in sends)
    for s in sends:
        expected = attempts.get(s["message_id"])
        assert s["log_attempts"] == expected, s
        assert s["log_retries"] == (retries.get(s["message_id"], 0) if expected else None), s
    assert any(s["log_retries"] for s in sends)  # some sends were retried: the figure means something


def test_the_report_places_every_logged_open_and_click_by_country(built: Any) -> None:
    """The report's geography section on the real model: per country, the simulator's logged opens and clicks."""
    from copernica_source.report import charts, queries
    from copernica_source.report.build import build_report
    from copernica_source.report.dlt_query import destination_dataset, sql_client_query

    sim, pipeline, _ = built
    truth: Counter[tuple[str, str]] = Counter()
    for (_, event_type), log_type in PLACED.items():
        for r in _rows(sim, log_type):
            truth[(r["countrycode"] or "", event_type)] += 1
    dataset = destination_dataset(pipeline)
    with sql_client_query(pipeline) as query:
        rows = query(queries.geography_sql(dataset))
        html = build_report(query, dataset, timezone=TZ)
    assert {(r["country_code"] or "", r["event_type"]): charts.number(r["events"]) for r in rows} == dict(truth)
    figure = charts.geography(rows, top=len(truth))  # every country a bar of its own
    assert figure is not None
    drawn = {(label, trace.name): x for trace in figure.data for label, x in zip(trace.y, trace.x, strict=True)}
    assert sum(drawn.values()) == sum(truth.values())
    assert 'id="chart-geography"' in html

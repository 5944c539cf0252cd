"""`copernica report`: one HTML file that a real (headless) browser opens offline, with every chart drawn, data
text shown literally, and clear pages for an empty account and for models never built.

Most tests read tables from tests/report_fixture.py (the models' columns, filled by DuckDB SQL with hostile text
and exact counts); one runs the demo end to end on the real dbt models. The browser tests need Chromium at
/usr/bin/chromium: skipped without it, failed without it in CI."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dlt
import duckdb
import pytest

from copernica_source.cli import main
from copernica_source.errors import ConfigurationError
from copernica_source.models import MODELS
from copernica_source.report import (
    ModelsMissingError,
    build_report,
    destination_dataset,
    sql_client_query,
    write_report,
)
from copernica_source.settings import duckdb_destination
from tests.report_fixture import DATASET, build_model_tables

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
VIEWPORT = {"width": 1280, "height": 900}
TIMEZONE = "Europe/Amsterdam"
CHARTS = ("activity", "funnel", "rates", "bounces", "unsubscribes", "links", "devices", "hours", "first-open",
          "geography")
WITHOUT_LOGFILES = CHARTS[:-1]  # the places come from the log tables, which the demo does not load
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# per chart: which kind of mark plotly draws for it, and how many the fixture gives (None: at least one)
MARKS: dict[str, dict[str, int | None]] = {
    "activity": {"bars": None, "lines": 2},
    "funnel": {"bars": 10 * 4},        # latest 10 emailings x recipients, delivered, opens, clicks
    "rates": {"points": 20 * 2},       # latest 20 emailings x open rate, click rate
    "bounces": {"bars": None},
    "unsubscribes": {"bars": None},
    "links": {"bars": 5 + 2},          # the fixture's 5 content links, then web version and unsubscribe
    "devices": {"bars": 4},            # desktop, mobile, tablet, unknown (NULL counts as unknown)
    "hours": {"heatmaps": 2},          # opens, clicks
    "first-open": {"bars": 6},         # every bucket, empty ones included
    "geography": {"bars": 12 * 2},     # the top 11 countries and "(4 other countries)" x opens, clicks
}

COUNT_MARKS = """(ids) => Object.fromEntries(ids.map(id => {
    const d = document.getElementById('chart-' + id);
    return [id, {
        bars: d.querySelectorAll('.barlayer .point path').length,
        lines: d.querySelectorAll('.scatterlayer .js-line').length,
        points: d.querySelectorAll('.scatterlayer .point').length,
        heatmaps: d.querySelectorAll('.heatmaplayer image').length,
    }];
}))"""

OVERLAPS = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(d => {
    const title = d.querySelector('.gtitle'), legend = d.querySelector('.legend');
    if (!title || !legend) return [];
    const a = title.getBoundingClientRect(), b = legend.getBoundingClientRect();
    const hit = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    return hit ? [d.id] : [];
})"""


def _duckdb_pipeline(path: Path, tmp_path: Path) -> dlt.Pipeline:
    return dlt.pipeline(pipeline_name="copernica_report_test", destination=duckdb_destination(path),
                        dataset_name=DATASET, pipelines_dir=str(tmp_path / "pipelines"))


def _write(path: Path, tmp_path: Path, out: Path) -> Path:
    pipeline = _duckdb_pipeline(path, tmp_path)
    with sql_client_query(pipeline) as query:
        return write_report(out, query, destination_dataset(pipeline), timezone=TIMEZONE, destination="duckdb")


@contextmanager
def _browser_page() -> Iterator[tuple[Any, list[str]]]:
    """A headless Chromium page that may not reach the network: any request other than file:// or data: is
    aborted and recorded, as are console errors, page errors and dialogs (an injected alert())."""
    if not CHROMIUM.exists():
        if IN_CI:
            pytest.fail(f"CI is set but {CHROMIUM} is missing: the browser tests must run in CI")
        pytest.skip(f"no Chromium at {CHROMIUM}: the browser tests need it")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if IN_CI:
            raise
        pytest.skip("playwright is not installed")
    problems: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(("file://", "data:")):
            r.continue_()
        else:
            problems.append(f"network request: {r.request.url}")
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
            page.route("**/*", route)
            yield page, problems
        finally:
            browser.close()


def _drawn_marks(page: Any, report: Path, charts: tuple[str, ...] = CHARTS) -> dict[str, dict[str, int]]:
    """Open the report, wait until plotly has drawn every chart, and count each chart's marks."""
    page.goto(report.as_uri())
    page.wait_for_function(
        "n => { const d = [...document.querySelectorAll('.js-plotly-plot')];"
        " return d.length === n && d.every(e => e._fullLayout && e.querySelector('.main-svg')); }",
        arg=len(charts), timeout=30_000)
    marks: dict[str, dict[str, int]] = page.evaluate(COUNT_MARKS, list(charts))
    return marks


def _screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.mark.browser
def test_the_report_draws_every_chart_offline_in_a_real_browser(tmp_path: Path) -> None:
    report = _write(build_model_tables(tmp_path / "models.duckdb"), tmp_path, tmp_path / "report.html")
    html = report.read_text(encoding="utf-8")
    assert html.count("<script") == 2 + len(CHARTS)  # PlotlyConfig, plotly.js, one per chart
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=", html), "the page must load nothing"
    from plotly.offline import get_plotlyjs

    assert html.count(get_plotlyjs()[-2000:]) == 1, "plotly.js is inlined exactly once"

    with _browser_page() as (page, problems):
        marks = _drawn_marks(page, report)
        for chart, expected in MARKS.items():
            for kind, count in expected.items():
                if count is None:
                    assert marks[chart][kind] > 0, (chart, kind, marks[chart])
                else:
                    assert marks[chart][kind] == count, (chart, kind, marks[chart])
        assert page.locator(".no-data").count() == 0

        # data text shows as written: markup stays text, no script runs, `$` is no LaTeX, other scripts survive
        table = page.locator("#latest table")
        assert table.locator("td.subject", has_text="<b>Bold</b> & <script>alert('x')</script> offers").count() == 1
        assert table.locator("b, script").count() == 0
        assert table.locator("td.subject", has_text="Ελληνικά: νέα προϊόντα 🇬🇷").count() == 1
        assert table.locator("td.subject", has_text="Last chance 🎉🎉").count() == 1
        ticks = page.locator("#chart-funnel .ytick text").all_text_contents()
        assert any(t.startswith("Save $5 on orders over $50") for t in ticks), ticks
        assert any(t.startswith("<b>Bold</b> & <script>") for t in ticks), ticks
        assert any("عرض خاص لعملائنا" in t for t in ticks), ticks
        rate_ticks = page.locator("#chart-rates .ytick text").all_text_contents()
        # two emailings with the same subject on the same day keep a row each
        assert sum("Weekly digest" in t and "11 May 2025" in t for t in rate_ticks) == 2, rate_ticks
        links = page.locator("#chart-links .ytick text").all_text_contents()
        assert "https://example.com/p?q=<b>&x=1" in links and "system: unsubscribe" in links, links
        places = page.locator("#chart-geography .ytick text").all_text_contents()
        assert "Côte d'Ivoire (CI)" in places and "(4 other countries)" in places, places

        # laid out: nothing wider than the window, no chart title under its legend
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
        assert page.evaluate("[...document.querySelectorAll('.table-wrap')]"
                             ".every(w => w.scrollWidth <= w.clientWidth)")
        assert page.evaluate(OVERLAPS) == []
        shot = _screenshot(page, "report.png")
        assert problems == [], problems
    assert shot.stat().st_size > 50_000


@pytest.mark.browser
def test_an_empty_account_gets_a_page_that_says_so(tmp_path: Path) -> None:
    report = _write(build_model_tables(tmp_path / "models.duckdb", empty=True), tmp_path, tmp_path / "report.html")
    assert report.stat().st_size < 20_000  # no charts, so no plotly.js either
    with _browser_page() as (page, problems):
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        assert "No emailings loaded yet" in page.locator("#empty").inner_text()
        assert page.locator(".js-plotly-plot").count() == 0
        _screenshot(page, "report_empty.png")
        assert problems == [], problems


def test_a_chart_without_data_says_so_and_the_others_still_draw(tmp_path: Path) -> None:
    path = build_model_tables(tmp_path / "models.duckdb")
    with duckdb.connect(str(path)) as con:
        con.execute(f"DELETE FROM {DATASET}.copernica__events WHERE event_type = 'bounce'")
        con.execute(f"UPDATE {DATASET}.copernica__daily SET unsubscribes = 0, complaints = 0")
    html = _write(path, tmp_path, tmp_path / "report.html").read_text(encoding="utf-8")
    for chart in CHARTS:
        section = html.split(f'<section id="{chart}">', 1)[1].split("</section>", 1)[0]
        if chart in ("bounces", "unsubscribes"):
            assert "No data for this chart" in section and "chart-" not in section, chart
        else:
            assert f'id="chart-{chart}"' in section and "No data" not in section, chart


def test_the_report_is_written_owner_only_in_one_step(tmp_path: Path) -> None:
    path = build_model_tables(tmp_path / "models.duckdb")
    out = tmp_path / "out" / "report.html"
    with pytest.raises(ConfigurationError, match=r"no folder .*out for the report"):  # a typo makes no folders
        _write(path, tmp_path, out)
    assert not out.parent.exists()
    out.parent.mkdir()
    written = _write(path, tmp_path, out)
    assert written == out and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temporary file left behind
    out.chmod(0o644)  # made readable for a web server: the next report keeps that
    _write(path, tmp_path, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_missing_models_say_to_run_copernica_models(tmp_path: Path) -> None:
    path = tmp_path / "raw_only.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE SCHEMA {DATASET}")
        con.execute(f"CREATE TABLE {DATASET}.html_emailings (id BIGINT)")
    pipeline = _duckdb_pipeline(path, tmp_path)
    with sql_client_query(pipeline) as query, pytest.raises(ModelsMissingError, match="run `copernica models`"):
        build_report(query, DATASET, timezone=TIMEZONE)


def test_cli_writes_the_report_and_prints_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = build_model_tables(tmp_path / "models.duckdb")
    out = tmp_path / "report.html"
    code = main(["report", "--output", str(out), "--duckdb-file", str(path), "--dataset", DATASET])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.splitlines() == [str(out.resolve())]
    assert "Copernica e-mail report" in out.read_text(encoding="utf-8")
    # read-only: no pipeline folder (state, cursors) of `copernica load` is created or rewritten
    from dlt.common.pipeline import get_dlt_pipelines_dir

    assert not Path(get_dlt_pipelines_dir(), "copernica").exists()


def test_cli_without_models_fails_with_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "raw_only.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(f"CREATE SCHEMA {DATASET}")
        con.execute(f"CREATE TABLE {DATASET}.html_emailings (id BIGINT)")
    out = tmp_path / "report.html"
    code = main(["report", "--output", str(out), "--duckdb-file", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert err.startswith("error: ") and "run `copernica models` first" in err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_cli_without_the_duckdb_file_does_not_create_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nowhere.duckdb"
    code = main(["report", "--duckdb-file", str(missing)])
    err = capsys.readouterr().err
    assert code == 1 and not missing.exists()
    assert "no DuckDB file" in err and "copernica load" in err, err


def test_cli_without_destination_credentials_says_where_they_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if "CREDENTIALS" in n]:
        monkeypatch.delenv(name)
    code = main(["report", "--destination", "postgres", "--output", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 1 and "DESTINATION__POSTGRES__CREDENTIALS" in err and len(err.splitlines()) == 1, err


def test_cli_on_a_duckdb_file_a_load_holds_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = build_model_tables(tmp_path / "models.duckdb")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, sys, time; c = duckdb.connect({str(path)!r}); print('ready', "
                               "flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        code = main(["report", "--duckdb-file", str(path), "--output", str(tmp_path / "r.html")])
    finally:
        holder.communicate("", timeout=30)
    err = capsys.readouterr().err
    assert code == 1 and "cannot read dataset" in err and "lock" in err and len(err.splitlines()) == 1, err


def test_cli_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "copernica report --output report.html" in out


@pytest.mark.postgres
def test_postgres_gives_the_same_report_as_duckdb(
    tmp_path: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The queries are portable: the same model rows in PostgreSQL give the same page, byte for byte."""
    path = build_model_tables(tmp_path / "models.duckdb")
    dataset = f"report_test_{datetime.now().strftime('%H%M%S%f')}"
    _copy_to_postgres(path, postgres_dsn, dataset)
    when = datetime(2025, 7, 10, 9, 0, tzinfo=ZoneInfo(TIMEZONE))
    duck = _duckdb_pipeline(path, tmp_path)
    pg = dlt.pipeline(pipeline_name="copernica_report_pg", destination=dlt.destinations.postgres(postgres_dsn),
                      dataset_name=dataset, pipelines_dir=str(tmp_path / "pipelines"))
    try:
        with sql_client_query(duck) as query:
            want = build_report(query, DATASET, timezone=TIMEZONE, generated_at=when)
        with sql_client_query(pg) as query:
            got = build_report(query, dataset, timezone=TIMEZONE, generated_at=when)
        assert got.replace(dataset, DATASET) == want

        monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", postgres_dsn)
        out = tmp_path / "pg.html"
        code = main(["report", "--destination", "postgres", "--dataset", dataset, "--output", str(out)])
        assert code == 0, capsys.readouterr().err
        assert out.read_text(encoding="utf-8").count("Plotly.newPlot") == len(CHARTS)
    finally:
        with pg.sql_client() as client:
            client.drop_dataset()


PG_TYPES = {"VARCHAR": "text", "BIGINT": "bigint", "DOUBLE": "double precision", "BOOLEAN": "boolean",
            "DATE": "date", "TIMESTAMP WITH TIME ZONE": "timestamptz", "TIMESTAMP": "timestamp"}


def _copy_to_postgres(path: Path, dsn: str, dataset: str) -> None:
    import psycopg2
    from psycopg2.extras import execute_values

    with duckdb.connect(str(path), read_only=True) as duck, psycopg2.connect(dsn) as pg, pg.cursor() as cur:
        cur.execute(f'CREATE SCHEMA "{dataset}"')
        tables = [r[0] for r in duck.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [DATASET]).fetchall()]
        for table in tables:
            columns = duck.execute(f"DESCRIBE {DATASET}.{table}").fetchall()
            cur.execute(f'CREATE TABLE "{dataset}"."{table}" ('
                        + ", ".join(f'"{c[0]}" {PG_TYPES[c[1]]}' for c in columns) + ")")
            rows = duck.execute(f"SELECT * FROM {DATASET}.{table}").fetchall()
            execute_values(cur, f'INSERT INTO "{dataset}"."{table}" VALUES %s', rows, page_size=2000)


@pytest.mark.browser
@pytest.mark.models
@pytest.mark.slow
def test_the_demo_builds_real_models_and_a_report_every_chart_draws(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's demo end to end: the simulator loaded, the dbt models built and tested, the report written
    from them; the real models feed every chart (the fixture tests above pin the exact marks)."""
    monkeypatch.chdir(tmp_path)
    code = main(["load", "--demo", "--demo-events", "2000", "--pipelines-dir", str(tmp_path / "pipelines")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{len(MODELS)} of {len(MODELS)} models built" in out and " 0 failed" in out, out
    report = tmp_path / "copernica_demo_report.html"
    assert f"report: {report.resolve()}" in out
    with _browser_page() as (page, problems):
        marks = _drawn_marks(page, report, WITHOUT_LOGFILES)
        for chart in WITHOUT_LOGFILES:
            for kind in MARKS[chart]:
                assert marks[chart][kind] > 0, (chart, kind, marks[chart])
        # the demo loads no log tables: the one chart without data says where its data comes from
        assert page.locator(".no-data").all_inner_texts() == [page.locator("#geography .no-data").inner_text()]
        hint = page.locator("#geography .no-data")
        assert "copernica load --demo --logfiles html,draganddrop" in hint.locator("code").all_inner_texts()
        assert "`" not in hint.inner_text()  # commands set as code, not as backticks
        assert page.locator("#latest td.subject").count() > 0
        _screenshot(page, "report_demo.png")
        assert problems == [], problems

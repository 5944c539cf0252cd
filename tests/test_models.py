"""The analyst models against ground truth: the simulator's own emailings, destinations and events (read from its
memory, never from the loaded tables), loaded over real HTTP by the real pipeline and built by the real
`build_models` (dlt's dbt runner, dbt in a subprocess), on DuckDB and on PostgreSQL; and `copernica models` as
users run it.

A build is two dbt processes (about ten seconds of one core, most of it dbt starting and parsing), so each
scenario is loaded and built once per session, even when pytest-xdist spreads this module's tests over workers
(see `_scenario`); a scenario's tests then read a snapshot of its models."""

from __future__ import annotations

import csv
import functools
import os
import pickle
import shutil
import subprocess
import sys
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dlt
import duckdb
import pytest

from copernica_source.models import MODELS, PACKAGE_DIR, ModelsOutcome, build_models
from copernica_source.settings import DEFAULT_DATASET
from copernica_source.simulator import Simulator
from tests.helpers import load

pytestmark = [pytest.mark.models, pytest.mark.slow]

TZ = "Europe/Amsterdam"
ZONE = ZoneInfo(TZ)
# Small, but every figure is partial somewhere: 300 sends per emailing get 250 deliveries, about 200 opens and
# 12 bounces each, so delivered, unique opens and bounces are not simply "all". The 40 days end on 2025-11-10
# and so span the end of summer time (2025-10-26): a local day is cut at 22:00 UTC before it, 23:00 after.
SIM = dict(seed=7, events=2000, emailings=8, destinations_per_emailing=300, profiles=400, history_days=40,
           now=datetime(2025, 11, 10))
# an account that sent one emailing and has no event at all
EMPTY_SIM = dict(seed=3, events=0, emailings=1, destinations_per_emailing=5, profiles=10, history_days=10,
                 now=datetime(2025, 11, 10))
PRODUCTS = ("html", "draganddrop")
EVENT_TYPES = {"deliveries": "delivery", "impressions": "open", "clicks": "click", "errors": "bounce",
               "unsubscribes": "unsubscribe", "abuses": "complaint"}
STAT_FIGURES = (  # (name in stats_differences, statistics key, figure computed from the events)
    ("recipients", "destinations", "recipients"), ("unique_opens", "impressions", "unique_opens"),
    ("unique_clicks", "clicks", "unique_clicks"), ("bounces", "errors", "bounced"),
    ("unsubscribes", "unsubscribes", "unsubscribes"), ("complaints", "abuses", "complaints"))


# -- ground truth: computed in Python from the simulator's memory ------------------------------------------------

@functools.cache
def _error_rules() -> dict[str, tuple[str, bool]]:
    """The seed's table (error type -> class, whether the SMTP code decides): the rules, not the SQL that applies
    them."""
    with open(PACKAGE_DIR / "seeds" / "copernica_error_types.csv", newline="") as f:
        return {r["error_type"]: (r["bounce_class"], r["smtp_code_decides"] == "true") for r in csv.DictReader(f)}


def bounce_class(error_type: str | None, code: str | None) -> str:
    """5.x.x is hard and 4.x.x soft where the error type lets the SMTP code decide; the seed's class otherwise."""
    kind, code_decides = _error_rules().get(error_type or "", ("other", True))
    if code_decides and (code or "").startswith("5"):
        return "hard"
    if code_decides and (code or "").startswith("4"):
        return "soft"
    return kind


@dataclass(frozen=True)
class Event:
    product: str
    event_type: str
    event_id: int
    at: datetime  # naive, the account's wall-clock time: what Copernica sends
    emailing_id: int
    destination_id: int
    profile_id: int
    link: str | None
    bounce_class: str | None


@dataclass(frozen=True)
class Send:
    product: str
    destination_id: int
    emailing_id: int
    profile_id: int
    sent_at: datetime  # naive local


@dataclass
class Truth:
    """What the models must say, from the simulator's own data: its event tables and emailing schedule (the same
    objects its HTTP routes render), restricted to what a load with `start`/`end` (naive local) reads."""

    events: list[Event]
    sends: dict[tuple[str, int], Send]
    statistics: dict[tuple[str, int], dict[str, Any]]
    target_database: dict[tuple[str, int], int]
    profiles: dict[int, tuple[int, str, str]]  # profile ID -> (database ID, database name, e-mail)
    emailings: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, sim: Simulator, products: tuple[str, ...] = PRODUCTS, start: datetime | None = None,
           end: datetime | None = None) -> Truth:
        def inside(t: datetime) -> bool:
            return (start is None or t >= start) and (end is None or t < end)

        events: list[Event] = []
        sends: dict[tuple[str, int], Send] = {}
        statistics: dict[tuple[str, int], dict[str, Any]] = {}
        targets: dict[tuple[str, int], int] = {}
        for product in products:
            p = sim.dataset.products[product]
            e = p.emailings
            for j in range(e.count()):
                sent_at = _naive(e.ts(j))
                targets[(product, e.id(j))] = e.target(j)[1]
                if not inside(sent_at):
                    continue
                statistics[(product, e.id(j))] = p.statistics(j, {})
                for d in range(e.dests):
                    internal = e.internal(j, d)
                    sends[(product, internal)] = Send(product, internal, e.id(j), e.profile_of(j, d)[0], sent_at)
            for kind, table in p.tables.items():
                for row in table.rows(range(table.count()), with_profile=True):
                    at = datetime.strptime(row["timestamp"], "%Y-%m-%d %H:%M:%S")
                    if not inside(at):
                        continue
                    events.append(Event(
                        product, EVENT_TYPES[kind], int(row["ID"]), at, int(row["emailing" if p.html else "mailing"]),
                        int(row["destination"]), int(row["profile"]), row.get("link") if kind == "clicks" else None,
                        bounce_class(row["errortype"], row["errorcode"]) if kind == "errors" else None))
        profiles = {}
        for db_id, database in sim.dataset.structure.databases.items():
            for rid in sim.dataset.profiles.live_ids(db_id):
                profiles[rid] = (db_id, database.name, sim.dataset.profiles.value(rid, "email"))
        truth = cls(events, sends, statistics, targets, profiles)
        truth.emailings = truth._emailing_figures()
        return truth

    def _emailing_figures(self) -> dict[tuple[str, int], dict[str, Any]]:
        per_send: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
        worst: dict[tuple[str, int], str] = {}
        emailing_of = {k: s.emailing_id for k, s in self.sends.items()}
        for ev in self.events:
            key = (ev.product, ev.destination_id)
            per_send[key][ev.event_type] += 1
            emailing_of.setdefault(key, ev.emailing_id)  # a send known only from its events
            if ev.bounce_class and ["other", "soft", "hard"].index(ev.bounce_class) >= \
                    ["other", "soft", "hard"].index(worst.get(key, "other")):
                worst[key] = ev.bounce_class
        out: dict[tuple[str, int], dict[str, Any]] = {}
        for key, emailing_id in emailing_of.items():
            f = out.setdefault((key[0], emailing_id), Counter())
            got = per_send[key]
            f["recipients"] += 1
            f["delivered"] += got["delivery"] > 0 and worst.get(key) not in ("hard", "soft")
            f["unique_opens"] += got["open"] > 0
            f["total_opens"] += got["open"]
            f["unique_clicks"] += got["click"] > 0
            f["total_clicks"] += got["click"]
            f["bounced"] += got["bounce"] > 0
            f["unsubscribes"] += got["unsubscribe"] > 0
            f["complaints"] += got["complaint"] > 0
            if got["bounce"]:
                f[{"hard": "hard_bounces", "soft": "soft_bounces", "other": "other_errors"}[worst[key]]] += 1
        figures: dict[tuple[str, int], dict[str, Any]] = {}
        for key, f in out.items():
            row: dict[str, Any] = {name: f[name] for name in (
                "recipients", "delivered", "unique_opens", "total_opens", "unique_clicks", "total_clicks",
                "hard_bounces", "soft_bounces", "other_errors", "unsubscribes", "complaints")}
            stats = self.statistics.get(key)
            if stats is None:
                row["stats_differ"], row["stats_differences"] = None, None
            else:
                wrong = [name for name, stat, mine in STAT_FIGURES if _stat(stats, stat) != f[mine]]
                row["stats_differ"], row["stats_differences"] = bool(wrong), ",".join(wrong) or None
            figures[key] = row
        return figures

    # --- figures the tests ask for ------------------------------------------------------------------------
    def bounces_by_day(self, utc: bool = False) -> dict[tuple[str, date], Counter[str]]:
        """Bounce events per product and day: the account's local day, or (to show the cut matters) the UTC day."""
        out: dict[tuple[str, date], Counter[str]] = defaultdict(Counter)
        for ev in self.events:
            if ev.event_type == "bounce" and ev.bounce_class:
                day = ev.at.replace(tzinfo=ZONE).astimezone(ZoneInfo("UTC")).date() if utc else ev.at.date()
                out[(ev.product, day)][ev.bounce_class] += 1
        return out

    def links(self) -> dict[tuple[str, int, str], tuple[int, int]]:
        """(product, emailing, link) -> (clicks, unique clickers)."""
        clicks: Counter[tuple[str, int, str]] = Counter()
        clickers: dict[tuple[str, int, str], set[int]] = defaultdict(set)
        for ev in self.events:
            if ev.event_type == "click":
                key = (ev.product, ev.emailing_id, ev.link or "")
                clicks[key] += 1
                clickers[key].add(ev.destination_id)
        return {k: (n, len(clickers[k])) for k, n in clicks.items()}


def _naive(seconds: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(seconds=seconds)


def _stat(stats: dict[str, Any], key: str) -> int:
    value = stats[key]
    return int(value["unique"] if isinstance(value, dict) else value)


def _local(ts: datetime) -> datetime:
    """A loaded (UTC) instant as the account's wall-clock time."""
    return ts.astimezone(ZONE).replace(tzinfo=None)


# -- building a scenario once per session ----------------------------------------------------------------------

@dataclass
class Built:
    """One scenario: what the build said, every model's rows, and the truth to hold them against."""

    outcome: ModelsOutcome | None
    models: dict[str, list[dict[str, Any]]]
    truth: Truth
    seconds: dict[str, float] = field(default_factory=dict)
    cli: dict[str, subprocess.CompletedProcess[str]] = field(default_factory=dict)

    def rows(self, model: str, **where: Any) -> list[dict[str, Any]]:
        return [r for r in self.models[model] if all(r[k] == v for k, v in where.items())]

    def one(self, model: str, **where: Any) -> dict[str, Any]:
        found = self.rows(model, **where)
        assert len(found) == 1, f"{model} {where}: {len(found)} rows"
        return found[0]


_BUILT: dict[str, Built] = {}  # without pytest-xdist: the results of this session's builders


def _scenario(name: str, request: pytest.FixtureRequest) -> Built:
    """The scenario's build, once per session. Under pytest-xdist the workers share it: the first to need a
    scenario claims its builder and builds, and the others read its pickle; a worker whose scenario another is
    building meanwhile builds one that this session's tests will need next, so two workers build two scenarios
    side by side instead of one waiting (a build is about fifteen seconds of one core)."""
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    builder = BUILDER_OF[name]
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        if name not in _BUILT:
            _BUILT.update(SCENARIOS[builder](factory.mktemp(builder)))
        return _BUILT[name]
    shared = factory.getbasetemp().parent / "model_scenarios"  # the session's folder, shared by its workers
    shared.mkdir(exist_ok=True)
    wanted = [BUILDER_OF[n] for n in _wanted_scenarios(request.session)]
    while True:
        if (shared / f"{name}.pickle").exists():
            built: Built = pickle.loads((shared / f"{name}.pickle").read_bytes())
            return built
        if (shared / f"{builder}.failed").exists():
            pytest.fail(f"scenario {name} failed to build in another worker:\n"
                        f"{(shared / f'{builder}.failed').read_text()}")
        todo = next((b for b in [builder, *wanted] if _claim(shared, b)), None)
        if todo is None:
            time.sleep(0.2)
            continue
        try:
            results = SCENARIOS[todo](factory.mktemp(todo))
        except BaseException as exc:  # recorded, so that no worker waits for a build that never comes
            (shared / f"{todo}.failed").write_text(traceback.format_exc())
            if todo == builder or not isinstance(exc, Exception):
                raise
            continue
        for done, result in results.items():  # each pickle appears whole: written aside, then renamed
            (shared / f"{done}.tmp").write_bytes(pickle.dumps(result))
            (shared / f"{done}.tmp").rename(shared / f"{done}.pickle")


def _claim(shared: Path, name: str) -> bool:
    try:
        os.close(os.open(shared / f"{name}.claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def _wanted_scenarios(session: pytest.Session) -> list[str]:
    """The scenarios this session's selected tests of this module use, in their order."""
    names: list[str] = []
    for item in session.items:
        if getattr(item, "module", None) is not sys.modules[__name__]:
            continue
        fixtures = getattr(item, "fixturenames", ())
        if "built" in fixtures:
            destination = item.callspec.params["built"]  # type: ignore[attr-defined]
            if destination == "duckdb" or os.environ.get("COPERNICA_TEST_POSTGRES"):
                names.append(f"full_{destination}")
        names += [f for f in fixtures if f in FIXTURE_SCENARIOS]
    return list(dict.fromkeys(names))


@contextmanager
def _dlt_home(folder: Path) -> Iterator[None]:
    """What conftest's per-test isolation does, for a module's build: its own dlt home and working folder, and
    the environment as it was afterwards (dlt's dbt runner leaves the credentials in DLT__CREDENTIALS__*)."""
    saved = dict(os.environ)
    cwd = os.getcwd()
    os.environ.update(DLT_DATA_DIR=str(folder / "dlt_data"), RUNTIME__LOG_LEVEL="WARNING")
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved)


def _pipeline(folder: Path, destination: Any, dataset: str = "copernica") -> dlt.Pipeline:
    return dlt.pipeline(pipeline_name="models_test", destination=destination, dataset_name=dataset,
                        pipelines_dir=str(folder / "pipelines"))


def _read_models(pipeline: dlt.Pipeline) -> dict[str, list[dict[str, Any]]]:
    out = {}
    with pipeline.sql_client() as client:
        for model in MODELS:
            with client.execute_query(f"SELECT * FROM {client.make_qualified_table_name(model)}") as cursor:
                columns = [c[0] for c in cursor.description]
                out[model] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return out


def _drop_datasets(pipeline: dlt.Pipeline) -> None:
    with pipeline.sql_client() as client:
        for schema in (pipeline.dataset_name, f"{pipeline.dataset_name}_staging"):
            client.execute_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _load_and_build(folder: Path, destination: Any, dataset: str = "copernica", sim_settings: dict[str, Any] = SIM,
                    products: tuple[str, ...] = PRODUCTS, start: datetime | None = None,
                    end: datetime | None = None, drop: bool = False) -> Built:
    """Start a simulator, load it over HTTP with the real source, build the models with the real build_models."""
    seconds = {}
    with _dlt_home(folder), Simulator(**sim_settings) as sim:
        pipeline = _pipeline(folder, destination, dataset)
        window = {k: v.strftime("%Y-%m-%d %H:%M:%S") for k, v in (("start_date", start), ("end_date", end)) if v}
        started = time.monotonic()
        load(sim, pipeline, products=list(products), timezone=TZ, **window)
        seconds["load"] = time.monotonic() - started
        started = time.monotonic()
        try:
            outcome = build_models(pipeline, timezone=TZ)
            seconds["build"] = time.monotonic() - started
            models = _read_models(pipeline)
        finally:
            if drop:
                _drop_datasets(pipeline)
        return Built(outcome, models, Truth.of(sim, products, start, end), seconds)


def _postgres_dsn() -> str:
    """As conftest's postgres_dsn fixture, for a module-scoped build: skip without a server, fail under CI."""
    dsn = os.environ.get("COPERNICA_TEST_POSTGRES")
    if not dsn:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but COPERNICA_TEST_POSTGRES is not set: .ci/run must start PostgreSQL")
        pytest.skip("no PostgreSQL server (set COPERNICA_TEST_POSTGRES=postgresql://user@host:port/db)")
    return dsn


def _full_account(destination: str) -> Callable[[Path], dict[str, Built]]:
    def build(folder: Path) -> dict[str, Built]:
        if destination == "duckdb":
            return {"full_duckdb": _load_and_build(folder, dlt.destinations.duckdb(str(folder / "models.duckdb")))}
        dataset = f"copernica_models_{os.getpid()}_{time.time_ns()}"
        return {"full_postgres": _load_and_build(folder, dlt.destinations.postgres(_postgres_dsn()), dataset,
                                                 drop=True)}

    return build


# The html product alone, loaded as a backfill window: emailings go out every five days from 2025-10-01, so
# 1002 (sent 10-11) is before the window (its later events are loaded, it and its sends are not), 1003 (10-16)
# lies wholly inside it and 1004 (10-21) is cut two days after sending (Copernica's statistics count more).
WINDOW = (datetime(2025, 10, 12), datetime(2025, 10, 23))


def _html_window(folder: Path) -> dict[str, Built]:
    return {"html_window": _load_and_build(folder, dlt.destinations.duckdb(str(folder / "models.duckdb")),
                                           products=("html",), start=WINDOW[0], end=WINDOW[1])}


REPO = Path(__file__).resolve().parents[1]
CLI_PIPELINE = "empty_account"


def copernica(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`copernica ARGS` as a user runs it: its own process, in `folder`, settings from the environment only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__COPERNICA__", "DLT__"))}
    env.update(PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]),
               DLT_DATA_DIR=str(folder / "dlt_data"), RUNTIME__LOG_LEVEL="WARNING")
    return subprocess.run([sys.executable, "-m", "copernica_source.cli", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=240)


def _read_duckdb(path: Path, dataset: str) -> dict[str, list[dict[str, Any]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for model in MODELS:
            cursor = con.execute(f"SELECT * FROM {dataset}.{model}")
            columns = [c[0] for c in cursor.description]
            out[model] = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        return out
    finally:
        con.close()


def _empty_accounts_through_the_cli(folder: Path) -> dict[str, Built]:
    """An account that sent one emailing and has no event at all, loaded once; then `copernica models` is run on
    a copy of the file as loaded (empty_account) and on a copy with one raw row duplicated, so that a unique
    test must fail (corrupt_account). Each copy is the loaded file byte for byte, in a folder of its own, so the
    two commands are two first runs, as two loads would give, and they run side by side."""
    loaded = folder / "loaded"
    loaded.mkdir()
    with _dlt_home(loaded), Simulator(**EMPTY_SIM) as sim:
        pipeline = dlt.pipeline(pipeline_name=CLI_PIPELINE,
                                destination=dlt.destinations.duckdb(str(loaded / "copernica.duckdb")),
                                dataset_name=DEFAULT_DATASET, pipelines_dir=str(loaded / "pipelines"))
        load(sim, pipeline, timezone=TZ)
        truth = Truth.of(sim)
    files = {}
    for name in ("empty_account", "corrupt_account"):
        (folder / name).mkdir()
        for part in loaded.glob("copernica.duckdb*"):  # the file, and its write-ahead log if one was left
            shutil.copy2(part, folder / name / part.name)
        files[name] = folder / name / "copernica.duckdb"
    with duckdb.connect(str(files["corrupt_account"])) as con:
        con.execute(f"INSERT INTO {DEFAULT_DATASET}.html_destinations "
                    f"SELECT * FROM {DEFAULT_DATASET}.html_destinations LIMIT 1")

    def models_command(name: str) -> Built:
        db = files[name]
        done = copernica(db.parent, "models", "--duckdb-file", str(db), "--pipeline-name", CLI_PIPELINE)
        models = _read_duckdb(db, DEFAULT_DATASET) if done.returncode == 0 else {}
        return Built(None, models, truth, cli={"models": done})

    with ThreadPoolExecutor(len(files)) as pool:
        return dict(zip(files, pool.map(models_command, files), strict=True))


SCENARIOS: dict[str, Callable[[Path], dict[str, Built]]] = {
    "full_duckdb": _full_account("duckdb"), "full_postgres": _full_account("postgres"),
    "html_window": _html_window, "empty_accounts": _empty_accounts_through_the_cli}
# scenario -> the builder that makes it
BUILDER_OF = {"full_duckdb": "full_duckdb", "full_postgres": "full_postgres", "html_window": "html_window",
              "empty_account": "empty_accounts", "corrupt_account": "empty_accounts"}
FIXTURE_SCENARIOS = ("html_window", "empty_account", "corrupt_account")


@pytest.fixture(scope="module")
def html_window(request: pytest.FixtureRequest) -> Built:
    return _scenario("html_window", request)


@pytest.fixture(scope="module")
def empty_account(request: pytest.FixtureRequest) -> Built:
    return _scenario("empty_account", request)


@pytest.fixture(scope="module")
def corrupt_account(request: pytest.FixtureRequest) -> Built:
    return _scenario("corrupt_account", request)


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def built(request: pytest.FixtureRequest) -> Built:
    """The whole account (both products, two databases) loaded and built on DuckDB, and on PostgreSQL."""
    destination: str = request.param
    if destination == "postgres":
        _postgres_dsn()  # skips (or fails under CI) before anything is started
    return _scenario(f"full_{destination}", request)


# -- the whole account ------------------------------------------------------------------------------------------

def test_models_build_and_their_dbt_tests_pass(built: Built) -> None:
    assert built.outcome is not None
    assert sorted(m.name for m in built.outcome.models) == sorted(MODELS)
    assert all(m.status == "success" for m in built.outcome.models), built.outcome.log[-3000:]
    assert len(built.outcome.tests) > 20
    assert built.outcome.failed_tests == [] and built.outcome.warned_tests == []
    assert built.outcome.ok


def test_emailing_figures_equal_the_simulators_truth(built: Built) -> None:
    truth = built.truth.emailings
    assert len(built.models["copernica__emailings"]) == len(truth) == 2 * SIM["emailings"]
    for (product, emailing_id), want in truth.items():
        row = built.one("copernica__emailings", product=product, emailing_id=emailing_id)
        got = {k: row[k] for k in want}
        assert got == want, (product, emailing_id)


@pytest.mark.parametrize("key", [("html", 1000), ("html", 1003), ("html", 1005), ("draganddrop", 5001),
                                 ("draganddrop", 5006), ("draganddrop", 5007)])
def test_a_specific_emailings_audience_opens_clicks_and_rates(built: Built, key: tuple[str, int]) -> None:
    """Spelled out for a few emailings of both products, the latest (still collecting events) among them."""
    want = built.truth.emailings[key]
    row = built.one("copernica__emailings", product=key[0], emailing_id=key[1])
    assert row["emailing_key"] == f"{key[0]}-{key[1]}"
    assert (row["recipients"], row["delivered"], row["unique_opens"], row["unique_clicks"]) == (
        want["recipients"], want["delivered"], want["unique_opens"], want["unique_clicks"])
    assert row["recipients"] == SIM["destinations_per_emailing"]
    assert 0 < row["unique_clicks"] < row["unique_opens"] and 0 < row["delivered"] < row["recipients"]
    assert row["delivery_rate"] == pytest.approx(want["delivered"] / want["recipients"])
    assert row["open_rate"] == pytest.approx(want["unique_opens"] / want["delivered"])
    assert row["click_rate"] == pytest.approx(want["unique_clicks"] / want["delivered"])
    assert row["click_to_open_rate"] == pytest.approx(want["unique_clicks"] / want["unique_opens"])
    assert row["bounce_rate"] == pytest.approx((want["hard_bounces"] + want["soft_bounces"]) / want["recipients"])
    assert row["unsubscribe_rate"] == pytest.approx(want["unsubscribes"] / want["delivered"])
    assert row["target_database_id"] == built.truth.target_database[key]
    sent = next(s.sent_at for s in built.truth.sends.values() if (s.product, s.emailing_id) == key)
    assert (_local(row["sent_at"]), row["sent_date_local"]) == (sent, sent.date())


def test_some_figures_are_partial_so_the_comparison_means_something(built: Built) -> None:
    rows = built.models["copernica__emailings"]
    assert any(r["delivered"] < r["recipients"] for r in rows)
    assert any(r["hard_bounces"] and r["soft_bounces"] and r["other_errors"] for r in rows)
    assert {r["product"] for r in rows if r["unsubscribes"] and r["complaints"]} == set(PRODUCTS)


def test_statistics_agree_so_stats_differ_is_false(built: Built) -> None:
    for (product, emailing_id), want in built.truth.emailings.items():
        assert want["stats_differ"] is False, "the simulator's statistics should agree with its events"
        row = built.one("copernica__emailings", product=product, emailing_id=emailing_id)
        assert (row["stats_differ"], row["stats_differences"]) == (False, None), (product, emailing_id)
        stats = built.truth.statistics[(product, emailing_id)]
        assert row["stats_unique_opens"] == _stat(stats, "impressions")
        assert row["stats_recipients"] == _stat(stats, "destinations")


def test_hard_and_soft_bounces_of_a_day_cut_at_local_midnight(built: Built) -> None:
    local, utc = built.truth.bounces_by_day(), built.truth.bounces_by_day(utc=True)
    # a day with a bounce between local midnight and the UTC day's end: a UTC cut would count it a day early
    near_midnight = sorted({(ev.product, ev.at.date()) for ev in built.truth.events
                            if ev.event_type == "bounce" and ev.at.hour < 1 and ev.bounce_class in ("hard", "soft")})
    assert near_midnight, "the simulator should have bounces just after local midnight"
    product, day = near_midnight[0]
    assert local[(product, day)] != utc[(product, day)]
    row = built.one("copernica__daily", product=product, day=day)
    assert (row["hard_bounces"], row["soft_bounces"]) == (local[(product, day)]["hard"], local[(product, day)]["soft"])
    # and every day of both products
    got = {(r["product"], r["day"]): (r["hard_bounces"], r["soft_bounces"], r["bounces"])
           for r in built.models["copernica__daily"] if r["bounces"]}
    assert got == {k: (c["hard"], c["soft"], sum(c.values())) for k, c in local.items()}


def test_daily_figures_per_local_day(built: Built) -> None:
    events: dict[tuple[str, date], Counter[str]] = defaultdict(Counter)
    openers: dict[tuple[str, date], set[int]] = defaultdict(set)
    for ev in built.truth.events:
        events[(ev.product, ev.at.date())][ev.event_type] += 1
        if ev.event_type == "open":
            openers[(ev.product, ev.at.date())].add(ev.destination_id)
    sends = Counter((s.product, s.sent_at.date()) for s in built.truth.sends.values())
    got = {(r["product"], r["day"]): r for r in built.models["copernica__daily"]}
    assert set(got) == set(events) | set(sends)
    for key, row in got.items():
        assert row["sends"] == sends[key], key
        assert (row["deliveries"], row["opens"], row["clicks"], row["unsubscribes"], row["complaints"]) == (
            events[key]["delivery"], events[key]["open"], events[key]["click"], events[key]["unsubscribe"],
            events[key]["complaint"]), key
        assert row["unique_openers"] == len(openers[key]), key


def test_events_are_every_simulator_event_at_its_local_time(built: Built) -> None:
    got = {(r["product"], r["event_type"], r["event_id"]): r for r in built.models["copernica__events"]}
    assert len(got) == len(built.models["copernica__events"]) == len(built.truth.events)
    for ev in built.truth.events:
        row = got[(ev.product, ev.event_type, ev.event_id)]
        assert (_local(row["event_at"]), row["event_at_local"]) == (ev.at, ev.at)
        assert (row["emailing_id"], row["destination_id"], row["bounce_class"]) == (
            ev.emailing_id, ev.destination_id, ev.bounce_class)


def test_a_draganddrop_click_gets_the_profile_of_its_destination(built: Built) -> None:
    """Copernica's account-wide drag-and-drop lists carry no profile: the model finds it through the send."""
    clicks = [ev for ev in built.truth.events if ev.product == "draganddrop" and ev.event_type == "click"]
    first = clicks[0]
    row = built.one("copernica__events", product="draganddrop", event_type="click", event_id=first.event_id)
    assert row["profile_id"] == built.truth.sends[("draganddrop", first.destination_id)].profile_id
    assert row["profile_id"] == first.profile_id  # what the simulator's per-destination list would say
    got = {r["event_id"]: r["profile_id"] for r in built.rows("copernica__events", product="draganddrop")
           if r["event_type"] == "click"}
    assert got == {ev.event_id: ev.profile_id for ev in clicks}


def test_recipients_are_every_send_with_its_profile(built: Built) -> None:
    got = {(r["product"], r["destination_id"]): r for r in built.models["copernica__recipients"]}
    assert set(got) == set(built.truth.sends)
    for key, send in built.truth.sends.items():
        row = got[key]
        assert (row["emailing_id"], row["profile_id"], _local(row["sent_at"])) == (
            send.emailing_id, send.profile_id, send.sent_at), key


def test_profiles_has_every_profile_of_every_database(built: Built) -> None:
    got = {r["profile_id"]: (r["database_id"], r["database_name"], r["email"])
           for r in built.models["copernica__profiles"]}
    assert len(got) == len(built.models["copernica__profiles"])
    assert got == built.truth.profiles
    assert {db for db, _, _ in got.values()} == {1, 2}
    received = Counter(s.profile_id for s in built.truth.sends.values())
    assert {r["profile_id"]: r["emails_received"] for r in built.models["copernica__profiles"]} == {
        pid: received[pid] for pid in built.truth.profiles}


def test_links_flag_the_webversion_and_unsubscribe_links(built: Built) -> None:
    want = built.truth.links()
    rows = built.models["copernica__links"]
    assert {(r["product"], r["emailing_id"], r["link"]): (r["clicks"], r["unique_clickers"]) for r in rows} == want
    kinds = {r["link"]: (r["link_kind"], r["is_system_link"]) for r in rows}
    assert kinds["{webversion}"] == ("web_version", True)
    assert kinds["https://www.example.com/unsubscribe"] == ("unsubscribe", True)
    assert {link: kind for link, kind in kinds.items() if kind[1]} == {
        "{webversion}": ("web_version", True), "https://www.example.com/unsubscribe": ("unsubscribe", True)}
    assert {r["product"] for r in rows if r["is_system_link"]} == set(PRODUCTS)


# -- one product, a narrower window: statistics that do not agree -----------------------------------------------

def test_one_product_builds_and_the_other_is_simply_absent(html_window: Built) -> None:
    assert html_window.outcome is not None and html_window.outcome.ok, html_window.outcome.log[-3000:]
    assert sorted(m.name for m in html_window.outcome.models if m.status == "success") == sorted(MODELS)
    for model, rows in html_window.models.items():
        assert {r["product"] for r in rows if "product" in r} <= {"html"}, model
    assert html_window.models["copernica__events"] and html_window.models["copernica__emailings"]


def test_window_figures_equal_the_truth_of_what_was_loaded(html_window: Built) -> None:
    truth = html_window.truth.emailings
    assert set(truth) == {("html", 1002), ("html", 1003), ("html", 1004)}
    for (product, emailing_id), want in truth.items():
        row = html_window.one("copernica__emailings", product=product, emailing_id=emailing_id)
        assert {k: row[k] for k in want} == want, emailing_id


def test_stats_differ_names_the_figures_events_outside_the_window_took(html_window: Built) -> None:
    inside = html_window.one("copernica__emailings", emailing_id=1003)
    assert (inside["stats_differ"], inside["stats_differences"]) == (False, None)
    cut = html_window.one("copernica__emailings", emailing_id=1004)
    want = html_window.truth.emailings[("html", 1004)]
    assert cut["stats_differ"] is True
    assert cut["stats_differences"] == want["stats_differences"]
    assert "unique_opens" in cut["stats_differences"].split(",")  # clicks fill their 60 sends within two days
    assert "recipients" not in cut["stats_differences"]  # every send of 1004 was loaded
    assert cut["stats_unique_opens"] > cut["unique_opens"]


def test_an_emailing_without_statistics_does_not_claim_they_agree(html_window: Built) -> None:
    """1002 was sent before the window: only some of its events were loaded, no statistics; whether they
    differ is unknown (null), as the column's documentation says, not false."""
    before = html_window.one("copernica__emailings", emailing_id=1002)
    assert before["stats_recipients"] is None and before["stats_unique_opens"] is None
    assert before["stats_differ"] is None and before["stats_differences"] is None
    assert before["recipients"] == html_window.truth.emailings[("html", 1002)]["recipients"] > 0
    sends = html_window.rows("copernica__recipients", emailing_id=1002)
    assert sends and all(r["sent_at"] is None for r in sends)


# -- an account without events, and `copernica models` as users run it ------------------------------------------

def test_models_command_prints_a_line_per_model_and_the_test_tally(empty_account: Built) -> None:
    done = empty_account.cli["models"]
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for model in MODELS:
        assert sum(1 for line in lines if line.split()[:2] == [model, "built"]) == 1, model
    tally = [line for line in lines if line.startswith("tests: ")]
    assert len(tally) == 1 and tally[0].endswith(" passed, 0 warned, 0 failed"), done.stdout
    assert int(tally[0].split()[1]) > 20
    assert f"{len(MODELS)} of {len(MODELS)} models built" in done.stdout
    assert "Traceback" not in done.stderr


def test_an_account_without_events_builds_empty_models(empty_account: Built) -> None:
    models, truth = empty_account.models, empty_account.truth
    assert not truth.events
    assert models["copernica__events"] == [] and models["copernica__links"] == []
    assert {(r["product"], r["destination_id"]) for r in models["copernica__recipients"]} == set(truth.sends)
    assert all(not r["delivered"] and r["opens"] == 0 for r in models["copernica__recipients"])
    emailings = models["copernica__emailings"]
    assert sorted(r["product"] for r in emailings) == sorted(PRODUCTS)
    for row in emailings:
        assert row["recipients"] == EMPTY_SIM["destinations_per_emailing"]
        assert row["delivered"] == row["unique_opens"] == row["unique_clicks"] == 0
        assert row["open_rate"] is None and row["delivery_rate"] == 0
        assert row["stats_differ"] is False
    assert {r["product"]: r["sends"] for r in models["copernica__daily"]} == {
        p: EMPTY_SIM["destinations_per_emailing"] for p in PRODUCTS}
    assert {r["profile_id"]: (r["database_id"], r["database_name"], r["email"])
            for r in models["copernica__profiles"]} == truth.profiles


def test_a_failing_dbt_test_exits_1_and_is_named_on_stderr(corrupt_account: Built) -> None:
    """One html send duplicated in the raw table: copernica__recipients gets its key twice."""
    done = corrupt_account.cli["models"]
    assert done.returncode == 1, done.stdout + done.stderr
    assert "fail: unique_copernica__recipients_recipient_key" in done.stderr
    assert any(line.startswith("tests: ") and line.endswith(" 1 failed") for line in done.stdout.splitlines())
    assert all(any(line.split()[:2] == [m, "built"] for line in done.stdout.splitlines()) for m in MODELS)
    assert "Traceback" not in done.stderr


def test_models_on_a_duckdb_file_that_was_never_loaded_say_so(tmp_path: Path) -> None:
    missing = tmp_path / "typo.duckdb"
    done = copernica(tmp_path, "models", "--duckdb-file", str(missing))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert str(missing) in done.stderr and "copernica load" in done.stderr
    assert not missing.exists(), "a mistyped path must not leave an empty database behind"


def test_models_on_a_dataset_without_raw_tables_say_so(tmp_path: Path) -> None:
    other = tmp_path / "other.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE SCHEMA copernica_data; CREATE TABLE copernica_data.unrelated (x INTEGER)")
    done = copernica(tmp_path, "models", "--duckdb-file", str(other))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "copernica_data" in done.stderr and "copernica load" in done.stderr
    assert "models built" not in done.stdout

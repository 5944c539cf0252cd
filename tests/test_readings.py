"""Right whichever way the pages' open questions resolve (docs/assumptions.md): every public entry point against
the simulator serving each reading (its `quirks` switches), asserting the tables and the writes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from copernica_source.cli import main
from copernica_source.client import CopernicaClient
from copernica_source.push import read_results
from copernica_source.tables import STRUCTURE_TABLES
from tests.helpers import SMALL, connection, load, make_pipeline, query, table_ids
from tests.test_data_requests import FAST, posts, profile_ids
from tests.test_engagement import DATA, LIST_TABLES, assert_matches_simulator
from tests.test_profiles import ALL_TABLES, PEOPLE, assert_equals_account, truth
from tests.test_push_profiles import DOMAIN, field_names, make_rows, write_csv

ENGAGEMENT = [f"{p}_{s.name}" for p, s in LIST_TABLES] + ["html_emailing_statistics", "draganddrop_emailing_statistics"]
ENGAGEMENT_KINDS = ("clicks", "deliveries", "impressions", "errors", "unsubscribes", "abuses")
READINGS = ["literal", "lenient", "strict"]


def _connect_commands(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads its connection from the environment, as a scheduled job would."""
    for key, value in connection(sim).items():
        monkeypatch.setenv(f"SOURCES__COPERNICA__{key.upper()}", value)


def _html_reads(sim: Any, kind: str) -> list[Any]:
    return [r for r in sim.requests if r.path.endswith(f"/html/{kind}") and "start" in r.query]


# -- engagement: keyset or timestamps, emailing order, window bounds, echoed limits, missing totals --------------
@pytest.mark.parametrize("quirks", READINGS + [
    "html_id_filter=none", "emailings_order=desc", "window_bounds=exclusive", "unpaged_limit=ignored",
    "total=never", "total=always",
])
def test_engagement_equals_the_account_first_and_incremental(
    quirks: str, tmp_path: Path, copernica_simulator_factory: Any
) -> None:
    sim = copernica_simulator_factory(**DATA, quirks=quirks)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=ENGAGEMENT)
    assert_matches_simulator(sim, pipeline)  # no history missed, whatever order emailings come in

    sim.advance(days=2)  # new events, late ones, new emailings
    sim.clear_logs()
    load(sim, pipeline, resources=ENGAGEMENT)
    assert_matches_simulator(sim, pipeline)  # nothing new missed, nothing duplicated (ids are primary keys)
    for product, spec in LIST_TABLES:
        table = f"{product}_{spec.name}"
        (rows, distinct), = query(pipeline, f"SELECT count(*), count(DISTINCT {spec.primary_key[0]}) "
                                            f"FROM copernica.{table}")
        assert rows == distinct, table
    ignores_id = {"documented": {"clicks", "errors", "unsubscribes", "abuses"}, "none": set(ENGAGEMENT_KINDS),
                  "all": set()}[sim.quirks.html_id_filter]
    for kind in ENGAGEMENT_KINDS:  # the incremental run reads the way the list allows
        conditions = [v for r in _html_reads(sim, kind) for v in r.query.get("fields[]", [])]
        if kind in ignores_id:
            assert any(v.startswith("timestamp>=") for v in conditions), kind
        else:
            assert conditions and all(v.startswith("id>") for v in conditions), kind



def test_a_list_that_ignores_both_filters_stops_with_a_clear_error(
    tmp_path: Path, copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The one reading with no safe incremental path: fail before any cursor moves, saying what was seen."""
    sim = copernica_simulator_factory(**SMALL, quirks="html_id_filter=none")
    from copernica_source.simulator import events as sim_events

    monkeypatch.setattr(sim_events.EventTable, "select", _ignore_conditions(sim_events.EventTable.select))
    _connect_commands(sim, monkeypatch)
    code = main(["load", "--resources", "html_clicks", "--duckdb-file", str(tmp_path / "x.duckdb"),
                 "--pipelines-dir", str(tmp_path / "p")])
    assert code == 1
    assert "ignores both fields[]=id>N and fields[]=timestamp>T" in capsys.readouterr().err


def _ignore_conditions(select: Any) -> Any:
    def without(self: Any, seq: Any, conds: Any, n: int) -> Any:
        return select(self, seq, [], n)
    return without


# -- profiles: paged ID lists, a real field named `modified`, missing totals ---------------------------------
@pytest.mark.parametrize("quirks", ["literal", "lenient", "ids_paging=whole", "modified_field=present",
                                    "total=never", "strict,ids_paging=paged"])
def test_profiles_equal_the_account_and_deletions_follow(
    quirks: str, tmp_path: Path, copernica_simulator_factory: Any
) -> None:
    sim = copernica_simulator_factory(**SMALL, quirks=quirks)
    pipeline = make_pipeline(tmp_path)
    # page_size 100: the ID lists (300 profiles) take several pages, as a live database of thousands would
    load(sim, pipeline, resources=PEOPLE, page_size=100)
    assert_equals_account(sim, pipeline)
    sim.advance(days=3)  # profiles modified, created and deleted
    load(sim, pipeline, resources=PEOPLE, page_size=100)
    assert_equals_account(sim, pipeline)  # deleted ones are gone, modified ones current, new ones there
    if sim.quirks.modified_field == "present":  # a field named `modified` exists and is loaded as a field
        assert "fields__modified" in dict(query(pipeline, "SELECT column_name, 1 FROM information_schema.columns "
                                                          "WHERE table_name = 'profiles_customers'"))


def test_an_id_list_that_ignores_start_deletes_nothing_and_says_so(
    tmp_path: Path, copernica_simulator_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sim = copernica_simulator_factory(**SMALL, quirks="ids_paging=first_page")
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=PEOPLE, page_size=100)
    before = {t: set(table_ids(pipeline, t)) for t in ALL_TABLES}
    sim.advance(days=3)
    with caplog.at_level(logging.WARNING, logger="copernica_source"):
        load(sim, pipeline, resources=PEOPLE, page_size=100)
    gone_somewhere = False
    for table, path in ALL_TABLES.items():
        live = truth(sim, path)
        have = set(table_ids(pipeline, table))
        assert set(live) <= have, table  # every live row is there
        assert have - set(live) <= before[table], table  # extra rows are only ones deleted in Copernica...
        gone_somewhere |= bool(have - set(live))
    assert gone_somewhere  # ...kept, because a list that ignores start cannot prove them gone
    assert "deletions not reconciled this run" in caplog.text


# -- the deletion guard --------------------------------------------------------------------------------------
def _delete_profiles(sim: Any, ids: list[int]) -> None:
    with CopernicaClient(sim.access_token, sim.base_url, auth_url=sim.auth_url) as client:
        for rid in ids:
            client.request("DELETE", f"profile/{rid}")


def _cli_load(tmp_path: Path, sim: Any, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    _connect_commands(sim, monkeypatch)
    return main(["load", "--resources", "profiles", "--duckdb-file", str(tmp_path / "guard.duckdb"),
                 "--dataset", "copernica", "--pipelines-dir", str(tmp_path / "pipelines"), *extra])


def _profile_count(tmp_path: Path) -> int:
    import duckdb

    con = duckdb.connect(str(tmp_path / "guard.duckdb"), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM copernica.profiles_customers").fetchone()[0])  # type: ignore[index]
    finally:
        con.close()


def _loaded_then_deleted(
    tmp_path: Path, factory: Any, monkeypatch: pytest.MonkeyPatch, how_many: Any
) -> tuple[Any, list[int]]:
    """A first `copernica load --resources profiles`, then the first `how_many(ids)` profiles of database 1 deleted
    in Copernica; returns the simulator and the IDs the database had."""
    sim = factory(**SMALL)
    assert _cli_load(tmp_path, sim, monkeypatch) == 0
    ids = sorted(truth(sim, "database/1/profiles"))
    _delete_profiles(sim, ids[: how_many(ids)])
    return sim, ids


def test_a_mass_delete_is_held_back_with_one_line_and_a_setting_lets_it_go(
    tmp_path: Path, copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim, ids = _loaded_then_deleted(tmp_path, copernica_simulator_factory, monkeypatch, lambda ids: len(ids) // 2)
    capsys.readouterr()

    assert _cli_load(tmp_path, sim, monkeypatch) == 0
    out = capsys.readouterr().out
    assert _profile_count(tmp_path) == len(ids)  # nothing deleted
    last = out.strip().splitlines()[-1]
    assert last.startswith("held back: profiles_customers:") and f"{len(ids) // 2:,} of {len(ids):,}" in last
    assert "max_deletion_share" in last and "MAX_DELETION_SHARE" in last

    monkeypatch.setenv("SOURCES__COPERNICA__MAX_DELETION_SHARE", "1")
    assert _cli_load(tmp_path, sim, monkeypatch) == 0
    assert "held back" not in capsys.readouterr().out
    assert _profile_count(tmp_path) == len(ids) - len(ids) // 2  # now they go


def test_a_small_delete_is_applied(
    tmp_path: Path, copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim, ids = _loaded_then_deleted(tmp_path, copernica_simulator_factory, monkeypatch, lambda ids: 3)
    assert _cli_load(tmp_path, sim, monkeypatch) == 0
    assert "held back" not in capsys.readouterr().out
    assert _profile_count(tmp_path) == len(ids) - 3


# -- structure: undocumented GETs, embedded rule conditions --------------------------------------------------
@pytest.mark.parametrize("quirks", ["literal", "lenient", "database_views=all"])
def test_structure_loads_whether_or_not_undocumented_lists_answer(
    quirks: str, tmp_path: Path, copernica_simulator_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sim = copernica_simulator_factory(**SMALL, quirks=quirks)
    pipeline = make_pipeline(tmp_path)
    with caplog.at_level(logging.WARNING, logger="copernica_source"):
        load(sim, pipeline, resources=[s.name for s in STRUCTURE_TABLES])
    rows = sim.dataset.rows
    views = [int(v["ID"]) for d in rows("databases") for v in rows(f"database/{d['ID']}/views")]
    conditions = sorted(int(c["ID"]) for v in views for r in rows(f"view/{v}/rules")
                        for c in r["conditions"]["data"])
    assert conditions and set(conditions) <= set(table_ids(pipeline, "view_rule_conditions"))
    rules = dict(query(pipeline, "SELECT id, rule FROM copernica.view_rule_conditions"))
    assert all(rules[c] is not None for c in conditions)
    # every selection once, nested ones included, whether the database's list names them or only their parent
    every_view = sorted(int(v["ID"]) for d in rows("databases") for v in rows(f"database/{d['ID']}/views")
                        if sim.quirks.database_views == "all")
    assert table_ids(pipeline, "views") == (every_view or table_ids(pipeline, "views"))
    (count, distinct), = query(pipeline, "SELECT count(*), count(DISTINCT id) FROM copernica.views")
    assert count == distinct and 303 in table_ids(pipeline, "views")
    if sim.quirks.undocumented_gets == "present":
        assert table_ids(pipeline, "webhooks")
    else:
        assert "webhooks: skipped" in caplog.text
        assert not any(r.path.endswith("/conditions") for r in sim.requests)


# -- writes: created or updated, whatever headers and status say ---------------------------------------------
@pytest.mark.parametrize("quirks", ["literal", "lenient", "put_status=303", "strict"])
def test_upsert_reports_created_and_updated_rows_rightly(
    quirks: str, tmp_path: Path, copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = copernica_simulator_factory(events=200, emailings=2, destinations_per_emailing=5, profiles=50,
                                      quirks=quirks)
    _connect_commands(sim, monkeypatch)
    email = field_names(sim)["email"]
    first = write_csv(tmp_path / "a.csv", make_rows(sim, 3))
    assert main(["push-profiles", "--pipelines-dir", str(tmp_path / "p1"), "--input", str(first),
                 "--database", "1", "--key", email, "--results", str(tmp_path / "a.results.csv")]) == 0
    both = write_csv(tmp_path / "b.csv", make_rows(sim, 5, suffix=" again"))  # 3 existing keys, 2 new
    assert main(["push-profiles", "--pipelines-dir", str(tmp_path / "p2"), "--input", str(both),
                 "--database", "1", "--key", email, "--results", str(tmp_path / "b.results.csv")]) == 0
    got = {r["key"]: r["action"] for r in read_results(str(tmp_path / "b.results.csv")).to_pylist()}
    assert got == {**{f"user{i}@{DOMAIN}": "updated" for i in range(3)},
                   **{f"user{i}@{DOMAIN}": "created" for i in (3, 4)}}
    created_ids = {r["profile_id"] for r in read_results(str(tmp_path / "a.results.csv")).to_pylist()}
    assert None not in created_ids and len(created_ids) == 3


@pytest.mark.parametrize("quirks", ["errors=generic", "errors=entity"])
def test_not_found_is_recognised_in_either_wording(
    quirks: str, tmp_path: Path, copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = copernica_simulator_factory(events=200, emailings=2, destinations_per_emailing=5, profiles=50,
                                      quirks=quirks)
    _connect_commands(sim, monkeypatch)
    src = write_csv(tmp_path / "a.csv", make_rows(sim, 1))
    code = main(["push-profiles", "--pipelines-dir", str(tmp_path / "p"), "--input", str(src), "--database", "999",
                 "--key", field_names(sim)["email"]])
    assert code != 0 and "has no database '999'" in capsys.readouterr().err
    from copernica_source.datarequests import request_data

    [outcome] = request_data(["profile:99999999"], pipeline=make_pipeline(tmp_path), poll_interval=FAST,
                             timeout=5, **connection(sim))
    assert outcome.status == "not_found", outcome.message


# -- auth: an expired JWT answered 400 or 401 -----------------------------------------------------------------
@pytest.mark.parametrize("quirks", ["expired_jwt=400", "expired_jwt=401"])
def test_a_rejected_jwt_is_refreshed_once(quirks: str, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(events=100, emailings=1, destinations_per_emailing=2, profiles=10,
                                      quirks=quirks)
    with CopernicaClient(sim.access_token, sim.base_url, auth_url=sim.auth_url) as client:
        assert client.get("identity")
        client._jwt = "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjQxMDI0NDQ4MDB9.c2lnbmF0dXJl"  # a JWT the server never issued
        assert client.get("databases")  # refreshed once, then answered
    exchanges = [r for r in sim.requests if r.path.endswith("/authenticate")]
    assert len(exchanges) == 2


# -- data requests: the POST's body, and never sent twice ----------------------------------------------------
@pytest.mark.parametrize("quirks", ["datarequest_post_body=json", "datarequest_post_body=empty",
                                    "datarequest_post_body=text"])
def test_data_request_id_comes_from_the_header_whatever_the_body(
    quirks: str, tmp_path: Path, copernica_simulator_factory: Any
) -> None:
    sim = copernica_simulator_factory(seed=5, events=200, emailings=2, destinations_per_emailing=10, profiles=120,
                                      history_days=30, datarequest_delay_s=0.2, quirks=quirks)
    from copernica_source.datarequests import request_data

    subjects = [f"profile:{p}" for p in profile_ids(sim, 2)]
    outcomes = request_data(subjects, pipeline=make_pipeline(tmp_path), poll_interval=FAST, timeout=20,
                            **connection(sim))
    assert [o.status for o in outcomes] == ["delivered", "delivered"], [o.message for o in outcomes]
    assert len(posts(sim)) == 2  # one POST per subject, never repeated


def test_a_lost_data_request_answer_is_not_sent_again(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(seed=5, events=200, emailings=2, destinations_per_emailing=10, profiles=120,
                                      history_days=30, datarequest_delay_s=0.2)
    from copernica_source.datarequests import request_data

    sim.set_faults(1.0, ["drop"])  # the request reaches the data, its answer is lost
    # v1 sends the token in the URL: the POST is the first request, no JWT exchange to drop before it
    [outcome] = request_data([f"profile:{profile_ids(sim, 1)[0]}"], pipeline=make_pipeline(tmp_path),
                             poll_interval=FAST, timeout=5, api_version=1, **connection(sim))
    sim.set_faults(0.0)
    assert outcome.status == "failed" and "not sent again" in outcome.message
    assert len(posts(sim)) == 1


# -- api_version 1 --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("quirks", ["v1_engagement=absent", "v1_engagement=present"])
def test_api_v1_loads_structure_and_profiles_and_says_why_no_engagement(
    quirks: str, tmp_path: Path, copernica_simulator_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    sim = copernica_simulator_factory(**SMALL, quirks=quirks)
    pipeline = make_pipeline(tmp_path)
    with caplog.at_level(logging.WARNING, logger="copernica_source"):
        load(sim, pipeline, api_version=1)
    assert "api_version 1 has no emailing or event lists" in caplog.text
    assert table_ids(pipeline, "databases") and table_ids(pipeline, "profiles_customers")
    assert not [t for t in pipeline.default_schema.data_table_names() if t.startswith(("html_", "draganddrop_"))]


def test_a_push_whose_selector_copernica_ignores_writes_nothing(
    tmp_path: Path, copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Copernica ignores a selector it cannot use; a PUT with it would update every profile. Checked first."""
    sim = copernica_simulator_factory(events=200, emailings=2, destinations_per_emailing=5, profiles=50)
    _connect_commands(sim, monkeypatch)
    store = type(sim.dataset.account.profiles)
    monkeypatch.setattr(store, "usable", lambda self, owner, conds: [])  # every selector ignored
    src = write_csv(tmp_path / "a.csv", make_rows(sim, 3))
    code = main(["push-profiles", "--pipelines-dir", str(tmp_path / "p"), "--input", str(src), "--database", "1",
                 "--key", field_names(sim)["email"]])
    assert code != 0
    assert "ignores the selector" in capsys.readouterr().err
    assert not [w for w in sim.writes if w.method in ("PUT", "POST")]


def test_api_v1_push_refuses_an_interests_column_it_could_not_send(
    tmp_path: Path, copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = copernica_simulator_factory(events=200, emailings=2, destinations_per_emailing=5, profiles=50)
    _connect_commands(sim, monkeypatch)
    monkeypatch.setenv("SOURCES__COPERNICA__API_VERSION", "1")
    email = field_names(sim)["email"]
    src = write_csv(tmp_path / "a.csv", [{email: f"fan@{DOMAIN}", "hobbies": "tennis"}])
    code = main(["push-profiles", "--pipelines-dir", str(tmp_path / "p"), "--input", str(src), "--database", "1",
                 "--key", email, "--interests", "hobbies"])
    assert code != 0 and "api_version 1 writes a flat field map and no interests" in capsys.readouterr().err
    assert not [w for w in sim.writes if w.method in ("PUT", "POST")]

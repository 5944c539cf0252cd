"""Profiles and subprofiles end to end: the simulator over HTTP -> copernica_source -> real DuckDB."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import copernica_source.engine as engine_module
from copernica_source.profiles import decode_ids, encode_ids
from copernica_source.settings import make_client
from tests.helpers import SMALL, duckdb_path, duckdb_types, load, make_pipeline, query, table_ids

PROFILE_TABLES = {"profiles_customers": "database/1/profiles", "profiles_partners": "database/2/profiles"}
SUBPROFILE_TABLES = {"subprofiles_customers_orders": "collection/101/subprofiles",
                     "subprofiles_customers_preferences": "collection/102/subprofiles",
                     "subprofiles_partners_tickets": "collection/201/subprofiles"}
ALL_TABLES = {**PROFILE_TABLES, **SUBPROFILE_TABLES}
PEOPLE = ["profiles", "subprofiles"]
AMS = ZoneInfo("Europe/Amsterdam")


def truth(sim: Any, path: str) -> dict[int, dict[str, Any]]:
    return {int(r["ID"]): r for r in sim.dataset.rows(path)}


def local(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=AMS)


def same_time(loaded: datetime | None, text: str) -> bool:
    """The loaded instant is Copernica's naive local time; a time inside the spring-forward gap (it does not exist
    in Amsterdam) is loaded by arrow_rows as the first instant after the gap, so only its existence is checked."""
    naive = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    in_gap = local(text).astimezone(ZoneInfo("UTC")).astimezone(AMS).replace(tzinfo=None) != naive
    return loaded is not None if in_gap else loaded == local(text)


def assert_equals_account(sim: Any, pipeline: Any, deleted_column: bool = False) -> None:
    """Every (sub)profile table holds exactly the live rows, each with its current `modified`."""
    for table, path in ALL_TABLES.items():
        want = truth(sim, path)
        where = " WHERE NOT deleted" if deleted_column else ""
        got = dict(query(pipeline, f"SELECT id, modified FROM copernica.{table}{where}"))
        assert sorted(got) == sorted(want), table
        assert all(same_time(got[i], want[i]["modified"]) for i in want), table
        (rows, distinct), = query(pipeline, f"SELECT count(*), count(DISTINCT id) FROM copernica.{table}")
        assert rows == distinct, table


def test_full_load_equals_the_account_with_types_from_field_definitions(
    tmp_path: Path, copernica_simulator_factory: Any
) -> None:
    sim = copernica_simulator_factory(**SMALL)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=PEOPLE)
    assert_equals_account(sim, pipeline)

    types = duckdb_types(duckdb_path(pipeline), "profiles_customers")
    assert types["id"] == types["customerid"] == types["age"] == types["account"] == "BIGINT"  # integer, foreign_key
    assert types["score"] == "DOUBLE" and types["birthdate"] == types["last_order"] == "DATE"
    assert types["signup"] == types["last_login"] == types["modified"] == "TIMESTAMP WITH TIME ZONE"
    assert types["email"] == types["country"] == types["notes"] == types["mobile"] == "VARCHAR"
    assert types["interests__tennis"] == types["deleted"] == "BOOLEAN"
    assert "interests" not in types and "fields" not in types
    sub = duckdb_types(duckdb_path(pipeline), "subprofiles_customers_orders")
    assert sub["amount"] == "DOUBLE" and sub["order_number"] == sub["profile"] == "BIGINT"
    assert sub["order_date"] == "TIMESTAMP WITH TIME ZONE"

    # value by value, against the API's rows: empty values are nulls, never empty strings
    columns = "id, email, customerid, age, score, birthdate, last_order, last_login, mobile, interests__soccer, " \
              "interests__cooking, created, secret, database"
    rows = {r[0]: r for r in query(pipeline, f"SELECT {columns} FROM copernica.profiles_customers")}
    api = truth(sim, "database/1/profiles")
    for pid, p in api.items():
        f = p["fields"]
        (_, email, customerid, age, score, birthdate, last_order, last_login, mobile, soccer, cooking, created,
         secret, db) = rows[pid]
        assert (email, customerid, secret, db) == (f["email"], int(f["customerid"]), p["secret"], 1)
        assert age == (int(f["age"]) if f["age"] else None)
        assert score == float(f["score"]) and birthdate == date.fromisoformat(f["birthdate"])
        assert last_order == (date.fromisoformat(f["last_order"]) if f["last_order"] else None)
        assert same_time(last_login, f["last_login"]) if f["last_login"] else last_login is None
        assert mobile == (f["mobile"] or None)
        assert (soccer, cooking) == ("soccer" in p["interests"], "cooking" in p["interests"])
        assert same_time(created, p["created"])
    assert any(r[3] is None for r in rows.values()) and any(r[7] is None for r in rows.values())
    empty = "SELECT count(*) FROM copernica.profiles_customers WHERE notes = '' OR mobile = ''"
    assert query(pipeline, empty) == [(0,)]



def test_a_demo_load_reads_removed_false_as_null_without_unreadable_value_warnings(
    tmp_path: Path, copernica_simulator_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Copernica sends `removed: false` for every live (sub)profile (A26): a normal load has nothing it could not
    read, so no "loaded as null" warning appears, and `removed` is null in every row."""
    sim = copernica_simulator_factory(**SMALL)
    assert all(r["removed"] is False for path in ALL_TABLES.values() for r in truth(sim, path).values())
    pipeline = make_pipeline(tmp_path)
    with caplog.at_level(logging.WARNING, logger="copernica_source"):
        load(sim, pipeline, resources=PEOPLE)
    assert [r.getMessage() for r in caplog.records if "loaded as null" in r.getMessage()] == []
    for table in ALL_TABLES:
        (rows, removed), = query(pipeline, f"SELECT count(*), count(removed) FROM copernica.{table}")
        assert rows and removed == 0, table


@pytest.mark.parametrize("deletions", ["delete", "mark"])
def test_incremental_run_reflects_modified_created_and_deleted_profiles(
    tmp_path: Path, copernica_simulator_factory: Any, deletions: str
) -> None:
    sim = copernica_simulator_factory(**SMALL)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=PEOPLE, deletions=deletions)
    before = set(table_ids(pipeline, "profiles_customers"))

    sim.advance(days=3)  # ~3% of profiles modified, some created, some deleted (with their subprofiles)
    sim.clear_logs()
    load(sim, pipeline, resources=PEOPLE, deletions=deletions)

    live = truth(sim, "database/1/profiles")
    gone, created = before - set(live), set(live) - before
    assert gone and created  # the churn really deleted and created profiles
    assert_equals_account(sim, pipeline, deleted_column=deletions == "mark")
    cities = dict(query(pipeline, "SELECT id, city FROM copernica.profiles_customers WHERE NOT deleted"))
    assert all(cities[i] == (p["fields"]["city"] or None) for i, p in live.items())
    marked = {r[0] for r in query(pipeline, "SELECT id FROM copernica.profiles_customers WHERE deleted")}
    if deletions == "mark":
        assert marked == gone  # kept, flagged, the rest of the row empty (as Copernica empties removed profiles)
        assert query(pipeline, "SELECT count(email) FROM copernica.profiles_customers WHERE deleted") == [(0,)]
        assert query(pipeline, "SELECT DISTINCT database FROM copernica.profiles_customers WHERE deleted") == [(1,)]
    else:
        assert not marked and not gone & set(table_ids(pipeline, "profiles_customers"))

    # an incremental run reads only what changed: every page asks for modified>=..., no full re-read
    reads = [r for r in sim.requests if (r.path.endswith("/profiles") or r.path.endswith("/subprofiles"))
             and r.query.get("limit") != ["1"]]  # the probes: newest modified, and the list's total twice
    assert reads and all(any(v.startswith("modified>=") for v in r.query.get("fields[]", [])) for r in reads)
    assert len(reads) <= 2 * len(ALL_TABLES)  # one range and the follow-up per table

    load(sim, pipeline, resources=PEOPLE, deletions=deletions)  # a third run with nothing new changes nothing
    assert_equals_account(sim, pipeline, deleted_column=deletions == "mark")
    # it re-reads only the rows at the cursor boundary (the overlap), not the table
    assert pipeline.last_trace.last_normalize_info.row_counts.get("profiles_customers", 0) < len(live) / 10


def _write_during_read(sim: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Once the full read of database 1 has handed over two pages, change profiles through the API's write
    endpoints: some already read, some not yet requested. Returns the IDs touched."""
    client = make_client(sim.access_token, sim.base_url, 4, sim.auth_url)
    real_run = engine_module.run
    touched: dict[str, int] = {}

    def run(reader: Any, plan: Any, via: Any) -> Iterator[Any]:
        read: list[int] = []
        for page in real_run(reader, plan, via):
            yield page
            task = page.task
            if task.path != "database/1/profiles" or any("modified" in str(v) for _, v in task.params) or touched:
                continue
            read += page.table.column("id").to_pylist() if page.table is not None else []
            if len(read) < 2 * reader.page_size:
                continue
            unread = sorted(truth(sim, "database/1/profiles"))[-6:]
            touched.update(read_modified=read[3], read_deleted=read[4], unread_modified=unread[0],
                           unread_deleted=unread[1])
            client.request("PUT", f"profile/{read[3]}/fields", json={"city": "Changed while read"})
            client.request("PUT", f"profile/{unread[0]}/fields", json={"city": "Changed before read"})
            client.request("DELETE", f"profile/{read[4]}")
            client.request("DELETE", f"profile/{unread[1]}")
            answer = client.request("POST", "database/1/profiles", json={"fields": {"email": "new@example.com"}})
            touched["created"] = int(answer.headers["X-Created"])

    monkeypatch.setattr(engine_module, "run", run)  # the scheduler behind every Reader.read
    return touched


def test_profiles_changed_during_a_full_load_are_neither_lost_nor_duplicated(
    tmp_path: Path, copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = copernica_simulator_factory(**dict(SMALL, profiles=600))
    touched = _write_during_read(sim, monkeypatch)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=["profiles"], page_size=100, max_concurrency=2)
    assert touched, "the writes did not happen during the read"

    live = truth(sim, "database/1/profiles")
    ids = table_ids(pipeline, "profiles_customers")
    assert len(ids) == len(set(ids))  # nothing twice, though changed rows were read twice
    # every live profile is there, with its newest values: also the one created and those changed mid-read;
    # the one deleted after it was read is still there until the next run sees it is gone
    assert set(ids) == set(live) | {touched["read_deleted"]}
    cities = dict(query(pipeline, "SELECT id, city FROM copernica.profiles_customers"))
    assert cities[touched["read_modified"]] == "Changed while read"
    assert cities[touched["unread_modified"]] == "Changed before read"
    assert touched["created"] in ids and touched["unread_deleted"] not in ids

    monkeypatch.undo()
    load(sim, pipeline, resources=["profiles"], page_size=100, max_concurrency=2)
    assert table_ids(pipeline, "profiles_customers") == sorted(live)
    assert_equals_account_table(sim, pipeline, "profiles_customers")


def assert_equals_account_table(sim: Any, pipeline: Any, table: str) -> None:
    want = truth(sim, ALL_TABLES[table])
    got = dict(query(pipeline, f"SELECT id, modified FROM copernica.{table}"))
    assert sorted(got) == sorted(want) and all(same_time(got[i], r["modified"]) for i, r in want.items())


def test_every_engagement_row_joins_to_a_profile(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(**SMALL)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline)  # everything, as `copernica load` does

    people = "SELECT id FROM copernica.profiles_customers UNION ALL SELECT id FROM copernica.profiles_partners"
    subs = " UNION ALL ".join(f"SELECT id FROM copernica.{t}" for t in SUBPROFILE_TABLES)
    checked = 0
    for table in ("html_clicks", "html_impressions", "html_deliveries", "html_destinations", "draganddrop_clicks",
                  "draganddrop_destinations"):
        (rows, orphans), = query(pipeline, f"SELECT count(*), count(*) FILTER (WHERE profile NOT IN ({people})) "
                                           f"FROM copernica.{table}")
        assert rows and orphans == 0, table
        (orphan_subs,), = query(pipeline, f"SELECT count(*) FROM copernica.{table} "
                                          f"WHERE subprofile IS NOT NULL AND subprofile NOT IN ({subs})")
        assert orphan_subs == 0, table
        checked += rows
    assert checked > 1000


def test_id_set_state_is_compact_and_exact() -> None:
    ids = list(range(100_001, 1_100_001, 1))
    holes = set(range(100_001, 1_100_001, 10))
    sparse = [i for i in ids if i not in holes]
    for sample in ([], [5], ids, sparse, [1, 3, 4, 5, 900_000_000]):
        assert decode_ids(encode_ids(sample)) == sorted(sample)
    assert len(encode_ids(ids)) < 100
    assert len(encode_ids(sparse)) < 150_000  # a million IDs with 100,000 holes

"""Structure tables end to end: the simulator over HTTP -> copernica_source -> real DuckDB."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from copernica_source import structure
from copernica_source.tables import STRUCTURE_TABLES, TableSpec
from tests.helpers import SMALL, duckdb_path, duckdb_types, load, make_pipeline, query, table_ids

STRUCTURE = [s.name for s in STRUCTURE_TABLES]


def _ids(rows: Any) -> list[int]:
    return sorted(int(r["ID"]) for r in rows)


def expected(sim: Any) -> dict[str, list[int]]:
    """Every structure table's IDs as the simulator serves them (no HTTP)."""
    rows = sim.dataset.rows
    dbs = _ids(rows("databases"))
    colls = [c for d in dbs for c in _ids(rows(f"database/{d}/collections"))]
    views, stack = [], [v for d in dbs for v in _ids(rows(f"database/{d}/views"))]
    while stack:
        v = stack.pop()
        views.append(v)
        stack += _ids(rows(f"view/{v}/views"))
    rules = [r for v in views for r in _ids(rows(f"view/{v}/rules"))]
    minis = [m for c in colls for m in _ids(rows(f"collection/{c}/miniviews"))]
    minirules = [r for m in minis for r in _ids(rows(f"miniview/{m}/rules"))]
    return {
        "databases": dbs,
        "database_fields": sorted(f for d in dbs for f in _ids(rows(f"database/{d}/fields"))),
        "database_interests": sorted(i for d in dbs for i in _ids(rows(f"database/{d}/interests"))),
        "collections": sorted(colls),
        "collection_fields": sorted(f for c in colls for f in _ids(rows(f"collection/{c}/fields"))),
        "views": sorted(views),
        "view_rules": sorted(rules),
        "view_rule_conditions": sorted(c for v in views for r in rows(f"view/{v}/rules")
                                       for c in _ids(r["conditions"]["data"])),
        "miniviews": sorted(minis),
        "miniview_rules": sorted(minirules),
        "miniview_rule_conditions": sorted(c for m in minis for r in rows(f"miniview/{m}/rules")
                                           for c in _ids(r["conditions"]["data"])),
        "webhooks": _ids(rows("webhooks")),
    }


def test_structure_tables_equal_the_account_with_types(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(**SMALL, quirks="lenient")  # serves GET webhooks (not in the v2-v4 pages)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=STRUCTURE)

    want = expected(sim)
    assert all(want[t] for t in STRUCTURE), want  # every table has rows to compare
    for table in STRUCTURE:
        assert table_ids(pipeline, table) == want[table], table
    assert 303 in want["views"]  # a nested selection (under view 302) is found through view/302/views

    path = duckdb_path(pipeline)
    assert duckdb_types(path, "databases")["created"] == "TIMESTAMP WITH TIME ZONE"
    assert "fields" not in duckdb_types(path, "databases")  # embedded lists live in their own tables
    fields = duckdb_types(path, "database_fields")
    assert fields["id"] == fields["database_id"] == fields["length"] == "BIGINT" and fields["hidden"] == "BOOLEAN"
    assert duckdb_types(path, "views")["has_children"] == "BOOLEAN"
    assert duckdb_types(path, "view_rule_conditions")["field__name"] == "VARCHAR"

    # parent columns say whose row it is
    assert dict(query(pipeline, "SELECT id, database_id FROM copernica.database_fields WHERE id IN (1005, 2001)")) == {
        1005: 1, 2001: 2}
    assert query(pipeline, "SELECT type FROM copernica.database_fields WHERE name = 'age'") == [("integer",)]
    assert query(pipeline, "SELECT collection_id, type FROM copernica.collection_fields WHERE name = 'amount'") == [
        (101, "float")]
    assert query(pipeline, "SELECT rule, comparison, field__name, value FROM copernica.view_rule_conditions "
                           "WHERE rule = 403") == [(403, "more", "age", "17")]


def test_database_and_collection_filters_limit_what_is_loaded(
    tmp_path: Path, copernica_simulator_factory: Any
) -> None:
    sim = copernica_simulator_factory(**SMALL)
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, database_ids=[1], collection_ids=[101],
         resources=STRUCTURE + ["profiles", "subprofiles"])

    assert table_ids(pipeline, "databases") == [1]
    assert {r[0] for r in query(pipeline, "SELECT DISTINCT database_id FROM copernica.database_fields")} == {1}
    assert table_ids(pipeline, "collections") == [101]
    assert {r[0] for r in query(pipeline, "SELECT DISTINCT collection_id FROM copernica.collection_fields")} == {101}
    assert table_ids(pipeline, "miniviews") == [701]
    assert 311 not in table_ids(pipeline, "views")
    tables = set(pipeline.default_schema.data_table_names())
    assert "profiles_customers" in tables and "subprofiles_customers_orders" in tables
    assert not {"profiles_partners", "subprofiles_customers_preferences", "subprofiles_partners_tickets"} & tables
    paths = {r.path for r in sim.requests}
    assert "/v4/database/2/profiles" not in paths and "/v4/collection/102/subprofiles" not in paths


def remove_structure(sim: Any) -> None:
    """Deletes in the simulated account: a field of database 1, nested view 303 (its rules and conditions),
    collection 102 (its fields, miniview, minirule, condition), database 2 (all of its structure) and a webhook."""
    st = sim.dataset.structure
    with sim.dataset.lock:
        st.databases[1] = replace(st.databases[1], fields=tuple(f for f in st.databases[1].fields if f.id != 1016))
        st.views.pop(303, None)
        del st.collections[102]
        for vid in [v.id for v in st.views.values() if v.owner == 2]:
            del st.views[vid]
        for cid in [c.id for c in st.collections.values() if c.database == 2]:
            del st.collections[cid]
        del st.databases[2]
        del st.webhooks[1895]


def assert_tables_equal_the_account(sim: Any, pipeline: Any) -> None:
    want = expected(sim)
    for table in STRUCTURE:
        assert table_ids(pipeline, table) == want[table], table
        assert query(pipeline, f"SELECT count(*) FROM copernica.{table} WHERE _deleted") == [(0,)], table


def test_removed_structure_disappears_on_the_next_run(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(**SMALL, quirks="lenient")
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=STRUCTURE)
    before = expected(sim)
    remove_structure(sim)
    load(sim, pipeline, resources=STRUCTURE)

    assert_tables_equal_the_account(sim, pipeline)
    after = expected(sim)
    assert 1016 in before["database_fields"] and 1016 not in after["database_fields"]
    assert {303, 311} <= set(before["views"]) and not {303, 311} & set(after["views"])
    assert {102, 201} <= set(before["collections"]) and not {102, 201} & set(after["collections"])
    assert 702 in before["miniviews"] and 852 in before["miniview_rule_conditions"]  # under collection 102
    assert after["databases"] == [1] and after["webhooks"] == [1894]
    assert pipeline.default_schema.tables["views"]["write_disposition"] == "merge"

    load(sim, pipeline, resources=STRUCTURE)  # a run with nothing removed deletes nothing
    assert_tables_equal_the_account(sim, pipeline)


def test_filters_never_delete_rows_of_what_they_leave_out(
    tmp_path: Path, copernica_simulator_factory: Any
) -> None:
    sim = copernica_simulator_factory(**SMALL, quirks="lenient")
    pipeline = make_pipeline(tmp_path)
    load(sim, pipeline, resources=STRUCTURE)
    full = {t: table_ids(pipeline, t) for t in STRUCTURE}

    load(sim, pipeline, database_ids=[1], collection_ids=[101], resources=STRUCTURE)
    assert {t: table_ids(pipeline, t) for t in STRUCTURE} == full  # nothing left out is deleted

    st = sim.dataset.structure
    with sim.dataset.lock:  # a field of each database goes; only database 1 is read
        for db, gone in ((1, 1016), (2, 2005)):
            st.databases[db] = replace(st.databases[db], fields=tuple(f for f in st.databases[db].fields
                                                                      if f.id != gone))
    load(sim, pipeline, database_ids=[1], resources=STRUCTURE)
    fields = table_ids(pipeline, "database_fields")
    assert 1016 not in fields and 2005 in fields
    assert table_ids(pipeline, "databases") == [1, 2]

    load(sim, pipeline, resources=STRUCTURE)  # read whole again: database 2's removal lands now
    assert_tables_equal_the_account(sim, pipeline)


def test_a_skipped_optional_list_deletes_nothing(tmp_path: Path, copernica_simulator_factory: Any) -> None:
    serving = copernica_simulator_factory(**SMALL, quirks="lenient")
    refusing = copernica_simulator_factory(**SMALL)  # same account; `GET webhooks` answers "Invalid method"
    pipeline = make_pipeline(tmp_path)
    load(serving, pipeline, resources=STRUCTURE)
    assert table_ids(pipeline, "webhooks") == [1894, 1895]

    load(refusing, pipeline, resources=STRUCTURE)
    assert table_ids(pipeline, "webhooks") == [1894, 1895]
    assert_tables_equal_the_account(serving, pipeline)


def test_a_table_an_older_version_replaced_is_upgraded(
    tmp_path: Path, copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tables made with `replace` and no recorded keys: the first run replaces them once (rows removed since
    the old version's last run go), later runs merge and delete by tombstones."""
    sim = copernica_simulator_factory(**SMALL, quirks="lenient")
    pipeline = make_pipeline(tmp_path)

    def old_hints(spec: TableSpec) -> dict[str, Any]:
        return {"name": spec.name, "primary_key": list(spec.primary_key), "write_disposition": "replace",
                "columns": spec.schema.dlt_columns()}

    with monkeypatch.context() as old:  # the older version: replace, no keys kept in state
        old.setattr(structure, "_hints", old_hints)
        old.setattr(structure, "_ledger", lambda spec, wanted: (structure._Ledger({}, wanted), False))
        old.setattr(structure, "_record", lambda spec, ledger: None)
        load(sim, pipeline, resources=STRUCTURE)
    assert pipeline.default_schema.tables["views"]["write_disposition"] == "replace"
    assert "known" not in str(pipeline.state["sources"]["copernica"].get("resources", {}))

    st = sim.dataset.structure
    with sim.dataset.lock:
        del st.views[303]
    load(sim, pipeline, resources=STRUCTURE)
    assert_tables_equal_the_account(sim, pipeline)

    remove_structure(sim)
    load(sim, pipeline, resources=STRUCTURE)
    assert pipeline.default_schema.tables["views"]["write_disposition"] == "merge"
    assert_tables_equal_the_account(sim, pipeline)


def _table(ids: list[int]) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64())})


def test_ledger_deletes_only_for_parents_read_whole_or_gone() -> None:
    from copernica_source.structure import _Ledger
    known = {"1": [11, 12], "2": [21], "3": [31], "4": [41]}
    ledger = _Ledger(known, wanted=None)
    ledger.note(1, _table([11, 13]))
    ledger.unread.add(3)  # its list answered not-found
    assert ledger.settle([1, 2, 3], loaded={11, 13}) == [12, 21]  # 2 is gone; 4 was not read
    assert known == {"1": [11, 13], "3": [31], "4": [41]}

    skipped = _Ledger({"": [1, 2]}, wanted=None, skipped=True)
    skipped.note(None, _table([1]))
    assert skipped.settle([None], loaded={1}) == []
    assert skipped.known == {"": [1, 2]}

    filtered = _Ledger({"": [1, 2, 3]}, wanted={1, 2})
    filtered.note(None, _table([1]))
    assert filtered.settle([None], loaded={1}) == [2]  # 3 is left out by the filter: kept
    assert filtered.known == {"": [1, 3]}

"""Structure tables end to end: the simulator over HTTP -> copernica_source -> real DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from copernica_source.tables import STRUCTURE_TABLES
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

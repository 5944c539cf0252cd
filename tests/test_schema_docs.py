"""The dlt schema documents the tables: each table's description, what its columns hold and which table's key
they are (dlt's `references`), all declared in tables.py; `copernica tables --json` shows the same."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dlt.common.schema import Schema as DltSchema

from copernica_source.arrow_rows import cols
from copernica_source.settings import LOAD_ID_ON_ROWS
from copernica_source.tables import (
    LOG_TABLES,
    PRODUCTS,
    PROFILES,
    STRUCTURE_TABLES,
    SUBPROFILES,
    TIME_NOTE,
    TableSpec,
    dlt_hints,
    engagement_tables,
)
from tests.helpers import SMALL, load, make_pipeline

ROOT = Path(__file__).resolve().parents[1]


def _refs(table: dict[str, Any]) -> set[tuple[tuple[str, ...], str, tuple[str, ...]]]:
    return {(tuple(r["columns"]), r["referenced_table"], tuple(r["referenced_columns"]))
            for r in table.get("references") or []}


def _declared() -> dict[str, tuple[TableSpec, str]]:
    """Every fixed table name -> its spec and the prefix its references are named with."""
    out = {f"{p}_{s.name}": (s, f"{p}_") for p in PRODUCTS for s in engagement_tables(p)}
    return out | {s.name: (s, "") for s in (*STRUCTURE_TABLES, *LOG_TABLES)}


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> DltSchema:
    """The schema of a full load (lenient quirks: webhooks answered too, so every table is there)."""
    from copernica_source.simulator import Simulator

    folder = tmp_path_factory.mktemp("docs")
    with pytest.MonkeyPatch.context() as env, Simulator(**SMALL, quirks="lenient") as sim:
        env.setenv("DLT_DATA_DIR", str(folder / "dlt_data"))  # as conftest's per-test isolation
        env.chdir(folder)
        env.setenv(LOAD_ID_ON_ROWS, "true")  # as copernica load runs it: `_dlt_load_id` on every row
        pipeline = make_pipeline(folder)
        load(sim, pipeline, logfiles="all")  # the opt-in log tables too
        with pipeline.destination_client() as client:
            stored = client.get_stored_schema()  # type: ignore[attr-defined]
    assert stored is not None
    # what dlt writes to the destination: the schema, descriptions and references included, in `_dlt_version`
    # (it writes no COMMENT ON to DuckDB or PostgreSQL)
    from_destination = DltSchema.from_stored_schema(json.loads(stored.schema))
    assert from_destination.tables["html_clicks"]["description"] == pipeline.default_schema.tables["html_clicks"][
        "description"]
    return pipeline.default_schema


def test_every_declared_table_has_its_description_column_descriptions_and_references(schema: DltSchema) -> None:
    declared = _declared()
    # every table but the old link tracking's click log, which the simulated account has no rows of
    assert set(declared) - set(schema.data_table_names()) == {"html_log_clicks_old"}
    for name, (spec, prefix) in declared.items():
        if name not in schema.tables:
            continue
        table, want = schema.tables[name], dlt_hints(spec, prefix)
        assert table["description"] == spec.description, name
        for column, hint in want["columns"].items():
            assert table["columns"][column].get("description") == hint.get("description"), f"{name}.{column}"
        assert _refs(table) == _refs({"references": want["references"]}), name


def test_every_profile_and_subprofile_table_is_described_and_points_at_its_owner(schema: DltSchema) -> None:
    people = [t for t in schema.data_table_names() if t.startswith(("profiles_", "subprofiles_"))]
    assert {"profiles_customers", "profiles_partners", "subprofiles_customers_orders"} <= set(people)
    for name in people:
        template = SUBPROFILES if name.startswith("sub") else PROFILES
        table = schema.tables[name]
        assert table["description"].startswith(f"{template.description}: "), name
        template_hints = dlt_hints(template)["columns"]
        for column, hint in template_hints.items():
            assert table["columns"][column]["description"].startswith(hint["description"]), f"{name}.{column}"
        fields = [c for c in table["columns"] if c not in template_hints and not c.startswith("_dlt")]
        assert fields and all(table["columns"][c].get("description") for c in fields), name
        owner = ((("collection",), "collections", ("id",)) if template is SUBPROFILES
                 else (("database",), "databases", ("id",)))
        assert owner in _refs(table), name
        if template is SUBPROFILES:
            (profile_table,) = [r[1] for r in _refs(table) if r[0] == ("profile",)]
            assert profile_table in people, name


def test_references_point_at_tables_and_columns_that_exist(schema: DltSchema) -> None:
    checked = 0
    for name in schema.data_table_names():
        for columns, target, target_columns in _refs(schema.tables[name]):
            assert set(columns) <= set(schema.tables[name]["columns"]), name
            assert target in schema.tables, f"{name} -> {target}"
            assert set(target_columns) <= set(schema.tables[target]["columns"]), f"{name} -> {target}"
            checked += 1
    assert checked >= 40
    # dlt's own: every table's _dlt_load_id -> _dlt_loads.load_id, and the column described
    load_refs = {r["table"] for r in schema.references if r["referenced_table"] == "_dlt_loads"}
    assert set(schema.data_table_names()) <= load_refs
    assert all(schema.tables[t]["columns"]["_dlt_load_id"].get("description") for t in schema.data_table_names())


def test_hand_checked_descriptions_and_references(schema: DltSchema) -> None:
    """A few, written out literally: a test generated from tables.py alone would pass whatever tables.py said."""
    t = schema.tables
    assert t["html_clicks"]["description"] == "a click on a link in an emailing"
    assert _refs(t["html_clicks"]) == {(("emailing",), "html_emailings", ("id",)),
                                       (("destination",), "html_destinations", ("internal",))}
    assert _refs(t["draganddrop_deliveries"]) == {(("mailing",), "draganddrop_emailings", ("id",)),
                                                  (("destination",), "draganddrop_destinations", ("id",))}
    assert _refs(t["html_emailing_statistics"]) == {(("emailing_id",), "html_emailings", ("id",))}
    assert _refs(t["view_rule_conditions"]) == {(("rule",), "view_rules", ("id",)),
                                                (("field__id",), "database_fields", ("id",))}
    assert _refs(t["miniview_rules"]) == {(("view",), "miniviews", ("id",))}
    assert (("profile",), "profiles_customers", ("id",)) in _refs(t["subprofiles_customers_orders"])
    assert t["profiles_customers"]["description"] == ("a profile of a database (its fields typed, its interests as "
                                                      "booleans): database 'Customers' (ID 1)")
    columns = t["html_clicks"]["columns"]
    assert columns["timestamp"]["description"] == f"when it happened; {TIME_NOTE}"
    assert "UTC instant" in TIME_NOTE and "local time" in TIME_NOTE
    assert columns["id"]["description"] == "the event's ID in Copernica; primary key: loads merge rows on it"
    assert columns["emailing"]["description"] == "the emailing; refers to html_emailings.id"
    customers = t["profiles_customers"]["columns"]
    assert customers["signup"]["description"].startswith("the field 'signup' (Copernica type: datetime); a UTC")
    assert customers["interests__tennis"]["description"] == "the interest 'tennis': true when the profile has it"
    assert customers["deleted"]["description"].startswith("true: Copernica no longer has it")
    assert "hard_delete" in t["databases"]["columns"]["_deleted"]["description"]
    assert t["html_log_clicks"]["description"] == (
        "a click in a Publisher mail, with the clicker's country, region and city (logfile type `pom-clicks`)")
    assert t["html_log_clicks"]["columns"]["log_line"]["description"].endswith("primary key: loads merge rows on it")


def test_tables_json_shows_table_and_column_descriptions_and_references() -> None:
    done = subprocess.run([sys.executable, "-m", "copernica_source.cli", "tables", "--json"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    by_name = {r["table"]: r for r in json.loads(done.stdout)}
    for name, (spec, prefix) in _declared().items():
        row, want = by_name[name], dlt_hints(spec, prefix)
        assert row["description"] == spec.description
        assert {c["name"]: c["description"] for c in row["columns"]} == {
            c: h.get("description", "") for c, h in want["columns"].items()}
        assert _refs(row) == _refs({"references": want["references"]})
    clicks = {c["name"]: c for c in by_name["html_clicks"]["columns"]}
    assert clicks["emailing"] == {"name": "emailing", "data_type": "bigint",
                                  "description": "the emailing; refers to html_emailings.id"}
    pattern = by_name["subprofiles_<database>_<collection>"]
    assert _refs(pattern) == {(("collection",), "collections", ("id",))}
    assert {c["name"] for c in pattern["columns"]} >= {"id", "profile", "collection", "modified"}


def test_a_note_or_reference_that_does_not_fit_is_refused_at_import() -> None:
    assert cols("id:int emailing:int>emailings.id", {"emailing": "the emailing"})[1].refers_to == "emailings.id"
    with pytest.raises(ValueError, match="not declared"):
        cols("id:int", {"emailng": "a typo"})
    with pytest.raises(ValueError, match=r"table\.column"):
        cols("id:int emailing:int>emailings")

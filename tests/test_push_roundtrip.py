"""Load, fix in SQL, push back: `copernica push-profiles` takes the loader's own `profiles_<database>` table (a
DuckDB table, a query on it, a Parquet export of it). Field columns go back to their fields, `interests__<name>`
booleans to the interests, and the loader's system and `_dlt_*` columns are left out and listed; `--key id`
updates profiles by their Copernica ID. Checked against the simulator: exactly the intended change, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import duckdb
import pytest

from copernica_source import copernica_profiles
from copernica_source.arrow_rows import column_name
from copernica_source.cli import main
from copernica_source.client import CopernicaClient
from copernica_source.profiles import _schema
from copernica_source.push import read_results
from copernica_source.push.columns import (
    PROFILE_ID,
    Database,
    FieldDef,
    ProfileValidationError,
    incomplete_interests,
    plan_columns,
    sent_columns,
)
from copernica_source.push.loaded_table import SYSTEM_COLUMNS, classify, field_columns
from copernica_source.push.validation import check_row
from copernica_source.tables import PROFILES
from tests.helpers import duckdb_path, load, make_pipeline

SIM = dict(events=200, emailings=2, destinations_per_emailing=5, profiles=40)
TABLE = "copernica.profiles_customers"
DLT_COLUMNS = ["_dlt_load_id", "_dlt_id"]


# -- the loader's names, read back (pure) -------------------------------------------------------------------
def test_every_column_the_loader_names_reads_back_to_its_field_or_interest() -> None:
    """The push's reading of the loader's names (loaded_table.field_columns) against the loader's own schema
    (profiles._schema), with names that change under snake_case or collide with a system column."""
    fields = ["FirstName", "e-mail", "modified", "ID", "Created", "city"]
    interests = ["Golf Club", "tennis"]
    interest_columns = [(f"interests__{column_name(n)}", n) for n in interests]  # as profiles.owners names them
    schema = _schema(PROFILES, [{"name": f, "type": "text"} for f in fields], interest_columns)
    loaded = {c.name: c.path[1] for c in schema.columns if c.path and c.path[0] == "fields"}
    assert field_columns(fields, interests) == loaded
    assert {"first_name", "e_mail", "fields__modified", "fields__id", "fields__created", "city"} == set(loaded)
    system = [c.name for c in schema.columns if not c.path and not c.name.startswith("interests__")]
    assert set(system) == set(SYSTEM_COLUMNS)

    columns = [c.name for c in schema.columns] + DLT_COLUMNS
    roles = classify(columns, fields, interests)
    assert roles.fields == loaded
    assert roles.interests == {"interests__golf_club": "Golf Club", "interests__tennis": "tennis"}
    assert set(roles.system) == set(SYSTEM_COLUMNS) | set(DLT_COLUMNS)
    assert roles.unknown == () and roles.problems == ()


def _db() -> Database:
    fields = {n: FieldDef(n, t) for n, t in (("email", "email"), ("city", "text"), ("modified", "text"))}
    return Database(1, "Customers", fields, ("soccer", "tennis"))


LOADED = ["id", "database", "secret", "created", "modified", "removed", "email", "city", "fields__modified",
          "interests__soccer", "interests__tennis", "deleted", *DLT_COLUMNS]


def test_a_loaded_table_plans_fields_interests_and_left_out_columns() -> None:
    db = _db()
    plan = plan_columns(LOADED, db, "email")
    assert {c: f.name for c, f in plan.fields.items()} == {"email": "email", "city": "city",
                                                            "fields__modified": "modified"}
    assert plan.interest_columns == {"interests__soccer": "soccer", "interests__tennis": "tennis"}
    assert plan.system_columns == ("id", "database", "secret", "created", "modified", "removed", "deleted",
                                   *DLT_COLUMNS)
    assert incomplete_interests(plan) is None
    # what goes on to dlt: fields by their own names, the interest flags, the deleted/removed guards
    assert sent_columns(plan) == {"email": "email", "city": "city", "fields__modified": "modified",
                                  "interests__soccer": "interests__soccer", "interests__tennis": "interests__tennis",
                                  "removed": "removed", "deleted": "deleted"}
    by_id = plan_columns(LOADED, db, "id")
    assert by_id.key_field is PROFILE_ID and by_id.key_column == "id" and "id" not in by_id.system_columns
    # without a fields__modified column, a `modified` column is the real field, as it always was
    assert plan_columns(["email", "modified"], db, "email").fields["modified"].name == "modified"

    with pytest.raises(ProfileValidationError, match=r"not fields of database 'Customers' \(1\): shoe_size"):
        plan_columns([*LOADED, "shoe_size"], db, "email")
    with pytest.raises(ProfileValidationError, match="columns email and EMAIL both hold the field email"):
        plan_columns(["email", "EMAIL"], db, "email")
    with pytest.raises(ProfileValidationError, match="give them one way"):
        plan_columns(["email", "tags", "interests__soccer"], db, "email", interests_column="tags")
    partial = plan_columns(["email", "interests__soccer"], db, "email")
    assert "none for interests__tennis" in (incomplete_interests(partial) or "")


def test_interest_flags_and_gone_rows_per_row() -> None:
    plan = plan_columns(LOADED, _db(), "email")

    def check(**values: Any) -> Any:
        return check_row({"email": "a@push.example", **values}, plan)

    both = check(interests__soccer=True, interests__tennis=False)
    assert both.reason is None and both.interests == ["soccer"]
    assert check(interests__soccer="true", interests__tennis="0").interests == ["soccer"]  # CSV, JSON lines
    assert check().interests is None  # every flag empty: interests are left as they are
    half = check(interests__soccer=True)
    assert half.reason is not None and "interests__tennis: empty or missing" in half.reason
    assert "is not true or false" in (check(interests__soccer="maybe", interests__tennis=True).reason or "")
    gone = check(deleted=True, interests__soccer=True, interests__tennis=True)
    assert gone.reason is not None and gone.reason.startswith("deleted: the loaded row says this profile is gone")
    assert check(deleted=False, removed=None).reason is None
    by_id = plan_columns(LOADED, _db(), "id")
    assert check_row({"id": 100001, "city": "X"}, by_id).key == "100001"
    assert "not a profile ID" in (check_row({"id": 0, "city": "X"}, by_id).reason or "")


def test_a_timestamp_exported_as_text_with_its_offset_is_sent_in_copernicas_zone() -> None:
    """A CSV or JSON export writes a TIMESTAMPTZ column as `2025-04-01 13:13:29+00`: the same moment in Copernica's
    zone (Europe/Amsterdam here, summer time), never refused and never sent with the wrong hour."""
    db = Database(1, "Customers", {"email": FieldDef("email", "email"), "signup": FieldDef("signup", "datetime")})
    plan = plan_columns(["email", "signup"], db, "email")

    def sent(text: str) -> Any:
        c = check_row({"email": "a@push.example", "signup": text}, plan)
        return c.reason or c.fields["signup"]

    assert sent("2025-04-01 13:13:29+00") == sent("2025-04-01T11:13:29-02:00") == "2025-04-01 15:13:29"
    assert sent("2025-01-01 23:30:00Z") == "2025-01-02 00:30:00"
    assert sent("2025-04-01 13:13:29") == "2025-04-01 13:13:29"  # no zone: Copernica's own, as before
    assert "is not a date-time" in sent("2025-04-01 13:13:29 +00")
    assert "is not a date-time" in sent("2025-02-30 10:00:00+00")


# -- against the simulator ------------------------------------------------------------------------------------
@pytest.fixture
def loaded(copernica_simulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str]:
    """A simulator and the DuckDB file the real pipeline loaded its profiles into, with dlt's own columns."""
    sim = copernica_simulator_factory(**SIM)
    for k, v in {"SOURCES__COPERNICA__ACCESS_TOKEN": sim.access_token, "SOURCES__COPERNICA__BASE_URL": sim.base_url,
                 "SOURCES__COPERNICA__AUTH_URL": sim.auth_url}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
    monkeypatch.setenv("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID", "true")
    pipeline = make_pipeline(tmp_path, "roundtrip")
    load(sim, pipeline, resources=["profiles"])
    path = duckdb_path(pipeline)
    with duckdb.connect(path, read_only=True) as con:
        columns = [r[0] for r in con.execute(f"DESCRIBE {TABLE}").fetchall()]
    assert set(DLT_COLUMNS) <= set(columns)
    return sim, path


def push(tmp_path: Path, *args: str) -> int:
    return main(["push-profiles", "--pipelines-dir", str(tmp_path / "push_pipelines"), "--database", "1", *args])


def sql(path: str, statement: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(path) as con:
        return con.execute(statement).fetchall()


def account(sim: Any) -> dict[int, tuple[dict[str, Any], list[str]]]:
    """Every profile of every database: its field values (floats as numbers: "1.90" and 1.9 are one value)
    and its interests."""
    out = {}
    for db in (1, 2):
        floats = {str(f["name"]) for f in sim.dataset.rows(f"database/{db}/fields") if f["type"] == "float"}
        for p in sim.dataset.rows(f"database/{db}/profiles"):
            fields = {k: (float(v) if k in floats and v != "" else v) for k, v in p["fields"].items()}
            out[int(p["ID"])] = (fields, sorted(p["interests"]))
    return out


def pick(path: str, interest: str, has: bool, other_than: tuple[int, ...] = ()) -> int:
    """A loaded profile that has (or has not) the interest."""
    rows = sql(path, f"SELECT id FROM {TABLE} WHERE interests__{interest} = {str(has).lower()} ORDER BY id")
    return next(int(r[0]) for r in rows if int(r[0]) not in other_than)


def test_whole_table_back_by_profile_id_changes_exactly_what_sql_changed(loaded: tuple[Any, str],
                                                                         tmp_path: Path) -> None:
    sim, path = loaded
    before = account(sim)
    a = pick(path, "tennis", True)
    b = pick(path, "cooking", False, other_than=(a,))
    sql(path, f"UPDATE {TABLE} SET city = 'Roundtrip City', interests__tennis = false WHERE id = {a}")
    sql(path, f"UPDATE {TABLE} SET interests__cooking = true WHERE id = {b}")
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--duckdb", path, "--table", TABLE, "--key", "id", "--mode", "update",
                "--results", str(out)) == 0

    expected = {k: (dict(f), list(i)) for k, (f, i) in before.items()}
    expected[a][0]["city"] = "Roundtrip City"
    expected[a][1].remove("tennis")
    expected[b][1].append("cooking")
    expected[b][1].sort()
    assert account(sim) == expected
    got = read_results(str(out)).to_pylist()
    assert {r["action"] for r in got} == {"updated"}
    assert sorted(r["profile_id"] for r in got) == sorted(int(r[0]) for r in sql(path, f"SELECT id FROM {TABLE}"))
    assert all(str(r["profile_id"]) == r["key"] for r in got)
    # by ID: PUT profile/$id only (no selector, no create), bodies of fields and the full interest map only
    puts = [w for w in sim.writes if w.method == "PUT"]
    assert puts and all(w.path.rstrip("/").rsplit("/", 2)[-2] == "profile" for w in puts)
    assert not [w for w in sim.writes if w.method != "PUT"]
    names = {str(f["name"]) for f in sim.dataset.rows("database/1/fields")}
    declared = {str(i["name"]) for i in sim.dataset.rows("database/1/interests")}
    for w in puts:
        assert set(w.body) <= {"fields", "interests"} and set(w.body["fields"]) <= names
        assert set(w.body["interests"]) == declared


def test_a_query_and_parquet_csv_json_exports_push_back(loaded: tuple[Any, str], tmp_path: Path) -> None:
    sim, path = loaded
    before = account(sim)
    c = pick(path, "soccer", False)
    d = pick(path, "travel", True, other_than=(c,))
    sql(path, f"UPDATE {TABLE} SET lastname = 'Changed', interests__soccer = true WHERE id = {c}")
    # a query on the loaded table, keyed by e-mail (upsert): `id` is one of the columns left out
    assert push(tmp_path, "--duckdb", path, "--query", f"SELECT * FROM {TABLE} WHERE id = {c}", "--key", "email",
                "--results", str(tmp_path / "q.csv")) == 0
    assert [r["action"] for r in read_results(str(tmp_path / "q.csv")).to_pylist()] == ["updated"]
    # a Parquet export of the loaded table, fixed on the way out, by profile ID
    export = tmp_path / "fixed.parquet"
    sql(path, f"COPY (SELECT * REPLACE (false AS interests__travel) FROM {TABLE} WHERE id IN ({c}, {d})) "
              f"TO '{export}' (FORMAT parquet)")
    assert push(tmp_path, "--input", str(export), "--key", "id", "--mode", "update",
                "--results", str(tmp_path / "p.csv")) == 0
    assert [r["action"] for r in read_results(str(tmp_path / "p.csv")).to_pylist()] == ["updated"] * 2
    # CSV and JSON-lines exports of the whole table: text flags and timestamps with an offset; nothing changes
    for fmt, ext in (("csv, HEADER", "csv"), ("json", "jsonl")):
        whole = tmp_path / f"whole.{ext}"
        sql(path, f"COPY (SELECT * FROM {TABLE} WHERE id NOT IN ({c}, {d})) TO '{whole}' (FORMAT {fmt})")
        out = tmp_path / f"{ext}.results.csv"
        assert push(tmp_path, "--input", str(whole), "--key", "id", "--mode", "update", "--results", str(out)) == 0
        assert {r["action"] for r in read_results(str(out)).to_pylist()} == {"updated"}

    expected = {k: (dict(f), list(i)) for k, (f, i) in before.items()}
    expected[c][0]["lastname"] = "Changed"
    expected[c][1].append("soccer")
    expected[c][1].sort()
    if "travel" in expected[c][1]:  # the export sets travel false on both rows
        expected[c][1].remove("travel")
    expected[d][1].remove("travel")
    assert account(sim) == expected
    assert len(account(sim)) == len(before)  # nothing created


def test_dry_run_lists_the_left_out_columns_and_bad_inputs_stop_before_any_write(
        loaded: tuple[Any, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sim, path = loaded
    sim.clear_logs()
    out = tmp_path / "dry.csv"
    assert push(tmp_path, "--duckdb", path, "--table", TABLE, "--key", "email", "--dry-run",
                "--results", str(out)) == 0
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith("leaving out columns the loader adds"))
    assert line.split(": ", 1)[1].split(", ") == ["id", "database", "secret", "created", "modified", "removed",
                                                  "deleted", *DLT_COLUMNS]
    interests = [str(i["name"]) for i in sim.dataset.rows("database/1/interests")]
    assert f"interests from {len(interests)} columns" in err
    assert ", ".join(f"interests__{n}" for n in interests) in err
    assert {r["action"] for r in read_results(str(out)).to_pylist()} == {"valid"}

    # a column that is neither a field, an interest nor a loader's column: the clear error, as before
    assert push(tmp_path, "--duckdb", path, "--query", f"SELECT *, 42 AS shoe_size FROM {TABLE}",
                "--key", "email", "--dry-run") == 1
    err = capsys.readouterr().err
    assert "1 column(s) are not fields of database 'Customers' (1): shoe_size" in err
    assert "--ignore-unknown-columns" in err
    # some interests but not all: refused, since a partial set may clear the others
    assert push(tmp_path, "--duckdb", path, "--query", f"SELECT id, city, interests__tennis FROM {TABLE}",
                "--key", "id", "--mode", "update") == 1
    assert "none for interests__soccer" in capsys.readouterr().err
    # the profile ID identifies existing profiles only: upsert (the default) is refused
    assert push(tmp_path, "--duckdb", path, "--table", TABLE, "--key", "id") == 1
    assert "needs --mode update" in capsys.readouterr().err
    assert not sim.writes


def test_by_profile_id_never_writes_another_database_a_removed_or_a_deleted_profile(
        loaded: tuple[Any, str], tmp_path: Path) -> None:
    sim, path = loaded
    other = int(next(iter(sim.dataset.rows("database/2/profiles")))["ID"])
    a, removed, marked = (int(r[0]) for r in sql(path, f"SELECT id FROM {TABLE} ORDER BY id LIMIT 3"))
    with CopernicaClient(sim.access_token, sim.base_url, auth_url=sim.auth_url) as client:
        client.request("DELETE", f"profile/{removed}")
    sql(path, f"UPDATE {TABLE} SET deleted = true WHERE id = {marked}")  # as a `deletions="mark"` load leaves it
    sql(path, f"UPDATE {TABLE} SET city = 'Fine' WHERE id IN ({a}, {removed}, {marked})")
    query = (f"SELECT * FROM {TABLE} WHERE id IN ({a}, {removed}, {marked}) "
             f"UNION ALL BY NAME SELECT {other} AS id, 'Not mine' AS city "
             f"UNION ALL BY NAME SELECT 999999999 AS id, 'Nobody' AS city ORDER BY id")
    before = account(sim)
    sim.clear_logs()
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--duckdb", path, "--query", query, "--key", "id", "--mode", "update",
                "--results", str(out)) == 1
    got = {int(r["key"]): r for r in read_results(str(out)).to_pylist()}
    assert got[a]["action"] == "updated"
    assert got[removed]["action"] == "failed" and "was removed from Copernica" in got[removed]["message"]
    assert got[marked]["action"] == "rejected" and "gone from Copernica" in got[marked]["message"]
    assert got[other]["action"] == "failed" and "is in database 2, not 'Customers' (1)" in got[other]["message"]
    assert got[999999999]["action"] == "failed" and "no profile has this ID" in got[999999999]["message"]
    before[a][0]["city"] = "Fine"
    assert account(sim) == before  # only `a` changed
    assert [(w.method, w.path.rsplit("/", 2)[-2:]) for w in sim.writes] == [("PUT", ["profile", str(a)])]


@pytest.mark.parametrize("quirks", ["lenient", "put_status=303", "strict", "modified_field=present"])
def test_round_trip_by_profile_id_under_each_reading(quirks: str, copernica_simulator_factory: Any, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`PUT profile/$id` answered 204 or 303, not found in either wording, and a database with a real field named
    `modified`: the loader calls it `fields__modified`, the push writes it to that field, never the system time."""
    sim = copernica_simulator_factory(**SIM, quirks=quirks)
    for k, v in {"SOURCES__COPERNICA__ACCESS_TOKEN": sim.access_token, "SOURCES__COPERNICA__BASE_URL": sim.base_url,
                 "SOURCES__COPERNICA__AUTH_URL": sim.auth_url}.items():
        monkeypatch.setenv(k, v)
    pipeline = make_pipeline(tmp_path, "roundtrip")
    load(sim, pipeline, resources=["profiles"])
    path = duckdb_path(pipeline)
    real_modified = quirks == "modified_field=present"
    a, b = (int(r[0]) for r in sql(path, f"SELECT id FROM {TABLE} ORDER BY id LIMIT 2"))
    change = "city = 'Reading City'" + (", fields__modified = 'fixed in SQL'" if real_modified else "")
    sql(path, f"UPDATE {TABLE} SET {change} WHERE id = {a}")
    before = account(sim)
    out = tmp_path / "r.csv"
    query = (f"SELECT * FROM {TABLE} WHERE id IN ({a}, {b}) "
             f"UNION ALL BY NAME SELECT 999999999 AS id, 'Nobody' AS city ORDER BY id")
    assert main(["push-profiles", "--pipelines-dir", str(tmp_path / "p"), "--duckdb", path, "--query", query,
                 "--database", "1", "--key", "id", "--mode", "update", "--results", str(out)]) == 1
    got = {r["key"]: r["action"] for r in read_results(str(out)).to_pylist()}
    assert got == {str(a): "updated", str(b): "updated", "999999999": "failed"}
    before[a][0]["city"] = "Reading City"
    if real_modified:
        before[a][0]["modified"] = "fixed in SQL"
    assert account(sim) == before


def test_the_python_destination_takes_a_loaded_table_too(loaded: tuple[Any, str], tmp_path: Path) -> None:
    """`copernica_profiles` (no command around it): the same reading of the loader's columns, batch by batch."""
    sim, path = loaded
    before = account(sim)
    e = pick(path, "photography", False)
    with duckdb.connect(path, read_only=True) as con:
        table = con.sql(f"SELECT * REPLACE ('Python City' AS city, true AS interests__photography) FROM {TABLE} "
                        f"WHERE id = {e}").to_arrow_table()
    results = tmp_path / "api.csv"
    dest = copernica_profiles(database=1, key="id", mode="update", results_path=str(results),
                              access_token=sim.access_token, base_url=sim.base_url, auth_url=sim.auth_url)
    pipeline = dlt.pipeline("api_roundtrip", destination=dest, pipelines_dir=str(tmp_path / "api"))
    pipeline.run(table, table_name="profiles").raise_on_failed_jobs()
    assert [r["action"] for r in read_results(str(results)).to_pylist()] == ["updated"]
    before[e][0]["city"] = "Python City"
    before[e][1].append("photography")
    before[e][1].sort()
    assert account(sim) == before

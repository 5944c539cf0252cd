"""The reverse path against the simulator over HTTP: `copernica push-profiles` and the `copernica_profiles`
destination create or update exactly one profile per key, report every row, and survive kills and faults."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dlt
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from copernica_source import copernica_profiles
from copernica_source.cli import main
from copernica_source.client import CopernicaClient
from copernica_source.push import read_results

DOMAIN = "push.example"  # keys of the profiles these tests make, apart from the simulator's own
SIM = dict(events=200, emailings=2, destinations_per_emailing=5, profiles=50)


# -- helpers -----------------------------------------------------------------------------------------------
def _env(sim: Any) -> dict[str, str]:
    return {"SOURCES__COPERNICA__ACCESS_TOKEN": sim.access_token, "SOURCES__COPERNICA__BASE_URL": sim.base_url,
            "SOURCES__COPERNICA__AUTH_URL": sim.auth_url}


@pytest.fixture
def sim(copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    s = copernica_simulator_factory(**SIM)
    for k, v in _env(s).items():
        monkeypatch.setenv(k, v)
    return s


def field_names(sim: Any, db: int = 1) -> dict[str, str]:
    """First field of each type in the simulated database: tests follow its definitions, not fixed names."""
    out: dict[str, str] = {}
    for f in sim.dataset.rows(f"database/{db}/fields"):
        out.setdefault(str(f["type"]).lower(), str(f["name"]))
    return out


def text_field(sim: Any, db: int = 1, skip: tuple[str, ...] = ()) -> str:
    names = [str(f["name"]) for f in sim.dataset.rows(f"database/{db}/fields")
             if str(f["type"]).lower() == "text" and str(f["name"]) not in skip]
    return names[0]


def profiles_by_key(sim: Any, key: str, db: int = 1) -> dict[str, list[dict[str, Any]]]:
    """Ground truth without HTTP: every profile of the database that has one of our keys, grouped by key."""
    out: dict[str, list[dict[str, Any]]] = {}
    for p in sim.dataset.rows(f"database/{db}/profiles"):
        fields = {k.lower(): v for k, v in (p.get("fields") or {}).items()}
        value = str(fields.get(key.lower()) or "")
        if DOMAIN in value.lower() or value.lower().startswith("cust-"):
            out.setdefault(value.lower(), []).append({"id": int(p["ID"]), **fields,
                                                      "_interests": p.get("interests")})
    return out


def make_rows(sim: Any, n: int, start: int = 0, suffix: str = "") -> list[dict[str, Any]]:
    t = field_names(sim)
    name = text_field(sim)
    return [{t["email"]: f"user{i}@{DOMAIN}", name: f"Name {i}{suffix}", t["integer"]: i}
            for i in range(start, start + n)]


def write_csv(path: Path, rows: list[dict[str, Any]], header: list[str] | None = None) -> Path:
    header = header or list(rows[0])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for r in rows:
            w.writerow(["" if r.get(h) is None else r.get(h) for h in header])
    return path


def push(tmp_path: Path, *args: str) -> int:
    return main(["push-profiles", "--pipelines-dir", str(tmp_path / "pipelines"), *args])


def results(path: Path) -> list[dict[str, Any]]:
    return read_results(str(path)).to_pylist()


def actions(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results(path):
        out[r["action"]] = out.get(r["action"], 0) + 1
    return out


def writes_of(sim: Any, method: str) -> int:
    return sum(1 for w in sim.writes if w.method == method and "/profiles" in w.path)


# -- upsert: create, re-run, change --------------------------------------------------------------------------
def test_upsert_creates_then_rerun_updates_and_changes_touch_only_changed(sim: Any, tmp_path: Path) -> None:
    t = field_names(sim)
    email, name = t["email"], text_field(sim)
    rows = make_rows(sim, 30)
    src = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "results.csv"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", email, "--results", str(out)) == 0
    assert actions(out) == {"created": 30}
    truth = profiles_by_key(sim, email)
    assert len(truth) == 30 and all(len(v) == 1 for v in truth.values())
    assert {r["profile_id"] for r in results(out)} == {v[0]["id"] for v in truth.values()}
    assert writes_of(sim, "POST") == 0  # upsert never POSTs

    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", email, "--results", str(out)) == 0
    assert actions(out) == {"updated": 30}
    again = profiles_by_key(sim, email)
    assert {k: v[0]["id"] for k, v in again.items()} == {k: v[0]["id"] for k, v in truth.items()}
    assert {r["profile_id"] for r in results(out)} == {v[0]["id"] for v in truth.values()}

    changed = [dict(r) for r in rows]
    for i in (3, 7, 11):
        changed[i][name] = f"Changed {i}"
    sim.clear_logs()
    src2 = write_csv(tmp_path / "changed.csv", changed)
    assert push(tmp_path, "--input", str(src2), "--database", "1", "--key", email, "--results", str(out)) == 0
    after = profiles_by_key(sim, email)
    assert len(after) == 30 and all(len(v) == 1 for v in after.values())
    for i, r in enumerate(changed):
        assert after[f"user{i}@{DOMAIN}"][0][name.lower()] == r[name]
    assert sum(1 for v in after.values() if v[0][name.lower()].startswith("Changed")) == 3


def test_database_by_name_and_settings_from_destination_config(sim: Any, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    t = field_names(sim)
    db_name = next(iter(sim.dataset.rows("database/1")))["name"]
    monkeypatch.setenv("DESTINATION__COPERNICA_PROFILES__DATABASE", db_name)
    monkeypatch.setenv("DESTINATION__COPERNICA_PROFILES__KEY", t["email"])
    src = write_csv(tmp_path / "in.csv", make_rows(sim, 5))
    assert push(tmp_path, "--input", str(src), "--results", str(tmp_path / "r.csv")) == 0
    assert actions(tmp_path / "r.csv") == {"created": 5}
    assert len(profiles_by_key(sim, t["email"])) == 5


# -- every input path gives the same profiles ---------------------------------------------------------------
@pytest.mark.slow
def test_every_input_format_and_python_api_make_the_same_profiles(copernica_simulator_factory: Any,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    probe = copernica_simulator_factory(**SIM)
    t = field_names(probe)
    email, integer, name = t["email"], t["integer"], text_field(probe)
    rows = make_rows(probe, 12)
    table = pa.Table.from_pylist(rows, schema=pa.schema([(email, pa.string()), (name, pa.string()),
                                                         (integer, pa.int64())]))
    write_csv(tmp_path / "in.csv", rows)
    pq.write_table(table, tmp_path / "in.parquet")
    with open(tmp_path / "in.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    with duckdb.connect(str(tmp_path / "in.duckdb")) as con:
        con.register("arrow_rows", table)
        con.execute("CREATE TABLE audience AS SELECT * FROM arrow_rows")

    def state(sim: Any) -> dict[str, tuple[str, str]]:
        got = profiles_by_key(sim, email)
        assert all(len(v) == 1 for v in got.values())
        return {k: (str(v[0][name.lower()]), str(v[0][integer.lower()])) for k, v in got.items()}

    expected = {f"user{i}@{DOMAIN}": (f"Name {i}", str(i)) for i in range(12)}
    cli_inputs = {
        "csv": ["--input", str(tmp_path / "in.csv")],
        "parquet": ["--input", str(tmp_path / "in.parquet")],
        "jsonl": ["--input", str(tmp_path / "in.jsonl")],
        "duckdb table": ["--duckdb", str(tmp_path / "in.duckdb"), "--table", "audience"],
        "duckdb query": ["--duckdb", str(tmp_path / "in.duckdb"), "--query",
                         f"SELECT * FROM audience ORDER BY {integer}"],
    }
    for label, args in cli_inputs.items():
        sim = copernica_simulator_factory(**SIM)
        for k, v in _env(sim).items():
            monkeypatch.setenv(k, v)
        out = tmp_path / f"{label}.csv"
        assert push(tmp_path, *args, "--database", "1", "--key", email, "--results", str(out),
                    "--pipeline-name", label.replace(" ", "_")) == 0, label
        assert state(sim) == expected, label

    import pandas as pd

    for label, data in {"dataframe": pd.DataFrame(rows), "arrow": table}.items():
        sim = copernica_simulator_factory(**SIM)
        dest = copernica_profiles(database=1, key=email, results_path=str(tmp_path / f"{label}.csv"),
                                  access_token=sim.access_token, base_url=sim.base_url, auth_url=sim.auth_url)
        pipeline = dlt.pipeline(f"api_{label}", destination=dest, pipelines_dir=str(tmp_path / "api"))
        pipeline.run(data, table_name="audience").raise_on_failed_jobs()
        assert state(sim) == expected, label
        assert actions(tmp_path / f"{label}.csv") == {"created": 12}


# -- bad input --------------------------------------------------------------------------------------------
def test_mixed_bad_rows_are_rejected_with_reasons_and_good_rows_written(sim: Any, tmp_path: Path) -> None:
    t = field_names(sim)
    email, integer, name = t["email"], t["integer"], text_field(sim)
    header = [email, name, integer]
    lines = [
        f"ok1@{DOMAIN},Good One,1",
        ",No Key,2",                      # missing key
        "not-an-email,Bad Email,3",       # bad email
        f"ok2@{DOMAIN},Text Int,abc",     # text in an integer field
        f"ok3@{DOMAIN},Too,Many,Cells",   # malformed record
        f"ok4@{DOMAIN},Good Four,",       # empty integer cell: left alone, row is fine
        f"=evil@{DOMAIN},Operator Key,5",  # key that would garble the selector
    ]
    src = tmp_path / "mixed.csv"
    src.write_text(",".join(header) + "\n" + "\n".join(lines) + "\n")
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", email, "--results", str(out)) == 1
    by_row = {r["row"]: r for r in results(out)}
    assert len(by_row) == len(lines)  # nothing silently dropped
    assert by_row[1]["action"] == "created" and by_row[6]["action"] == "created"
    assert by_row[2]["action"] == "rejected" and "key is missing" in by_row[2]["message"]
    assert by_row[3]["action"] == "rejected" and "not an e-mail address: it has no @" in by_row[3]["message"]
    assert by_row[4]["action"] == "rejected" and "not an integer" in by_row[4]["message"]
    assert by_row[5]["action"] == "rejected" and "malformed CSV" in by_row[5]["message"]
    assert by_row[7]["action"] == "rejected" and "operator" in by_row[7]["message"]
    truth = profiles_by_key(sim, email)
    assert set(truth) == {f"ok1@{DOMAIN}", f"ok4@{DOMAIN}"}
    assert all("abc" not in json.dumps(w.body) for w in sim.writes)


def test_unknown_columns_empty_and_unreadable_inputs_fail_before_any_write(sim: Any, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    t = field_names(sim)
    email = t["email"]
    rows = [{**r, "shoe_size": 42, "favourite_colour": "red"} for r in make_rows(sim, 3)]
    src = write_csv(tmp_path / "extra.csv", rows)
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", email) == 1
    err = capsys.readouterr().err
    assert "shoe_size" in err and "favourite_colour" in err and "--ignore-unknown-columns" in err
    assert not sim.writes
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", email, "--ignore-unknown-columns",
                "--results", str(out)) == 0
    assert actions(out) == {"created": 3}
    assert all("shoe_size" not in json.dumps(w.body) for w in sim.writes)
    sim.clear_logs()

    (tmp_path / "empty.csv").write_text("")
    assert push(tmp_path, "--input", str(tmp_path / "empty.csv"), "--database", "1", "--key", email) == 1
    assert "empty" in capsys.readouterr().err
    (tmp_path / "broken.csv").write_text(f'{email},x\n"unterminated@{DOMAIN},1\n')
    assert push(tmp_path, "--input", str(tmp_path / "broken.csv"), "--database", "1", "--key", email) == 1
    assert "malformed CSV" in capsys.readouterr().err
    src3 = write_csv(tmp_path / "nokey.csv", make_rows(sim, 2))
    assert push(tmp_path, "--input", str(src3), "--database", "1", "--key", "no_such_column") == 1
    assert "key column 'no_such_column'" in capsys.readouterr().err
    assert push(tmp_path, "--input", str(src3), "--database", "no-such-database", "--key", email) == 1
    assert "no database 'no-such-database'" in capsys.readouterr().err
    assert not sim.writes


def test_dry_run_checks_every_row_and_writes_nothing(sim: Any, tmp_path: Path) -> None:
    t = field_names(sim)
    rows = make_rows(sim, 4)
    rows[2][t["integer"]] = "twelve"
    src = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "r.parquet"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--dry-run",
                "--results", str(out)) == 1
    got = pq.read_table(out).to_pylist()
    assert [r["action"] for r in got] == ["valid", "valid", "rejected", "valid"]
    assert not sim.writes


# -- keys ---------------------------------------------------------------------------------------------------
def test_awkward_keys_match_exactly_and_ambiguous_ones_are_refused(sim: Any, tmp_path: Path) -> None:
    key = text_field(sim)
    name = text_field(sim, skip=(key,))
    keys = ["cust-a&b=c", "cust-x+y z", "cust-100%_", "cust-<>~!", "CUST-Case"]
    rows = [{key: k, name: f"v{i}"} for i, k in enumerate(keys)]
    rows += [{key: "007", name: "leading zero"}, {key: "1e3", name: "exponent"}]
    src = write_csv(tmp_path / "keys.csv", rows)
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", key, "--results", str(out)) == 1
    by_row = {r["row"]: r for r in results(out)}
    assert [by_row[i]["action"] for i in range(1, 6)] == ["created"] * 5
    assert by_row[6]["action"] == by_row[7]["action"] == "rejected"
    assert "number" in by_row[6]["message"]
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", key, "--results", str(out)) == 1
    assert [r["action"] for r in results(out)][:5] == ["updated"] * 5
    truth = profiles_by_key(sim, key)
    assert sorted(truth) == sorted(k.lower() for k in keys) and all(len(v) == 1 for v in truth.values())


def test_same_key_twice_in_one_input_makes_one_profile_with_the_last_values(sim: Any, tmp_path: Path) -> None:
    t = field_names(sim)
    name = text_field(sim)
    rows = make_rows(sim, 3) + [{t["email"]: f"USER1@{DOMAIN}", name: "Later", t["integer"]: 99}]
    src = write_csv(tmp_path / "in.csv", rows)
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--batch-size", "2",
                "--results", str(tmp_path / "r.csv")) == 0
    truth = profiles_by_key(sim, t["email"])
    assert len(truth) == 3 and len(truth[f"user1@{DOMAIN}"]) == 1
    assert truth[f"user1@{DOMAIN}"][0][name.lower()] == "Later"


def test_existing_duplicates_are_reported_on_the_row(sim: Any, tmp_path: Path) -> None:
    t = field_names(sim)
    with CopernicaClient(sim.access_token, sim.base_url, auth_url=sim.auth_url) as client:
        for _ in range(2):
            client.request("POST", "database/1/profiles", json={"fields": {t["email"]: f"twin@{DOMAIN}"}})
    src = write_csv(tmp_path / "in.csv", [{t["email"]: f"twin@{DOMAIN}", t["integer"]: 5}])
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--results", str(out)) == 0
    (row,) = results(out)
    assert row["action"] == "updated" and "2 profiles have this key" in row["message"]


# -- create and update modes ------------------------------------------------------------------------------
def test_create_mode_never_duplicates_when_answers_are_lost(sim: Any, tmp_path: Path) -> None:
    t = field_names(sim)
    src = write_csv(tmp_path / "in.csv", make_rows(sim, 20))
    sim.set_faults(0.3, ["drop", "truncate"])
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--mode", "create",
                "--results", str(out)) == 0
    sim.set_faults(0.0)
    assert actions(out) == {"created": 20}
    truth = profiles_by_key(sim, t["email"])
    assert len(truth) == 20 and all(len(v) == 1 for v in truth.values())
    assert any(w.method == "POST" and w.status == 201 for w in sim.writes)
    # create mode again: every key exists now, nothing is created or changed
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--mode", "create",
                "--results", str(out)) == 1
    assert actions(out) == {"failed": 20}
    assert "already exists" in results(out)[0]["message"]
    assert len(profiles_by_key(sim, t["email"])) == 20


def test_update_mode_changes_existing_profiles_and_creates_none(sim: Any, tmp_path: Path) -> None:
    t = field_names(sim)
    name = text_field(sim)
    assert push(tmp_path, "--input", str(write_csv(tmp_path / "a.csv", make_rows(sim, 3))), "--database", "1",
                "--key", t["email"], "--results", str(tmp_path / "a_r.csv")) == 0
    rows = make_rows(sim, 5, suffix=" v2")  # users 3 and 4 do not exist
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--input", str(write_csv(tmp_path / "b.csv", rows)), "--database", "1", "--key",
                t["email"], "--mode", "update", "--results", str(out)) == 1
    got = {r["row"]: r for r in results(out)}
    assert [got[i]["action"] for i in range(1, 6)] == ["updated"] * 3 + ["failed"] * 2
    assert "not found" in got[4]["message"]
    truth = profiles_by_key(sim, t["email"])
    assert len(truth) == 3 and truth[f"user0@{DOMAIN}"][0][name.lower()] == "Name 0 v2"


# -- interests ----------------------------------------------------------------------------------------------
def test_interests_from_a_text_column_and_a_list_column(sim: Any, tmp_path: Path) -> None:
    t = field_names(sim)
    declared = [str(i["name"]) for i in sim.dataset.rows("database/1/interests")]
    first, second, third, fourth = declared[:4]
    rows = [{t["email"]: f"fan{i}@{DOMAIN}", "hobbies": f"{first}, {second.upper()}" if i else ""} for i in range(2)]
    rows.append({t["email"]: f"fan3@{DOMAIN}", "hobbies": f"{first}, football, chess"})  # undeclared names (A36)
    src = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--interests", "hobbies",
                "--results", str(out)) == 1
    by_row = {r["row"]: r for r in results(out)}
    assert by_row[1]["action"] == by_row[2]["action"] == "created"
    assert by_row[3]["action"] == "rejected"
    assert "hobbies: 'football', 'chess' are not interests of the database" in by_row[3]["message"]
    assert ", ".join(declared) in by_row[3]["message"]
    table = pa.table({t["email"]: [f"fan2@{DOMAIN}"], "tags": [[third, fourth]]})
    pq.write_table(table, tmp_path / "in.parquet")
    assert push(tmp_path, "--input", str(tmp_path / "in.parquet"), "--database", "1", "--key", t["email"],
                "--interests", "tags", "--results", str(tmp_path / "r2.csv")) == 0
    bodies = {w.body["fields"][t["email"]]: w.body for w in sim.writes if w.method == "PUT"}
    assert f"fan3@{DOMAIN}" not in bodies  # never sent

    def exactly(*names: str) -> dict[str, int]:  # every interest of the database as name: 1|0 ("exactly these")
        return {n: int(n in names) for n in declared}

    assert bodies[f"fan1@{DOMAIN}"]["interests"] == exactly(first, second)
    assert "interests" not in bodies[f"fan0@{DOMAIN}"]  # an empty cell leaves interests alone
    assert bodies[f"fan2@{DOMAIN}"]["interests"] == exactly(third, fourth)


# -- faults and kills ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ten_percent_faults_end_in_the_same_state_as_none(copernica_simulator_factory: Any, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    states = []
    for rate in (0.0, 0.1):
        sim = copernica_simulator_factory(**SIM)
        for k, v in _env(sim).items():
            monkeypatch.setenv(k, v)
        t = field_names(sim)
        name = text_field(sim)
        src = write_csv(tmp_path / "in.csv", make_rows(sim, 60))
        sim.set_faults(rate, ["429", "502", "503", "504", "drop", "truncate"])
        out = tmp_path / f"r{rate}.csv"
        assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--results", str(out),
                    "--pipeline-name", f"faults{int(rate * 100)}") == 0
        sim.set_faults(0.0)
        truth = profiles_by_key(sim, t["email"])
        assert all(len(v) == 1 for v in truth.values())
        states.append({k: (v[0][name.lower()], v[0][t["integer"].lower()]) for k, v in truth.items()})
        if rate:
            assert any(r.fault for r in sim.requests)
            assert sorted(r["row"] for r in results(out)) == list(range(1, 61))
    assert states[0] == states[1] and len(states[0]) == 60


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["upsert", "create"])
def test_sigkill_mid_run_then_rerun_leaves_each_profile_once_and_skips_done_rows(
        copernica_simulator_factory: Any, tmp_path: Path, mode: str) -> None:
    sim = copernica_simulator_factory(**SIM, latency_ms=20)
    t = field_names(sim)
    name = text_field(sim)
    n, concurrency = 400, 4
    src = write_csv(tmp_path / "in.csv", make_rows(sim, n))
    cmd = [sys.executable, "-m", "copernica_source.cli", "push-profiles", "--input", str(src), "--database", "1",
           "--key", t["email"], "--batch-size", "50", "--concurrency", str(concurrency), "--mode", mode,
           "--results", str(tmp_path / "r.csv"), "--pipelines-dir", str(tmp_path / "pipelines")]
    env = dict(os.environ, **_env(sim))
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(sim.writes) < 120 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = len(sim.writes)
    assert 0 < len(profiles_by_key(sim, t["email"])) < n, "the kill should land mid-run"
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming" in done.stderr
    truth = profiles_by_key(sim, t["email"])
    assert len(truth) == n and all(len(v) == 1 for v in truth.values())
    assert all(truth[f"user{i}@{DOMAIN}"][0][name.lower()] == f"Name {i}" for i in range(n))
    got = results(tmp_path / "r.csv")
    assert sorted(r["row"] for r in got) == list(range(1, n + 1))  # each row exactly once
    assert {r["profile_id"] for r in got} == {v[0]["id"] for v in truth.values()}
    writes = [w for w in sim.writes if w.method == ("PUT" if mode == "upsert" else "POST")]
    assert first < len(writes)
    if mode == "upsert":
        # only the rows in flight at the kill are sent again: rows with a result never are
        assert len(writes) <= n + concurrency
        assert {r["action"] for r in got} <= {"created", "updated"}
        resent = [r for r in got if "interrupted run" in r["message"]]
        assert len(resent) <= concurrency and all(r["action"] == "updated" for r in resent)
    else:
        # every profile was made by this push, once: none is reported as a failure or "already exists"
        assert len(writes) == n
        assert {r["action"] for r in got} == {"created"}
        assert not any("already exists" in r["message"] for r in got)


# -- dry run and results file -------------------------------------------------------------------------------
def test_dry_run_reports_rows_as_a_real_run_does(sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same key cell and terminal line for a row with no key, and a key repeated within the input is said on
    the later row (the real run writes row 1 first and row 4 after it, to the same profile)."""
    t = field_names(sim)
    rows = make_rows(sim, 3) + [{t["email"]: f"USER0@{DOMAIN}"}, {t["email"]: ""}]
    src = write_csv(tmp_path / "in.csv", rows)
    args = ["--input", str(src), "--database", "1", "--key", t["email"]]
    out = {run: tmp_path / f"{run}.csv" for run in ("dry", "real")}
    for run, extra in (("dry", ["--dry-run"]), ("real", [])):
        assert push(tmp_path, *args, "--results", str(out[run]), *extra) == 1
        err = capsys.readouterr().err
        assert f"row 5 (): rejected: {t['email']}: the key is missing" in err and "(None)" not in err
    dry, real = results(out["dry"]), results(out["real"])
    assert [r["key"] for r in dry] == [r["key"] for r in real] and dry[4]["key"] == ""
    assert all(out[run].read_text().splitlines()[5].startswith('5,"","rejected",') for run in out)  # "", not null
    assert [r["action"] for r in dry] == ["valid"] * 4 + ["rejected"]
    assert dry[0]["message"] == ""
    assert dry[3]["message"] == ("valid; the same key as row 1: this row updates the profile row 1 makes "
                                 "(its values win)")
    assert [r["action"] for r in real] == ["created"] * 3 + ["updated", "rejected"]
    assert dry[3]["profile_id"] is None and real[3]["profile_id"] == real[0]["profile_id"]
    assert push(tmp_path, *args, "--mode", "create", "--dry-run", "--results", str(out["dry"])) == 1
    assert "create mode makes one profile per key, so this row would fail" in results(out["dry"])[3]["message"]


def test_a_run_keeps_the_results_it_replaces(sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed or dry run must not silently lose the results (the profile IDs) of the run before it."""
    t = field_names(sim)
    src = write_csv(tmp_path / "in.csv", make_rows(sim, 5))
    args = ["--input", str(src), "--database", "1", "--key", t["email"]]
    monkeypatch.chdir(tmp_path)  # the default results file is in the working folder
    assert push(tmp_path, *args) == 0
    assert "previous" not in capsys.readouterr().err  # nothing was replaced
    first = results(tmp_path / "push_profiles_results.csv")
    assert [r["action"] for r in first] == ["created"] * 5
    assert push(tmp_path, *args, "--dry-run") == 0
    err = capsys.readouterr().err
    kept = tmp_path / "push_profiles_results.previous.csv"
    assert f"the previous results in push_profiles_results.csv are kept in {kept.name}" in err
    assert results(kept) == first and oct(kept.stat().st_mode & 0o777) == "0o600"
    assert [r["action"] for r in results(tmp_path / "push_profiles_results.csv")] == ["valid"] * 5
    parquet = tmp_path / "r.parquet"
    for _ in range(2):
        assert push(tmp_path, *args, "--results", str(parquet)) == 0
    assert pq.read_table(tmp_path / "r.previous.parquet").num_rows == 5

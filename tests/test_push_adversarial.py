"""Hostile input and mid-push trouble through the real `copernica push-profiles` against the simulator: one bad row
never blocks the rest, every input row gets exactly one result, every field type's limit is enforced before
anything is sent, large cells and failing queries are reported on the row or with their cause, and what the push
writes about people is private."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from copernica_source.errors import TransientError
from copernica_source.push import destination as push_destination
from copernica_source.push.writer import ProfileWriter
from tests.test_push_profiles import DOMAIN, SIM, _env, field_names, profiles_by_key, push, results, write_csv

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # what Copernica's integer fields are taken to hold (A40)


@pytest.fixture
def sim(copernica_simulator_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    s = copernica_simulator_factory(**SIM)
    for k, v in _env(s).items():
        monkeypatch.setenv(k, v)
    return s


def puts(sim: Any) -> list[Any]:
    return [w for w in sim.writes if w.method == "PUT" and "/profiles" in w.path]


def one_result_per_row(path: Path, n: int) -> dict[int, dict[str, Any]]:
    got = results(path)
    assert sorted(r["row"] for r in got) == list(range(1, n + 1))  # every input row, exactly once
    return {r["row"]: r for r in got}


def emails(n: int) -> list[str]:
    return [f"user{i}@{DOMAIN}" for i in range(n)]


# -- 1. one row that cannot be sent -------------------------------------------------------------------------
def test_poisoned_integer_is_rejected_on_its_row_and_the_rest_is_written(sim: Any, tmp_path: Path) -> None:
    t = field_names(sim)
    src = tmp_path / "in.csv"
    keys = emails(6)
    lines = [f"{k},{i}" for i, k in enumerate(keys)]
    lines[2] = f"{keys[2]},99999999999999999999999"
    src.write_text(f"{t['email']},{t['integer']}\n" + "\n".join(lines) + "\n")
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--results", str(out)) == 1
    by_row = one_result_per_row(out, 6)
    assert by_row[3]["action"] == "rejected"
    assert by_row[3]["message"].startswith(f"{t['integer']}: ") and "64-bit" in by_row[3]["message"]
    assert [by_row[i]["action"] for i in (1, 2, 4, 5, 6)] == ["created"] * 5
    assert len(puts(sim)) == 5  # the bad row is never sent, the others once each
    assert set(profiles_by_key(sim, t["email"])) == {k for i, k in enumerate(keys) if i != 2}


def test_a_row_that_cannot_be_encoded_fails_alone_and_no_batch_is_resent(sim: Any, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A value that passed every check but cannot be sent (here: an integer JSON cannot carry) fails its row."""
    t = field_names(sim)
    real_body = ProfileWriter._body

    def body(self: ProfileWriter, c: Any) -> dict[str, Any]:
        out = real_body(self, c)
        if c.key == f"user3@{DOMAIN}":
            out["fields"][t["integer"]] = 10**20
        return out

    monkeypatch.setattr(ProfileWriter, "_body", body)
    src = write_csv(tmp_path / "in.csv", [{t["email"]: k} for k in emails(8)])
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--batch-size", "4",
                "--results", str(out)) == 1
    by_row = one_result_per_row(out, 8)
    assert by_row[4]["action"] == "failed"
    assert "before it was sent" in by_row[4]["message"] and "Integer exceeds 64-bit range" in by_row[4]["message"]
    assert "\n" not in by_row[4]["message"]
    assert sum(r["action"] == "created" for r in by_row.values()) == 7
    assert len(puts(sim)) == 7  # every other row once: nothing re-sent
    captured = capsys.readouterr()
    assert "7 created, 0 updated, 0 rejected, 1 failed" in captured.out
    assert "error:" not in captured.err


def test_an_outage_stops_the_push_with_every_row_accounted_and_a_rerun_finishes(
        sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = field_names(sim)
    real_upsert = ProfileWriter._upsert
    down = {"on": True}

    def upsert(self: ProfileWriter, c: Any, *args: Any) -> Any:
        if down["on"] and c.key == f"user4@{DOMAIN}":
            raise TransientError("PUT database/1/profiles: 503 after 5 attempts")
        return real_upsert(self, c, *args)

    monkeypatch.setattr(ProfileWriter, "_upsert", upsert)
    keys = emails(12)
    src = write_csv(tmp_path / "in.csv", [{t["email"]: k} for k in keys])
    args = ["--input", str(src), "--database", "1", "--key", t["email"], "--batch-size", "4", "--concurrency", "1",
            "--results", str(tmp_path / "r.csv")]
    assert push(tmp_path, *args) == 1
    by_row = one_result_per_row(tmp_path / "r.csv", 12)
    # one thread: once row 5 meets the outage, rows 6-8 of its batch are not started, and dlt does not retry
    assert [by_row[i]["action"] for i in range(1, 13)] == ["created"] * 4 + ["not_sent"] * 8
    assert by_row[9]["key"] == keys[8]  # a row not sent still names its key
    captured = capsys.readouterr()
    assert "4 created, 0 updated, 0 rejected, 0 failed, 8 not sent" in captured.out
    assert "error: Copernica was unavailable" in captured.err and "503 after 5 attempts" in captured.err
    assert "run the same command again" in captured.err
    assert "Traceback" not in captured.err and "Transient exception" not in captured.err
    assert len(puts(sim)) == 4

    down["on"] = False
    assert push(tmp_path, *args) == 0
    by_row = one_result_per_row(tmp_path / "r.csv", 12)
    assert {r["action"] for r in by_row.values()} == {"created"}
    assert len(puts(sim)) == 12  # each row sent once over both runs
    truth = profiles_by_key(sim, t["email"])
    assert len(truth) == 12 and all(len(v) == 1 for v in truth.values())


def test_an_unexpected_stop_names_its_cause_tells_what_to_do_and_is_not_retried(
        sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = field_names(sim)
    calls = {"n": 0}
    real_rows_of = push_destination._rows_of

    def broken(items: Any) -> Any:
        calls["n"] += 1
        raise RuntimeError("")  # no text at all: the error line must still say what happened

    monkeypatch.setattr(push_destination, "_rows_of", broken)
    src = write_csv(tmp_path / "in.csv", [{t["email"]: k} for k in emails(3)])
    args = ["--input", str(src), "--database", "1", "--key", t["email"], "--results", str(tmp_path / "r.csv")]
    assert push(tmp_path, *args) == 1
    assert calls["n"] == 1  # stopped once, not retried five times
    err = capsys.readouterr().err
    error_line = next(line for line in err.splitlines() if line.startswith("error:"))
    assert "RuntimeError" in error_line and not error_line.rstrip().endswith(":")
    assert "--discard-pending" in err and "run the same command again to finish" not in err
    assert [r["action"] for r in results(tmp_path / "r.csv")] == ["not_sent"] * 3

    monkeypatch.setattr(push_destination, "_rows_of", real_rows_of)
    assert push(tmp_path, *args, "--discard-pending") == 0  # the advice works
    assert [r["action"] for r in results(tmp_path / "r.csv")] == ["created"] * 3


# -- 2. every field type's limit ---------------------------------------------------------------------------
def test_every_field_type_has_a_limit_and_a_bad_value_is_refused_naming_its_column(sim: Any,
                                                                                   tmp_path: Path) -> None:
    t = field_names(sim)
    email, integer, fk, flt = t["email"], t["integer"], t["foreign_key"], t["float"]
    text, big, phone, select = t["text"], t["big"], t["phone_gsm"], t["select"]
    text_len = next(int(f["length"]) for f in sim.dataset.rows("database/1/fields") if f["name"] == text)
    options = next(str(f["value"]).splitlines() for f in sim.dataset.rows("database/1/fields") if f["name"] == select)
    cases: list[tuple[str, Any, str | None]] = [  # column, value, expected problem (None: accepted)
        (integer, str(INT64_MAX), None),
        (fk, str(INT64_MIN), None),
        (text, "x" * text_len, None),
        (big, "é" * 32767 + "a", None),  # 65,535 UTF-8 bytes
        (big, "tab\there\r\nand lines", None),
        (select, options[0], None),
        (integer, str(INT64_MAX + 1), "64-bit"),
        (integer, "-" + "9" * 5000, "64-bit"),
        (fk, str(2**64), "64-bit"),
        (flt, "1e999", "not a finite number"),
        (text, "x" * (text_len + 1), f"longer than the field's {text_len}"),
        (big, "é" * 32768, "65,536 UTF-8 bytes"),
        (phone, "+31 " + "6" * 61, "at most 64"),
        (select, "Atlantis", "not one of the options"),
        (text, "nul\x00byte", "NUL byte"),
        (t["text"], "esc\x1bape", "control character"),
        (big, "del\x7fete", "control character"),
        (integer, "12\x00", "NUL byte"),
    ]
    rows = [{email: f"lim{i}@{DOMAIN}", col: value} for i, (col, value, _) in enumerate(cases)]
    rows.append({email: f"foo@bar.com;DROP{DOMAIN}"})
    rows.append({email: f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 16}.com"})  # 212 characters: over the field's
    src = write_csv(tmp_path / "in.csv", rows, header=[email, integer, fk, flt, text, big, phone, select])
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", email, "--results", str(out)) == 1
    by_row = one_result_per_row(out, len(rows))
    for i, (col, _, problem) in enumerate(cases, 1):
        got = by_row[i]
        if problem is None:
            assert got["action"] == "created", (col, got)
        else:
            assert got["action"] == "rejected", (col, got)
            assert got["message"].startswith(f"{col}: ") and problem in got["message"], (col, got)
    assert by_row[len(cases) + 1]["action"] == by_row[len(cases) + 2]["action"] == "rejected"
    sent = json.dumps([w.body for w in sim.writes])
    assert "Atlantis" not in sent and "\\u0000" not in sent and str(2**64) not in sent
    assert len(puts(sim)) == sum(p is None for *_, p in cases)


def test_control_characters_in_jsonl_values_are_refused(sim: Any, tmp_path: Path) -> None:
    t = field_names(sim)
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [
        {t["email"]: f"ok@{DOMAIN}", t["text"]: "fine"},
        {t["email"]: f"nul@{DOMAIN}", t["text"]: "a\u0000b"},
        {t["email"]: f"c1@{DOMAIN}", t["text"]: "a\u0085b"},
    ]) + "\n")
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--results", str(out)) == 1
    by_row = one_result_per_row(out, 3)
    assert by_row[1]["action"] == "created"
    assert by_row[2]["action"] == by_row[3]["action"] == "rejected"
    assert by_row[2]["message"].startswith(f"{t['text']}: holds a NUL byte")
    assert len(puts(sim)) == 1


# -- 4. large cells and failing queries ---------------------------------------------------------------------
@pytest.mark.parametrize("size", [200_000, 5_000_000])  # over the csv module's limit; over pyarrow's 4 MiB block
def test_a_huge_csv_cell_is_one_rows_rejection_not_the_files(sim: Any, tmp_path: Path, size: int) -> None:
    t = field_names(sim)
    rows = [{t["email"]: k, t["big"]: "short"} for k in emails(4)]
    rows[1][t["big"]] = "x" * size
    src = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--results", str(out)) == 1
    by_row = one_result_per_row(out, 4)
    assert by_row[2]["action"] == "rejected" and f"{size:,} UTF-8 bytes" in by_row[2]["message"]
    assert [by_row[i]["action"] for i in (1, 3, 4)] == ["created"] * 3


def test_a_duckdb_query_failing_while_streaming_shows_duckdbs_message(sim: Any, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    t = field_names(sim)
    db = tmp_path / "in.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(f"CREATE TABLE audience AS SELECT 'user' || i || '@{DOMAIN}' AS email, "
                    "CASE WHEN i = 25 THEN 'x' ELSE i::VARCHAR END AS n FROM range(30) r(i)")
    bad = f"SELECT email AS {t['email']}, CAST(n AS INTEGER) AS {t['integer']} FROM audience"
    out = tmp_path / "r.csv"
    assert push(tmp_path, "--duckdb", str(db), "--query", bad, "--database", "1", "--key", t["email"],
                "--results", str(out)) == 1
    err = capsys.readouterr().err
    assert "Conversion Error" in err and "fix the query" in err
    assert "run the same command again to finish" not in err
    assert not sim.writes
    assert {r["action"] for r in results(out)} == {"not_sent"} and len(results(out)) == 30
    fixed = bad + " WHERE n <> 'x'"
    assert push(tmp_path, "--duckdb", str(db), "--query", fixed, "--database", "1", "--key", t["email"],
                "--results", str(out)) == 0  # no pending push of the failed query is in the way
    assert len(profiles_by_key(sim, t["email"])) == 29


# -- 5. private files ---------------------------------------------------------------------------------------
def test_results_journal_and_folders_the_push_creates_are_private(sim: Any, tmp_path: Path) -> None:
    t = field_names(sim)
    src = write_csv(tmp_path / "in.csv", [{t["email"]: k} for k in emails(2)])
    out = tmp_path / "new" / "deeper" / "r.csv"
    old = os.umask(0o022)
    try:
        assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--results",
                    str(out)) == 0
        out_pq = tmp_path / "r.parquet"
        out_pq.write_text("")
        os.chmod(out_pq, 0o644)  # an existing results file is replaced by a private one
        assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--results",
                    str(out_pq)) == 0
    finally:
        os.umask(old)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    assert mode(out) == mode(out_pq) == 0o600
    assert mode(tmp_path / "new") == mode(tmp_path / "new" / "deeper") == 0o700
    working = tmp_path / "pipelines" / "copernica_push_profiles"
    assert mode(working) == 0o700
    assert mode(working / "push_results_journal.csv") == 0o600
    assert mode(working / "push_run.json") == 0o600


# -- 6. Copernica down mid-push ------------------------------------------------------------------------------
@pytest.mark.slow
def test_copernica_down_mid_push_stops_after_the_clients_retries_and_the_same_command_resumes(
        copernica_simulator_factory: Any, tmp_path: Path) -> None:
    """dlt would retry a batch that met an outage five times, each retry waiting out retry_max_seconds again (QA:
    11.5 minutes and 16 dlt tracebacks): the push stops at the first, says so in one line, and a re-run resumes."""
    sim = copernica_simulator_factory(**SIM, latency_ms=5)
    t = field_names(sim)
    n, concurrency = 600, 4
    src = write_csv(tmp_path / "in.csv", [{t["email"]: k, t["integer"]: i} for i, k in enumerate(emails(n))])
    out = tmp_path / "r.csv"
    cmd = [sys.executable, "-m", "copernica_source.cli", "push-profiles", "--input", str(src), "--database", "1",
           "--key", t["email"], "--batch-size", "50", "--concurrency", str(concurrency), "--results", str(out),
           "--pipelines-dir", str(tmp_path / "pipelines")]
    env = dict(os.environ, **_env(sim), SOURCES__COPERNICA__RETRY_MAX_SECONDS="2")
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(puts(sim)) < 120 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    sim.set_faults(1.0, ["503"])  # from here on Copernica answers nothing but 503
    stdout, stderr = proc.communicate(timeout=90)
    took = time.monotonic() - started
    assert proc.returncode == 1, stderr[-2000:]
    assert took < 60, f"the push went on for {took:.0f}s while Copernica was down"
    assert "Traceback" not in stderr and "Transient exception" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Copernica was unavailable" in errors[0]
    assert "run the same command again to finish the push" in stderr
    assert stderr.count("retrying PUT") <= 4 * concurrency  # only the rows in flight retried, once each
    by_row = one_result_per_row(out, n)
    counts = {a: sum(r["action"] == a for r in by_row.values()) for a in ("created", "not_sent")}
    assert counts["created"] >= 100 and counts["not_sent"] > 0 and sum(counts.values()) == n
    assert f"{counts['not_sent']:,} not sent" in stdout
    assert all(r["key"] == f"user{i - 1}@{DOMAIN}" for i, r in by_row.items())

    sim.set_faults(0.0)  # Copernica is back: the same command resumes the pending package
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming" in done.stderr
    by_row = one_result_per_row(out, n)
    assert {r["action"] for r in by_row.values()} <= {"created", "updated"}
    truth = profiles_by_key(sim, t["email"])
    assert len(truth) == n and all(len(v) == 1 for v in truth.values())


# -- 7. what the push shows and writes ----------------------------------------------------------------------
def test_control_characters_in_keys_are_escaped_on_the_terminal_and_in_the_results(
        sim: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = field_names(sim)
    nul, esc = f"nulkey\x00@{DOMAIN}", f"esc\x1b]0;pwned\x07\x1b[31m@{DOMAIN}"
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({t["email"]: k}) for k in (f"ok@{DOMAIN}", nul, esc, f"bidi\u202e@{DOMAIN}"))
                   + "\n")
    for extra in ([], ["--dry-run"]):
        for out in (tmp_path / "r.csv", tmp_path / "r.parquet"):
            assert push(tmp_path, "--input", str(src), "--database", "1", "--key", t["email"], "--results", str(out),
                        *extra) == 1
            captured = capsys.readouterr()
            shown = captured.out + captured.err
            assert not any(c in shown for c in "\x00\x1b\x07\u202e"), shown
            assert f"row 2 (nulkey\\x00@{DOMAIN}): rejected" in captured.err
            assert f"row 3 (esc\\x1b]0;pwned\\x07\\x1b[31m@{DOMAIN}): rejected" in captured.err
            assert f"row 4 (bidi\\u202e@{DOMAIN}): rejected" in captured.err
            got = pq.read_table(out).to_pylist() if out.suffix == ".parquet" else results(out)
            assert sorted(r["row"] for r in got) == [1, 2, 3, 4]
            by_row = {r["row"]: r for r in got}
            assert by_row[1]["action"] in (("valid",) if extra else ("created", "updated"))
            assert by_row[2]["key"] == f"nulkey\\x00@{DOMAIN}"
            assert by_row[3]["key"] == f"esc\\x1b]0;pwned\\x07\\x1b[31m@{DOMAIN}"
            if out.suffix == ".csv":
                raw = out.read_bytes()
                assert b"\x00" not in raw and b"\x1b" not in raw and b"\x07" not in raw
    assert len(puts(sim)) == 2  # the valid row, once per real run: the others are never sent


# (a PRAGMA is not here: DuckDB 1.x rewrites the read-only ones into a SELECT, which is then read as a table)
@pytest.mark.parametrize("query", ["DELETE FROM audience", "SELECT * FROM audience; DROP TABLE audience",
                                   "CALL pragma_version()", " ; "])
def test_a_query_that_is_not_one_select_is_refused_in_plain_words(sim: Any, tmp_path: Path, query: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    t = field_names(sim)
    db = tmp_path / "in.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(f"CREATE TABLE audience AS SELECT 'user' || i || '@{DOMAIN}' AS {t['email']} FROM range(3) r(i)")
    args = ["--duckdb", str(db), "--database", "1", "--key", t["email"], "--results", str(tmp_path / "r.csv")]
    assert push(tmp_path, *args, "--query", query) == 1
    err = capsys.readouterr().err
    assert "--query must be one SELECT statement (it is read as a table)" in err
    assert "Parser Error" not in err and "syntax error" not in err
    assert not sim.writes
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM audience").fetchone() == (3,)  # nothing ran
    # one SELECT, with a trailing semicolon or a closing comment, is read as it is
    assert push(tmp_path, *args, "--query", "SELECT * FROM audience;") == 0
    assert push(tmp_path, *args, "--query", "SELECT * FROM audience -- everyone") == 0
    assert len(profiles_by_key(sim, t["email"])) == 3

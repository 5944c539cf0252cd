"""GDPR data requests end to end: simulator over HTTP -> request_data / `copernica data-request` -> files, DuckDB."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from copernica_source import data_requests
from copernica_source.datarequests import make_subjects, parse_subject, read_subjects, request_data
from copernica_source.errors import ConfigurationError
from tests.helpers import connection, make_pipeline, query

SIM = dict(seed=5, events=200, emailings=2, destinations_per_emailing=10, profiles=120, history_days=30)
FAST = 0.05  # poll interval for tests (the default is 2 s)


@pytest.fixture
def make_sim(copernica_simulator_factory: Callable[..., Any]) -> Callable[..., Any]:
    def make(**cfg: Any) -> Any:
        return copernica_simulator_factory(**{**SIM, "datarequest_delay_s": 0.3, **cfg})
    return make


def _ready(sim: Any, seconds: float) -> None:
    """Let the simulated data requests get ready (their delay runs on the wall clock)."""
    time.sleep(seconds)


def profile_ids(sim: Any, n: int) -> list[str]:
    return [str(sim.dataset.layout.profile_id(1, i)) for i in range(n)]


def subprofile_ids(sim: Any, n: int) -> list[str]:
    return [str(sim.dataset.layout.subprofile_id(101, s)) for s in range(n)]


def emails(sim: Any, n: int) -> list[str]:
    return [f"person{i}@example.com" for i in range(n)]


def posts(sim: Any) -> list[Any]:
    return [w for w in sim.writes if w.method == "POST" and w.path.endswith("/datarequest")]


def table(pipeline: Any) -> list[tuple[Any, ...]]:
    return query(pipeline, "SELECT subject_type, subject_id, request_id, status, requested_at IS NOT NULL, "
                           "completed_at IS NOT NULL, data FROM copernica.data_requests ORDER BY ALL")


def run(sim: Any, pipeline: Any, subjects: list[str], **kwargs: Any) -> list[Any]:
    return request_data(subjects, pipeline=pipeline, poll_interval=FAST, **connection(sim), **kwargs)


# ---------------------------------------------------------------------------------------------- delivery
@pytest.mark.parametrize("kind", ["profile", "subprofile", "email"])
def test_each_kind_from_request_to_delivered_json(kind: str, make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim()
    ident = {"profile": profile_ids, "subprofile": subprofile_ids, "email": emails}[kind](sim, 1)[0]
    pipeline = make_pipeline(tmp_path, "copernica_data_requests")
    [outcome] = run(sim, pipeline, [f"{kind}:{ident}"], output_dir=tmp_path / "out", store_data=True, timeout=20)

    assert outcome.status == "delivered", outcome.message
    assert outcome.request_id and outcome.completed_at >= outcome.requested_at
    assert Path(outcome.path).name == f"{kind}-{outcome.request_id}.json"  # no e-mail address in the name
    document = orjson.loads(Path(outcome.path).read_bytes())
    assert set(document) == {"info", "data"}
    assert document["info"]["type"] == kind and str(document["info"]["id"]) == ident
    assert isinstance(document["data"], list) and all(isinstance(item, list) for item in document["data"])
    assert document == outcome.data
    assert stat.S_IMODE(os.stat(outcome.path).st_mode) == 0o600  # personal data: owner only
    [row] = table(pipeline)
    assert row[:6] == (kind, ident, outcome.request_id, "delivered", True, True)
    assert orjson.loads(row[6]) == document
    [post] = posts(sim)
    expected_path = f"/v4/{kind}/{ident}/datarequest"
    assert post.path == expected_path and post.status == 201
    assert any(r.path == f"/v4/datarequest/{outcome.request_id}/data" for r in sim.requests)


def test_report_is_passed_through(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim()
    pid = profile_ids(sim, 1)[0]
    [outcome] = run(sim, make_pipeline(tmp_path), [f"profile:{pid}"], report="dpo@example.com", wait=False)
    assert outcome.status in ("pending", "delivered")
    [post] = posts(sim)
    assert post.body == {"report": "dpo@example.com"}


@pytest.mark.slow
def test_batch_of_fifty_subjects_completes(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(datarequest_delay_s=0.5, latency_ms=5)
    subjects = ([f"profile:{p}" for p in profile_ids(sim, 20)] + [f"subprofile:{s}" for s in subprofile_ids(sim, 10)]
                + [f"email:{e}" for e in emails(sim, 20)])
    assert len(subjects) == 50
    pipeline = make_pipeline(tmp_path, "copernica_data_requests")
    started = time.monotonic()
    outcomes = run(sim, pipeline, subjects, output_dir=tmp_path / "out", timeout=60)
    elapsed = time.monotonic() - started
    assert [o.status for o in outcomes] == ["delivered"] * 50, [o.message for o in outcomes if o.message][:3]
    assert len(posts(sim)) == 50
    assert len({o.request_id for o in outcomes}) == 50
    assert len(list((tmp_path / "out").glob("*.json"))) == 50
    assert query(pipeline, "SELECT status, count(*) FROM copernica.data_requests GROUP BY 1") == [("delivered", 50)]
    assert elapsed < 20, elapsed


# ---------------------------------------------------------------------------------------------- resuming
def test_timeout_leaves_requests_pending_and_a_rerun_waits_for_them(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(datarequest_delay_s=1.5)
    subjects = [f"profile:{p}" for p in profile_ids(sim, 3)] + ["email:someone@example.org"]
    pipeline = make_pipeline(tmp_path, "copernica_data_requests")

    first = run(sim, pipeline, subjects, timeout=0.2)
    assert [o.status for o in first] == ["pending"] * 4
    assert all("timeout" in o.message and "no new request" in o.message for o in first)
    assert [r[3] for r in table(pipeline)] == ["pending"] * 4
    assert all(r[5] is False and r[6] is None for r in table(pipeline))
    assert len(posts(sim)) == 4

    _ready(sim, 1.5)
    second = run(sim, pipeline, subjects, timeout=20)
    assert [o.status for o in second] == ["delivered"] * 4
    assert [o.request_id for o in second] == [o.request_id for o in first]
    assert len(posts(sim)) == 4, "a re-run must not ask again for pending requests"
    assert [r[3] for r in table(pipeline)] == ["delivered"] * 4  # merged on request_id: no pending duplicates

    run(sim, pipeline, subjects[:1], wait=False)  # delivered before: a new run is a new request
    assert len(posts(sim)) == 5


def test_resource_without_wait_then_with_wait(make_sim: Any, tmp_path: Path) -> None:
    """The building block: `data_requests` as a plain dlt resource in a user's own pipeline."""
    sim = make_sim(datarequest_delay_s=0.5)
    pid = profile_ids(sim, 1)[0]
    pipeline = make_pipeline(tmp_path, "my_pipeline")
    pipeline.run(data_requests([f"profile:{pid}"], wait=False, store_data=True,
                               **connection(sim))).raise_on_failed_jobs()
    assert [r[3] for r in table(pipeline)] == ["pending"]
    pipeline.run(data_requests([f"profile:{pid}"], timeout=20, poll_interval=FAST, store_data=True,
                               **connection(sim))).raise_on_failed_jobs()
    [row] = table(pipeline)
    assert row[3] == "delivered" and orjson.loads(row[6])["info"]["type"] == "profile"
    assert len(posts(sim)) == 1


def _cli(tmp_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "copernica_source.cli", "data-request", "--duckdb-file", str(tmp_path / "dr.duckdb"),
            "--pipelines-dir", str(tmp_path / "pipelines"), "--poll-interval", "0.05", *args]


def _env(sim: Any) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"SOURCES__COPERNICA__ACCESS_TOKEN": sim.access_token, "SOURCES__COPERNICA__BASE_URL": sim.base_url,
                "SOURCES__COPERNICA__AUTH_URL": sim.auth_url, "RUNTIME__LOG_LEVEL": "INFO"})
    return env


@pytest.mark.slow
def test_sigkill_while_waiting_then_rerun_resumes_without_new_posts(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(datarequest_delay_s=10.0)  # the CLI must start waiting before the data is ready
    ids = profile_ids(sim, 5)
    args = [a for p in ids for a in ("--profile", p)] + ["--wait", "--timeout", "60", "--output", str(tmp_path / "out")]
    victim = subprocess.Popen(_cli(tmp_path, *args), env=_env(sim), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    # waiting for certain: every subject asked for, and status polls beyond the first check of each
    while sum(r.path.endswith("/status") for r in sim.requests) < 3 * len(ids):
        assert victim.poll() is None, victim.communicate()
        assert time.monotonic() < deadline, "the command never started waiting"
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert len(posts(sim)) == 5
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.json"))

    done = subprocess.run(_cli(tmp_path, *args), env=_env(sim), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(posts(sim)) == 5, "the re-run asked again instead of waiting for the pending requests"
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 5 and all(" delivered " in line for line in lines), done.stdout
    assert len(list((tmp_path / "out").glob("*.json"))) == 5


# ---------------------------------------------------------------------------------------------- statuses
def test_unknown_profile_is_reported_and_the_others_still_delivered(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim()
    pid = profile_ids(sim, 1)[0]
    pipeline = make_pipeline(tmp_path, "copernica_data_requests")
    known, unknown = run(sim, pipeline, [f"profile:{pid}", "profile:987654321"], timeout=20)
    assert known.status == "delivered"
    assert unknown.status == "not_found" and unknown.request_id is None
    assert "does not know this profile" in unknown.message
    assert [r[:2] for r in table(pipeline)] == [("profile", pid)]


@pytest.mark.slow
def test_expired_request_is_reported_and_a_rerun_asks_anew(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(datarequest_delay_s=0.1, datarequest_expiry_s=2.5)
    pid = profile_ids(sim, 1)[0]
    pipeline = make_pipeline(tmp_path, "copernica_data_requests")
    [first] = run(sim, pipeline, [f"profile:{pid}"], wait=False)
    assert first.status == "pending"
    _ready(sim, 3.0)  # past the expiry
    [second] = run(sim, pipeline, [f"profile:{pid}"], timeout=5)
    assert second.status == "expired" and second.request_id == first.request_id
    assert "run again to make a new request" in second.message
    assert len(posts(sim)) == 1
    assert [r[3] for r in table(pipeline)] == ["expired"]
    [third] = run(sim, pipeline, [f"profile:{pid}"], timeout=20)
    assert third.status == "delivered" and third.request_id != first.request_id
    assert len(posts(sim)) == 2


def test_invalid_email_fails_before_anything_is_asked(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim()
    with pytest.raises(ConfigurationError, match="invalid e-mail address 'not-an-address'"):
        run(sim, make_pipeline(tmp_path), ["email:ok@example.com", "email:not-an-address"])
    done = subprocess.run(_cli(tmp_path, "--email", "a@b.nl", "--email", "x@@y"), env=_env(sim),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("error: invalid e-mail address 'x@@y': it has ")
    assert not [r for r in sim.requests if "datarequest" in r.path]


def test_api_v1_form_is_understood(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(datarequest_delay_s=0.5)
    pid = profile_ids(sim, 1)[0]
    pipeline = make_pipeline(tmp_path, "copernica_data_requests")
    [first] = run(sim, pipeline, [f"profile:{pid}"], wait=False, api_version=1)
    assert first.status == "pending"
    [second] = run(sim, pipeline, [f"profile:{pid}"], timeout=20, api_version=1)
    assert second.status == "delivered" and second.data["info"]["type"] == "profile"
    polls = [r for r in sim.requests if r.path == f"/v1/datarequest/{first.request_id}"]
    assert len(polls) >= 2 and polls[0].status == 200
    assert [w.path for w in posts(sim)] == [f"/v1/profile/{pid}/datarequest"]


def test_api_v1_tells_expired_from_pending(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(datarequest_delay_s=1.0, datarequest_expiry_s=2.0)
    pid = profile_ids(sim, 1)[0]
    pipeline = make_pipeline(tmp_path, "copernica_data_requests")
    [first] = run(sim, pipeline, [f"profile:{pid}"], wait=False, api_version=1)
    assert first.status == "pending"
    _ready(sim, 2.2)  # v1 answers "Data not available (yet)" also once expired
    [second] = run(sim, pipeline, [f"profile:{pid}"], timeout=5, api_version=1)
    assert second.status == "expired", second.message
    assert any(r.path == f"/v1/datarequest/{first.request_id}/status" for r in sim.requests)


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif value is not None:
        yield str(value)


def test_cli_prints_one_line_per_subject_and_no_personal_data(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim()
    pid = profile_ids(sim, 1)[0]
    listing = tmp_path / "subjects.txt"
    listing.write_text(f"type,id\n# the batch of this week\nprofile:{pid}\nsomeone@example.net\n")
    done = subprocess.run(_cli(tmp_path, "--file", str(listing), "--wait", "--timeout", "20", "--output",
                               str(tmp_path / "out")), env=_env(sim), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"profile {pid} ") and lines[0].endswith(".json") and " delivered " in lines[0]
    assert lines[1].startswith("email someone@example.net ")
    files = sorted((tmp_path / "out").glob("*.json"))
    assert len(files) == 2
    secrets = {text for f in files for text in _texts(orjson.loads(f.read_bytes())["data"])
               if len(text) >= 8 and any(c.isalpha() for c in text)} - {"subprofile", "someone@example.net"}
    assert len(secrets) >= 3, secrets  # e.g. the profile's e-mail address and names
    leaked = [t for t in secrets if t in done.stdout or t in done.stderr]  # logs run at INFO here
    assert not leaked


def test_cli_without_wait_reports_pending_and_rerun_does_not_ask_again(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim(datarequest_delay_s=12.0)  # longer than two CLI runs take on a busy machine
    pid = profile_ids(sim, 1)[0]
    for run in range(2):
        done = subprocess.run(_cli(tmp_path, "--profile", pid), env=_env(sim), capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert " pending " in done.stdout and "--wait" in done.stdout
        if run == 1:  # checked again, not requested again: the line says so
            assert "pending; run again with --wait" in done.stdout, done.stdout
    assert len(posts(sim)) == 1
    # --pending alone (no --wait): waits for whatever earlier runs left pending, without naming anyone
    done = subprocess.run(_cli(tmp_path, "--pending", "--timeout", "40"), env=_env(sim),
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"profile {pid} ") and " delivered " in done.stdout
    assert len(posts(sim)) == 1


def test_cli_pending_alone_with_no_file_yet_does_nothing_and_makes_no_file(make_sim: Any, tmp_path: Path) -> None:
    done = subprocess.run(_cli(tmp_path, "--pending"), env=_env(make_sim()), capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().startswith("nothing to do: no subjects, and no "), done.stderr
    assert list(tmp_path.glob("*.duckdb")) == []


def test_cli_prints_dlts_log_records_as_one_plain_line(make_sim: Any, tmp_path: Path) -> None:
    """As `copernica load` does: no dlt log format (`2026-...|[WARNING]|pid|thread|dlt|...`) in a scheduler's log,
    even with dlt's log level at INFO (as `_env` sets it)."""
    sim = make_sim()
    done = subprocess.run(_cli(tmp_path, "--profile", profile_ids(sim, 1)[0]), env=_env(sim), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "|[" not in done.stderr, done.stderr


# ---------------------------------------------------------------------------------------------- subjects
def test_subjects_are_validated_and_read_from_files(tmp_path: Path) -> None:
    assert parse_subject("profile:12").key == "profile:12"
    assert parse_subject("Subprofile, 007").key == "subprofile:7"
    assert parse_subject("a.b+c@example.co.uk").key == "email:a.b+c@example.co.uk"
    for bad in ("profile:abc", "profile:0", "12", "email:a@b", "fax:1"):
        with pytest.raises(ConfigurationError):
            parse_subject(bad)
    listing = tmp_path / "s.csv"
    listing.write_text("type,id\nprofile,1\n\nemail,x@example.com\n# done\n")
    assert [s.key for s in read_subjects(listing)] == ["profile:1", "email:x@example.com"]
    listing.write_text("profile,1\nprofile,x\n")
    with pytest.raises(ConfigurationError, match="line 2"):
        read_subjects(listing)
    assert [s.key for s in make_subjects(["1", "1"], emails=["x@example.com"])] == ["profile:1", "email:x@example.com"]


# ---------------------------------------------------------------------------------------------- privacy
def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _stored(path: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        sql = "SELECT subject_type, status, data FROM copernica_data.data_requests ORDER BY ALL"
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_request_data_returns_the_data_and_keeps_it_out_of_the_table_by_default(make_sim: Any, tmp_path: Path) -> None:
    """The default pipeline, as in the README: ./copernica.duckdb gets statuses only, and is owner-only."""
    sim = make_sim()
    pid = profile_ids(sim, 1)[0]
    outcomes = request_data([f"profile:{pid}", "email:person1@example.com"], poll_interval=FAST, timeout=20,
                            **connection(sim))
    assert [o.status for o in outcomes] == ["delivered", "delivered"], [o.message for o in outcomes]
    assert outcomes[0].data["info"]["type"] == "profile" and str(outcomes[0].data["info"]["id"]) == pid
    assert outcomes[1].data["info"]["id"] == "person1@example.com" and isinstance(outcomes[1].data["data"], list)
    assert all(o.path is None for o in outcomes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copernica.duckdb", "dlt_data"], "no output_dir: no files"
    assert _stored(tmp_path / "copernica.duckdb") == [("email", "delivered", None), ("profile", "delivered", None)]
    assert _mode(tmp_path / "copernica.duckdb") == 0o600


def test_resource_refuses_to_deliver_data_nowhere(tmp_path: Path) -> None:
    """A delivered request is not fetched again: without a table column, files or a callback its data would be lost."""
    with pytest.raises(ConfigurationError, match="somewhere to deliver the data"):
        data_requests(["profile:1"], access_token="unused", base_url="http://127.0.0.1:1")
    for where in ({"store_data": True}, {"output_dir": tmp_path}, {"on_outcome": print}):
        data_requests(["profile:1"], access_token="unused", base_url="http://127.0.0.1:1", **where)


def _lines(stdout: str) -> list[list[str]]:
    """`kind id  request-id  status  where` per subject."""
    return [line.split() for line in stdout.strip().splitlines()]


def test_cli_by_default_writes_private_files_named_without_addresses(make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim()
    pid = profile_ids(sim, 1)[0]
    done = subprocess.run(_cli(tmp_path, "--profile", pid, "--email", "person2@example.com", "--wait", "--timeout",
                               "20"), env=_env(sim), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "copernica_data_requests"
    assert f"wrote 2 files into {folder} (readable by you only)" in done.stderr
    assert _mode(folder) == 0o700
    names = {f"{kind}-{rid}.json" for kind, _, rid, status, _ in _lines(done.stdout) if status == "delivered"}
    assert {f.name for f in folder.iterdir()} == names and len(names) == 2
    assert not [n for n in names if "@" in n or "person2" in n]
    assert all(_mode(f) == 0o600 for f in folder.iterdir())
    email_file = next(f for f in folder.iterdir() if f.name.startswith("email-"))
    assert orjson.loads(email_file.read_bytes())["info"]["id"] == "person2@example.com"
    assert _stored(tmp_path / "dr.duckdb") == [("email", "delivered", None), ("profile", "delivered", None)]
    assert _mode(tmp_path / "dr.duckdb") == 0o600
    assert _mode(tmp_path / "pipelines") == 0o700  # dlt's state and load packages: made under the command's umask


@pytest.mark.parametrize("flag", ["--store-data", "--no-store-data"])
def test_cli_stores_the_data_in_the_table_only_when_asked(flag: str, make_sim: Any, tmp_path: Path) -> None:
    sim = make_sim()
    pid = profile_ids(sim, 1)[0]
    done = subprocess.run(_cli(tmp_path, "--profile", pid, "--wait", "--timeout", "20", flag), env=_env(sim),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    [(kind, status, data)] = _stored(tmp_path / "dr.duckdb")
    assert (kind, status) == ("profile", "delivered")
    folder = tmp_path / "copernica_data_requests"
    if flag == "--store-data":  # the table has it, so no files unless --output says so
        assert str(orjson.loads(data)["info"]["id"]) == pid
        assert not folder.exists()
        assert done.stdout.split()[-1] == "copernica_data.data_requests"
    else:  # the old flag still works and means the default: statuses only, the data in files
        assert data is None
        [written] = folder.iterdir()
        assert done.stdout.split()[-1] == str(written)

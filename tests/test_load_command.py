"""`copernica load` as users run it: subprocesses, a standalone simulator, SIGKILL, wrong tokens."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

TOKEN = "tok-S3CRET-0123456789abcdef"
JWT = re.compile(r"eyJ[\w-]{5,}\.eyJ[\w-]{5,}\.")


@pytest.fixture
def standalone_simulator() -> Iterator[dict[str, str]]:
    """`python -m copernica_source.simulator` in its own process, as a user would start it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "copernica_source.simulator", "--port", "0", "--events", "20000", "--seed", "3",
         "--latency-ms", "20", "--access-token", TOKEN],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        settings = dict(part.split("=", 1) for part in line.split())
        assert set(settings) == {"base_url", "auth_url", "access_token"}, line
        yield settings
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _env(sim: dict[str, str], token: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "SOURCES__COPERNICA__ACCESS_TOKEN": token or sim["access_token"],
        "SOURCES__COPERNICA__BASE_URL": sim["base_url"],
        "SOURCES__COPERNICA__AUTH_URL": sim["auth_url"],
        "RUNTIME__LOG_LEVEL": "INFO",
    })
    return env


def _load_cmd(tmp_path: Path, name: str) -> list[str]:
    return [sys.executable, "-m", "copernica_source.cli", "load", "--duckdb-file", str(tmp_path / f"{name}.duckdb"),
            "--pipelines-dir", str(tmp_path / f"pipelines_{name}"), "--pipeline-name", name]


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='copernica_data' "
            "AND table_name NOT LIKE '_dlt%'").fetchall()]
        out = {}
        for name in sorted(names):
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema='copernica_data' AND table_name=? "
                "AND column_name NOT LIKE '_dlt%' ORDER BY column_name", [name]).fetchall()]
            quoted = ", ".join(f'"{c}"' for c in cols)
            out[name] = con.execute(f"SELECT {quoted} FROM copernica_data.{name} ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


@pytest.mark.slow
def test_sigkill_mid_extract_then_rerun_equals_clean_run(tmp_path: Path, standalone_simulator: dict[str, str]) -> None:
    env = _env(standalone_simulator)
    victim = subprocess.Popen(_load_cmd(tmp_path, "killed"), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    time.sleep(4.0)  # well into the extract of ~100k rows at 20 ms per page
    assert victim.poll() is None, "the load finished before it could be killed; make it bigger"
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    rerun = subprocess.run(_load_cmd(tmp_path, "killed"), env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    clean = subprocess.run(_load_cmd(tmp_path, "clean"), env=env, capture_output=True, text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr

    killed_tables, clean_tables = _tables(tmp_path / "killed.duckdb"), _tables(tmp_path / "clean.duckdb")
    assert set(clean_tables) >= {"html_clicks", "draganddrop_clicks", "html_emailings"}
    assert killed_tables == clean_tables
    assert "rows in" in clean.stdout  # the summary


def test_wrong_token_fails_at_once_and_leaks_nowhere(tmp_path: Path, standalone_simulator: dict[str, str]) -> None:
    wrong = "tok-WRONG-fedcba9876543210"
    started = time.monotonic()
    result = subprocess.run(_load_cmd(tmp_path, "wrong"), env=_env(standalone_simulator, wrong),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert time.monotonic() - started < 30, "a rejected token must not be retried"
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error:") and "rejected the access token" in last_line
    for secret in (wrong, TOKEN):
        assert secret not in result.stdout + result.stderr
        _assert_not_in_files(tmp_path, secret)


def test_token_and_jwt_never_stored_after_a_successful_load(
    tmp_path: Path, standalone_simulator: dict[str, str]
) -> None:
    cmd = _load_cmd(tmp_path, "ok") + ["--resources", "html_clicks,html_emailings,draganddrop_deliveries"]
    result = subprocess.run(cmd, env=_env(standalone_simulator), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("loaded ") and "API requests" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    assert not JWT.search(result.stdout + result.stderr)
    _assert_not_in_files(tmp_path, TOKEN)
    for path in tmp_path.rglob("*"):  # no JWT either (it is as good as the token for a day)
        if path.is_file():
            assert not JWT.search(path.read_bytes().decode("latin-1")), f"a JWT found in {path}"


def _assert_not_in_files(root: Path, secret: str) -> None:
    """State, trace, load packages, the DuckDB file: the secret is in none of them."""
    needle = secret.encode()
    for path in root.rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), f"secret found in {path}"


def test_demo_loads_every_table_and_summarises(tmp_path: Path) -> None:
    """The README's first command: the pipeline against the bundled simulator, into DuckDB, with a summary."""
    cmd = [sys.executable, "-m", "copernica_source.cli", "load", "--demo", "--no-models", "--demo-events", "2000",
           "--duckdb-file", str(tmp_path / "demo.duckdb"), "--pipelines-dir", str(tmp_path / "pipelines"),
           "--summary-json", str(tmp_path / "summary.json")]
    for _ in range(2):  # the demo starts over each time, so a second run gives the same tables
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        tables = _tables(tmp_path / "demo.duckdb")
        assert len(tables["html_clicks"]) == 2000 and len(tables["draganddrop_clicks"]) == 2000
        assert tables["profiles_customers"] and tables["databases"] and tables["html_emailing_statistics"]
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert summary["status"] == "ok" and summary["tables"]["html_clicks"] == {"rows": 2000}
        assert result.stdout.splitlines()[-1] == (
            f"loaded {summary['rows']:,} rows into {len(summary['tables'])} tables of duckdb dataset "
            f"'copernica_data' in {summary['seconds']:.1f}s with {summary['api_requests']:,} API requests "
            f"(pipeline copernica_demo, started {summary['started_at']})")


@pytest.mark.parametrize("env_change, expected", [
    ({"SOURCES__COPERNICA__ACCESS_TOKEN": None}, "missing setting access_token"),
    ({"SOURCES__COPERNICA__MAX_CONCURRENCY": "abc"}, "max_concurrency"),
    ({"SOURCES__COPERNICA__API_VERSION": "7"}, "api_version must be 1, 2, 3 or 4"),
    ({"SOURCES__COPERNICA__BASE_URL": "http://127.0.0.1:1", "SOURCES__COPERNICA__AUTH_URL": "http://127.0.0.1:1/a"},
     "cannot connect to 127.0.0.1"),
])
def test_setup_mistakes_fail_fast_on_one_line(
    tmp_path: Path, standalone_simulator: dict[str, str], env_change: dict[str, str | None], expected: str
) -> None:
    env = _env(standalone_simulator)
    for key, value in env_change.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    started = time.monotonic()
    result = subprocess.run(_load_cmd(tmp_path, "setup") + ["--resources", "html_clicks"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and expected in result.stderr
    assert time.monotonic() - started < 30


def test_list_settings_from_env_vars_and_a_full_refresh_of_some_tables(
    tmp_path: Path, standalone_simulator: dict[str, str]
) -> None:
    env = _env(standalone_simulator)
    env["SOURCES__COPERNICA__DATABASE_IDS"] = "1,4"  # as written in an env var or config.toml string
    env["SOURCES__COPERNICA__PRODUCTS"] = "html"
    cmd = _load_cmd(tmp_path, "lists")
    first = subprocess.run(cmd + ["--resources", "html_clicks,html_emailings,profiles"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    before = _tables(tmp_path / "lists.duckdb")
    assert before["html_emailings"] and before["profiles_customers"] and "profiles_partners" not in before
    again = subprocess.run(cmd + ["--resources", "html_clicks", "--full-refresh"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    after = _tables(tmp_path / "lists.duckdb")
    assert after == before, "--full-refresh with --resources reloads those tables and leaves the others alone"


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_load_creates_its_files_owner_only_and_leaves_existing_ones_alone(tmp_path: Path) -> None:
    """The DuckDB file holds profiles (personal data): created 0600 in a new folder 0700, with dlt's state and
    load packages 0700; a DuckDB file that already exists keeps the mode its owner gave it."""
    def load(duckdb_file: Path) -> None:
        cmd = [sys.executable, "-m", "copernica_source.cli", "load", "--demo", "--no-models", "--demo-events", "200",
               "--resources", "html_clicks,profiles", "--duckdb-file", str(duckdb_file),
               "--pipelines-dir", str(tmp_path / "pipelines")]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]

    created = tmp_path / "warehouse" / "new" / "demo.duckdb"
    load(created)
    assert _tables(created)["profiles_customers"]
    assert _mode(created) == 0o600
    assert _mode(created.parent) == 0o700 and _mode(created.parent.parent) == 0o700
    assert [p.name for p in created.parent.iterdir()] == ["demo.duckdb"]  # no .wal left behind
    assert _mode(tmp_path / "pipelines") == 0o700 and _mode(tmp_path / "pipelines" / "copernica_demo") == 0o700

    shared = tmp_path / "shared.duckdb"
    duckdb.connect(str(shared)).close()
    os.chmod(shared, 0o640)
    load(shared)
    assert _tables(shared)["profiles_customers"]
    assert _mode(shared) == 0o640


@pytest.mark.parametrize("name", ["a/b", "v1.2"])
def test_invalid_pipeline_name_is_one_error_line(tmp_path: Path, name: str) -> None:
    cmd = [sys.executable, "-m", "copernica_source.cli", "load", "--pipeline-name", name, "--demo", "--no-models",
           "--demo-events", "100", "--duckdb-file", str(tmp_path / "demo.duckdb"),
           "--pipelines-dir", str(tmp_path / "pipelines")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (f"error: invalid --pipeline-name {name!r}: it names the "
                                                       "pipeline's folder; use letters, digits, '_' and '-' only")


def test_an_answer_over_max_answer_mb_fails_the_run_with_the_setting_named(
        copernica_simulator_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from copernica_source.cli import main

    sim = copernica_simulator_factory(events=5000, emailings=2, destinations_per_emailing=3, profiles=20)
    for key, value in {"ACCESS_TOKEN": sim.access_token, "BASE_URL": sim.base_url, "AUTH_URL": sim.auth_url,
                       "MAX_ANSWER_MB": "0.05"}.items():
        monkeypatch.setenv(f"SOURCES__COPERNICA__{key}", value)
    args = ["load", "--duckdb-file", str(tmp_path / "a.duckdb"), "--pipelines-dir", str(tmp_path / "p"),
            "--resources", "html_clicks"]
    assert main(args) == 1  # a page of 1000 clicks is larger than 50 KB
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: GET ") and "larger than max_answer_mb = 0.05" in err, err
    assert sim.access_token not in err
    monkeypatch.setenv("SOURCES__COPERNICA__MAX_ANSWER_MB", "100")
    assert main(args) == 0  # nothing of the failed run was kept: the next run loads every click
    con = duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM copernica_data.html_clicks").fetchone() == (5000,)

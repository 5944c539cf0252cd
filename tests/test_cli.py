"""Exploring the CLI: --version, `copernica tables`, table names in --resources, the source settings as flags, help."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from copernica_source.cli import main
from copernica_source.cli.tables import catalog
from copernica_source.tables import LOG_TABLES, PRODUCTS, STRUCTURE_TABLES, engagement_tables

SIM = dict(seed=5, events=500, emailings=4, destinations_per_emailing=10, profiles=60)
COMMANDS = ("load", "tables", "check", "push-profiles", "data-request", "simulator")


def _no_token_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__COPERNICA__")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    return env


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "copernica_source.cli", *args], capture_output=True, text=True,
                          env=_no_token_env(), timeout=120)


def test_version_prints_the_distribution_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"copernica-source {version('copernica-source')}"


def _declared() -> set[str]:
    names = {f"{p}_{t.name}" for p in PRODUCTS for t in engagement_tables(p)} | {t.name for t in STRUCTURE_TABLES}
    return names | {"profiles_<database>", "subprofiles_<database>_<collection>"} | {t.name for t in LOG_TABLES}


def test_tables_lists_every_declared_table_without_a_token() -> None:
    done = _cli("tables")
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.splitlines()[1:] if line.strip() and " " in line.strip()}
    assert _declared() <= listed
    clicks = next(line for line in done.stdout.splitlines() if line.startswith("html_clicks "))
    assert "incremental by id" in clicks and "a click on a link" in clicks
    assert "whole, merged" in next(line for line in done.stdout.splitlines() if line.startswith("databases "))


def test_tables_json_has_every_table_with_key_cursor_and_resource() -> None:
    done = _cli("tables", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    by_name = {r["table"]: r for r in rows}
    assert set(by_name) == _declared()
    assert all(r["description"] and r["loaded"] and r["primary_key"] for r in rows)
    assert by_name["html_emailing_statistics"]["primary_key"] == ["emailing_id"]
    assert (by_name["profiles_<database>"]["resource"], by_name["profiles_<database>"]["pattern"]) == ("profiles", True)
    assert by_name["subprofiles_<database>_<collection>"]["resource"] == "subprofiles"
    assert len(rows) == len(catalog())
    assert by_name["html_log_clicks"]["primary_key"] == ["log_file", "log_line"]
    assert by_name["html_log_clicks"]["loaded"].startswith("opt-in")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_examples(command: str) -> None:
    done = _cli(command, "--help")
    assert done.returncode == 0, done.stderr
    assert "\nexamples:\n" in done.stdout
    examples = done.stdout.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0]
    assert 3 <= sum(line.strip().startswith("copernica ") for line in examples.splitlines()) <= 5


def test_top_level_help_lists_tables_and_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "tables" in out and "examples:" in out and "--version" in out


# -- copernica load against the simulator -----------------------------------------------------------------


@pytest.fixture
def load(
    copernica_simulator_factory: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., tuple[int, str, str, dict[str, int]]]:
    """`copernica load ARGS` into a fresh DuckDB file: exit code, stdout, stderr, rows per table."""
    sim = copernica_simulator_factory(**SIM)
    for key, value in {"ACCESS_TOKEN": sim.access_token, "BASE_URL": sim.base_url, "AUTH_URL": sim.auth_url}.items():
        monkeypatch.setenv(f"SOURCES__COPERNICA__{key}", value)
    runs = iter(range(100))

    def run(*args: str) -> tuple[int, str, str, dict[str, int]]:
        n = next(runs)
        path = tmp_path / f"run{n}.duckdb"
        capsys.readouterr()
        code = main(["load", "--duckdb-file", str(path), "--pipelines-dir", str(tmp_path / f"pipelines{n}"), *args])
        captured = capsys.readouterr()
        counts: dict[str, int] = {}
        if path.exists():
            con = duckdb.connect(str(path), read_only=True)
            try:
                for (name,) in con.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'copernica_data' AND table_name NOT LIKE '_dlt%'"
                                           ).fetchall():
                    counts[name] = con.execute(f'SELECT count(*) FROM copernica_data."{name}"').fetchone()[0]  # type: ignore[index]
            finally:
                con.close()
        return code, captured.out, captured.err, counts

    return run


def test_resources_takes_a_profile_table_name(load: Callable[..., Any]) -> None:
    code, out, err, counts = load("--resources", "profiles_customers,databases")
    assert code == 0, err
    assert out.startswith("loaded ") and "into 3 tables" in out  # a scheduled run: one line (no table scans)
    assert counts["profiles_customers"] > 0 and counts["databases"] == 2
    assert not any(t.startswith(("html_", "draganddrop_", "subprofiles_")) for t in counts)
    assert "profiles_customers comes from the resource 'profiles'" in err and "database_ids" in err


def test_resources_typo_suggests_the_close_name(load: Callable[..., Any]) -> None:
    code, _, err, counts = load("--resources", "html_clicsk")
    assert code == 2
    assert "error: unknown table 'html_clicsk'; did you mean 'html_clicks'? (copernica tables lists them)" in err
    assert counts == {}


def test_resources_names_a_table_its_products_leave_out(load: Callable[..., Any]) -> None:
    code, _, err, _ = load("--products", "draganddrop", "--resources", "html_clicks")
    assert code == 2
    assert "table 'html_clicks' is not loaded by this run" in err


def test_products_flag_reaches_the_source(load: Callable[..., Any]) -> None:
    code, _, err, counts = load("--products", "draganddrop", "--database-ids", "2", "--lookback-days", "1")
    assert code == 0, err
    assert counts["draganddrop_clicks"] > 0
    assert not any(t.startswith("html_") for t in counts)
    # --database-ids limits the profile tables (and the structure) to database 2, "Partners"
    assert "profiles_partners" in counts and "profiles_customers" not in counts
    assert counts["databases"] == 1


def test_bad_flag_values_are_refused_with_one_line(load: Callable[..., Any]) -> None:
    code, _, err, _ = load("--products", "html,mobile")  # a usage error, as argparse's own: 2
    assert code == 2 and "products: unknown ['mobile']" in err
    code, _, err, _ = load("--database-ids", "one")
    assert code == 2 and "database_ids must be a list of numeric IDs" in err


def test_tables_piped_into_head_ends_quietly() -> None:
    """`copernica tables | head -1`: the reader leaves early; no traceback lands in a scheduler's log. The pipe's
    read end is closed before the command writes, so every run meets the broken pipe."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "copernica_source.cli", "tables"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err, err

"""The package builds as a wheel from a clean copy of the tree, the wheel ships what the code reads at run time
(the dbt package's SQL, YAML and seed CSV, py.typed), and it installs into a fresh virtual environment from the
package index alone, where `copernica` runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.deploy_support import ROOT

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

SHIPPED = ("*.sql", "*.yml", "*.csv")


def test_wheel_builds_ships_the_models_and_installs_into_a_fresh_venv(tmp_path: Path) -> None:
    started = time.monotonic()
    # a copy: building in place would leave build/ and *.egg-info in the checkout
    tree = tmp_path / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".git", ".venv", "venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache",
        ".mypy_cache", "*.duckdb", "*.duckdb.wal"))
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(tree)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("copernica_source-*.whl")
    build_seconds = time.monotonic() - started

    names = set(zipfile.ZipFile(wheel).namelist())
    source = ROOT / "copernica_source"
    wanted = {f"copernica_source/{p.relative_to(source).as_posix()}"
              for pattern in SHIPPED for p in (source / "dbt_package").rglob(pattern)}
    assert {n for n in wanted if n.endswith(".sql")} and {n for n in wanted if n.endswith(".csv")}
    assert wanted | {"copernica_source/py.typed"} <= names, sorted(wanted - names)
    assert "copernica_source/dbt_package/dbt_project.yml" in names
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]
    assert any(n.endswith(".dist-info/entry_points.txt") for n in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    # --no-compile: byte-compiling every dependency at install time was a quarter of the install (14 s -> 10 s)
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]

    def copernica(*args: str) -> str:
        done = subprocess.run([str(venv / "bin" / "copernica"), *args], capture_output=True, text=True, timeout=120,
                              cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    assert copernica("--version").strip() == f"copernica-source {wheel.name.split('-')[1]}"
    tables = copernica("tables")
    for table in ("html_clicks", "draganddrop_abuses", "databases", "profiles_<database>"):
        assert table in tables
    # the models package is read from the installed copy, not from this checkout
    package_dir = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import copernica_source.models as m; print(m.PACKAGE_DIR)"],
        capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path).stdout.strip()
    assert Path(package_dir).is_relative_to(venv)
    assert (Path(package_dir) / "dbt_project.yml").is_file()
    assert sorted(p.name for p in (Path(package_dir) / "models").glob("*.sql")) == sorted(
        p.name for p in (source / "dbt_package" / "models").glob("*.sql"))
    print(f"wheel built in {build_seconds:.1f}s; built and installed in {time.monotonic() - started:.1f}s")

"""Shared by the deploy tests (pipelines/: the Dagster, Airflow and GitHub Actions recipes, the wheel): the
optional packages they need, and the recipes imported from their files as a scheduler would."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIPELINES = ROOT / "pipelines"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(module: str, extra: str) -> ModuleType:
    """`module`, or a skip without it (a failure under CI: .ci/run installs the `extra`)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"CI is set but {module} is not importable ({exc}): .ci/run must install the [{extra}] extra")
        pytest.skip(f"{module} is not installed (pip install -e '.[{extra}]')")


def need_installed(module: str, extra: str) -> None:
    """Like `need`, without importing `module` here (for what must run in a process of its own)."""
    if importlib.util.find_spec(module) is None:
        if IN_CI:
            pytest.fail(f"CI is set but {module} is not installed: .ci/run must install the [{extra}] extra")
        pytest.skip(f"{module} is not installed (pip install -e '.[{extra}]')")


def recipe(file_name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import pipelines/<file_name> afresh, as the scheduler loads it (it reads its settings on import). What the
    import adds to the environment is undone after the test."""
    name = f"copernica_recipe_{Path(file_name).stem}"
    spec = importlib.util.spec_from_file_location(name, PIPELINES / file_name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    before = set(os.environ)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for key in set(os.environ) - before:
        value = os.environ.pop(key)
        monkeypatch.setenv(key, value)
    return module


def point_at(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The source reads the simulator's address and token from the env, as it reads a real account's."""
    monkeypatch.setenv("SOURCES__COPERNICA__ACCESS_TOKEN", sim.access_token)
    monkeypatch.setenv("SOURCES__COPERNICA__BASE_URL", sim.base_url)
    monkeypatch.setenv("SOURCES__COPERNICA__AUTH_URL", sim.auth_url)

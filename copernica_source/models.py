"""The analyst layer: build the dbt package shipped inside copernica_source against a pipeline's dataset.

dlt's dbt runner does the work (it hands the pipeline's destination credentials to dbt through environment
variables, so no profiles file is written by hand); this module only chooses the package, the profile and the
variables, keeps dbt off the network, and turns dbt's results into one outcome a command can print.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dlt
from dlt.common.utils import custom_environ

from copernica_source.errors import CopernicaError, root_message
from copernica_source.settings import account_timezone

PACKAGE_DIR = Path(__file__).parent / "dbt_package"
"""The dbt project (models, seed, macros, docs, tests); it ships in the wheel."""

MODEL_PREFIX = "copernica__"
MODELS = ("copernica__emailings", "copernica__events", "copernica__recipients", "copernica__links",
          "copernica__profiles", "copernica__daily", "copernica__geography")
_OWN_PROFILES = ("duckdb", "postgres")  # the others use dlt's profiles.yml
_COPY_SKIP = ("target", "logs", "dbt_packages")
_OFFLINE_DBT = {"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false"}


class ModelsError(CopernicaError):
    """The models could not be built: dbt is missing, or a model failed to build."""


@dataclass(frozen=True)
class NodeOutcome:
    """One dbt node (a model or a test) and how it went."""

    name: str
    status: str
    message: str
    seconds: float

    @property
    def failed(self) -> bool:
        return self.status in ("error", "fail", "runtime error")


@dataclass
class ModelsOutcome:
    """What one build did: the models built, the tests run, and dbt's own output for when something failed."""

    models: list[NodeOutcome] = field(default_factory=list)
    tests: list[NodeOutcome] = field(default_factory=list)
    dataset: str = ""
    log: str = ""

    @property
    def failed_tests(self) -> list[NodeOutcome]:
        return [t for t in self.tests if t.failed]

    @property
    def warned_tests(self) -> list[NodeOutcome]:
        return [t for t in self.tests if t.status == "warn"]

    @property
    def ok(self) -> bool:
        return not any(n.failed for n in self.models) and not self.failed_tests


def models_installed() -> bool:
    """Whether dbt (the [models] extra) is installed."""
    import importlib.util

    return importlib.util.find_spec("dbt") is not None and importlib.util.find_spec("dbt.adapters") is not None


def build_models(pipeline: dlt.Pipeline, *, timezone: str | None = None, run_tests: bool = True,
                 full_refresh: bool = False) -> ModelsOutcome:
    """Build the models (and the error-type seed) in the pipeline's dataset, then run their tests.

    Args:
        pipeline: the pipeline `copernica load` ran; its destination and dataset are where the raw tables are
            and where the models are built.
        timezone: the account's time zone for daily figures and local hours (default: the source's setting).
        run_tests: run the package's dbt tests after building.
        full_refresh: passed to `dbt run` (only matters for incremental models).

    Returns:
        What was built and tested; `ok` is False when a model or a test failed (warnings do not fail).

    Raises:
        ModelsError: dbt is not installed, the destination is not a SQL warehouse, or its dataset holds no
            raw table (`copernica load` never wrote there).
    """
    # dlt's dbt helpers are imported here: only this command needs them
    from dlt.helpers.dbt.exceptions import DBTProcessingError
    from dlt.helpers.dbt.runner import create_runner
    from dlt.pipeline.dbt import package as dbt_package

    zone = timezone or account_timezone()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ModelsError(f"unknown time zone {zone!r}: give an IANA name such as Europe/Amsterdam") from None
    _require_dbt(pipeline)
    _require_raw_tables(pipeline)
    project = _project_copy(Path(pipeline.working_dir) / "dbt" / "copernica")
    # dlt's package() finds the destination's credentials; its runner is then rebuilt with our profiles
    python = _this_python(Path(pipeline.working_dir))
    default = dbt_package(pipeline, str(project), venv=python)
    profile = default.config.package_profile_name
    profiles_dir = str(PACKAGE_DIR) if profile in _OWN_PROFILES else default.config.package_profiles_dir
    runner = create_runner(python, default.credentials, pipeline.working_dir, str(project),
                           package_profiles_dir=profiles_dir, package_profile_name=profile)
    variables = runner._get_package_vars({"copernica_timezone": zone})
    outcome = ModelsOutcome(dataset=pipeline.dataset_name)
    log = io.StringIO()
    # dbt sends usage events to the network by default; a scheduled load must not wait on that
    with custom_environ(_OFFLINE_DBT), contextlib.redirect_stdout(log):
        try:
            # two dbt processes, not dlt's run_all four (deps, seed, run, then test): each costs seconds to start.
            # `build` of seeds and models only, so a failing test never keeps a model from being built
            built = runner._run_dbt_command(
                "build", ["--resource-type", "seed", "--resource-type", "model",
                          *(["--full-refresh"] if full_refresh else [])], variables)
            outcome.models = [m for m in _outcomes(built) if m.name.startswith(MODEL_PREFIX)]
            if run_tests:
                try:
                    outcome.tests = _outcomes(runner._run_dbt_command("test", [], variables))
                except DBTProcessingError as failed:
                    outcome.tests = _outcomes(failed.run_results)
        except DBTProcessingError as failed:
            outcome.models = [m for m in _outcomes(failed.run_results) if m.name.startswith(MODEL_PREFIX)]
            if not outcome.models:  # dbt failed before any model ran (a parse or connection error)
                outcome.log = log.getvalue()
                raise ModelsError(f"dbt {failed.command} failed: {_last_error(log.getvalue())}") from failed
    outcome.log = log.getvalue()
    return outcome


def _require_dbt(pipeline: dlt.Pipeline) -> None:
    kind = pipeline.destination.destination_type.rsplit(".", 1)[-1] if pipeline.destination else ""
    try:
        import dbt.version  # noqa: F401  (only to tell whether dbt is installed)
    except ImportError:
        raise ModelsError("the models need dbt: pip install 'copernica-source[models]' (dbt-core and dbt-duckdb; "
                          "add your warehouse's dbt adapter, e.g. dbt-postgres)") from None
    adapter = {"postgres": "postgres", "duckdb": "duckdb", "motherduck": "duckdb", "redshift": "redshift",
               "snowflake": "snowflake", "bigquery": "bigquery", "mssql": "sqlserver",
               "databricks": "databricks", "athena": "athena"}.get(kind)
    if adapter is None:
        raise ModelsError(f"the models run on SQL warehouses; destination {kind or 'none'!r} is not one")
    try:
        __import__(f"dbt.adapters.{adapter}")
    except ImportError:
        raise ModelsError(f"dbt has no adapter for {kind}: pip install dbt-{adapter}") from None


def _raw_tables_found(pipeline: dlt.Pipeline, raw: list[str]) -> tuple[list[str] | None, str]:
    with pipeline.destination_client() as client:
        storage_tables = getattr(client, "get_storage_tables", None)
        if storage_tables is None:
            return None, ""
        found = [name for name, columns in storage_tables(raw) if columns]
        return found, str(client.config.credentials or pipeline.destination.destination_name)  # passwords masked


def _require_raw_tables(pipeline: dlt.Pipeline) -> None:
    """Over a dataset `copernica load` never wrote to (a mistyped --dataset, --duckdb-file or destination) dbt
    would build empty models and every test would pass: stop with what is missing instead."""
    from dlt.common.destination.exceptions import DestinationException

    from copernica_source.tables import PRODUCTS, engagement_tables

    raw = [f"{p}_{spec.name}" for p in PRODUCTS for spec in engagement_tables(p)] + ["databases"]
    try:
        found, where = _raw_tables_found(pipeline, raw)
    except DestinationException as exc:  # a locked DuckDB file, a warehouse that does not answer
        raise ModelsError(f"cannot read dataset {pipeline.dataset_name}: {root_message(exc, 300)}") from None
    if found is None:  # a destination that cannot list its tables: let dbt find out
        return
    if not found:
        raise ModelsError(f"dataset {pipeline.dataset_name!r} in {where} holds none of the tables `copernica load` "
                          "writes: run `copernica load` first, or check --destination and --dataset")


def _project_copy(target: Path) -> Path:
    """A fresh copy of the package beside the pipeline's state: dbt writes into its project folder (target/,
    logs/), and the installed package may be read-only. dbt's target/ is kept for its partial parsing."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in target.iterdir():
        if entry.name not in _COPY_SKIP:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(PACKAGE_DIR, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(*_COPY_SKIP, "__pycache__", "profiles.yml"))
    return target


def _this_python(working_dir: Path) -> Any:
    """dlt runs dbt in a child `python`: make it this interpreter, whatever VIRTUAL_ENV says."""
    from dlt.common.runners import Venv

    bin_path = os.path.dirname(sys.executable)
    if not os.path.exists(os.path.join(bin_path, "python")):  # a system Python with only python3
        bin_path = str(working_dir / "dbt" / "bin")
        os.makedirs(bin_path, exist_ok=True)
        link = os.path.join(bin_path, "python")
        if not os.path.exists(link):
            os.symlink(sys.executable, link)
    return Venv(types.SimpleNamespace(bin_path=bin_path, env_exe=sys.executable), current=True)


def _outcomes(results: Sequence[Any] | None) -> list[NodeOutcome]:
    return [NodeOutcome(r.model_name, str(r.status), str(r.message or ""), float(r.time or 0.0))
            for r in results or []]


def _last_error(log: str) -> str:
    """The lines of dbt's output that say what went wrong (dbt prints them after an 'Error' heading)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [i for i, line in enumerate(lines) if "error" in line.lower()]
    if not errors:
        return lines[-1] if lines else "no output"
    return " ".join(lines[errors[0]:errors[0] + 4])[:600]

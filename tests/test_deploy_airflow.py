"""pipelines/airflow_copernica.py deployed as Airflow would deploy it (copied into a DAGs folder, an Airflow
database of its own) and run with `dag.test()` against the simulator: the DAG imports without errors, its dlt task
group holds one task per table group, every table lands in DuckDB, and each pipeline's state (its cursors) is in
the destination, where the next run on any worker restores it from (the helper wipes the local folder).

Airflow runs in a process of its own: it reads AIRFLOW_HOME once per process and configures logging for the
whole process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.deploy_support import PIPELINES, need_installed
from tests.helpers import SMALL

pytestmark = [pytest.mark.deploy, pytest.mark.slow]

SCRIPT = r"""
import json, os, sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"], safe_mode=False)
out = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dags)}
dag = bag.dags["copernica"]
out["groups"] = sorted(dag.task_group_dict)
out["tasks"] = {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}
import copernica_source.pipeline as staging
dropped, drop = [], staging.drop_staging_dataset
def recording_drop(pipeline):
    dropped.append(drop(pipeline))
    return dropped[-1]
staging.drop_staging_dataset = recording_drop  # what the tasks drop, read below
run = dag.test()
out["staging_seen"] = sorted(name for name in dropped if name)
out["state"] = str(getattr(run.state, "value", run.state))

import dlt, duckdb
path = os.environ["COPERNICA_DUCKDB_FILE"]
out["mode"] = oct(os.stat(path).st_mode & 0o777)
con = duckdb.connect(path, read_only=True)
out["rows"] = {t: n for t, n in con.execute(
    "SELECT table_name, estimated_size FROM duckdb_tables() WHERE schema_name = 'copernica_data'").fetchall()}
out["clicks_without_load_id"] = con.execute(
    "SELECT count(*) FROM copernica_data.html_clicks WHERE _dlt_load_id IS NULL").fetchone()[0]
out["staging"] = {}
for schema, table in con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                 "WHERE schema_name LIKE '%staging%'").fetchall():
    count = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
    out["staging"].setdefault(schema, {})[table] = count
con.close()
# a fresh folder, as on another worker: the state comes back from the destination
pipeline = dlt.pipeline("copernica_html", destination=dlt.destinations.duckdb(path), dataset_name="copernica_data",
                        pipelines_dir=os.path.join(os.environ["AIRFLOW_HOME"], "elsewhere"))
pipeline.sync_destination()
resources = pipeline.state["sources"]["copernica"]["resources"]
out["html_clicks_cursor"] = resources["html_clicks"]["incremental"]["id"]["last_value"]
print("RESULT " + json.dumps(out))
"""


def test_airflow_dag_runs_and_keeps_state_in_the_destination(copernica_simulator_factory: Any, tmp_path: Path) -> None:
    need_installed("airflow", "airflow")
    sim = copernica_simulator_factory(**SMALL)
    home, dags = tmp_path / "airflow", tmp_path / "airflow" / "dags"
    dags.mkdir(parents=True)
    shutil.copy(PIPELINES / "airflow_copernica.py", dags)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        # the settings as a deployment gives them: a secrets.toml in the Airflow Variable dlt_secrets_toml (here
        # from the env, Airflow's first secrets backend; the UI or `airflow variables set` store it in the database)
        "AIRFLOW_VAR_DLT_SECRETS_TOML": (f'[sources.copernica]\naccess_token = "{sim.access_token}"\n'
                                         f'base_url = "{sim.base_url}"\nauth_url = "{sim.auth_url}"\n'),
        "COPERNICA_DUCKDB_FILE": str(tmp_path / "warehouse" / "copernica.duckdb"),
        "TMPDIR": str(tmp_path),  # the helper makes a dlt_<id> folder in the temp folder each time it parses
    }
    for name in [n for n in env if n.startswith(("SOURCES__", "PROVIDERS__"))]:
        del env[name]  # the token must come from the Variable
    migrate = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=240)
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    run = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, (run.stdout[-3000:], run.stderr[-5000:])
    out = json.loads(lines[-1][len("RESULT "):])

    assert out["import_errors"] == {}
    assert out["dags"] == ["copernica"]
    assert "copernica" in out["groups"]
    # into DuckDB the four tasks run one after another (one writer at a time)
    assert out["tasks"] == {
        "copernica.copernica_structure": [],
        "copernica.copernica_profiles": ["copernica.copernica_structure"],
        "copernica.copernica_html": ["copernica.copernica_profiles"],
        "copernica.copernica_draganddrop": ["copernica.copernica_html"],
    }
    assert out["state"] == "success"
    assert out["mode"] == "0o600"
    rows = out["rows"]
    for table in ("html_clicks", "draganddrop_clicks", "html_emailings", "databases", "profiles_customers",
                  "subprofiles_customers_orders"):
        assert rows.get(table, 0) > 0, (table, rows)
    assert [t for t in rows if "_log_" in t] == []  # the log tables are opt-in, as with `copernica load`
    assert rows["html_clicks"] == SMALL["events"]
    assert out["clicks_without_load_id"] == 0  # every row says which load wrote it, as with `copernica load`
    assert out["html_clicks_cursor"] > 0
    # each task merged through a staging dataset of its own (never the shared `<dataset>_staging`), dropped after
    assert out["staging"] == {}, out["staging"]
    assert out["staging_seen"] == [f"copernica_data_staging_copernica_{group}"
                                   for group in ("draganddrop", "html", "profiles", "structure")]

"""Benchmark: build the analyst models (dbt, through `copernica models`' own code) and the HTML report on about
1M engagement events in DuckDB, against the raw limit (DuckDB copying the same 12 event tables into one table,
the least work any model of them must do).

    python tests/benchmarks/bench_models.py                       # ~1M events (175,000 html clicks and the rest)
    python tests/benchmarks/bench_models.py --events 30000        # quicker
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _harness import PEAK_RSS, run_child, simulator_process

LOAD = """
import json, os, dlt
from copernica_source import copernica_source
from copernica_source.settings import duckdb_destination
d = os.environ['DIR']
p = dlt.pipeline('bench_models', destination=duckdb_destination(d + '/b.duckdb'), dataset_name='bench', pipelines_dir=d)
src = copernica_source(access_token=os.environ['TOKEN'], base_url=os.environ['BASE'], auth_url=os.environ['AUTH'],
                       max_concurrency=8)
p.run(src).raise_on_failed_jobs()
print(json.dumps({}))
"""

# a process of its own, so the dbt children it starts do not inherit (and report) the load's memory
BUILD = PEAK_RSS + """
import json, os, resource, time, dlt, duckdb
from copernica_source.models import build_models
from copernica_source.settings import duckdb_destination
d = os.environ['DIR']
path = d + '/b.duckdb'
p = dlt.pipeline('bench_models', destination=duckdb_destination(path), dataset_name='bench', pipelines_dir=d)
con = duckdb.connect(path)
kinds = ['deliveries', 'impressions', 'clicks', 'errors', 'unsubscribes', 'abuses']
tables = [f'bench.{p}_{k}' for p in ('html', 'draganddrop') for k in kinds]
events = sum(con.execute(f'select count(*) from {t}').fetchone()[0] for t in tables)
t = time.perf_counter()
con.execute('create table bench.raw_limit as ' + ' union all '.join(
    f"select id, timestamp, destination, profile from {t}" for t in tables))
raw = time.perf_counter() - t
con.close()
t = time.perf_counter(); outcome = build_models(p, run_tests=False); models = time.perf_counter() - t
assert outcome.ok, outcome.log[-2000:]
t = time.perf_counter(); tested = build_models(p, run_tests=True); with_tests = time.perf_counter() - t
report = None
try:
    from copernica_source.report import sql_client_query, write_report
    t = time.perf_counter()
    with sql_client_query(p) as query:
        write_report(d + '/report.html', query, 'bench', timezone='Europe/Amsterdam')
    report = time.perf_counter() - t
except ImportError:
    pass
child_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({'events': events, 'raw': raw, 'models': models, 'with_tests': with_tests, 'report': report,
                  'tests_ok': tested.ok, 'peak_mb': _peak_mb(), 'dbt_peak_mb': child_mb}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=175_000, help="html clicks; all events are about 5.75 x this")
    args = ap.parse_args()
    folder = tempfile.mkdtemp()
    with simulator_process("--events", str(args.events), "--latency-ms", "0") as sim:
        run_child(LOAD, BASE=sim["base_url"], AUTH=sim["auth_url"], TOKEN=sim["access_token"], DIR=folder,
                  DLT_DATA_DIR=folder)
    r = run_child(BUILD, DIR=folder, DLT_DATA_DIR=folder)
    n = r["events"]
    print(f"{n:,} events in DuckDB")
    print(f"raw limit (one CTAS of the 12 event tables): {r['raw']:6.2f}s")
    print(f"models (dbt build of the seed and 6 models):  {r['models']:6.2f}s  "
          f"{r['models'] / r['raw']:5.1f} x raw limit  ({n / r['models']:,.0f} events/s)")
    print(f"models and their {'passing' if r['tests_ok'] else 'FAILING'} tests:             {r['with_tests']:6.2f}s")
    if r["report"] is not None:
        print(f"report (queries + charts + HTML):             {r['report']:6.2f}s")
    print(f"peak memory: the building process {r['peak_mb']:.0f} MB, largest dbt child {r['dbt_peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()

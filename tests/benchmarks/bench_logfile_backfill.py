"""Benchmark: a year's html engagement backfilled through the daily logfiles vs through the event lists.

    python tests/benchmarks/bench_logfile_backfill.py                  # 1M html clicks over 365 days, 50 ms latency
    python tests/benchmarks/bench_logfile_backfill.py --events 200000  # quicker

The same simulated account (its own process, 50 ms per request, concurrency 8) is loaded into DuckDB twice, each
run in a fresh interpreter: the six html event tables from their lists (the pages' literal reading: read by
timestamp windows), and the six matching log tables (pom-clicks, -deliveries, -impressions, -errors,
-unsubscribes, -abuses) from the logfiles. Prints rows/s, API requests and peak memory of both, and the raw limit
of the logfile path (the same files downloaded side by side with plain httpx and discarded).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _harness import PEAK_RSS, print_table, run_child, simulator_process

KINDS = ("clicks", "deliveries", "impressions", "errors", "unsubscribes", "abuses")
LOG_TYPES = ("pom-clicks", "pom-deliveries", "pom-impressions", "pom-errors", "pom-unsubscribes", "pom-abuses")

LOAD = PEAK_RSS + """
import json, os, tempfile, time, dlt
from copernica_source import copernica_source
from copernica_source.client import CopernicaClient
from copernica_source.cli.progress import StepProgress, use_system_allocator
from copernica_source.settings import duckdb_destination
use_system_allocator()  # as `copernica load` runs
d = tempfile.mkdtemp()
os.environ['DLT_DATA_DIR'] = d
tables = os.environ['TABLES'].split(',')
p = dlt.pipeline('bench', destination=duckdb_destination(d + '/b.duckdb'), dataset_name='bench', pipelines_dir=d,
                 progress=StepProgress("off"))
src = copernica_source(access_token=os.environ['TOKEN'], base_url=os.environ['BASE'], auth_url=os.environ['AUTH'],
                       max_concurrency=int(os.environ['CONC']), products=['html'],
                       logfiles=['html']).with_resources(*tables)
t = time.perf_counter(); info = p.run(src); info.raise_on_failed_jobs(); dt = time.perf_counter() - t
with p.sql_client() as c:
    n = sum(c.execute_sql(f'select count(*) from bench.{t}')[0][0] for t in tables)
print(json.dumps({'name': os.environ['NAME'], 'rows': n, 'seconds': dt, 'peak_mb': _peak_mb(),
                  'requests': CopernicaClient.total_requests()}))
"""

# The raw limit of the logfile path: list each type once, download every file side by side, discard.
RAW_LOGFILES = PEAK_RSS + """
import json, os, time, httpx
from concurrent.futures import ThreadPoolExecutor
base, conc = os.environ['BASE'] + '/v4/', int(os.environ['CONC'])
jwt = httpx.post(os.environ['AUTH'], data={'access_token': os.environ['TOKEN']}).text.strip()
client = httpx.Client(headers={'Authorization': 'Bearer ' + jwt}, limits=httpx.Limits(max_connections=conc),
                      timeout=600)
t = time.perf_counter()
names = [n for ty in os.environ['TYPES'].split(',') for n in client.get(base + 'logfiles', params={'type': ty}).json()]
def get(name):
    with client.stream('GET', base + f'logfile/{name}/csv') as r:
        r.raise_for_status()
        return sum(chunk.count(b'\\r\\n') for chunk in r.iter_bytes())  # rows: the simulator ends rows with CRLF
with ThreadPoolExecutor(conc) as pool: rows = sum(pool.map(get, names))
print(json.dumps({'name': 'raw logfile download', 'rows': rows, 'seconds': time.perf_counter() - t,
                  'peak_mb': _peak_mb(), 'requests': len(names) + len(os.environ['TYPES'].split(','))}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000, help="html clicks (the other event kinds scale)")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()

    with simulator_process("--events", str(args.events), "--history-days", str(args.days),
                           "--latency-ms", str(args.latency_ms)) as sim:
        env = dict(BASE=sim["base_url"], AUTH=sim["auth_url"], TOKEN=sim["access_token"], CONC=args.concurrency)
        logs = run_child(LOAD, NAME="logfiles", TABLES=",".join(f"html_log_{k}" for k in KINDS), **env)
        lists = run_child(LOAD, NAME="event lists", TABLES=",".join(f"html_{k}" for k in KINDS), **env)
        raw = run_child(RAW_LOGFILES, TYPES=",".join(LOG_TYPES), **env)
    results = [raw, logs, lists]
    print_table(f"html engagement, {args.events:,} clicks over {args.days} days, latency {args.latency_ms} ms, "
                f"concurrency {args.concurrency}", results, "raw logfile download")
    for r in results:
        print(f"{r['name']:<28} {r['requests']:>8,} API requests")
    speed = (logs["rows"] / logs["seconds"]) / (lists["rows"] / lists["seconds"])
    print(f"logfiles vs event lists: {speed:.1f} x the rows/s with {logs['requests'] / lists['requests']:.2f} x the "
          f"requests; same rows: {logs['rows'] == lists['rows']} ({logs['rows']:,} vs {lists['rows']:,})")


if __name__ == "__main__":
    main()

"""Benchmark: html clicks into DuckDB, this source vs dlt's declarative rest_api source vs the raw download limit.

    python tests/benchmarks/bench_engagement.py                 # 1M events, 50 ms latency, concurrency 8
    python tests/benchmarks/bench_engagement.py --events 200000  # quicker

Prints rows/s, the ratios (targets: >= 0.6 x raw, >= 10 x rest_api) and peak memory of each run, and this
source's peak memory at 1M vs 3M events (target: < 500 MB, growing < 20%). The simulator runs in its own
process; each measured run runs in a fresh interpreter of its own.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _harness import PEAK_RSS, RAW_DOWNLOAD, REST_API_PEER, print_table, run_child, simulator_process

SOURCE = PEAK_RSS + """
import json, os, tempfile, time, dlt
from copernica_source import copernica_source
from copernica_source.cli.progress import StepProgress, use_system_allocator
from copernica_source.settings import duckdb_destination
use_system_allocator()  # as `copernica load` runs
d = tempfile.mkdtemp()
os.environ['DLT_DATA_DIR'] = d
p = dlt.pipeline('bench_source', destination=duckdb_destination(d + '/b.duckdb'), dataset_name='bench', pipelines_dir=d,
                 progress=StepProgress("off"))
src = copernica_source(access_token=os.environ['TOKEN'], base_url=os.environ['BASE'], auth_url=os.environ['AUTH'],
                       max_concurrency=int(os.environ['CONC'])).with_resources('html_clicks')
t = time.perf_counter(); info = p.run(src); info.raise_on_failed_jobs(); dt = time.perf_counter() - t
with p.sql_client() as c: n = c.execute_sql('select count(*) from bench.html_clicks')[0][0]
print(json.dumps({'name': 'copernica_source', 'rows': n, 'seconds': dt, 'peak_mb': _peak_mb()}))
"""

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--scale-events", type=int, default=3_000_000, help="second size for memory growth (0: skip)")
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--peer-fraction", type=float, default=0.1)
    ap.add_argument("--quirks", default="literal",
                    help="simulator readings: literal (html/clicks ignores fields[]=id>N, so it is read by timestamp "
                         "windows) or html_id_filter=all (read by ID keyset)")
    args = ap.parse_args()

    results = []
    with simulator_process("--events", str(args.events), "--latency-ms", str(args.latency_ms),
                           "--quirks", args.quirks) as sim:
        env = dict(BASE=sim["base_url"], AUTH=sim["auth_url"], TOKEN=sim["access_token"], CONC=args.concurrency,
                   API_PATH="html/clicks", TABLE="html_clicks")
        results.append(run_child(RAW_DOWNLOAD, ROWS=args.events, **env))
        results.append(run_child(SOURCE, **env))
        results.append(run_child(REST_API_PEER, ROWS=int(args.events * args.peer_fraction), **env))
    title = (f"html clicks, {args.events:,} events, latency {args.latency_ms} ms, concurrency {args.concurrency}, "
             f"quirks {args.quirks}")
    print_table(title, results, "raw httpx download")
    source, peer = results[1], results[2]
    print(f"source vs rest_api peer: {source['rows'] / source['seconds'] / (peer['rows'] / peer['seconds']):.1f} x")

    if args.scale_events:
        with simulator_process("--events", str(args.scale_events), "--latency-ms", str(args.latency_ms),
                               "--quirks", args.quirks) as sim:
            env = dict(BASE=sim["base_url"], AUTH=sim["auth_url"], TOKEN=sim["access_token"], CONC=args.concurrency,
                   API_PATH="html/clicks", TABLE="html_clicks")
            big = run_child(SOURCE, **env)
        growth = big["peak_mb"] / source["peak_mb"] - 1
        print(f"peak memory: {source['peak_mb']:.0f} MB at {source['rows']:,} rows, {big['peak_mb']:.0f} MB at "
              f"{big['rows']:,} rows ({growth:+.0%}); {big['rows'] / big['seconds']:,.0f} rows/s at the larger size")


if __name__ == "__main__":
    main()

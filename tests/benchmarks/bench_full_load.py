"""Benchmark: a full load of every table (engagement of both products, structure, profiles) into DuckDB, as
`copernica load` runs it, at two sizes: rows/s and peak memory (target: < 500 MB, growing < 20%).

    python tests/benchmarks/bench_full_load.py                    # 1M and 2M events, 50 ms latency
    python tests/benchmarks/bench_full_load.py --events 200000 --scale-events 0
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _harness import PEAK_RSS, run_child, simulator_process

FULL_LOAD = PEAK_RSS + """
import json, os, tempfile, time, dlt
from copernica_source import copernica_source
from copernica_source.cli.progress import StepProgress, use_system_allocator
from copernica_source.settings import duckdb_destination
use_system_allocator()  # as `copernica load` runs
d = tempfile.mkdtemp()
os.environ['DLT_DATA_DIR'] = d
p = dlt.pipeline('bench_full', destination=duckdb_destination(d + '/b.duckdb'), dataset_name='bench', pipelines_dir=d,
                 progress=StepProgress("off"))
src = copernica_source(access_token=os.environ['TOKEN'], base_url=os.environ['BASE'], auth_url=os.environ['AUTH'],
                       max_concurrency=int(os.environ['CONC']))
t = time.perf_counter(); info = p.run(src); info.raise_on_failed_jobs(); dt = time.perf_counter() - t
counts = p.last_trace.last_normalize_info.row_counts
rows = sum(n for table, n in counts.items() if not table.startswith('_dlt'))
print(json.dumps({'rows': rows, 'seconds': dt, 'peak_mb': _peak_mb()}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--scale-events", type=int, default=2_000_000, help="second size for memory growth (0: skip)")
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    sizes = [args.events] + ([args.scale_events] if args.scale_events else [])
    results = []
    for events in sizes:
        with simulator_process("--events", str(events), "--latency-ms", str(args.latency_ms)) as sim:
            r = run_child(FULL_LOAD, BASE=sim["base_url"], AUTH=sim["auth_url"], TOKEN=sim["access_token"],
                          CONC=args.concurrency)
        results.append((events, r))
        print(f"{events:>10,} html clicks: {r['rows']:>11,} rows in {r['seconds']:7.1f}s "
              f"({r['rows'] / r['seconds']:>9,.0f} rows/s), peak {r['peak_mb']:.0f} MB", flush=True)
    if len(results) == 2:
        growth = results[1][1]["peak_mb"] / results[0][1]["peak_mb"] - 1
        print(f"peak memory grows {growth:+.0%} for {sizes[1] / sizes[0]:.0f} x the events (target < 20%)")


if __name__ == "__main__":
    main()

"""Benchmark: the profiles of one database into DuckDB, this source vs dlt's declarative rest_api source vs the raw
download limit; then an incremental run after 1% of the profiles changed.

    python tests/benchmarks/bench_profiles.py                    # 200,000 profiles, 50 ms latency, concurrency 8
    python tests/benchmarks/bench_profiles.py --profiles 50000   # quicker

Database 1 of the simulator has 16 typed fields and 6 interests (22 data columns per profile). Prints rows/s and
the ratios of the full load, then the incremental run's requests and seconds. The simulator runs in its own
process; each measured run runs in a fresh interpreter of its own.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
from _harness import PEAK_RSS, RAW_DOWNLOAD, REST_API_PEER, print_table, run_child, simulator_process

SOURCE = PEAK_RSS + """
import json, os, time, dlt
from copernica_source import copernica_source
from copernica_source.client import CopernicaClient
d = os.environ['WORKDIR']
os.environ['DLT_DATA_DIR'] = d
p = dlt.pipeline('bench_profiles', destination=dlt.destinations.duckdb(d + '/b.duckdb'), dataset_name='bench',
                 pipelines_dir=d)
src = copernica_source(access_token=os.environ['TOKEN'], base_url=os.environ['BASE'], auth_url=os.environ['AUTH'],
                       max_concurrency=int(os.environ['CONC']), database_ids=[1]).with_resources('profiles')
before = CopernicaClient.total_requests()
t = time.perf_counter(); info = p.run(src); info.raise_on_failed_jobs(); dt = time.perf_counter() - t
with p.sql_client() as c: n = c.execute_sql('select count(*) from bench.profiles_customers')[0][0]
counts = p.last_trace.last_normalize_info.row_counts
print(json.dumps({'name': os.environ['NAME'], 'rows': n, 'seconds': dt, 'peak_mb': _peak_mb(),
                  'requests': CopernicaClient.total_requests() - before, 'read': counts.get('profiles_customers', 0)}))
"""

def change_profiles(sim: dict[str, str], profiles: int, fraction: float) -> dict[str, int]:
    """`fraction` of the profiles modified, a twentieth of that deleted and as many created, over HTTP."""
    from copernica_source.settings import make_client

    client = make_client(sim["access_token"], sim["base_url"], 4, sim["auth_url"], max_concurrency=16)
    ids = [int(i) for i in client.get("database/1/profileids")]
    rng = random.Random(5)
    n = max(1, int(len(ids) * fraction))
    chosen = rng.sample(ids, n + n // 20)
    modify, delete = chosen[:n], chosen[n:]

    def write(k: int) -> None:
        if k < len(modify):
            client.request("PUT", f"profile/{modify[k]}/fields", json={"city": f"Changed {k}"})
        elif k < len(modify) + len(delete):
            client.request("DELETE", f"profile/{delete[k - len(modify)]}")
        else:
            client.request("POST", "database/1/profiles", json={"fields": {"email": f"bench{k}@example.com"}})

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(write, range(n + 2 * (n // 20))))
    return {"modified": n, "deleted": len(delete), "created": n // 20}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profiles", type=int, default=200_000)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--peer-fraction", type=float, default=0.1)
    ap.add_argument("--changed", type=float, default=0.01, help="fraction of profiles modified before the rerun")
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="bench_profiles_")
    results = []
    with simulator_process("--profiles", str(args.profiles), "--events", "1000",
                           "--latency-ms", str(args.latency_ms)) as sim:
        env = dict(BASE=sim["base_url"], AUTH=sim["auth_url"], TOKEN=sim["access_token"], CONC=args.concurrency,
                   API_PATH="database/1/profiles", TABLE="profiles")
        results.append(run_child(RAW_DOWNLOAD, ROWS=args.profiles, **env))
        full = run_child(SOURCE, NAME="copernica_source (full)", WORKDIR=workdir, **env)
        results.append(full)
        results.append(run_child(REST_API_PEER, ROWS=int(args.profiles * args.peer_fraction), **env))
        started = time.perf_counter()
        changes = change_profiles(sim, args.profiles, args.changed)
        print(f"changed through the API in {time.perf_counter() - started:.1f}s: {changes}")
        incremental = run_child(SOURCE, NAME="copernica_source (incr.)", WORKDIR=workdir, **env)
    title = (f"profiles of database 1, {args.profiles:,} profiles (16 fields, 6 interests), latency "
             f"{args.latency_ms} ms, concurrency {args.concurrency}")
    print_table(title, results, "raw httpx download")
    peer = results[2]
    print(f"source vs rest_api peer: {full['rows'] / full['seconds'] / (peer['rows'] / peer['seconds']):.1f} x; "
          f"full load: {full['requests']} requests")
    print(f"incremental after {args.changed:.0%} changes: {incremental['requests']} requests, "
          f"{incremental['seconds']:.2f}s, {incremental['read']:,} rows read, {incremental['rows']:,} rows in table")


if __name__ == "__main__":
    main()

"""On-demand benchmark of the reverse path: `copernica push-profiles` (default concurrency) against a sequential
loop of one upsert request per row, both against the simulator (own process) at 50 ms latency.

    python tests/benchmarks/bench_push_profiles.py [--rows 10000] [--loop-rows 1000] [--latency-ms 50]

The loop's rate is constant (one round trip per row), so it is measured on `--loop-rows` rows of their own
keys rather than 10,000 (which would take over eight minutes at 50 ms); rates and their ratio are printed.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import print_table, simulator_process

from copernica_source.client import CopernicaClient


def _fields(client: CopernicaClient) -> tuple[str, str]:
    rows = client.get("database/1/fields", {"limit": 1000})["data"]
    email = next(f["name"] for f in rows if f["type"] == "email")
    text = next(f["name"] for f in rows if f["type"] == "text")
    return email, text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--loop-rows", type=int, default=1_000)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    args = ap.parse_args()
    with simulator_process("--latency-ms", str(args.latency_ms), "--profiles", "1000", "--events", "1000") as sim, \
            tempfile.TemporaryDirectory() as tmp:
        client = CopernicaClient(sim["access_token"], sim["base_url"], auth_url=sim["auth_url"], max_concurrency=1)
        email, text = _fields(client)
        src = os.path.join(tmp, "audience.csv")
        with open(src, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow([email, text])
            w.writerows([f"bench{i}@push.example", f"Name {i}"] for i in range(args.rows))
        env = dict(os.environ, SOURCES__COPERNICA__ACCESS_TOKEN=sim["access_token"],
                   SOURCES__COPERNICA__BASE_URL=sim["base_url"], SOURCES__COPERNICA__AUTH_URL=sim["auth_url"],
                   DLT_DATA_DIR=os.path.join(tmp, "dlt"))
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "copernica_source.cli", "push-profiles", "--input", src,
                               "--database", "1", "--key", email, "--results", os.path.join(tmp, "r.csv"),
                               "--pipelines-dir", os.path.join(tmp, "pipelines")],
                              env=env, cwd=tmp, capture_output=True, text=True)
        path_seconds = time.monotonic() - started
        if done.returncode != 0:
            print(done.stdout, done.stderr[-3000:], file=sys.stderr)
            return 1
        print(done.stdout.strip())

        started = time.monotonic()
        for i in range(args.loop_rows):
            client.request("PUT", "database/1/profiles",
                           [("fields[]", f"{email}==loop{i}@push.example"), ("create", "1")],
                           {"fields": {email: f"loop{i}@push.example", text: f"Name {i}"}})
        loop_seconds = time.monotonic() - started
        client.close()
    rows = [
        {"name": "sequential loop (1 req/row)", "rows": args.loop_rows, "seconds": loop_seconds},
        {"name": "push-profiles (default)", "rows": args.rows, "seconds": path_seconds},
    ]
    print_table(f"push profiles at {args.latency_ms:.0f} ms latency", rows, "sequential loop (1 req/row)")
    ratio = (args.rows / path_seconds) / (args.loop_rows / loop_seconds)
    print(f"\nratio push-profiles / loop: {ratio:.2f}x (target >= 6x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: how fast the simulator serves one day's log file, per type and format, over loopback HTTP.

    python tests/benchmarks/bench_logfiles.py                      # 2M clicks over two days: ~1M rows a file
    python tests/benchmarks/bench_logfiles.py --events 200000

The simulator runs in its own process with the events of two days; this process downloads the busiest day's
file of each type in each format and prints rows/s (target: >= 200,000 CSV rows/s for pom-clicks) and the
simulator's peak RSS, which should stay flat however large the file (the body streams).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

TYPES = ("pom-clicks", "pom-deliveries", "pom-attempts", "cdm-click", "cdm-impression")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2_000_000, help="html clicks over the two days")
    ap.add_argument("--formats", default="csv,json,xml")
    args = ap.parse_args()
    proc = subprocess.Popen([sys.executable, "-m", "copernica_source.simulator", "--port", "0", "--events",
                             str(args.events), "--history-days", "2", "--emailings", "4",
                             "--destinations-per-emailing", "2000", "--profiles", "20000"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        sim = dict(part.split("=", 1) for part in line.split())
        jwt = httpx.post(sim["auth_url"], data={"access_token": sim["access_token"]}).text
        with httpx.Client(base_url=sim["base_url"] + "/v4", headers={"Authorization": f"Bearer {jwt}"},
                          timeout=600) as c:
            day = c.get("logfiles").json()[0]
            print(f"{'file':40} {'format':6} {'rows':>10} {'MB':>8} {'s':>7} {'rows/s':>10}")
            for log_type in TYPES:
                for fmt in args.formats.split(","):
                    t0 = time.perf_counter()
                    size = rows = 0
                    tail = b""
                    with c.stream("GET", f"logfile/{log_type}.{day}.log/{fmt}") as r:
                        for chunk in r.iter_raw():
                            size += len(chunk)
                            mark = {"csv": b"\r\n", "json": b'{"', "xml": b"<record>"}[fmt]
                            rows += (tail + chunk[: len(mark) - 1]).count(mark) + chunk.count(mark)
                            tail = chunk[-(len(mark) - 1):]
                    seconds = time.perf_counter() - t0
                    print(f"{log_type + '.' + day + '.log':40} {fmt:6} {rows:>10,} {size / 1e6:>8.1f} {seconds:>7.2f} "
                          f"{rows / seconds:>10,.0f}")
        status = Path(f"/proc/{proc.pid}/status")
        if status.exists():
            print("simulator peak RSS:", re.search(r"VmHWM:\s+(.*)", status.read_text())[1])  # type: ignore[index]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()

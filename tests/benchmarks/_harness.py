"""Shared pieces of the on-demand benchmarks: a simulator in its own process, children that report their peak
memory, and a table of rates and ratios. Not collected by pytest (benchmarks are not tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from typing import Any, Iterator


@contextmanager
def simulator_process(*args: str) -> Iterator[dict[str, str]]:
    """The simulator in its own process, so its CPU is not what the benchmark measures on the client side."""
    proc = subprocess.Popen([sys.executable, "-m", "copernica_source.simulator", "--port", "0", *args],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        yield dict(part.split("=", 1) for part in line.split())
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def run_child(code: str, **env: Any) -> dict[str, Any]:
    """Run `code` in a fresh interpreter; it prints one JSON line last. Adds the child's peak RSS in MB."""
    child_env = dict(os.environ, **{k: str(v) for k, v in env.items()})
    out = subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


PEAK_RSS = """
def _peak_mb():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'):
            return int(line.split()[1]) / 1024
"""


def print_table(title: str, rows: list[dict[str, Any]], reference: str) -> None:
    ref = next(r for r in rows if r["name"] == reference)
    print(f"\n{title}")
    print(f"{'run':<28} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'x ' + reference:>14} {'peak MB':>9}")
    for r in rows:
        ratio = r["rows"] / r["seconds"] / (ref["rows"] / ref["seconds"])
        print(f"{r['name']:<28} {r['rows']:>10,} {r['seconds']:>9.2f} {r['rows'] / r['seconds']:>10,.0f} "
              f"{ratio:>14.2f} {r.get('peak_mb', float('nan')):>9.0f}")

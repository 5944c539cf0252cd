"""Shared pieces of the on-demand benchmarks: a simulator in its own process, children that report their peak
memory, and a table of rates and ratios. Not collected by pytest (benchmarks are not tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


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


# The raw limit: the same pages downloaded side by side with plain httpx and discarded (env: BASE, AUTH, TOKEN,
# CONC, ROWS, API_PATH).
RAW_DOWNLOAD = PEAK_RSS + """
import json, os, time, httpx
from concurrent.futures import ThreadPoolExecutor
base, n, conc, path = os.environ['BASE'], int(os.environ['ROWS']), int(os.environ['CONC']), os.environ['API_PATH']
jwt = httpx.post(os.environ['AUTH'], data={'access_token': os.environ['TOKEN']}).text.strip()
client = httpx.Client(headers={'Authorization': 'Bearer ' + jwt}, limits=httpx.Limits(max_connections=conc))
def get(start):
    r = client.get(base + '/v4/' + path, params={'start': start, 'limit': 1000, 'total': 'false'})
    r.raise_for_status(); return len(r.content)
t = time.perf_counter()
with ThreadPoolExecutor(conc) as pool: list(pool.map(get, range(0, n, 1000)))
print(json.dumps({'name': 'raw httpx download', 'rows': n, 'seconds': time.perf_counter() - t, 'peak_mb': _peak_mb()}))
"""

# The peer: dlt's declarative rest_api source as DLT-NOTES.md configures it (env: as above plus TABLE).
REST_API_PEER = PEAK_RSS + """
import json, os, tempfile, time, httpx, dlt
from dlt.sources.rest_api import rest_api_source
d = tempfile.mkdtemp()
os.environ['DLT_DATA_DIR'] = d
jwt = httpx.post(os.environ['AUTH'], data={'access_token': os.environ['TOKEN']}).text.strip()
rows, table = int(os.environ['ROWS']), os.environ['TABLE']
src = rest_api_source({
    'client': {'base_url': os.environ['BASE'] + '/v4/', 'auth': {'type': 'bearer', 'token': jwt},
               'paginator': {'type': 'offset', 'limit': 1000, 'offset_param': 'start', 'limit_param': 'limit',
                             'total_path': 'total', 'maximum_offset': rows}},
    'resource_defaults': {'primary_key': 'ID', 'write_disposition': 'merge'},
    'resources': [{'name': table, 'endpoint': {'path': os.environ['API_PATH'], 'data_selector': 'data'}}]})
p = dlt.pipeline('bench_peer', destination=dlt.destinations.duckdb(d + '/p.duckdb'), dataset_name='peer',
                 pipelines_dir=d)
t = time.perf_counter(); info = p.run(src); info.raise_on_failed_jobs(); dt = time.perf_counter() - t
with p.sql_client() as c: n = c.execute_sql(f'select count(*) from peer.{table}')[0][0]
print(json.dumps({'name': 'dlt rest_api (defaults)', 'rows': n, 'seconds': dt, 'peak_mb': _peak_mb()}))
"""

"""Test helpers: pipelines into real DuckDB files, loading from the simulator over real HTTP, reading back.

Plain functions and constants the tests import (`from tests.helpers import ...`); the fixtures are in conftest.py.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dlt
import duckdb

from copernica_source import copernica_source

# Small but complete data: every table has rows, every page path (several pages, keyset ranges) is taken.
SMALL = dict(seed=7, events=3000, emailings=12, destinations_per_emailing=40, profiles=300, history_days=60)


def connection(sim: Any) -> dict[str, Any]:
    return {"access_token": sim.access_token, "base_url": sim.base_url, "auth_url": sim.auth_url}


def make_pipeline(tmp_path: Path, name: str = "copernica_test", destination: Any = None) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        destination=destination or dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
        dataset_name="copernica",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def load(sim: Any, pipeline: dlt.Pipeline, **kwargs: Any) -> Any:
    """One scheduled run of the source against the simulator."""
    resources = kwargs.pop("resources", None)
    source = copernica_source(**connection(sim), **kwargs)
    if resources:
        source = source.with_resources(*resources)
    info = pipeline.run(source)
    info.raise_on_failed_jobs()
    return info


def duckdb_path(pipeline: dlt.Pipeline) -> str:
    return pipeline.destination_client().config.credentials.database  # type: ignore[attr-defined]


def query(pipeline: dlt.Pipeline, sql: str) -> list[tuple[Any, ...]]:
    with pipeline.sql_client() as client:
        return [tuple(r) for r in client.execute_sql(sql)]


def table_ids(pipeline: dlt.Pipeline, table: str, key: str = "id") -> list[Any]:
    return [r[0] for r in query(pipeline, f"SELECT {key} FROM copernica.{table} ORDER BY {key}")]


def duckdb_types(path: str, table: str) -> dict[str, str]:
    con = duckdb.connect(path, read_only=True)
    try:
        return {
            name: dtype
            for name, dtype in con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'copernica' AND table_name = ?",
                [table],
            ).fetchall()
        }
    finally:
        con.close()


# -- a rewriting proxy: hostile or broken answers over real HTTP -----------------------------------------------

Rewrite = Callable[[str, dict[str, list[str]], Any], Any]
"""(path without the /vN/ prefix, query, parsed answer) -> the answer to send instead: an object to serialise
(NaN and Infinity allowed), raw `bytes`, or `UNCHANGED`."""
UNCHANGED: Any = object()


class RewritingProxy:
    """A loopback HTTP server in front of a simulator that forwards every request and lets `rewrite` replace the
    JSON answer of chosen GETs: the source meets a hostile answer through its real client, and the simulator
    itself stays the truth the next run is compared with. `rewritten` counts the answers replaced."""

    def __init__(self, sim: Any, rewrite: Rewrite) -> None:
        self.sim = sim
        self.rewrite = rewrite
        self.rewritten = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                proxy._forward(self)

            do_POST = do_GET

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/authenticate"

    @property
    def access_token(self) -> str:
        return str(self.sim.access_token)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RewritingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "accept-encoding")}
        request = urllib.request.Request(self.sim.base_url + handler.path, data=body, headers=headers,
                                         method=handler.command)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, answer_headers, answer = response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            status, answer_headers, answer = error.code, dict(error.headers.items()), error.read()
        if handler.command == "GET" and status == 200:
            try:
                answer = self._rewritten(handler.path, answer)
            except Exception as exc:  # noqa: BLE001 - a broken rewrite fails the test at once, not by retries
                status, answer = 400, json.dumps({"error": {"message": f"rewrite failed: {exc!r}"}}).encode()
        handler.send_response(status)
        for key, value in answer_headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)

    def _rewritten(self, url: str, answer: bytes) -> bytes:
        parts = urllib.parse.urlsplit(url)
        path = re.sub(r"^/v\d+/", "", parts.path).lstrip("/")
        try:
            parsed = json.loads(answer)
        except ValueError:
            return answer
        new = self.rewrite(path, urllib.parse.parse_qs(parts.query), parsed)
        if new is UNCHANGED:
            return answer
        with self._lock:
            self.rewritten += 1
        return new if isinstance(new, bytes) else json.dumps(new).encode()


def proxied(sim: Any, rewrite: Rewrite) -> RewritingProxy:
    """A proxy in front of `sim` rewriting answers with `rewrite`; stop it (or use it as a context manager)."""
    return RewritingProxy(sim, rewrite)


def drop_pg_datasets(con: Any, prefix: str) -> None:
    """Drop every PostgreSQL schema whose name starts with `prefix` (a test's dataset and its staging datasets)."""
    with con.cursor() as cur:
        cur.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{prefix}%",))
        for (schema,) in cur.fetchall():
            cur.execute(f'DROP SCHEMA "{schema}" CASCADE')

"""The HTTP front: keep-alive HTTP/1.1 on loopback, auth, latency, faults and the request log.

Each answer is written with one send (head and body together, TCP_NODELAY), because clients reuse
connections and a split write would meet delayed ACKs and add tens of milliseconds per page.

The front knows the simulator only as a Backend (below): Simulator satisfies it, and nothing here
imports it.
"""
from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from .auth import Authenticator
from .bodies import parse_body
from .config import RequestRecord, WriteRecord
from .faults import AFTER_WRITE, HTML_BODIES, SLOW_EXTRA_S, TOO_MANY, Faults, Latency
from .quirks import Quirks
from .router import INVALID_METHOD, Request, Response

INVALID_TOKEN = "Invalid access token"
WRITE_METHODS = ("POST", "PUT", "DELETE")
UNAUTHORIZED = "Unauthorized"
REASONS = {200: "OK", 201: "Created", 204: "No Content", 303: "See Other", 400: "Bad Request", 401: "Unauthorized",
           404: "Not Found", 429: "Too Many Requests", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


class Backend(Protocol):
    """What the HTTP front needs from the simulator: the API's answers, the auth, fault and latency
    draws, the quirks the front applies itself (expired_jwt), and the request and write logs."""

    @property
    def base_url(self) -> str: ...

    @property
    def auth(self) -> Authenticator: ...

    @property
    def faults(self) -> Faults: ...

    @property
    def latency(self) -> Latency: ...

    @property
    def quirks(self) -> Quirks: ...

    def handle(self, req: Request) -> Response:
        """The API's answer to an authorized request (no HTTP, no faults)."""
        ...

    def record_request(self, record: RequestRecord) -> None: ...

    def record_write(self, record: WriteRecord) -> None: ...


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    sim: Backend

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        """A client that hangs up mid-answer (killed, timed out) is normal traffic, not a server error."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CopernicaSimulator/1.0"
    server: SimHTTPServer

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet by design
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # ------------------------------------------------------------------------------------
    def _send(self, resp: Response, truncate: bool = False, close: bool = False, corrupt: bool = False) -> None:
        if resp.stream is not None:
            self._send_stream(resp, resp.stream, truncate, corrupt)
            return
        head = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Unknown')}",
                f"Content-Type: {resp.content_type}", f"Content-Length: {len(resp.body)}"]
        head += [f"{k}: {v}" for k, v in resp.headers.items()]
        if close or truncate:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace") + resp.body
        if truncate:
            cut = len(data) - len(resp.body) + len(resp.body) // 2 if resp.body else len(data) // 2
            data = data[:cut]
            self.close_connection = True
        if close:
            self.close_connection = True
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _send_stream(self, resp: Response, stream: Callable[[bool], Iterator[bytes]], cut: bool,
                     corrupt: bool) -> None:
        """A body rendered while it is written: chunked, so it never sits in memory whole. `cut` (the cut
        and truncate faults) renders it once to count it, announces that Content-Length, sends half and
        closes the connection."""
        head = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Unknown')}", f"Content-Type: {resp.content_type}"]
        head += [f"{k}: {v}" for k, v in resp.headers.items()]
        try:
            if cut:
                total = sum(len(chunk) for chunk in stream(False))
                head += [f"Content-Length: {total}", "Connection: close"]
                pending = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace")
                budget = total // 2
                for chunk in stream(False):
                    if budget <= 0:
                        break
                    piece = chunk[:budget]
                    budget -= len(piece)
                    self.wfile.write(pending + piece)
                    pending = b""
                if pending:
                    self.wfile.write(pending)
                self.wfile.flush()
                self.close_connection = True
                return
            head.append("Transfer-Encoding: chunked")
            pending = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace")
            for chunk in stream(corrupt):
                if chunk:
                    self.wfile.write(pending + b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    pending = b""
            self.wfile.write(pending + b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _handle(self) -> None:
        sim = self.server.sim
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        record = RequestRecord(self.command, url.path, parse_qs(url.query, keep_blank_values=True))
        sim.record_request(record)
        fault = sim.faults.draw()
        parts = [unquote(p) for p in url.path.split("/") if p]  # a real server decodes path segments
        if _is_logfile_download(self.command, parts):
            fault = sim.faults.take_armed() or fault
        record.fault = fault
        is_auth = parts[:1] == ["authenticate"] or (not parts and self.command == "POST")
        if not is_auth:
            delay = sim.latency.seconds()
            if delay:
                time.sleep(delay)
        is_write = self.command in WRITE_METHODS and not is_auth
        if fault and not (is_write and fault in AFTER_WRITE) and self._early_fault(fault, record):
            return
        if is_auth:
            resp = self._authenticate(url.query, raw)
        else:
            resp = self._api(parts, url.query, raw, record, is_write)
        record.status = resp.status
        if fault == "drop":
            record.status = 0
            self.close_connection = True
            return
        self._send(resp, truncate=fault in ("truncate", "cut"), corrupt=fault == "corrupt")

    def _early_fault(self, fault: str, record: RequestRecord) -> bool:
        """Faults that strike before the request is served; True when the answer is done."""
        if fault == "slow":
            time.sleep(SLOW_EXTRA_S)
            return False
        if fault in ("drop", "truncate", "cut", "corrupt"):
            return False  # served below, then cut (or, a streamed body, broken)
        if fault == "429":
            resp = Response(429, TOO_MANY, headers={"Retry-After": "1"})
        else:
            resp = Response(int(fault), HTML_BODIES[int(fault)], "text/html; charset=utf-8")
        record.status = resp.status
        self._send(resp)
        return True

    def _authenticate(self, query: str, raw: bytes) -> Response:
        sim = self.server.sim
        token = dict(parse_qsl(query)).get("access_token")
        body = parse_body(raw, self.headers.get("Content-Type", ""))
        if isinstance(body, dict) and body.get("access_token"):
            token = str(body["access_token"])
        if self.command != "POST":
            return Response.error(INVALID_METHOD)
        jwt = sim.auth.issue(token)
        if jwt is None:
            return Response.error(INVALID_TOKEN)
        return Response(200, jwt.encode(), "text/plain; charset=utf-8")

    def _api(self, parts: list[str], query: str, raw: bytes, record: RequestRecord, is_write: bool) -> Response:
        sim = self.server.sim
        version = 1
        if parts and len(parts[0]) == 2 and parts[0][0] == "v" and parts[0][1].isdigit():
            version = int(parts[0][1])
            parts = parts[1:]
        pairs = parse_qsl(query, keep_blank_values=True)
        if version >= 4:
            ok = sim.auth.check_bearer(self.headers.get("Authorization"))
            if not ok and sim.quirks.expired_jwt == "401":  # expired, unknown or missing JWT
                return Response.error(UNAUTHORIZED, 401)
        else:
            ok = sim.auth.check_token(dict(pairs).get("access_token"))
        if not ok or version not in (1, 2, 3, 4):
            return Response.error(INVALID_TOKEN if not ok else INVALID_METHOD)
        body = parse_body(raw, self.headers.get("Content-Type", ""))
        req = Request(self.command, version, "/".join(parts), pairs, body, sim.base_url)
        resp = sim.handle(req)
        if is_write:
            sim.record_write(WriteRecord(self.command, record.path, record.query, body, resp.status, resp.created_id))
        return resp


def _is_logfile_download(method: str, parts: list[str]) -> bool:
    """GET [/vN]/logfile/$name/$format: where armed download faults strike."""
    if parts and len(parts[0]) == 2 and parts[0][0] == "v" and parts[0][1].isdigit():
        parts = parts[1:]
    return method == "GET" and len(parts) == 3 and parts[0] == "logfile"


def serve(sim: Backend, host: str, port: int) -> tuple[SimHTTPServer, threading.Thread]:
    httpd = SimHTTPServer((host, port), Handler)
    httpd.sim = sim
    # stop() waits for the loop to look up: 0.05 s keeps a test's teardown short at twenty idle wakeups a second
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="copernica-simulator",
                              daemon=True)
    thread.start()
    return httpd, thread

"""The HTTP client against the simulator: JWT exchange and refresh, retries, error mapping, redaction."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from copernica_source.client import CopernicaClient, RetryPolicy, redact
from copernica_source.errors import AuthenticationError, CopernicaAPIError, NotFoundError, TransientError

FAST_RETRY = RetryPolicy(max_attempts=15, base_delay=0.01, max_delay=0.2, max_total_seconds=30)


def client_for(sim: Any, **kwargs: Any) -> CopernicaClient:
    kwargs.setdefault("retry", FAST_RETRY)
    return CopernicaClient(sim.access_token, base_url=sim.base_url, auth_url=sim.auth_url, **kwargs)


def test_jwt_is_cached_and_refreshed_before_expiry(copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(events=100, jwt_lifetime_s=3)
    with client_for(sim) as client:
        for _ in range(3):
            client.get("identity")
        auths = [r for r in sim.requests if r.path.startswith("/authenticate")]
        assert len(auths) == 1, "one exchange serves many calls"
        time.sleep(3.2)
        assert client.get("identity")
        auths = [r for r in sim.requests if r.path.startswith("/authenticate")]
        assert len(auths) == 2, "the JWT is refreshed when it nears exp"
        assert all(r.status < 400 for r in sim.requests)


def test_wrong_token_raises_authentication_error_without_the_token(copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(events=100)
    secret = "tok-WRONG-abcdef0123456789"
    with (
        CopernicaClient(secret, base_url=sim.base_url, auth_url=sim.auth_url, retry=FAST_RETRY) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.get("identity")
    assert secret not in str(info.value) and "rejected" in str(info.value)
    assert len(sim.requests) == 1, "a rejected token is not retried"


@pytest.mark.parametrize("version", [1, 2, 3])
def test_v1_to_v3_send_the_token_in_the_query_and_never_show_it(
    copernica_simulator_factory: Any, version: int, caplog: pytest.LogCaptureFixture
) -> None:
    sim = copernica_simulator_factory(events=100)
    caplog.set_level(logging.DEBUG)
    with client_for(sim, api_version=version) as client:
        assert client.get("identity")["name"]
        with pytest.raises(NotFoundError) as info:
            client.get("database/987654321")
    assert sim.access_token not in str(info.value) and sim.access_token not in info.value.url
    assert sim.requests[-1].query["access_token"] == [sim.access_token], "v1-v3 authenticate in the query"
    assert "access_token" in caplog.text, "httpx logged the request URL ..."
    assert sim.access_token not in caplog.text, "... with the token redacted"
    assert "No database with supplied ID" in info.value.message  # quirks literal: per-entity wording


def test_copernica_error_message_is_surfaced_on_400(copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(events=100)
    with client_for(sim) as client, pytest.raises(CopernicaAPIError) as info:
        client.request("POST", "database/1/profiles", json={"fields": "not-an-object"})
    assert info.value.status == 400 and "Invalid data" in info.value.message


@pytest.mark.parametrize("kind", ["429", "503", "502", "504", "drop", "truncate"])
def test_every_fault_kind_is_retried_to_the_right_answer(copernica_simulator_factory: Any, kind: str) -> None:
    sim = copernica_simulator_factory(events=2000)
    pages = range(0, 2000, 200)
    with client_for(sim) as client:
        clean = [client.get("html/clicks", {"start": s, "limit": 200}) for s in pages]
        sim.set_faults(0.5, kinds=(kind,))
        faulty = [client.get("html/clicks", {"start": s, "limit": 200}) for s in pages]
    assert faulty == clean
    assert any(r.fault == kind for r in sim.requests), f"no {kind} fault was met"


def test_retries_are_bounded_in_total_time(copernica_simulator_factory: Any) -> None:
    sim = copernica_simulator_factory(events=100)
    sim.set_faults(1.0, kinds=("503",))
    policy = RetryPolicy(max_attempts=100, base_delay=0.05, max_delay=0.2, max_total_seconds=1.0)
    started = time.monotonic()
    with client_for(sim, retry=policy) as client, pytest.raises(TransientError, match="run again later"):
        client.get("html/emailings")
    assert time.monotonic() - started < 3


def test_redact_removes_tokens_and_jwts() -> None:
    text = "GET http://x/v2/identity?access_token=abc123&limit=1 Bearer eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjF9.c2ln"
    out = redact(text, "abc123")
    assert "abc123" not in out and "eyJ" not in out and "limit=1" in out


@pytest.fixture
def html_server() -> Any:
    """Not Copernica: a web server that answers every request with an HTML 404 page."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = b"<!DOCTYPE HTML>\n<html><body><h1>404 Not Found</h1>\n<p>nothing here</p></body></html>\n"
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_wrong_auth_url_is_named_not_blamed_on_the_token(copernica_simulator: Any, html_server: str) -> None:
    with (
        CopernicaClient(copernica_simulator.access_token, copernica_simulator.base_url, auth_url=html_server) as c,
        pytest.raises(Exception) as info,
    ):
        c.get("identity")
    message = str(info.value)
    assert "auth_url" in message and "HTTP 404" in message and "does not look like" in message
    assert "rejected the access token" not in message


def test_a_base_url_that_is_not_copernica_says_so_on_one_line(html_server: str) -> None:
    with CopernicaClient("some-token", html_server, api_version=3) as c, pytest.raises(CopernicaAPIError) as info:
        c.get("identity")
    assert "\n" not in str(info.value) and "HTML page" in str(info.value) and "base_url" in str(info.value)

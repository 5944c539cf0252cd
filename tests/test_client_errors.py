"""The client's error mapping, retries and JWT flow through `httpx.MockTransport`: no server, every answer scripted.

Each test scripts what the authentication host and the API answer, and checks what the caller gets (the error
class and message), what was sent (how often, with which JWT) and how long the retry loop asked to wait.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import orjson
import pytest

from copernica_source.client import CopernicaClient, RetryPolicy, cut_short
from copernica_source.errors import (
    AnswerTooLargeError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    CopernicaAPIError,
    CopernicaError,
    InvalidMethodError,
    NotFoundError,
    TransientError,
    UnexpectedAnswerError,
    causes,
    copernica_cause,
    root_message,
)
from copernica_source.timefmt import COPERNICA_TIME

TOKEN = "tok-S3CRET-0123456789abcdef"
BASE = "https://api.test"
AUTH = "https://auth.test/authenticate"
# many attempts and a long budget: the tests that are about the budget set their own policy
POLICY = RetryPolicy(max_attempts=6, base_delay=0.001, max_delay=10.0, max_total_seconds=300.0)

Answer = tuple[int, bytes, dict[str, str]] | Exception | Callable[[httpx.Request], Any]


def make_jwt(seconds: float = 3600, serial: int = 0) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(value)).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256'})}.{part({'exp': int(time.time() + seconds), 'n': serial})}.c2lnbmF0dXJl"


def error(status: int, message: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    """An answer as Copernica gives errors: `{"error": {"message": ...}}`."""
    return status, orjson.dumps({"error": {"message": message}}), {"content-type": "application/json", **headers}


def fake_jwt_answer() -> tuple[int, bytes, dict[str, str]]:
    return 200, make_jwt().encode(), {"content-type": "text/plain"}


def ok(data: Any = None, status: int = 200) -> tuple[int, bytes, dict[str, str]]:
    return status, orjson.dumps(data if data is not None else {"ID": 1}), {"content-type": "application/json"}


class Fake:
    """Scripted hosts: each request takes the next answer of its host's list; the last answer repeats.

    The authentication host answers a fresh JWT unless told otherwise. `sent` holds every request, in order.
    """

    def __init__(self, *api: Answer, auth: list[Answer] | None = None) -> None:
        self.api = list(api) or [ok()]
        self.auth: list[Answer] = auth if auth is not None else [self._new_jwt]
        self.jwts: list[str] = []
        self.sent: list[httpx.Request] = []
        self.bearers: list[str | None] = []  # each API request's Authorization as sent (a resend is the same object)
        self._lock = threading.Lock()

    def _new_jwt(self, request: httpx.Request) -> tuple[int, bytes, dict[str, str]]:
        jwt = make_jwt(serial=len(self.jwts))
        self.jwts.append(jwt)
        return 200, jwt.encode(), {"content-type": "text/plain"}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.sent.append(request)
            if request.url.host == "api.test":
                self.bearers.append(request.headers.get("Authorization"))
            queue = self.auth if request.url.host == "auth.test" else self.api
            answer = queue.pop(0) if len(queue) > 1 else queue[0]
        while callable(answer) and not isinstance(answer, Exception):
            answer = answer(request)
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):  # a streamed answer, made by the test
            return answer
        status, body, headers = answer
        return httpx.Response(status, content=body, headers=headers)

    @property
    def exchanges(self) -> list[httpx.Request]:
        return [r for r in self.sent if r.url.host == "auth.test"]

    @property
    def calls(self) -> list[httpx.Request]:
        return [r for r in self.sent if r.url.host == "api.test"]


def client_for(fake: Fake, waits: list[float] | None = None, **kwargs: Any) -> CopernicaClient:
    kwargs.setdefault("retry", POLICY)
    if waits is not None:
        kwargs["sleep"] = waits.append
    return CopernicaClient(TOKEN, BASE, auth_url=AUTH, transport=httpx.MockTransport(fake), **kwargs)


def assert_no_secret(text: str, fake: Fake) -> None:
    assert TOKEN not in text
    for jwt in fake.jwts:
        assert jwt not in text and jwt.split(".")[1] not in text
    assert "eyJ" not in text


# -- Copernica's error answers --------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "message", "expected"), [
    (400, "Invalid data: fields must be an object", CopernicaAPIError),
    (400, "No entity with supplied ID", NotFoundError),
    (400, "No collection with given ID", NotFoundError),
    (400, "No database with the supplied ID", NotFoundError),
    (404, "Not found", NotFoundError),
    (400, "Invalid method", InvalidMethodError),
    (422, "Unprocessable", CopernicaAPIError),
])
def test_an_error_answer_maps_to_its_class_with_copernicas_message(
    status: int, message: str, expected: type[CopernicaAPIError]
) -> None:
    fake = Fake(error(status, message))
    with client_for(fake) as client, pytest.raises(CopernicaAPIError) as info:
        client.request("POST", "database/1/profiles", json={"fields": "x"}, retry_unsafe=False)
    assert type(info.value) is expected
    assert (info.value.message, info.value.status, info.value.method) == (message, status, "POST")
    assert info.value.url == f"{BASE}/v4/database/1/profiles"
    assert str(info.value) == f"Copernica answered {status} to POST {BASE}/v4/database/1/profiles: {message}"
    assert len(fake.calls) == 1, "a 4xx is permanent: not sent again"


@pytest.mark.parametrize("version", [2, 4])
def test_a_not_found_answer_never_shows_the_token_or_the_jwt(version: int) -> None:
    fake = Fake(error(400, "No profile with supplied ID"))
    with client_for(fake, api_version=version) as client, pytest.raises(NotFoundError) as info:
        client.get("profile/5")
    assert_no_secret(str(info.value) + info.value.url + repr(client), fake)
    if version == 4:
        assert "access_token" not in str(fake.calls[0].url) and fake.bearers == [f"Bearer {fake.jwts[0]}"]
    else:
        assert fake.calls[0].url.params["access_token"] == TOKEN and fake.bearers == [None]
        assert not fake.exchanges, "v1-v3 have no JWT exchange"


@pytest.mark.parametrize("status", [400, 404])
def test_an_html_error_page_is_one_line(status: int) -> None:
    page = b"<!DOCTYPE html>\n<html>\n<head><title>Error</title></head>\n<body><h1>Bad Request</h1>\n</body></html>\n"
    fake = Fake((status, page, {"content-type": "text/html"}))
    with client_for(fake) as client, pytest.raises(CopernicaAPIError) as info:
        client.get("identity")
    assert "\n" not in str(info.value)
    assert "an HTML page instead of Copernica's JSON answer" in info.value.message and "base_url" in str(info.value)
    assert "<html" not in str(info.value)


def test_a_plain_text_error_is_one_short_line() -> None:
    fake = Fake((400, b"something\n  went\n\n wrong " + b"x" * 500, {"content-type": "text/plain"}))
    with client_for(fake) as client, pytest.raises(CopernicaAPIError) as info:
        client.get("identity")
    assert info.value.message.startswith("something went wrong x") and len(info.value.message) == 200


def test_a_redirect_on_a_get_is_an_error_and_not_followed() -> None:
    moved = (302, b"", {"Location": f"{BASE}/v4/database/2?access_token={TOKEN}"})
    fake = Fake(moved, ok())
    with client_for(fake, api_version=3) as client, pytest.raises(CopernicaAPIError) as info:
        client.get("database/1")
    assert info.value.status == 302 and info.value.message.startswith("moved (HTTP 302) to https://api.test/v4/")
    assert "access_token=***" in info.value.message
    assert_no_secret(str(info.value), fake)
    assert len(fake.calls) == 1, "the Location is neither followed nor asked again"


# -- the JWT: refreshed once on a rejection ------------------------------------------------------------------
@pytest.mark.parametrize("rejection", [
    error(401, "Unauthorized"), error(403, "Forbidden"), error(400, "Invalid access token")
], ids=["401", "403", "400-invalid-access-token"])
def test_a_rejected_jwt_is_refreshed_once_and_the_request_sent_again(rejection: Any) -> None:
    fake = Fake(rejection, ok({"name": "account"}))
    with client_for(fake) as client:
        assert client.get("identity") == {"name": "account"}
    assert len(fake.exchanges) == 2
    assert fake.bearers == [f"Bearer {fake.jwts[0]}", f"Bearer {fake.jwts[1]}"], "resent with the new JWT"
    assert client.retries_made == 0, "a refresh is not a retry"


def test_a_jwt_rejected_twice_is_an_authentication_error_without_secrets() -> None:
    fake = Fake(error(401, "Unauthorized"), error(401, "Unauthorized"), ok())
    with client_for(fake) as client, pytest.raises(AuthenticationError) as info:
        client.get("identity")
    assert "rejected the access token (HTTP 401: Unauthorized)" in str(info.value)
    assert "REST API v4" in str(info.value)
    assert (len(fake.exchanges), len(fake.calls)) == (2, 2), "refreshed once, then given up"
    assert_no_secret(str(info.value), fake)


def test_v3_does_not_refresh_a_rejected_token() -> None:
    fake = Fake(error(400, "Invalid access token"), ok())
    with client_for(fake, api_version=3) as client, pytest.raises(AuthenticationError, match="REST API v3"):
        client.get("identity")
    assert len(fake.calls) == 1 and not fake.exchanges


def test_the_jwt_is_kept_until_shortly_before_it_expires() -> None:
    fake = Fake(auth=[(200, make_jwt(3600).encode(), {}), (200, make_jwt(-1).encode(), {}),
                      (200, make_jwt(3600).encode(), {})])
    with client_for(fake) as client:
        for _ in range(3):
            client.get("identity")
        assert len(fake.exchanges) == 1, "one exchange serves many requests"
        client._jwt = None
        client.get("identity")  # gets the expired one: used once, asked again for the next request
        client.get("identity")
        client.get("identity")
    assert len(fake.exchanges) == 3


@pytest.mark.timeout(20)
def test_threads_wait_for_one_exchange_instead_of_each_asking() -> None:
    def slow_jwt(request: httpx.Request) -> Any:
        time.sleep(0.2)
        return 200, make_jwt().encode(), {}

    fake = Fake(auth=[slow_jwt])
    with client_for(fake, max_concurrency=8) as client:
        threads = [threading.Thread(target=client.get, args=("identity",), daemon=True) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=10)
        assert not any(t.is_alive() for t in threads), "a thread is still waiting for the JWT"
    assert len(fake.calls) == 8 and len(fake.exchanges) == 1


@pytest.mark.parametrize(("auth", "expected", "words"), [
    ([error(400, f"Invalid access token {TOKEN}")], AuthenticationError, "when exchanging it for a JWT (HTTP 400"),
    ([(404, b"<html><body>Not Found</body></html>", {})], ConfigurationError, "does not look like"),
    ([(200, b"<!DOCTYPE html><html></html>", {})], ConfigurationError, "an HTML page, not a token"),
], ids=["token-rejected", "not-an-auth-host", "html-200"])
def test_a_failed_exchange_says_why_and_sends_nothing_to_the_api(
    auth: list[Answer], expected: type[Exception], words: str
) -> None:
    fake = Fake(ok(), auth=auth)
    with client_for(fake) as client, pytest.raises(expected) as info:
        client.get("identity")
    assert words in str(info.value)
    assert not fake.calls and len(fake.exchanges) == 1
    assert TOKEN not in str(info.value)


# -- the retry loop --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("retry_after", "wait"), [("7", 7.0), ("0", 0.0), ("120", 10.0)])
def test_429_waits_what_retry_after_asks_capped_at_max_delay(retry_after: str, wait: float) -> None:
    fake = Fake(error(429, "Too many requests", **{"Retry-After": retry_after}), ok({"name": "account"}))
    waits: list[float] = []
    with client_for(fake, waits) as client:
        assert client.get("identity") == {"name": "account"}
        assert client.retries_made == 1 and client.requests_made == 2
    assert waits == [wait]


def test_503_until_the_deadline_is_a_transient_error() -> None:
    policy = RetryPolicy(max_attempts=1000, base_delay=0.01, max_delay=0.05, max_total_seconds=0.4)
    fake = Fake(error(503, "Service Unavailable"))
    started = time.monotonic()
    with client_for(fake, retry=policy) as client, pytest.raises(TransientError) as info:
        client.get("html/emailings")
    assert time.monotonic() - started < 2
    assert 2 < len(fake.calls) < 1000, "retried, then stopped by the time budget (not by the attempts)"
    message = str(info.value)
    assert message.startswith(f"GET {BASE}/v4/html/emailings failed after {len(fake.calls)} attempts")
    assert "HTTP 503" in message and "run again later" in message


def test_a_retry_after_beyond_the_budget_gives_up_without_waiting() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=120.0, max_total_seconds=30.0)
    fake = Fake(error(503, "Service Unavailable", **{"Retry-After": "60"}), ok())
    waits: list[float] = []
    with client_for(fake, waits, retry=policy) as client, pytest.raises(TransientError, match="after 1 attempts"):
        client.get("identity")
    assert waits == [] and len(fake.calls) == 1


def test_attempts_are_bounded() -> None:
    fake = Fake(error(502, "Bad Gateway"))
    waits: list[float] = []
    with client_for(fake, waits) as client, pytest.raises(TransientError, match="after 6 attempts"):
        client.get("identity")
    assert len(fake.calls) == POLICY.max_attempts and len(waits) == POLICY.max_attempts - 1


@pytest.mark.parametrize(("failure", "words"), [
    (httpx.ReadError("connection reset by peer"), "connection lost before the answer; outcome unknown"),
    (httpx.ReadTimeout("timed out"), "timed out; outcome unknown"),
], ids=["dropped", "timeout"])
def test_a_write_whose_answer_was_lost_is_not_sent_again(failure: Exception, words: str) -> None:
    fake = Fake(failure, ok(status=201))
    with client_for(fake) as client, pytest.raises(TransientError) as info:
        client.request("POST", "database/1/profiles", json={"fields": {"a": "1"}}, retry_unsafe=False)
    assert words in str(info.value) and str(info.value).startswith(f"POST {BASE}/v4/database/1/profiles")
    assert [r.method for r in fake.calls] == ["POST"]


def test_a_lost_answer_is_sent_again_when_the_caller_allows_it() -> None:
    fake = Fake(httpx.ReadError("connection reset by peer"), ok(status=201))
    waits: list[float] = []
    with client_for(fake, waits) as client:
        assert client.request("PUT", "profile/1/fields", json={"a": "1"}).status == 201
    assert [r.method for r in fake.calls] == ["PUT", "PUT"] and len(waits) == 1


@pytest.mark.parametrize("answer", [
    (201, b"Created", {"content-type": "text/html"}),
    (200, b'{"ID": 12', {"content-type": "application/json"}),
], ids=["text", "truncated-json"])
@pytest.mark.parametrize("retry_unsafe", [True, False])
def test_a_2xx_write_that_is_not_json_is_done_and_not_sent_again(answer: Any, retry_unsafe: bool) -> None:
    fake = Fake(answer, ok())
    with client_for(fake) as client:
        response = client.request("POST", "database/1/profiles", json={"fields": {}}, retry_unsafe=retry_unsafe)
    assert (response.status, response.data) == (answer[0], None)
    assert len(fake.calls) == 1


def test_a_truncated_json_answer_to_a_get_is_asked_again() -> None:
    fake = Fake((200, b'{"start": 0, "data": [', {"content-type": "application/json"}), ok({"data": []}))
    with client_for(fake, []) as client:
        assert client.get("html/clicks") == {"data": []}
    assert len(fake.calls) == 2


def test_a_refused_connection_before_any_answer_names_the_setting() -> None:
    fake = Fake(ok(), auth=[httpx.ConnectError("[Errno 111] Connection refused")])
    with client_for(fake, []) as client, pytest.raises(ConnectionFailedError) as info:
        client.get("identity")
    assert "cannot connect to auth.test" in str(info.value) and "check auth_url" in str(info.value)
    assert len(fake.exchanges) == 1, "not retried for minutes"


# -- the JWT exchange goes through the same retry loop ------------------------------------------------------
def test_an_exchange_answering_5xx_is_retried_by_the_same_loop() -> None:
    fake = Fake(ok({"name": "account"}), auth=[error(503, "busy", **{"Retry-After": "3"}), error(502, "bad gw"),
                                               fake_jwt_answer()])
    waits: list[float] = []
    with client_for(fake, waits) as client:
        assert client.get("identity") == {"name": "account"}
        assert client.retries_made == 2
    assert waits[0] == 3.0 and len(waits) == 2
    assert (len(fake.exchanges), len(fake.calls)) == (3, 1)


def test_an_exchange_that_keeps_failing_is_a_transient_error_naming_it() -> None:
    fake = Fake(ok(), auth=[error(503, "busy")])
    waits: list[float] = []
    with client_for(fake, waits) as client, pytest.raises(TransientError) as info:
        client.get("identity")
    assert f"JWT exchange at {AUTH} answered HTTP 503" in str(info.value) and "after 6 attempts" in str(info.value)
    assert (len(fake.exchanges), len(fake.calls), len(waits)) == (6, 0, 5)


@pytest.mark.timeout(20)
def test_an_exchange_dropped_before_a_write_is_retried_and_the_write_sent_once() -> None:
    # the write was never sent, so retry_unsafe=False does not stop the retry; the lock held across the exchange
    # is released when it fails (else this would hang)
    fake = Fake(ok(status=201), auth=[httpx.ReadError("reset"), httpx.ReadTimeout("slow"), fake_jwt_answer()])
    waits: list[float] = []
    with client_for(fake, waits) as client:
        assert client.request("POST", "database/1/profiles", json={}, retry_unsafe=False).status == 201
    assert (len(fake.exchanges), len(fake.calls), len(waits)) == (3, 1, 2)


def test_an_exchange_answered_empty_is_retried() -> None:
    fake = Fake(ok(), auth=[(200, b"", {}), fake_jwt_answer()])
    with client_for(fake, []) as client:
        client.get("identity")
    assert len(fake.exchanges) == 2 and fake.bearers[0] is not None and fake.bearers[0].startswith("Bearer eyJ")


# -- the cause chain and the time format (errors.py, timefmt.py) ----------------------------------------------
class StepFailed(Exception):
    """Like dlt's PipelineStepFailed: a wrapper that says where, around the error that says why."""


def chain(inner: Exception, *, suppressed: bool = False) -> StepFailed:
    """`inner` raised inside a resource, wrapped once as context (`raise ... from None` if `suppressed`) and
    once as cause, as dlt's extract step and pipeline do."""
    try:
        try:
            try:
                raise inner
            except type(inner):
                if suppressed:
                    raise RuntimeError("resource 'profiles' failed") from None
                raise RuntimeError("resource 'profiles' failed")  # noqa: B904 - an implicit __context__, on purpose
        except RuntimeError as middle:
            raise StepFailed("Pipeline execution failed at stage extract") from middle
    except StepFailed as outer:
        return outer


def test_causes_walks_cause_then_context_outermost_first() -> None:
    inner = ValueError("bad row")
    outer = chain(inner)
    assert [type(e) for e in causes(outer)] == [StepFailed, RuntimeError, ValueError]
    assert list(causes(inner)) == [inner]
    said, during, raised = KeyError("said"), OSError("during"), ValueError("raised")
    raised.__cause__, raised.__context__ = said, during  # `raise raised from said` while handling `during`
    assert list(causes(raised)) == [raised, said], "the explicit cause wins over the context"


def test_causes_ends_on_a_chain_that_loops() -> None:
    a, b = ValueError("a"), KeyError("b")
    a.__cause__, b.__context__ = b, a
    assert list(itertools.islice(causes(a), 5)) == [a, b]


@pytest.mark.parametrize("suppressed", [False, True])
def test_copernica_cause_finds_the_copernica_error_inside_wrappers(suppressed: bool) -> None:
    error = TransientError("GET https://api.test/v4/identity failed after 8 attempts")
    found = copernica_cause(chain(error, suppressed=suppressed))
    assert found is error
    assert copernica_cause(chain(ValueError("x"))) is None
    assert isinstance(copernica_cause(NotFoundError("No profile", 400, "u")), CopernicaError)


def test_root_message_is_the_innermost_error_on_one_line() -> None:
    assert root_message(chain(ValueError("bad\n  row   12"))) == "ValueError: bad row 12"
    assert root_message(chain(KeyError())) == "KeyError"
    assert root_message(ValueError("x" * 1000)) == "ValueError: " + "x" * 400
    assert root_message(ValueError("x" * 1000), limit=10) == "ValueError: " + "x" * 10


def test_copernica_time_reads_and_writes_copernicas_times() -> None:
    moment = datetime.strptime("2026-03-01 14:05:09", COPERNICA_TIME)
    assert (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second) == (2026, 3, 1, 14, 5, 9)
    assert moment.strftime(COPERNICA_TIME) == "2026-03-01 14:05:09"


# -- answers too large to hold ----------------------------------------------------------------------------------
def _streamed(size: int, chunk: int = 64 * 1024, declare: bool = False) -> Callable[[httpx.Request], httpx.Response]:
    """An answer of `size` bytes sent in chunks (as a chunked download comes), counting what was produced."""

    def answer(request: httpx.Request) -> httpx.Response:
        def body() -> Any:
            sent = 0
            while sent < size:
                part = min(chunk, size - sent)
                produced.append(part)
                sent += part
                yield b" " * part

        headers = {"content-type": "application/json", **({"content-length": str(size)} if declare else {})}
        return httpx.Response(200, headers=headers, content=body())

    produced: list[int] = []
    answer.produced = produced  # type: ignore[attr-defined]
    return answer


@pytest.mark.parametrize("declare", [True, False])
def test_an_answer_larger_than_max_answer_bytes_fails_at_once_without_being_held(declare: bool) -> None:
    big = _streamed(50 * 2**20, declare=declare)
    fake = Fake(big)
    with client_for(fake, max_answer_bytes=2**20) as client, pytest.raises(AnswerTooLargeError) as info:
        client.get_bytes("html/clicks")
    message = str(info.value)
    assert "larger than max_answer_mb = 1" in message and "SOURCES__COPERNICA__MAX_ANSWER_MB" in message
    assert ("declares 52,428,800 bytes" if declare else "more than 1,048,576 bytes came") in message
    assert len(fake.calls) == 1  # not retried: it would come back as large
    read = sum(big.produced)  # type: ignore[attr-defined]
    assert read <= (0 if declare else 2**20 + 64 * 1024)  # reading stopped at the bound, not after 50 MB
    assert_no_secret(message, fake)


def test_an_answer_within_max_answer_bytes_is_read_whole() -> None:
    rows = [{"ID": i, "text": "x" * 100} for i in range(1000)]
    body = orjson.dumps({"start": 0, "limit": 1000, "count": 1000, "data": rows})
    fake = Fake(lambda request: httpx.Response(200, headers={"content-type": "application/json"},
                                               content=iter([body[:5000], body[5000:]])))
    with client_for(fake, max_answer_bytes=len(body)) as client:
        assert client.get_bytes("html/clicks") == body


# -- bodies that are not JSON: cut short (fetch again) or malformed where they stand (fail at once) -----------------
def test_a_body_cut_after_a_row_is_fetched_again() -> None:
    whole = orjson.dumps({"start": 0, "data": [{"ID": 1}, {"ID": 2}]})
    cut = whole[:whole.index(b"}") + 1]  # ends in "}" like a whole document would
    assert cut_short(cut) and not cut_short(b'{"data": [{"ID": NaN}]}')  # what the engine asks of a raw body
    fake = Fake((200, cut, {"content-type": "application/json"}), (200, whole, {"content-type": "application/json"}))
    with client_for(fake) as client:
        assert client.get("html/clicks") == orjson.loads(whole)
    assert len(fake.calls) == 2


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("body", [b'{"data": [{"ID": NaN}]}', b'{"data": [{"ID": 1}]}x'])
def test_a_whole_body_that_is_not_json_fails_at_once(raw: bool, body: bytes) -> None:
    fake = Fake((200, body, {"content-type": "application/json"}))
    with client_for(fake) as client:
        if raw and body.endswith(b"}"):  # whole-looking: the caller's parse decides (engine: _loads_or_refetch)
            assert client.get_bytes("html/clicks") == body
            return
        with pytest.raises(UnexpectedAnswerError, match="answered a body that is not valid JSON"):
            client.get_bytes("html/clicks") if raw else client.get("html/clicks")
    assert len(fake.calls) == 1  # never asked again: the same answer would come


def test_a_refused_api_host_fails_at_once_although_the_auth_host_answered() -> None:
    """A typo in base_url is not an outage: the exchange reaching the auth host says nothing about the API host."""
    fake = Fake(httpx.ConnectError("[Errno 111] Connection refused"))
    waits: list[float] = []
    with client_for(fake, waits) as client, pytest.raises(ConnectionFailedError) as info:
        client.get("html/emailings")
    assert "cannot connect to api.test" in str(info.value) and "check base_url" in str(info.value)
    assert len(fake.exchanges) == 1 and len(fake.calls) == 1 and waits == []


def test_a_refused_api_host_that_answered_before_is_an_outage_and_retried() -> None:
    fake = Fake(ok(), httpx.ConnectError("refused"), ok({"ID": 2}))
    waits: list[float] = []
    with client_for(fake, waits) as client:
        client.get("html/emailings")
        assert client.get("html/emailings") == {"ID": 2}
    assert len(waits) == 1

"""HTTP client for Copernica's REST API: auth, retries, error mapping and secret redaction.

One `CopernicaClient` is shared by every resource of a run. It is thread-safe (httpx.Client is), so the
engine's worker threads fetch pages through it side by side; `max_concurrency` bounds the connection pool.
"""

from __future__ import annotations

import base64
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import orjson

from copernica_source.errors import (
    AnswerTooLargeError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    CopernicaAPIError,
    InvalidMethodError,
    NotFoundError,
    TransientError,
    UnexpectedAnswerError,
)

log = logging.getLogger("copernica_source")

DEFAULT_BASE_URL = "https://api.copernica.com"
DEFAULT_AUTH_URL = "https://authenticate.copernica.com"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
INVALID_TOKEN = "invalid access token"
PAGE_LIMIT = 1000  # the most rows one list page may hold (v2-v4 pages)
DEFAULT_MAX_ANSWER_MB = 100
DEFAULT_MAX_ANSWER_BYTES = DEFAULT_MAX_ANSWER_MB * 2**20  # a page of 1000 profiles averaging 100 KB each
_ERROR_BODY_LIMIT = 2**20  # Copernica's error answers are a line of JSON

_R = TypeVar("_R")
Params = Sequence[tuple[str, Any]] | Mapping[str, Any] | None

# Copernica's not-found messages differ per entity: "No entity with supplied ID", "No database with supplied ID",
# "No collection with given ID", "No subprofile with supplied ID" (rmuit's live tests)
_NOT_FOUND = re.compile(r"\bno [\w -]+ with (?:the )?(?:supplied|given) id\b", re.IGNORECASE)
_SECRET_QUERY = re.compile(r"(access_token=)[^&\s\"']+", re.IGNORECASE)
_JWT_SHAPE = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


def redact(text: str, *secrets: str | None) -> str:
    """Remove access tokens and JWTs from text that may reach a log, an exception or a trace."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _SECRET_QUERY.sub(r"\1***", text)
    return _JWT_SHAPE.sub("***", text)


class _RedactingFilter(logging.Filter):
    """httpx logs every request URL at INFO; v1-v3 URLs carry `?access_token=`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redact(str(record.msg))
        return True


for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(_RedactingFilter())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time."""

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total_seconds: float = 300.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass
class ApiResponse:
    """What a caller needs of an answer: status, headers and the parsed JSON body (None when empty)."""

    status: int
    headers: httpx.Headers
    data: Any


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _jwt_expiry(jwt: str) -> float | None:
    """The JWT's `exp` claim (seconds since epoch), read without verifying: we only need to know when to refresh."""
    try:
        payload = jwt.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except Exception:  # noqa: BLE001 - an opaque token is allowed; then we refresh on auth errors only
        return None


_EXCHANGE = "copernica_jwt_exchange"  # marks the exchange request (request.extensions), so it is told apart


class _JwtAuth(httpx.Auth):
    """REST API v4: the access token is exchanged at `auth_url` for a JWT, sent as `Authorization: Bearer`.

    The JWT is kept until shortly before its `exp` and shared by every thread; one thread exchanges while the
    others wait for its answer. A request whose JWT is rejected (401/403, or Copernica's 400 "Invalid access
    token" that an expired JWT gets) is sent once more with a fresh JWT; a second rejection is answered to the
    caller, who raises AuthenticationError. The exchange is yielded from the flow, so it goes through the client's
    transport; its failures propagate out of `send` into the client's one retry loop, which sends the request
    again (and with it the exchange).
    """

    def __init__(self, token: str, auth_url: str, build_exchange: Callable[[], httpx.Request]) -> None:
        self._token = token
        self.auth_url = auth_url
        self._build_exchange = build_exchange
        self._lock = threading.Lock()
        self.jwt: str | None = None
        self.refresh_at = 0.0

    def __repr__(self) -> str:  # never show the token or the JWT
        return f"_JwtAuth(auth_url={self.auth_url!r})"

    # httpx asks that auth doing I/O or holding a lock override sync_auth_flow: httpx closes this generator when
    # the send ends, also on a transport error, which releases the lock held across the exchange at once
    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        jwt = yield from self._current_jwt()
        request.headers["Authorization"] = f"Bearer {jwt}"
        response = yield request
        if response.status_code < 400:
            return  # the body is the caller's to read (bounded, see CopernicaClient._body)
        if _declared_size(response) > _ERROR_BODY_LIMIT:
            return  # not Copernica's short error JSON: the caller reports it
        response.read()
        if not _rejects_token(response.status_code, _answer_message(response)):
            return
        self._forget(jwt)
        jwt = yield from self._current_jwt()
        request.headers["Authorization"] = f"Bearer {jwt}"
        yield request

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise NotImplementedError("the JWT flow is synchronous (sync_auth_flow): CopernicaClient uses httpx.Client")

    def _current_jwt(self) -> Generator[httpx.Request, httpx.Response, str]:
        with self._lock:
            if self.jwt is None or time.time() >= self.refresh_at:
                response = yield self._build_exchange()
                response.read()
                jwt = _jwt_from(response, self.auth_url, self._token)
                expiry = _jwt_expiry(jwt)
                if expiry is None:
                    self.refresh_at = time.time() + 6 * 3600
                else:
                    lifetime = max(0.0, expiry - time.time())
                    self.refresh_at = expiry - min(300.0, lifetime / 10)
                self.jwt = jwt
            return self.jwt

    def _forget(self, jwt: str) -> None:
        """Drop a rejected JWT, unless another thread has already replaced it."""
        with self._lock:
            if self.jwt == jwt:
                self.jwt = None


def _jwt_from(response: httpx.Response, auth_url: str, token: str) -> str:
    """The JWT in the authentication host's answer; raises what a failed exchange means."""
    status = response.status_code
    if status in RETRY_STATUSES:
        raise _Retryable(f"JWT exchange at {auth_url} answered HTTP {status}",
                         _parse_retry_after(response.headers.get("Retry-After")))
    if status >= 400 and _not_an_auth_host(response):
        raise ConfigurationError(
            f"auth_url {auth_url} answered HTTP {status} with {_describe_body(response.content)}: it does not look "
            "like Copernica's authentication host; check auth_url in [sources.copernica] "
            "(default https://authenticate.copernica.com)"
        )
    if status >= 400:
        said = redact(_error_message(_loads(response.content)) or "", token)
        raise AuthenticationError(
            f"Copernica rejected the access token when exchanging it for a JWT (HTTP {status}: {said}); "
            "check sources.copernica.access_token (secrets.toml or SOURCES__COPERNICA__ACCESS_TOKEN)"
        )
    if response.content.lstrip()[:1] == b"<":
        raise ConfigurationError(
            f"auth_url {auth_url} answered with an HTML page, not a token: it does not look like Copernica's "
            "authentication host; check auth_url in [sources.copernica] (default https://authenticate.copernica.com)"
        )
    jwt = response.text.strip().strip('"')
    if jwt.startswith("{"):  # tolerate a JSON wrapper around the token
        parsed = _loads(response.content)
        wrapped = parsed if isinstance(parsed, dict) else {}
        jwt = str(wrapped.get("token") or wrapped.get("jwt") or wrapped.get("access_token") or "")
    if not jwt:
        raise _Retryable(f"JWT exchange at {auth_url} answered an empty JWT")
    return jwt


class CopernicaClient:
    """Talks to one Copernica account. Use as a context manager or call `close()`.

    `transport` replaces the network (e.g. `httpx.MockTransport` in tests); `sleep` is how retries wait.
    """

    def __init__(
        self,
        access_token: str,
        base_url: str = DEFAULT_BASE_URL,
        api_version: int = 4,
        auth_url: str = DEFAULT_AUTH_URL,
        max_concurrency: int = 8,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> None:
        if not access_token or not str(access_token).strip():
            raise AuthenticationError(
                "No Copernica access token: set sources.copernica.access_token in .dlt/secrets.toml "
                "or the env var SOURCES__COPERNICA__ACCESS_TOKEN"
            )
        if str(api_version) not in ("1", "2", "3", "4"):
            raise ConfigurationError(f"api_version must be 1, 2, 3 or 4, not {api_version!r}")
        self._token = str(access_token).strip()
        self.api_version = int(api_version)
        self.base_url = base_url.rstrip("/")
        self.auth_url = auth_url
        self.max_concurrency = max(1, int(max_concurrency))
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.max_answer_bytes = int(max_answer_bytes)
        self._count_lock = threading.Lock()
        self.requests_made = 0
        self.retries_made = 0
        # hosts that answered this run: before one has, a refused connection to it is a setup error (the auth host
        # answering says nothing about the API host)
        self._reached: set[str] = set()
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            limits=httpx.Limits(
                max_connections=self.max_concurrency + 2, max_keepalive_connections=self.max_concurrency + 2
            ),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "copernica-source (dlt)"},
            event_hooks={"request": [self._on_request], "response": [self._on_response]},
        )
        self._auth = _JwtAuth(self._token, auth_url, self._exchange_request)

    @staticmethod
    def total_requests() -> int:
        """Requests made by every client of this process (for run summaries)."""
        return _TOTAL[0]

    # -- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> CopernicaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:  # never show the token
        return f"CopernicaClient(base_url={self.base_url!r}, api_version={self.api_version})"

    @property
    def _jwt(self) -> str | None:
        """The cached v4 JWT (None before the first exchange)."""
        return self._auth.jwt

    @_jwt.setter
    def _jwt(self, jwt: str | None) -> None:
        self._auth.jwt = jwt

    # -- public calls ----------------------------------------------------------------------------------
    def get(self, path: str, params: Params = None) -> Any:
        """GET a path (relative to /v{version}/) and return the parsed JSON; retried on transient failures."""
        return self.request("GET", path, params).data

    def get_bytes(self, path: str, params: Params = None) -> bytes:
        """GET and return the raw JSON body, for callers that parse it themselves (into Arrow, without Python
        objects). A body that is not complete JSON is retried like any truncated answer."""
        body: bytes = self.request("GET", path, params, raw=True).data
        return body

    def request(
        self,
        method: str,
        path: str,
        params: Params = None,
        json: Any = None,
        *,
        retry_unsafe: bool = True,
        raw: bool = False,
    ) -> ApiResponse:
        """Send one request with retries. `retry_unsafe=False` gives up (TransientError) on a dropped or truncated
        answer to a write instead of sending it again: the caller decides whether a repeat is safe.

        This is the one retry loop: 429/5xx, dropped connections and truncated answers, of the request and of the
        v4 JWT exchange made for it, are sent again after a backoff (Retry-After when given), within
        `retry.max_attempts` and `retry.max_total_seconds`."""
        url, query = self._url(path, params)
        content = orjson.dumps(json) if json is not None else None
        return self._retrying(method, url, lambda: self._send_once(
            method, url, query, content, method != "GET", retry_unsafe, raw))

    @contextmanager
    def stream(self, path: str, params: Params = None) -> Iterator[httpx.Response]:
        """GET an answer too large to hold (a daily logfile) as an open stream: retried like `request` until a
        2xx status line arrives, errors mapped the same way. The caller reads `iter_bytes()`; a connection lost
        mid-body raises httpx's TransportError to it, as only it knows how much it has consumed."""
        url, query = self._url(path, params)
        response = self._retrying("GET", url, lambda: self._open_once(url, query))
        try:
            yield response
        finally:
            response.close()

    def retry_wait(self, attempt: int, started: float, what: str, reason: str) -> None:
        """Sleep before attempt `attempt + 1` of something the caller repeats itself (a logfile download cut off
        mid-body), within the same bounds as `request`'s retries; TransientError when they are spent."""
        self._backoff(_Retryable(reason), attempt, started, what)

    # -- internals -------------------------------------------------------------------------------------
    def _url(self, path: str, params: Params) -> tuple[str, list[tuple[str, Any]]]:
        url = f"{self.base_url}/v{self.api_version}/{path.lstrip('/')}"
        query = list(params.items()) if isinstance(params, Mapping) else list(params or [])
        if self.api_version != 4:
            query.append(("access_token", self._token))
        return url, query

    def _retrying(self, method: str, url: str, once: Callable[[], _R]) -> _R:
        """The one retry loop: `once` again after a backoff while it raises _Retryable."""
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                return once()
            except _Retryable as exc:
                attempt += 1
                self._backoff(exc, attempt, started, f"{method} {self._redacted(url)}")

    def _backoff(self, exc: _Retryable, attempt: int, started: float, what: str) -> None:
        elapsed = time.monotonic() - started
        wait = self.retry.delay(attempt, exc.retry_after)
        if attempt >= self.retry.max_attempts or elapsed + wait > self.retry.max_total_seconds:
            raise TransientError(
                f"{what} failed after {attempt} attempts in {elapsed:.0f}s: "
                f"{exc.reason}. Copernica may be overloaded; run again later (the next run resumes)."
            ) from None
        with self._count_lock:
            self.retries_made += 1
        log.warning("retrying %s in %.1fs: %s", what, wait, exc.reason)
        self._sleep(wait)

    def _open_once(self, url: str, query: list[tuple[str, Any]]) -> httpx.Response:
        """One GET whose 2xx body is left unread for the caller; any other answer is read and interpreted."""
        request = self._http.build_request("GET", url, params=query)
        try:
            response = self._http.send(request, auth=self._auth if self.api_version == 4 else None, stream=True)
        except httpx.TransportError as exc:
            failed = _failed_request(exc)
            reason = f"{'timeout' if isinstance(exc, httpx.TimeoutException) else 'connection error'} " \
                     f"({type(exc).__name__})"
            if failed is not None and failed is not request:
                self._check_reachable(exc, self.auth_url, "auth_url")
                raise _Retryable(f"JWT exchange at {self.auth_url}: {reason}") from None
            self._check_reachable(exc, url)
            raise _Retryable(reason) from None
        if 200 <= response.status_code < 300:
            return response
        try:
            body = self._body(response, "GET", url)
        except httpx.TransportError as exc:
            raise _Retryable(f"connection error ({type(exc).__name__})") from None
        finally:
            response.close()
        self._interpret("GET", url, response, body, False, True)
        raise UnexpectedAnswerError(f"GET {self._redacted(url)} answered HTTP {response.status_code}")

    def _redacted(self, url: str) -> str:
        return redact(url, self._token, self._auth.jwt)

    def _exchange_request(self) -> httpx.Request:
        """The v4 JWT exchange: POST the access token (form-encoded, never in the URL) to the authentication host."""
        return self._http.build_request("POST", self.auth_url, data={"access_token": self._token},
                                        extensions={_EXCHANGE: True})

    def _on_request(self, request: httpx.Request) -> None:
        if request.extensions.get(_EXCHANGE):
            return  # counted are the requests to the API, as before the exchange moved into the auth flow
        with self._count_lock:
            self.requests_made += 1
        with _TOTAL_LOCK:
            _TOTAL[0] += 1

    def _on_response(self, response: httpx.Response) -> None:
        self._reached.add(_host_of(response.request.url))

    def _send_once(
        self, method: str, url: str, query: list[tuple[str, Any]], content: bytes | None, write: bool,
        retry_unsafe: bool, raw: bool = False,
    ) -> ApiResponse:
        headers = {"Content-Type": "application/json"} if content is not None else {}
        request = self._http.build_request(method, url, params=query, content=content, headers=headers)
        try:
            response = self._http.send(request, auth=self._auth if self.api_version == 4 else None, stream=True)
            try:
                body = self._body(response, method, url)
            finally:
                response.close()
        except httpx.TransportError as exc:
            timed_out = isinstance(exc, httpx.TimeoutException)
            reason = f"{'timeout' if timed_out else 'connection error'} ({type(exc).__name__})"
            failed = _failed_request(exc)
            if failed is not None and failed is not request:  # the JWT exchange failed: the request was not sent
                self._check_reachable(exc, self.auth_url, "auth_url")
                raise _Retryable(f"JWT exchange at {self.auth_url}: {reason}") from None
            if write and not retry_unsafe:
                outcome = " timed out" if timed_out else ": connection lost before the answer"
                raise TransientError(f"{method} {self._redacted(url)}{outcome}; outcome unknown") from None
            self._check_reachable(exc, url)
            raise _Retryable(reason) from None
        return self._interpret(method, url, response, body, write, retry_unsafe, raw)

    def _body(self, response: httpx.Response, method: str, url: str) -> bytes:
        """The answer's body, read up to `max_answer_bytes`: a server that sends more than any page can hold must
        not take the process's memory with it (the caller's JSON parsing needs several times the body)."""
        limit = self.max_answer_bytes
        if _declared_size(response) > limit:
            raise AnswerTooLargeError(self._too_large(method, url, f"it declares {_declared_size(response):,} bytes"))
        try:
            return response.content  # already read (an error answer the JWT flow looked at)
        except httpx.ResponseNotRead:
            pass
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise AnswerTooLargeError(self._too_large(method, url, f"more than {limit:,} bytes came"))
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_large(self, method: str, url: str, how: str) -> str:
        return (f"{method} {self._redacted(url)}: the answer is larger than max_answer_mb = "
                f"{self.max_answer_bytes / 2**20:.3g} ({how}), far more than a page of {PAGE_LIMIT} rows should hold; "
                "lower page_size, or raise max_answer_mb ([sources.copernica] or SOURCES__COPERNICA__MAX_ANSWER_MB) "
                "if the account really holds such values")

    def _interpret(
        self, method: str, url: str, response: httpx.Response, body: bytes, write: bool, retry_unsafe: bool,
        raw: bool = False,
    ) -> ApiResponse:
        status = response.status_code
        if status in RETRY_STATUSES:
            retry_after = _parse_retry_after(response.headers.get("Retry-After"))
            raise _Retryable(f"HTTP {status}", retry_after)
        if raw and status < 300:
            if not _looks_complete(body):
                if not cut_short(body):  # whole, yet not JSON where it ends (a stray byte): asking again gives the same
                    raise UnexpectedAnswerError(
                        f"{method} {self._redacted(url)} answered a body that is not valid JSON "
                        f"({_json_problem(body)}); nothing of it was loaded")
                raise _Retryable("truncated JSON body")
            return ApiResponse(status, response.headers, body)
        data: Any = None
        if body:
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                if write and status < 300:
                    # the status line says the write happened; its body is documented empty: never send it again
                    return ApiResponse(status, response.headers, None)
                if status < 300 and "json" in response.headers.get("content-type", "json"):
                    if write and not retry_unsafe:
                        raise TransientError(
                            f"{method} {self._redacted(url)}: truncated answer; outcome unknown") from None
                    if not cut_short(body):  # whole, yet not JSON (NaN, a stray byte): asking again gives the same
                        raise UnexpectedAnswerError(
                            f"{method} {self._redacted(url)} answered a body that is not valid JSON "
                            f"({_json_problem(body)}); nothing of it was loaded") from None
                    raise _Retryable("truncated JSON body") from None
                data = body.decode("utf-8", "replace")
        if 300 <= status < 400 and not write:
            # a GET answered "moved" (documented for entities that moved): not data, and never followed blindly
            where = redact(response.headers.get("Location", "?"), self._token, self._auth.jwt)
            raise CopernicaAPIError(f"moved (HTTP {status}) to {where}", status, self._redacted(url), method)
        if status >= 400:
            message = _error_message(data) or f"HTTP {status}"
            if _rejects_token(status, message):
                # v4: the auth flow already sent it once more with a fresh JWT; v1-v3 have nothing to refresh
                said = redact(message, self._token, self._auth.jwt)
                raise AuthenticationError(
                    f"Copernica rejected the access token (HTTP {status}: {said}): check "
                    "sources.copernica.access_token (secrets.toml or SOURCES__COPERNICA__ACCESS_TOKEN) "
                    f"and that it is valid for REST API v{self.api_version}"
                )
            safe_url = self._redacted(url)
            if status == 404 or _NOT_FOUND.search(message):
                raise NotFoundError(message, status, safe_url, method)
            if "invalid method" in message.lower():
                raise InvalidMethodError(message, status, safe_url, method)
            raise CopernicaAPIError(redact(message, self._token, self._auth.jwt), status, safe_url, method)
        return ApiResponse(status, response.headers, data)

    def _check_reachable(self, exc: httpx.TransportError, url: str, setting: str = "base_url") -> None:
        """A host that never answered this run and refuses connections (or has no address) is a wrong URL or
        no network, not an overloaded Copernica: say so at once instead of retrying for minutes."""
        host = _host_of(httpx.URL(url))
        if host not in self._reached and isinstance(exc, httpx.ConnectError):
            raise ConnectionFailedError(
                f"cannot connect to {host} ({' '.join(str(exc).split()) or type(exc).__name__}): check {setting} "
                f"in [sources.copernica] (or SOURCES__COPERNICA__{setting.upper()}) and the network"
            ) from None


def _host_of(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


_TOTAL = [0]
_TOTAL_LOCK = threading.Lock()


def _rejects_token(status: int, message: str) -> bool:
    """Copernica said the token (or the JWT made from it) is not valid: 400 "Invalid access token" or 401/403 (a
    2026 client maps 401/403 to auth errors; an expired JWT may well answer so)."""
    return status >= 400 and (status in (401, 403) or INVALID_TOKEN in message.lower())


def _declared_size(response: httpx.Response) -> int:
    try:
        return int(response.headers.get("Content-Length", "0"))
    except ValueError:
        return 0


def _answer_message(response: httpx.Response) -> str:
    """What an error answer says: Copernica's `error.message`, else the body on one line, else the status."""
    body = response.content
    data = _loads(body) if body else None
    if data is None and body:
        data = body.decode("utf-8", "replace")
    return _error_message(data) or f"HTTP {response.status_code}"


def _failed_request(exc: httpx.TransportError) -> httpx.Request | None:
    try:
        return exc.request
    except RuntimeError:  # httpx sets it on every error of a send; None: treat it as the caller's request
        return None


def _looks_complete(body: bytes) -> bool:
    """A cheap check that a JSON document was not cut off: it ends where it should (the full parse comes later)."""
    text = body.strip()
    return bool(text) and text[:1] + text[-1:] in (b"{}", b"[]", b'""')


def cut_short(body: bytes) -> bool:
    """Whether a body that is not JSON was cut off (the parse ran out of data: fetch it again) rather than being
    malformed where it stands (NaN, a stray byte: the same answer would come again)."""
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return exc.pos >= len(body.rstrip())
    return False


def _json_problem(body: bytes) -> str:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return str(exc)[:200]
    return "unknown"


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _not_an_auth_host(response: httpx.Response) -> bool:
    """Copernica's authentication host answers a bad token with 400/401/403 and a message; a 404, 405, 501 or an
    HTML page means the URL points elsewhere."""
    return response.status_code in (404, 405, 501) or response.content.lstrip()[:1] == b"<"


def _describe_body(body: bytes) -> str:
    text = body.strip()
    if not text:
        return "an empty body"
    if text[:1] == b"<":
        return "an HTML page"
    return repr(" ".join(text.decode("utf-8", "replace").split())[:80])


def _error_message(data: Any) -> str | None:
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    if isinstance(data, str) and data.strip():
        if data.lstrip().startswith("<"):  # a load balancer's or another server's page, not Copernica's JSON
            return "an HTML page instead of Copernica's JSON answer (is base_url Copernica's REST API?)"
        return " ".join(data.split())[:200]
    return None


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None



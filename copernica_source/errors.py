"""Typed exceptions: callers tell a rejected token from a bad request from an outage without parsing text.

Messages never contain the access token or the JWT: they are built from redacted URLs only.
"""

from __future__ import annotations

from collections.abc import Iterator


class CopernicaError(Exception):
    """Base class for everything this package raises about Copernica."""


class AuthenticationError(CopernicaError):
    """Copernica rejected the access token (or the JWT made from it)."""


class CopernicaAPIError(CopernicaError):
    """Copernica answered with an error (HTTP 4xx): permanent, not retried.

    `message` is Copernica's own `error.message`; `status` the HTTP status; `url` the redacted URL.
    """

    def __init__(self, message: str, status: int, url: str, method: str = "GET") -> None:
        self.message = message
        self.status = status
        self.url = url
        self.method = method
        super().__init__(f"Copernica answered {status} to {method} {url}: {message}")


class NotFoundError(CopernicaAPIError):
    """The entity does not exist (Copernica's "No entity with supplied ID", or HTTP 404)."""


class InvalidMethodError(CopernicaAPIError):
    """Copernica does not know this path ("Invalid method"): e.g. a prefix the account does not serve."""


class TransientError(CopernicaError):
    """Retries were exhausted on 429/5xx/dropped connections: Copernica is unavailable right now.

    Running again later resumes where the last successful load stopped.
    """


class ConnectionFailedError(TransientError):
    """The host never answered this run: a wrong base_url/auth_url, no network or no DNS."""


class ConfigurationError(CopernicaError, ValueError):
    """A setting is missing or invalid; the message says which and how to fix it."""


class UnexpectedAnswerError(CopernicaError):
    """Copernica answered in a way the connector cannot read without risking rows (a list that ignores `start`,
    a filter that was ignored where no fallback exists): the run stops before any cursor moves. The message says
    what was seen; `copernica check` shows how the account answers the open questions."""


class AnswerTooLargeError(CopernicaError):
    """An answer larger than `max_answer_mb`: not retried (it would come back as large), and nothing of it kept."""


class FilterIgnoredError(UnexpectedAnswerError):
    """A list answered rows that its filter excludes: it does not support that filter (Copernica ignores such
    filters silently). Raised before any row of the read is handed on, so the caller can read another way."""


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it was raised from or during (`__cause__`, else `__context__`), outermost first.

    A wrapper's chain (dlt's PipelineStepFailed around a resource's error) is walked to the end, also past a
    `raise ... from None` (its `__context__` is still there); each exception comes once, so a chain that loops ends.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        # dlt keeps a failed load job's exception aside (`client_exception`) instead of chaining it
        current = current.__cause__ or current.__context__ or _kept_aside(current)


def _kept_aside(exc: BaseException) -> BaseException | None:
    kept = getattr(exc, "client_exception", None)
    return kept if isinstance(kept, BaseException) else None


def copernica_cause(exc: BaseException) -> CopernicaError | None:
    """The outermost CopernicaError in `exc`'s chain (`exc` itself included): what to tell the user, or None."""
    return next((e for e in causes(exc) if isinstance(e, CopernicaError)), None)


def root_message(exc: BaseException, limit: int = 400) -> str:
    """The innermost exception of the chain on one line, "Type: text" (at most `limit` characters of text): a
    wrapper says where it failed, the root says why."""
    *_, root = causes(exc)
    text = exception_text(root)
    return f"{type(root).__name__}: {text[:limit]}" if text else type(root).__name__


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line (at most `limit` characters) that always says what it was, even when its
    text is empty."""
    text = exception_text(exc)
    text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def exception_text(exc: BaseException) -> str:
    """An exception's text on one line (its whitespace runs squeezed), without its type."""
    return " ".join(str(exc).split())

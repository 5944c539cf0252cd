"""Matching a request path to its handler, and turning handler results into HTTP answers.

Handlers return plain data (dict/list for JSON, a Listing for paged lists) or a Response; the
router adds the envelope, the prefix rules (html/ vs publisher/, draganddrop/ vs ms/) and
Copernica's error shape. The same dispatch serves HTTP and the no-HTTP ground truth.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from .filters import Condition, query_conditions
from .paging import IdListing, Listing, bare, envelope
from .quirks import Quirks

INVALID_METHOD = "Invalid method"
NO_ENTITY = "No entity with supplied ID"
NO_DATABASE = "No database with supplied ID"
NO_COLLECTION = "No collection with given ID"
NO_SUBPROFILE = "No subprofile with supplied ID"
INVALID_DATA = "Invalid data provided"

PREFIX_GROUP = r"(?P<prefix>html|publisher|draganddrop|ms)"
CURRENT, LEGACY = {"html", "draganddrop"}, {"publisher", "ms"}
PRODUCT_OF = {"html": "html", "publisher": "html", "draganddrop": "draganddrop", "ms": "draganddrop"}


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Request:
    method: str
    version: int
    path: str  # without version and slashes at the ends, e.g. "html/emailing/1001/clicks"
    query: list[tuple[str, str]]
    body: Any = None
    base_url: str = ""
    params: dict[str, str] = field(default_factory=dict)  # last value per key (names are case-sensitive)
    match: dict[str, str] = field(default_factory=dict)
    product: str = ""

    def __post_init__(self) -> None:
        for k, v in self.query:
            self.params[k] = v

    @property
    def conds(self) -> list[Condition]:
        return query_conditions(self.query)

    def query_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.query:
            out.setdefault(k, []).append(v)
        return out


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    created_id: str | None = None
    # a body rendered while it is sent (log files): called with corrupt=False/True, it yields the body's bytes
    # afresh each time; `body` is then unused
    stream: Callable[[bool], Iterator[bytes]] | None = None

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, orjson.dumps(data))

    @classmethod
    def error(cls, message: str, status: int = 400) -> Response:
        return cls.json({"error": {"message": message}}, status)


Handler = Callable[[Request], Any]


class Router:
    def __init__(self, prefixes: str = "both", quirks: Quirks | None = None) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.allowed = {"current": CURRENT, "legacy": LEGACY, "both": CURRENT | LEGACY}[prefixes]
        self.quirks = quirks or Quirks()
        self._v1_products = self.quirks.v1_engagement == "present"

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = "^" + pattern.replace("{p}", PREFIX_GROUP) + "$"
        self.routes.append((method, re.compile(regex), handler))

    def resolve(self, req: Request, any_prefix: bool = False) -> Any:
        """The handler's raw result; raises ApiError."""
        for method, regex, handler in self.routes:
            m = regex.match(req.path)
            if not m or method != req.method:
                continue
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            prefix = groups.pop("prefix", None)
            if prefix is not None:
                if not any_prefix and prefix not in self.allowed:
                    raise ApiError(INVALID_METHOD)
                if req.version == 1 and not self._v1_products:  # v1_engagement=absent
                    raise ApiError(INVALID_METHOD)
                req.product = PRODUCT_OF[prefix]
            req.match = groups
            return handler(req)
        raise ApiError(INVALID_METHOD)

    def dispatch(self, req: Request) -> Response:
        try:
            result = self.resolve(req)
        except ApiError as exc:
            return Response.error(exc.message, exc.status)
        if isinstance(result, Response):
            return result
        if isinstance(result, IdListing):
            return Response.json(bare(result, req.params, self.quirks.ids_paging))
        if isinstance(result, Listing):
            return Response.json(envelope(result, req.params, self.quirks.total))
        return Response.json(result)

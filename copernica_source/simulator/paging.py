"""List answers: the {start, limit, count, total, data} envelope around any lazily paged list.

Every list endpoint returns a Listing; the envelope (and the ground-truth `dataset.rows()`) page
through it the same way, so what tests see without HTTP is exactly what clients get with it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Self

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class Listing:
    """A list that knows its size and renders only the slice asked for. `fixed_limit` set: the list's
    answer ignores the client's limit (the unpaged_limit quirk); ground truth always sees every row."""

    fixed_limit: int | None = None

    def __init__(self, total: Callable[[], int], page: Callable[[int, int | None], Iterable[Any]]) -> None:
        self._total = total
        self._page = page

    @classmethod
    def of(cls, items: Sequence[Any]) -> Self:
        return cls(lambda: len(items), lambda s, n: items[s:] if n is None else items[s:s + n])

    def total(self) -> int:
        return self._total()

    def page(self, start: int, limit: int | None) -> list[Any]:
        if start < 0 or (limit is not None and limit <= 0):
            return []
        return list(self._page(start, limit))


def _int(value: str | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        return int(float(value))
    except ValueError:
        return default


class IdListing(Listing):
    """`profileids`/`subprofileids`: answered as a bare JSON array, not an envelope."""


def _window(params: dict[str, str]) -> tuple[int, int]:
    return _int(params.get("start"), 0), min(_int(params.get("limit"), DEFAULT_LIMIT), MAX_LIMIT)


def envelope(listing: Listing, params: dict[str, str], total: str = "honoured") -> dict[str, Any]:
    """Apply start/limit/total the way Copernica does: limit defaults to 100 and is capped at
    1000, a negative start or limit gives no rows; total is shown unless total is given and is not a
    true value (total=false, total=0, total=anything-else leave it out). `total` is the quirk:
    honoured | always | never."""
    start, limit = _window(params)
    if listing.fixed_limit is not None:
        limit = listing.fixed_limit
    data = listing.page(start, limit) if start >= 0 and limit > 0 else []
    out: dict[str, Any] = {"start": start, "limit": limit, "count": len(data)}
    if total == "always" or (total == "honoured" and
                             params.get("total", "true").strip().lower() in ("true", "1", "yes", "on")):
        out["total"] = listing.total()
    out["data"] = data
    return out


def bare(listing: Listing, params: dict[str, str], mode: str) -> list[Any]:
    """An ID list under the ids_paging quirk: whole (start/limit ignored), paged (as lists page),
    first_page (limit honoured, start ignored)."""
    if mode == "whole":
        return listing.page(0, None)
    start, limit = _window(params)
    if mode == "first_page":
        start = 0
    return listing.page(start, limit) if start >= 0 and limit > 0 else []

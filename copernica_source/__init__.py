"""copernica-source: load Copernica into DuckDB or any dlt destination, push profiles back, serve data requests.

The face's names load on first use (PEP 562): pytest imports this package for the simulator's fixtures in every
run of an environment that has it installed, and that must not start up dlt and httpx.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from copernica_source import errors
    from copernica_source.datarequests import data_requests
    from copernica_source.push import copernica_profiles
    from copernica_source.source import copernica_source

__all__ = ["copernica_source", "copernica_profiles", "data_requests", "errors"]

_HOMES = {"copernica_source": "copernica_source.source", "copernica_profiles": "copernica_source.push",
          "data_requests": "copernica_source.datarequests"}


def __getattr__(name: str) -> Any:
    if name == "errors":
        return import_module("copernica_source.errors")
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

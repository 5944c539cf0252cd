"""A Copernica REST API simulator: a real HTTP server on loopback that follows the documented and
observed behaviour of the live API (paging, selectors, auth, errors, late events, faults).

The names below load on first use (PEP 562), so importing a submodule (the pytest plugin, the config)
does not start up the whole simulator.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import RequestRecord, SimulatorConfig, WriteRecord
    from .simulator import Simulator

__all__ = ["Simulator", "SimulatorConfig", "RequestRecord", "WriteRecord"]

_HOMES = {"Simulator": ".simulator", "SimulatorConfig": ".config", "RequestRecord": ".config",
          "WriteRecord": ".config"}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

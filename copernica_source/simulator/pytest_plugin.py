"""pytest fixtures (registered as a pytest11 entry point): a running simulator per test.

`copernica_simulator` is a small started account; `copernica_simulator_factory(**settings)` starts
more with any SimulatorConfig settings and stops them all at teardown, e.g. `quirks="strict"` to serve
other readings of the API pages' open questions (quirks.py).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .simulator import Simulator

SMALL: dict[str, Any] = dict(events=2_000, emailings=10, destinations_per_emailing=50, profiles=200)


@pytest.fixture
def copernica_simulator_factory() -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def make(**settings: Any) -> Simulator:
        sim = Simulator(**settings).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def copernica_simulator() -> Iterator[Simulator]:
    with Simulator(**SMALL) as sim:
        yield sim

"""pytest fixtures (registered as a pytest11 entry point): a running simulator per test.

`copernica_simulator` is a small started account; `copernica_simulator_factory(**settings)` starts
more with any SimulatorConfig settings and stops them all at teardown, e.g. `quirks="strict"` to serve
other readings of the API pages' open questions (quirks.py).

pytest imports this module in every run of every environment the package is installed in, so it
imports nothing but pytest: the fixtures import the simulator when a test asks for one.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .simulator import Simulator

SMALL: dict[str, Any] = dict(events=2_000, emailings=10, destinations_per_emailing=50, profiles=200)


@pytest.fixture
def copernica_simulator_factory() -> Iterator[Callable[..., Simulator]]:
    from .simulator import Simulator

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
    from .simulator import Simulator

    with Simulator(**SMALL) as sim:
        yield sim

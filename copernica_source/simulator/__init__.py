"""A Copernica REST API simulator: a real HTTP server on loopback that follows the documented and
observed behaviour of the live API (paging, selectors, auth, errors, late events, faults)."""
from .config import RequestRecord, SimulatorConfig, WriteRecord
from .simulator import Simulator

__all__ = ["Simulator", "SimulatorConfig", "RequestRecord", "WriteRecord"]

"""The Simulator: a Copernica REST API on loopback, with a clock tests can move."""
from __future__ import annotations

import threading
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from .auth import Authenticator
from .config import RequestRecord, SimulatorConfig, WriteRecord
from .dataset import Dataset
from .faults import Faults, Latency
from .quirks import Quirks
from .router import Request, Response
from .server import serve


class Simulator:
    """Start with `with Simulator(cfg) as sim:` (or .start()/.stop()); keyword args override cfg."""

    def __init__(self, config: SimulatorConfig | None = None, **kwargs: Any) -> None:
        cfg = config or SimulatorConfig()
        known = {f.name for f in fields(SimulatorConfig)}
        unknown = set(kwargs) - known
        if unknown:
            raise TypeError(f"unknown simulator settings: {sorted(unknown)}")
        if "fault_kinds" in kwargs and isinstance(kwargs["fault_kinds"], str):
            kwargs["fault_kinds"] = tuple(k.strip() for k in kwargs["fault_kinds"].split(",") if k.strip())
        self.config = replace(cfg, **kwargs) if kwargs else cfg
        self.dataset = Dataset(self.config)
        self.auth = Authenticator(self.config.access_token, self.config.jwt_lifetime_s, self.config.seed)
        self.faults = Faults(self.config.seed, self.config.fault_rate, self.config.fault_kinds)
        self.latency = Latency(self.config.seed, self.config.latency_ms, self.config.jitter_ms)
        self._log_lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._writes: list[WriteRecord] = []
        self._httpd: Any = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> Simulator:
        if self._httpd is None:
            self._httpd, self._thread = serve(self, self.config.host, self.config.port)
            host, port = self._httpd.server_address[:2]
            self.base_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._httpd = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what clients see ---------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1]) if self.base_url else 0

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/authenticate"

    @property
    def access_token(self) -> str:
        return self.config.access_token

    @property
    def quirks(self) -> Quirks:
        """The readings of the API's open questions this simulator serves (SimulatorConfig.quirks)."""
        return self.dataset.quirks

    @property
    def now(self) -> datetime:
        return self.dataset.now

    def advance(self, days: float = 0.0, hours: float = 0.0, seconds: float = 0.0) -> None:
        """Move the simulated clock: new emailings and events, profile changes."""
        self.dataset.advance(days * 86400 + hours * 3600 + seconds)

    def set_faults(self, rate: float, kinds: tuple[str, ...] | list[str] | None = None) -> None:
        self.faults.configure(rate, tuple(kinds) if kinds is not None else None)

    def arm_logfile_faults(self, kind: str, times: int = 1) -> None:
        """The next `times` downloads of `logfile/$name/{csv,json,xml}` (any name, any version) get `kind`:
        "cut", "corrupt", or one of the drawn kinds ("429", "503", "502", "504", "drop", "truncate", "slow").
        Calls queue up in order; an armed fault takes the place of the random draw for that request."""
        self.faults.arm(kind, times)

    def set_latency(self, ms: float, jitter_ms: float = 0.0) -> None:
        self.latency.configure(ms, jitter_ms)

    # --- logs ---------------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        with self._log_lock:
            return list(self._requests)

    @property
    def writes(self) -> list[WriteRecord]:
        with self._log_lock:
            return list(self._writes)

    def clear_logs(self) -> None:
        with self._log_lock:
            self._requests.clear()
            self._writes.clear()

    # --- what the HTTP front asks (server.Backend) -------------------------------------
    def handle(self, req: Request) -> Response:
        return self.dataset.dispatch(req)

    def record_request(self, record: RequestRecord) -> None:
        with self._log_lock:
            self._requests.append(record)

    def record_write(self, record: WriteRecord) -> None:
        with self._log_lock:
            self._writes.append(record)

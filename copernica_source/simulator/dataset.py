"""The simulated account's state and the ground truth tests read without HTTP.

Dataset is the composition root: it builds the state objects (clock, layout, products, structure,
profile stores, account, data requests) and hands each route module the ones it serves; nothing it
builds knows about Dataset. Engagement data is a pure function of the clock; only profiles,
subprofiles and data requests keep (small) mutable state. One re-entrant lock guards it all;
handlers run under it, sleeps do not.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from . import routes_account, routes_engagement, routes_logfiles
from .account import Account
from .clock import Clock, to_datetime
from .config import SimulatorConfig
from .datarequests import DataRequests
from .engagement import Product
from .filters import parse_query
from .layout import Layout
from .logfiles import LogFiles
from .paging import Listing
from .profiles import Profiles, Subprofiles
from .quirks import Quirks, parse_quirks
from .router import ApiError, Request, Response, Router
from .structure import Structure


class Dataset:
    def __init__(self, cfg: SimulatorConfig) -> None:
        self.cfg = cfg
        self.quirks: Quirks = parse_quirks(cfg.quirks)
        self.lock = threading.RLock()
        self.clock = Clock(cfg.now, cfg.history_days)
        self.layout = Layout(cfg)
        self.products = {p: Product(p, cfg, self.clock, self.layout, self.quirks) for p in ("html", "draganddrop")}
        self.structure = Structure(self.layout, self.quirks.modified_field == "present")
        self.profiles = Profiles(cfg, self.clock, self.layout, self.structure)
        self.subprofiles = Subprofiles(cfg, self.clock, self.layout, self.structure)
        self.account = Account(cfg.seed, self.clock, self.structure, self.profiles, self.subprofiles, self.products)
        self.datarequests = DataRequests(cfg.seed, cfg.datarequest_delay_s, cfg.datarequest_expiry_s,
                                         self.account.data_file)
        self.router = Router(cfg.prefixes, self.quirks)
        routes_engagement.register(self.router, self.products)  # first, as before: the first matching route answers
        routes_account.register(self.router, self.account, self.datarequests, self.clock, self.quirks)
        self.logfiles = LogFiles(cfg, self.clock, self.products, self.profiles, self.quirks)
        routes_logfiles.register(self.router, self.logfiles)

    @property
    def now(self) -> datetime:
        return to_datetime(self.clock.now)

    def dispatch(self, req: Request) -> Response:
        with self.lock:
            return self.router.dispatch(req)

    def advance(self, seconds: float) -> None:
        with self.lock:
            old, new = self.clock.advance(seconds)
            self.account.advance(old, new)

    # --- ground truth -------------------------------------------------------------------
    def _resolve(self, path: str) -> Any:
        path, _, qs = path.partition("?")
        parts = [p for p in path.split("/") if p]
        if parts and len(parts[0]) == 2 and parts[0][0] == "v" and parts[0][1].isdigit():
            parts = parts[1:]
        req = Request("GET", 4, "/".join(parts), parse_query(qs))
        with self.lock:
            try:
                return self.router.resolve(req, any_prefix=True)
            except ApiError as exc:
                raise KeyError(f"{path}: {exc.message}") from None

    def rows(self, path: str) -> Iterator[Any]:
        """Every row of a list endpoint, as rendered, in list order (no paging). Quirks that change
        which rows or in which order apply here as over HTTP; the paging quirks (ids_paging,
        unpaged_limit, total) do not: ground truth is always the whole list. v1_engagement does
        not apply either (ground truth asks as v4)."""
        result = self._resolve(path)
        if isinstance(result, Listing):
            start, chunk = 0, 5000
            while True:  # streamed in chunks: five million events never sit in memory at once
                with self.lock:
                    rows = result.page(start, chunk)
                yield from rows
                if len(rows) < chunk:
                    return
                start += chunk
        elif isinstance(result, list):
            yield from result
        else:
            yield result

    def count(self, path: str) -> int:
        result = self._resolve(path)
        if isinstance(result, Listing):
            with self.lock:
                return result.total()
        return len(result) if isinstance(result, list) else 1

    # --- log file ground truth (what `logfiles` and `logfile/$name/...` serve, without HTTP) -----------
    def logfile_dates(self) -> list[str]:
        """`GET logfiles`: the days with logs, in the logfile_dates_order quirk's order."""
        with self.lock:
            return self.logfiles.dates()

    def logfile_names(self, date: str | None = None, log_type: str | None = None) -> list[str]:
        """`GET logfiles?date=&type=`: file names (with the logfile_split quirk's parts)."""
        with self.lock:
            return self.logfiles.names(date, log_type)

    def logfile_rows(self, log_type: str, date: str) -> Iterator[dict[str, Any]]:
        """Every row of a type's day, all parts in order: dicts keyed by the type page's field names (in the
        page's order), whole numbers as ints, empty values as "", `time` in the logfile_time_zone quirk's
        zone. Counted when called, rendered while iterated. KeyError for a type not served."""
        with self.lock:
            return self.logfiles.truth_rows(log_type, date)

    def logfile_count(self, log_type: str, date: str) -> int:
        """Rows of a type's day (all parts); 0 when there is no such file."""
        with self.lock:
            return self.logfiles.truth_count(log_type, date)

    def logfile_counts(self) -> dict[str, dict[str, int]]:
        """{date: {type: rows}} for every day with logs, types with rows only, dates ascending."""
        with self.lock:
            return self.logfiles.counts()

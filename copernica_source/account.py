"""What one run knows about the Copernica account it reads: the shared client, settings, and which path
prefixes the account answers on (found out once, on first use). Every engine reader of a run is made here,
with the run's page size and concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pendulum

from copernica_source.arrow_rows import Schema
from copernica_source.client import CopernicaClient
from copernica_source.engine import Derive, Reader, lists_plan
from copernica_source.errors import ConfigurationError, CopernicaAPIError, InvalidMethodError
from copernica_source.tables import PREFIXES

_T = TypeVar("_T")


@dataclass(frozen=True)
class Settings:
    """The knobs of a run, resolved from `[sources.copernica]`."""

    timezone: str = "Europe/Amsterdam"
    start_date: datetime | None = None
    end_date: datetime | None = None
    page_size: int = 1000
    max_concurrency: int = 8
    lookback_days: float = 3.0
    emailing_window_days: float = 30.0
    max_window_days: float = 92.0

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, moment: datetime) -> datetime:
        """A tz-aware moment as Copernica's naive local time."""
        if moment.tzinfo is not None:
            moment = moment.astimezone(self.tz)
        return datetime(*moment.timetuple()[:6])  # plain datetime: pendulum's arithmetic differs

    def now_local(self) -> datetime:
        return datetime.now(self.tz).replace(tzinfo=None, microsecond=0) + timedelta(minutes=5)


def parse_moment(value: Any, timezone: str, name: str) -> datetime | None:
    """`start_date`/`end_date` from config: a date, a datetime or an ISO string; naive means Copernica local time."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, date):
            moment = datetime(value.year, value.month, value.day)
        else:
            parsed = pendulum.parse(str(value), exact=True, tz=None)
            if isinstance(parsed, pendulum.DateTime):
                moment = parsed
            elif isinstance(parsed, pendulum.Date):
                moment = datetime(parsed.year, parsed.month, parsed.day)
            else:  # "10:00" is a time of day, "P1D" a duration
                raise ValueError(f"a {type(parsed).__name__.lower()}, not a date")
    except Exception as exc:  # noqa: BLE001
        raise ConfigurationError(
            f"{name}={value!r} is not a date: use YYYY-MM-DD or YYYY-MM-DD HH:MM:SS ({exc})"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return pendulum.instance(moment).in_timezone("UTC")


class Account:
    """The client plus per-account facts shared by every resource of a source."""

    def __init__(self, client: CopernicaClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self._prefixes: dict[str, str] = {}
        self._lock = threading.Lock()
        self._memo: dict[str, Any] = {}
        self._memo_lock = threading.RLock()

    def prefix(self, product: str) -> str:
        """`html`/`draganddrop` on current accounts, `publisher`/`ms` on accounts that only know the legacy ones."""
        with self._lock:
            if product in self._prefixes:
                return self._prefixes[product]
            candidates = PREFIXES[product] if self.client.api_version == 4 else PREFIXES[product][::-1]
            last_error: Exception | None = None
            for candidate in candidates:
                try:
                    self.client.get(f"{candidate}/emailings", {"limit": 1, "total": "false"})
                except (InvalidMethodError, CopernicaAPIError) as exc:
                    if isinstance(exc, CopernicaAPIError) and exc.status not in (400, 404):
                        raise
                    last_error = exc
                    continue
                self._prefixes[product] = candidate
                return candidate
            raise CopernicaAPIError(
                f"the account answers neither on {candidates[0]}/ nor on {candidates[1]}/ ({last_error})",
                getattr(last_error, "status", 400), f"{candidates[0]}/emailings",
            )

    def reader(
        self, schema: Schema | None = None, *, table: str = "", derive: Derive | None = None,
        expect_missing: bool = False, missing_ok: bool = False,
    ) -> Reader:
        """A reader of one table's lists, typed by `schema` (None: answers read untyped, by `Reader.pages`);
        `table` is the destination table a typed reader's warnings name (required with a schema), `derive` adds
        computed columns, `expect_missing`/`missing_ok` say how a gone object or parent is met (see Reader)."""
        if schema is not None and not table:
            raise ValueError("a typed reader names its table: its warnings say which table.column they are about")
        s = self.settings
        return Reader(self.client, schema, s.timezone, page_size=s.page_size, max_concurrency=s.max_concurrency,
                      derive=derive, expect_missing=expect_missing, missing_ok=missing_ok, table=table)

    def list_rows(self, paths: Iterable[tuple[str, Any]]) -> list[tuple[Any, dict[str, Any]]]:
        """Every row of some short lists as (meta, parsed row), each list paged to its end: what is read before
        the tables themselves (databases, field definitions, interests, collections)."""
        reader = self.reader()
        return [(page.task.meta, row) for page in reader.pages(lists_plan(reader, paths)) for row in page.rows]

    def remember(self, key: str, compute: Callable[[], _T]) -> _T:
        """A fact about the account computed once per run (by the first resource that needs it)."""
        with self._memo_lock:
            if key not in self._memo:
                self._memo[key] = compute()
            fact: _T = self._memo[key]
            return fact

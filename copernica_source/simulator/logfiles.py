"""Copernica's daily log files: which exist, and their rows as CSV, JSON or XML, rendered while they stream.

A day's log file holds what the event lists serve for that day: `pom-*` the html (Publisher) events,
`cdm-*` the drag-and-drop (Marketing Suite) ones, one row per event, with the same time, profile,
subprofile, IP and link. `attempts` holds one row per send (each destination of an emailing, at its
`timestampsent`) plus one per retry; a retry is a delivery after a destination's first (round >= 1, the
`attempt` the html deliveries list shows; drag-and-drop `attempts` is that round + 1), logged at that
delivery's time. `id` is the message ID the destinations lists give (html destination `id`, drag-and-drop
`messageID`). What the event lists do not carry (e-mail address, tags, sender domain, group, template,
document, geography, request headers, error status, abuse mail) comes from the emailing, the destination's
profile, or the event's seeded hash, as the list rows do.

Days are calendar days in the account's zone (or UTC under logfile_time_zone=utc); an event belongs to the
day of its `time`. Rows are in arrival order (event ID order, sends at their emailing's turn), so files
only grow: today's file by new events, the last three days' files by late events (stamped up to three days
before they arrive, events.py). A day, type and part with no rows has no file.

Everything here is a pure function of the clock: a download takes a Snapshot of the counts when it is
asked and renders from it, outside the dataset lock, batch by batch.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, timedelta
from itertools import islice
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from . import clock as clk
from .clock import Clock, mix
from .config import SimulatorConfig
from .engagement import Product
from .events import AGENTS, ERRORS, LATE_EVERY, LINKS, REFERERS, EventTable, _ip
from .filters import Condition
from .profiles import Profiles
from .quirks import Quirks
from .seq import Selection, Seq

HTML, DND = "html", "draganddrop"
BATCH = 1000  # rows rendered and written at a time


@dataclass(frozen=True)
class LogType:
    name: str
    product: str | None  # html (pom-*), draganddrop (cdm-*), None (feedback-loop-errors)
    source: str  # an event kind of events.KINDS, "attempts", "retries" or "feedback"
    columns: tuple[str, ...]  # the page's field names, in the page's order


_PROFILE_TAIL = ("profile", "subprofile", "template")
_POM_TAIL = ("groupid", "profile", "subprofile", "template", "document")
_GEO = ("countrycode", "countryname", "regioncode", "city")

# In the order of the names page's table (pom-clicks-old, which the table leaves out, after pom-clicks).
TYPES: dict[str, LogType] = {t.name: t for t in (
    LogType("cdm-attempts", DND, "attempts", ("id", "time", "mailingid", "profileid", "subprofileid", "databaseid",
                                              "collectionid", "senderdomain", "templateid", "tags", "email")),
    LogType("cdm-abuse", DND, "abuses", ("id", "time", "mail", "email", "tags", "senderdomain", *_PROFILE_TAIL)),
    LogType("cdm-click", DND, "clicks", ("id", "senderdomain", "time", "linkinfo", "ip", "header", "email", "tags",
                                         *_GEO, *_PROFILE_TAIL)),
    LogType("cdm-delivery", DND, "deliveries", ("id", "time", "attempts", "email", "tags", "senderdomain",
                                                *_PROFILE_TAIL)),
    LogType("cdm-error", DND, "errors", ("id", "time", "type", "status", "description", "code", "email", "tags",
                                         "senderdomain", *_PROFILE_TAIL)),
    LogType("cdm-impression", DND, "impressions", ("id", "time", "ip", "header", "email", "tags", *_GEO,
                                                   "senderdomain", *_PROFILE_TAIL)),
    LogType("cdm-retry", DND, "retries", ("id", "time", "attempt", "email", "tags", "senderdomain", *_PROFILE_TAIL)),
    LogType("cdm-unsubscribe", DND, "unsubscribes", ("id", "time", "email", "tags", "senderdomain",
                                                     *_PROFILE_TAIL)),
    LogType("pom-attempts", HTML, "attempts", ("id", "time", "groupid", "mailingid", "profileid", "subprofileid",
                                               "databaseid", "collectionid", "senderdomain", "templateid",
                                               "documentid", "tags", "email")),
    LogType("pom-abuses", HTML, "abuses", ("id", "time", "mail", "email", "tags", "senderdomain", *_POM_TAIL)),
    LogType("pom-clicks", HTML, "clicks", ("id", "time", "ip", "header", "email", "tags", *_GEO, "linkinfo",
                                           "senderdomain", *_POM_TAIL)),
    LogType("pom-clicks-old", HTML, "clicks", ("id", "time", "ip", "header", "email", "tags", *_GEO, "senderdomain",
                                               *_POM_TAIL)),
    LogType("pom-deliveries", HTML, "deliveries", ("id", "time", "attempts", "email", "tags", "senderdomain",
                                                   *_POM_TAIL)),
    LogType("pom-errors", HTML, "errors", ("id", "time", "type", "status", "description", "code", "content", "email",
                                           "tags", "senderdomain", *_POM_TAIL)),
    LogType("pom-impressions", HTML, "impressions", ("id", "time", "ip", "header", "email", "tags", *_GEO,
                                                     "senderdomain", *_POM_TAIL)),
    LogType("pom-retries", HTML, "retries", ("id", "time", "attempts", "email", "tags", "senderdomain",
                                             *_POM_TAIL)),
    LogType("pom-unsubscribes", HTML, "unsubscribes", ("id", "time", "email", "tags", "senderdomain", *_POM_TAIL)),
    LogType("feedback-loop-errors", None, "feedback", ("time", "response", "recipient", "header")),
)}

# Columns whose values are whole numbers: JSON numbers (as the JSON page's example shows), "" when empty.
INT_COLUMNS = frozenset({"groupid", "mailingid", "profile", "profileid", "subprofile", "subprofileid", "databaseid",
                         "collectionid", "template", "templateid", "document", "documentid", "linkinfo", "attempts",
                         "attempt", "response"})
# logfile_json_keys=example: the JSON/XML pages' example keys for the fields other pages name without `id`
EXAMPLE_KEYS = {"profile": "profileid", "subprofile": "subprofileid", "template": "templateid",
                "document": "documentid"}
_SOURCE_OF = {"profileid": "profile", "subprofileid": "subprofile", "templateid": "template",
              "documentid": "document", "attempt": "attempts"}

# What a row is assembled from: the destination's values (fixed per emailing and destination), then the event's.
_DEST = ("id", "email", "tags", "senderdomain", "groupid", "profile", "subprofile", "template", "document",
         "mailingid", "databaseid", "collectionid")
_EVENT = ("time", "ip", "header", *_GEO, "linkinfo", "attempts", "type", "status", "description", "code", "content",
          "mail")
_FEEDBACK = ("time", "response", "recipient", "header")

GEO = [("NL", "Netherlands", "NH", "Amsterdam"), ("NL", "Netherlands", "ZH", "Rotterdam"),
       ("NL", "Netherlands", "UT", "Utrecht"), ("BE", "Belgium", "VAN", "Antwerpen"),
       ("BE", "Belgium", "BRU", "Brussel"), ("DE", "Germany", "NW", "Köln"), ("DE", "Germany", "BY", "München"),
       ("FR", "France", "IDF", "Paris"), ("GB", "United Kingdom", "ENG", "London"),
       ("US", "United States", "CA", "San Francisco"), ("JP", "Japan", "13", "東京"),
       ("KR", "Korea, Republic of", "11", "Seoul"), ("CI", "Côte d'Ivoire", "AB", "Abidjan"),
       ("ES", "Spain", "AN", "Sevilla")]
ABUSE_MAIL = "Feedback-Type: abuse\nUser-Agent: SomeISP/1.0"  # the html abuses' `details`, the dnd `report`
WEBHOOK_IPS = ("203.0.113.10", "203.0.113.11")  # hooks.example.com, one per webhook of structure.py
FEEDBACK_ANSWERS = [(500, "HTTP/1.1 500 Internal Server Error\nContent-Type: text/html; charset=UTF-8"),
                    (502, "HTTP/1.1 502 Bad Gateway\nServer: nginx"),
                    (503, "HTTP/1.1 503 Service Unavailable\nRetry-After: 120\nServer: nginx"),
                    (404, "HTTP/1.1 404 Not Found\nContent-Type: text/plain"), (410, "HTTP/1.1 410 Gone"),
                    (408, "")]
NAME_RE = re.compile(r"^(?P<type>[a-z-]+)\.(?P<date>\d{4}-\d{2}-\d{2})\.log(?:\.(?P<part>[1-9]\d*))?$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json",
                 "xml": "application/xml; charset=utf-8"}
_MMSS = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]
_EPOCH = date(1970, 1, 1)


def keys_of(lt: LogType, json_keys: str) -> tuple[str, ...]:
    """The keys (JSON) and element names (XML) of a type's rows under the logfile_json_keys quirk."""
    if json_keys == "example":
        return tuple(EXAMPLE_KEYS.get(c, c) for c in lt.columns)
    return lt.columns


def error_status(code: str) -> str:
    """An error row's `status`: permanent (5.x.x), temporary (4.x.x), "" without an SMTP code."""
    return {"5": "permanent", "4": "temporary"}.get(code[:1], "")


def error_content(code: str, description: str) -> str:
    """pom-errors `content`: the receiving server's answer, "" when there was none."""
    if code[:1] not in ("4", "5"):
        return ""
    return f"{'550' if code[0] == '5' else '452'} {code} {description}"


# --- encoding ---------------------------------------------------------------------------------------

def _csv_minimal(v: str) -> str:
    if '"' in v:
        return '"' + v.replace('"', '""') + '"'
    if "," in v or "\n" in v or "\r" in v:
        return '"' + v + '"'
    return v


def _csv_doubled(v: str) -> str:
    """Under logfile_csv_quoting=all the line writer wraps every field in quotes; values double theirs."""
    return v.replace('"', '""')


def _xml(v: str) -> str:
    if "&" in v or "<" in v or ">" in v:
        return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return v


class Encoder:
    """Raw values -> what a format writes. JSON (and the ground truth) keep whole numbers as ints and write
    empty values as ""; CSV and XML write text. `text` is for strings that may need escaping (memoised: they
    come from small pools); strings that never do (times, IPs, IDs, addresses) go in as they are."""

    def __init__(self, fmt: str, quote_all: bool = False) -> None:
        self.fmt = fmt
        self.quote_all = fmt == "csv" and quote_all
        memo: dict[str, str] = {}
        escape = {"csv": _csv_doubled if self.quote_all else _csv_minimal, "xml": _xml}.get(fmt)
        if escape is None:
            self.text: Callable[[str], Any] = str
        else:
            esc = escape

            def text(v: str) -> str:
                e = memo.get(v)
                if e is None:
                    if len(memo) > 50_000:
                        memo.clear()
                    e = memo[v] = esc(v)
                return e
            self.text = text
        self.ints = fmt in ("json", "truth")
        self.empty = ""  # CSV: an empty field (quoted under quoting=all); JSON: ""; XML: an empty element

    def num(self, v: int | None) -> Any:
        if v is None:
            return ""
        return v if self.ints else str(v)


class TimeText:
    """Local naive seconds -> `YYYY-MM-DD HH:MM:SS` in the file's zone (local: as is; utc: converted, the
    hour repeated when DST ends read as its first occurrence). Cached per hour: offsets change on hours."""

    def __init__(self, zone: ZoneInfo | None) -> None:
        self.zone = zone
        self.prefixes: dict[int, str] = {}  # hour number -> "YYYY-MM-DD HH:"
        self._offset: dict[int, int] = {}

    def offset(self, ts: int) -> int:
        """Seconds the zone is ahead of UTC at local naive time ts."""
        hour = ts // 3600
        off = self._offset.get(hour)
        if off is None:
            if self.zone is None:
                off = 0
            else:
                delta = clk.to_datetime(hour * 3600).replace(tzinfo=self.zone).utcoffset()
                off = int(delta.total_seconds()) if delta is not None else 0
            self._offset[hour] = off
        return off

    def prefix(self, hour: int) -> str:
        p = self.prefixes.get(hour)
        if p is None:
            p = self.prefixes[hour] = clk.fmt(hour * 3600)[:14]
        return p

    def __call__(self, ts: int) -> str:
        if self.zone is not None:
            ts -= self.offset(ts)
        hour, rest = divmod(ts, 3600)
        return (self.prefixes.get(hour) or self.prefix(hour)) + _MMSS[rest]


@dataclass(frozen=True)
class Snapshot:
    """What exists at one moment: events inserted per (product, kind), emailings sent per product, now."""

    now: int
    events: dict[tuple[str, str], int]
    sent: dict[str, int]


@dataclass(frozen=True)
class FileRef:
    """One file: a type's rows of a day, the part's slice of them ([skip, skip + rows))."""

    type: LogType
    day: date
    part: int
    skip: int
    rows: int
    snap: Snapshot

    @property
    def name(self) -> str:
        return file_name(self.type.name, self.day, self.part)


def file_name(log_type: str, day: date, part: int = 0) -> str:
    base = f"{log_type}.{day.isoformat()}.log"
    return base if part == 0 else f"{base}.{part}"


class _Pushback:
    """An ascending iterator that can hand out its items below a bound and keep the rest."""

    def __init__(self, it: Iterable[int]) -> None:
        self.it = iter(it)
        self.head: int | None = None

    def below(self, bound: int | None) -> Iterator[int]:
        if self.head is not None:
            if bound is not None and self.head >= bound:
                return
            yield self.head
            self.head = None
        for i in self.it:
            if bound is not None and i >= bound:
                self.head = i
                return
            yield i


class LogFiles:
    def __init__(self, cfg: SimulatorConfig, clock: Clock, products: dict[str, Product], profiles: Profiles,
                 quirks: Quirks) -> None:
        self.clock = clock
        self.products = products
        self.profiles = profiles
        self.quirks = quirks
        self.seed = mix(cfg.seed, 0x106F11E5)
        self.zone = ZoneInfo(cfg.timezone)
        self.utc = quirks.logfile_time_zone == "utc"
        self.part_rows = cfg.logfile_part_rows if quirks.logfile_split == "parts" else None
        self.types = {k: t for k, t in TYPES.items()
                      if k != "pom-clicks-old" or quirks.logfile_clicks_old == "present"}
        self._counts: dict[tuple[str, date, int], int] = {}

    # --- what exists --------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        return Snapshot(self.clock.now,
                        {(p, k): t.count() for p, prod in self.products.items() for k, t in prod.tables.items()},
                        {p: prod.emailings.count() for p, prod in self.products.items()})

    def window(self, day: date) -> tuple[int, int]:
        """The day as local naive seconds [lo, hi) (a UTC day under logfile_time_zone=utc)."""
        lo = (day - _EPOCH).days * clk.DAY
        if not self.utc:
            return lo, lo + clk.DAY
        return self._local_of_utc(lo), self._local_of_utc(lo + clk.DAY)

    def _local_of_utc(self, seconds: int) -> int:
        moment = clk.to_datetime(seconds).replace(tzinfo=UTC).astimezone(self.zone).replace(tzinfo=None)
        return clk.to_seconds(moment)

    def day_of(self, ts: int) -> date:
        if self.utc:
            ts -= TimeText(self.zone).offset(ts)
        return _EPOCH + timedelta(days=ts // clk.DAY)

    def days(self, snap: Snapshot) -> list[date]:
        """Days with at least one file, ascending: from the first event's day to the day of now."""
        if snap.now <= self.clock.start:
            return []
        first, last = self.day_of(self.clock.start), self.day_of(snap.now - 1)
        out = []
        day = first
        while day <= last:
            if self._has_logs(day, snap):
                out.append(day)
            day += timedelta(days=1)
        return out

    def _is_log_day(self, day: date, snap: Snapshot) -> bool:
        if snap.now <= self.clock.start:
            return False
        return self.day_of(self.clock.start) <= day <= self.day_of(snap.now - 1) and self._has_logs(day, snap)

    def _has_logs(self, day: date, snap: Snapshot) -> bool:
        lo, hi = self.window(day)
        for p in (HTML, DND):  # the common case in O(1): two neighbours in a day cannot both be late events
            t = self.products[p].tables["deliveries"]
            n = snap.events[(p, "deliveries")]
            if min(n, t.first_at(hi)) - t.first_at(lo) >= 2:
                return True
        return any(self.count(lt, day, snap) for lt in self.types.values())

    def dates(self) -> list[str]:
        days = [d.isoformat() for d in self.days(self.snapshot())]
        return days[::-1] if self.quirks.logfile_dates_order == "desc" else days

    def names(self, day_text: str | None = None, log_type: str | None = None) -> list[str]:
        """File names of a day and/or a type (days in the dates order, types in the names page's order)."""
        snap = self.snapshot()
        if log_type is not None and log_type not in self.types:
            return []
        types = [self.types[log_type]] if log_type is not None else list(self.types.values())
        if day_text is not None:
            day = parse_day(day_text)
            days = [day] if day is not None and self._is_log_day(day, snap) else []
        else:
            days = self.days(snap)
            if self.quirks.logfile_dates_order == "desc":
                days.reverse()
        out = []
        for day in days:
            for lt in types:
                out += [file_name(lt.name, day, k) for k in range(self._parts(lt, day, snap))]
        return out

    def _parts(self, lt: LogType, day: date, snap: Snapshot) -> int:
        if self.part_rows is None:
            return 1 if self._nonempty(lt, day, snap) else 0
        return -(-self.count(lt, day, snap) // self.part_rows)

    def _nonempty(self, lt: LogType, day: date, snap: Snapshot) -> bool:
        """count() > 0, mostly without counting: two neighbours in a day cannot both be late events."""
        if lt.product is None:
            return self.count(lt, day, snap) > 0
        lo, hi = self.window(day)
        if lt.source in ("attempts", "retries"):
            if lt.source == "attempts" and len(self._sends(lt.product, lo, hi, snap)):
                return True
            return self._retry_count(lt.product, lo, hi, snap, first=True) > 0
        t = self.products[lt.product].tables[lt.source]
        if min(snap.events[(lt.product, lt.source)], t.first_at(hi)) - t.first_at(lo) >= 2:
            return True
        return self.count(lt, day, snap) > 0

    def lookup(self, name: str) -> FileRef | None:
        """The file a name stands for, None when there is no such file now."""
        m = NAME_RE.match(name)
        if not m or m["type"] not in self.types:
            return None
        day = parse_day(m["date"])
        if day is None:
            return None
        lt, part = self.types[m["type"]], int(m["part"] or 0)
        snap = self.snapshot()
        if part and self.part_rows is None:
            return None
        total = self.count(lt, day, snap)
        size = self.part_rows or max(total, 1)
        skip = part * size
        if skip >= total:
            return None
        return FileRef(lt, day, part, skip, min(size, total - skip), snap)

    # --- counting -----------------------------------------------------------------------------------
    def count(self, lt: LogType, day: date, snap: Snapshot) -> int:
        """Rows of a type's day (all parts)."""
        key = (lt.name, day, snap.now)
        c = self._counts.get(key)
        if c is None:
            lo, hi = self.window(day)
            if lt.source == "feedback":
                c = sum(1 for _ in self._feedback_times(lo, hi, snap))
            elif lt.source == "attempts":
                assert lt.product is not None
                js = self._sends(lt.product, lo, hi, snap)
                c = len(js) * self.products[lt.product].emailings.dests + self._retry_count(lt.product, lo, hi, snap)
            elif lt.source == "retries":
                assert lt.product is not None
                c = self._retry_count(lt.product, lo, hi, snap)
            else:
                assert lt.product is not None
                c = self._selection(lt.product, lt.source, lo, hi, snap).total()
            if len(self._counts) > 20_000:
                self._counts.clear()
            self._counts[key] = c
        return c

    def _selection(self, product: str, kind: str, lo: int, hi: int, snap: Snapshot) -> Selection:
        """Events of a table stamped in [lo, hi), as `fields[]=timestamp>=...&fields[]=timestamp<...` selects
        them on the account-wide list: positions of Seq (0, n, 1) are the event indices."""
        t = self.products[product].tables[kind]
        n = snap.events[(product, kind)]
        conds = [Condition("timestamp", ">=", clk.fmt(lo)), Condition("timestamp", "<", clk.fmt(hi))]
        return t.select(Seq([(0, n, 1)]), conds, n)

    def _sends(self, product: str, lo: int, hi: int, snap: Snapshot) -> range:
        """Emailings sent in [lo, hi) by now."""
        e = self.products[product].emailings
        return range(e.first_at_or_after(lo), min(snap.sent[product], e.first_at_or_after(hi)))

    def _retry_count(self, product: str, lo: int, hi: int, snap: Snapshot, first: bool = False) -> int:
        """Deliveries stamped in [lo, hi) after their destination's first (round >= 1); first=True stops at 1."""
        t = self.products[product].tables["deliveries"]
        e = t.emailings
        late_res, first_at, dk = t.late_res, t.first_at, t.dk
        lo_b, hi_b, count = 0, -1, 0
        for i in self._selection(product, "deliveries", lo, hi, snap).positions(0):
            if i % LATE_EVERY == late_res:
                count += t.locate(i)[2] >= 1
                continue
            if not lo_b <= i < hi_b:  # the home emailing's range, as in _RowMaker.rows
                j = e.latest_at(t.ins(i))
                lo_b, hi_b = first_at(e.ts(j)), first_at(e.ts(j + 1))
            count += i - lo_b >= dk
            if first and count:
                break
        return count

    # --- rows ---------------------------------------------------------------------------------------
    def _render(self, ref: FileRef, enc: Encoder) -> Iterator[tuple[Any, ...]]:
        """The file's rows in order, each a tuple of encoded values in the type's column order."""
        lt, snap = ref.type, ref.snap
        lo, hi = self.window(ref.day)
        timefmt = TimeText(self.zone if self.utc else None)
        if lt.source == "feedback":
            rows: Iterator[tuple[Any, ...]] = self._feedback_rows(lo, hi, snap, enc, timefmt)
            return islice(rows, ref.skip, ref.skip + ref.rows)
        assert lt.product is not None
        index = {name: k for k, name in enumerate(_DEST + _EVENT)}
        pick = itemgetter(*[index[_SOURCE_OF.get(c, c)] for c in lt.columns])
        ctx = _RowMaker(self, self.products[lt.product], lt, enc, timefmt, pick)
        if lt.source == "attempts":
            rows = self._attempt_rows(ctx, lo, hi, snap)
        elif lt.source == "retries":
            t = self.products[lt.product].tables["deliveries"]
            rows = ctx.rows(t, self._selection(lt.product, "deliveries", lo, hi, snap).positions(0), 1)
        else:
            t = self.products[lt.product].tables[lt.source]
            sel = self._selection(lt.product, lt.source, lo, hi, snap)
            return islice(ctx.rows(t, sel.positions(ref.skip), 0), ref.rows)
        return islice(rows, ref.skip, ref.skip + ref.rows)

    def _attempt_rows(self, ctx: _RowMaker, lo: int, hi: int, snap: Snapshot) -> Iterator[tuple[Any, ...]]:
        """Sends and retries in arrival order: the retries inserted before an emailing was sent come first."""
        product = ctx.product
        t = product.tables["deliveries"]
        retries = _Pushback(self._selection(product.name, "deliveries", lo, hi, snap).positions(0))
        for j in self._sends(product.name, lo, hi, snap):
            yield from ctx.rows(t, retries.below(t.first_at(product.emailings.ts(j))), 1)
            yield from ctx.sends(j)
        yield from ctx.rows(t, retries.below(None), 1)

    def _feedback_times(self, lo: int, hi: int, snap: Snapshot) -> Iterator[tuple[int, int]]:
        """(time, draw) of the webhook errors in [lo, hi): zero to three a local day, at seeded times."""
        end = min(hi, snap.now)
        day = max(lo, self.clock.start) // clk.DAY
        while day * clk.DAY < end:
            k = mix(self.seed, day) % 4
            for ts, h in sorted((day * clk.DAY + mix(self.seed, day, r) % clk.DAY, mix(self.seed, day, r, 1))
                                for r in range(k)):
                if max(lo, self.clock.start) <= ts < end:
                    yield ts, h
            day += 1

    def _feedback_rows(self, lo: int, hi: int, snap: Snapshot, enc: Encoder,
                       timefmt: TimeText) -> Iterator[tuple[Any, ...]]:
        for ts, h in self._feedback_times(lo, hi, snap):
            status, header = FEEDBACK_ANSWERS[h % len(FEEDBACK_ANSWERS)]
            yield timefmt(ts), enc.num(status), WEBHOOK_IPS[(h >> 8) % 2], enc.text(header)

    # --- ground truth -------------------------------------------------------------------------------
    def truth_rows(self, log_type: str, day_text: str) -> Iterator[dict[str, Any]]:
        """Every row of a type's day (all parts, in order) keyed by the page's field names; whole numbers
        as ints, empty values as "". Counted now, rendered as iterated. KeyError for a type the simulator
        does not serve or a text that is not a date."""
        lt = self.types[log_type]
        day = parse_day(day_text)
        if day is None:
            raise KeyError(f"not a date: {day_text!r}")
        snap = self.snapshot()
        ref = FileRef(lt, day, 0, 0, self.count(lt, day, snap), snap)
        columns = lt.columns
        return (dict(zip(columns, row, strict=True)) for row in self._render(ref, Encoder("truth")))

    def truth_count(self, log_type: str, day_text: str) -> int:
        lt = self.types[log_type]
        day = parse_day(day_text)
        if day is None:
            raise KeyError(f"not a date: {day_text!r}")
        return self.count(lt, day, self.snapshot())

    def counts(self) -> dict[str, dict[str, int]]:
        """{date: {type: rows}} of every day with logs (types with rows only), dates ascending."""
        snap = self.snapshot()
        out = {}
        for day in self.days(snap):
            out[day.isoformat()] = {k: c for k, lt in self.types.items() if (c := self.count(lt, day, snap))}
        return out

    # --- bodies -------------------------------------------------------------------------------------
    def body(self, ref: FileRef, fmt: str) -> Callable[[bool], Iterator[bytes]]:
        """The file's bytes as a factory: each call renders it afresh (corrupt=True breaks the middle row)."""
        q = self.quirks

        def make(corrupt: bool) -> Iterator[bytes]:
            enc = Encoder(fmt, quote_all=q.logfile_csv_quoting == "all")
            rows = self._render(ref, enc)
            middle = ref.rows // 2 if corrupt else -1
            if fmt == "csv":
                return _csv(rows, ref.type.columns if q.logfile_csv_header == "present" else None, enc, middle)
            keys = keys_of(ref.type, q.logfile_json_keys)
            return _json(rows, keys, middle) if fmt == "json" else _xml_body(rows, keys, middle)
        return make


class _RowMaker:
    """Renders one file's rows: destination values cached per (emailing, destination), event values drawn from
    the event's seeded hash exactly as EventTable.rows() draws them (the tests compare the two)."""

    def __init__(self, files: LogFiles, product: Product, lt: LogType, enc: Encoder, timefmt: TimeText,
                 pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]) -> None:
        self.files = files
        self.product = product
        self.lt = lt
        self.enc = enc
        self.timefmt = timefmt
        self.pick = pick
        self._dest: dict[int, tuple[Any, ...]] = {}
        self._emailing: dict[int, tuple[Any, ...]] = {}
        self.event = self._event_values()

    # --- destination values -------------------------------------------------------------------------
    def emailing_values(self, j: int) -> tuple[Any, ...]:
        """(tags, senderdomain, groupid, template, document, mailingid, databaseid, collectionid) of emailing j."""
        v = self._emailing.get(j)
        if v is None:
            p, enc = self.product, self.enc
            e = p.emailings
            kind, db, sub = e.target(j)
            v = self._emailing[j] = (
                enc.text(";".join(e.tags(j))), e.sender(j)[1].partition("@")[2],
                enc.num(e.id(j) * 10 + 1 if p.html else None), enc.num(p.template_id(j)),
                enc.num(p.document_id(j) if p.html else None), enc.num(e.id(j)), enc.num(db),
                enc.num(sub if kind == "collection" else None))
        return v

    def dest(self, j: int, d: int) -> tuple[Any, ...]:
        """The _DEST values of destination d of emailing j."""
        p, enc = self.product, self.enc
        pid, sid = p.emailings.profile_of(j, d)
        mid = p.dest_hash(j, d) if p.html else p.message_id(j, d)
        tags, domain, group, template, document, mailing, db, coll = self.emailing_values(j)
        if len(self._dest) > 100_000:
            self._dest.clear()
        return (mid, self.files.profiles.base_email(pid), tags, domain, group, enc.num(pid), enc.num(sid), template,
                document, mailing, db, coll)

    # --- rows ---------------------------------------------------------------------------------------
    def rows(self, t: EventTable, indices: Iterable[int], min_round: int) -> Iterator[tuple[Any, ...]]:
        """Rows of ascending event indices (min_round 1: the retries among deliveries). Locates each event as
        EventTable.locate() and ts() do, keeping the home emailing's bounds from one index to the next."""
        e = t.emailings
        dk, dests, step, flip = t.dk, e.dests, e.perm_step, t.kind == "errors"
        late_res, start, hist, n0 = t.late_res, self.files.clock.start, self.files.clock.history, t.n0
        locate, ts_of, first_at, ins, latest_at, e_ts = t.locate, t.ts, t.first_at, t.ins, e.latest_at, e.ts
        cache, dest, event, pick, seed = self._dest, self.dest, self.event, self.pick, t.seed
        timefmt = self.timefmt
        local = timefmt.zone is None
        prefixes, mmss = timefmt.prefixes, _MMSS
        j, lo_b, hi_b, perm = -1, 0, -1, 0
        for i in indices:
            if i % LATE_EVERY == late_res:
                jj, d, rnd = locate(i)
                ts = ts_of(i)
            else:
                if not lo_b <= i < hi_b:
                    j = latest_at(ins(i))
                    lo_b, hi_b = first_at(e_ts(j)), first_at(e_ts(j + 1))
                    perm = e.dest_of_rank(j, 0)
                rnd, r = divmod(i - lo_b, dk)
                if flip:
                    r = dests - 1 - r
                jj, d = j, (r * step + perm) % dests
                ts = start + i * hist // n0
            if rnd < min_round:
                continue
            key = jj * dests + d
            dv = cache.get(key)
            if dv is None:
                dv = cache[key] = dest(jj, d)
            if local:
                hour, rest = divmod(ts, 3600)
                prefix = prefixes.get(hour)
                time = (prefix or timefmt.prefix(hour)) + mmss[rest]
            else:
                time = timefmt(ts)
            h = (i * 0x9E3779B97F4A7C15 ^ seed) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF  # as EventTable.rows()
            h ^= h >> 29
            yield pick(dv + event(h, jj, rnd, time))

    def sends(self, j: int) -> Iterator[tuple[Any, ...]]:
        """One attempts row per destination of emailing j, at its send time (the destinations' timestampsent)."""
        e = self.product.emailings
        ev = (self.timefmt(e.ts(j)),) + ("",) * (len(_EVENT) - 1)
        for d in range(e.dests):
            yield self.pick(self.dest(j, d) + ev)

    # --- event values, in _EVENT's order --------------------------------------------------------------
    def _event_values(self) -> Callable[[int, int, int, str], tuple[Any, ...]]:
        """event(hash, emailing, round, time) -> the _EVENT values of the file's source, as a closure over
        the encoded pools (a row costs a few microseconds; attribute lookups would be a third of it)."""
        enc, html, source = self.enc, self.product.html, self.lt.source
        E = enc.empty
        ip = _ip
        refs = REFERERS if html else [None]
        n_agents, n_refs, n_links, n_geo, n_errors = len(AGENTS), len(refs), len(LINKS), len(GEO), len(ERRORS)
        headers = [enc.text(f"User-Agent: {a}" + (f"\nReferer: {r}" if r else "")) for a in AGENTS for r in refs]
        geo = [tuple(enc.text(v) for v in g) for g in GEO]
        geo_no_city = [(*g[:3], E) for g in geo]
        links = [enc.num(3000 + k) for k in range(5000)]  # the html clicks' link_id; drag-and-drop draw the same
        errors = [(enc.text(etype), enc.text(error_status(code)), enc.text(desc), enc.text(code),
                   enc.text(error_content(code, desc) if html else "")) for code, desc, etype, _ in ERRORS]
        mail = enc.text(ABUSE_MAIL)
        rounds: dict[int, Any] = {}

        def where(h: int) -> tuple[Any, ...]:
            """header, countrycode, countryname, regioncode, city."""
            header = E if (h >> 58) % 16 == 0 else headers[(h >> 40) % n_agents * n_refs + (h >> 44) % len(REFERERS)
                                                           % n_refs]
            if (h >> 53) % 10 == 0:
                return header, E, E, E, E
            g = (h >> 48) % n_geo
            return (header, *(geo_no_city[g] if (h >> 57) % 7 == 0 else geo[g]))

        def clicks(h: int, j: int, rnd: int, time: str) -> tuple[Any, ...]:
            return (time, ip(h), *where(h), links[(j * 7 + h % n_links) % 5000], E, E, E, E, E, E, E)

        def impressions(h: int, j: int, rnd: int, time: str) -> tuple[Any, ...]:
            return (time, ip(h), *where(h), E, E, E, E, E, E, E, E)

        def deliveries(h: int, j: int, rnd: int, time: str) -> tuple[Any, ...]:
            n = rounds.get(rnd)
            if n is None:
                n = rounds[rnd] = enc.num(rnd)
            return (time, E, E, E, E, E, E, E, n, E, E, E, E, E, E)

        def retries(h: int, j: int, rnd: int, time: str) -> tuple[Any, ...]:
            return deliveries(h, j, rnd - 1, time)  # retries so far, counting from 0

        def errors_(h: int, j: int, rnd: int, time: str) -> tuple[Any, ...]:
            return (time, E, E, E, E, E, E, E, E, *errors[h % n_errors], E)

        def abuses(h: int, j: int, rnd: int, time: str) -> tuple[Any, ...]:
            # the html event's `details`, the drag-and-drop event's `report`
            empty = h & 16 if html else h % 3
            return (time, E, E, E, E, E, E, E, E, E, E, E, E, E, E if empty else mail)

        def plain(h: int, j: int, rnd: int, time: str) -> tuple[Any, ...]:
            return (time, E, E, E, E, E, E, E, E, E, E, E, E, E, E)

        return {"clicks": clicks, "impressions": impressions, "deliveries": deliveries, "retries": retries,
                "errors": errors_, "abuses": abuses}.get(source, plain)


# --- serialisation ------------------------------------------------------------------------------------

def _batches(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    while batch := list(islice(rows, BATCH)):
        yield batch


def _csv(rows: Iterator[tuple[Any, ...]], header: tuple[str, ...] | None, enc: Encoder,
         middle: int) -> Iterator[bytes]:
    """RFC 4180 lines (CRLF); the corrupt row keeps only the first half of its fields."""
    line: Callable[[tuple[Any, ...]], str] = ",".join
    if enc.quote_all:  # every field quoted: values come with their quotes doubled, the line adds the quotes
        def line(r: tuple[Any, ...]) -> str:
            return '"' + '","'.join(r) + '"'

    if header is not None:
        yield (line(tuple(enc.text(k) for k in header)) + "\r\n").encode()
    pos = 0
    for batch in _batches(rows):
        lines = [line(r) for r in batch]
        if pos <= middle < pos + len(batch):
            r = batch[middle - pos]
            lines[middle - pos] = line(r[: len(r) // 2])
        pos += len(batch)
        lines.append("")
        yield "\r\n".join(lines).encode()


def _json(rows: Iterator[tuple[Any, ...]], keys: tuple[str, ...], middle: int) -> Iterator[bytes]:
    """One JSON array of objects; the corrupt object stops after half its keys, unclosed."""
    yield b"["
    pos = 0
    for batch in _batches(rows):
        parts = []
        if pos <= middle < pos + len(batch):
            k = middle - pos
            half = len(keys) // 2
            if k:
                parts.append(orjson.dumps([dict(zip(keys, r, strict=True)) for r in batch[:k]])[1:-1])
            parts.append(orjson.dumps(dict(zip(keys[:half], batch[k][:half], strict=True)))[:-1])
            if k + 1 < len(batch):
                parts.append(orjson.dumps([dict(zip(keys, r, strict=True)) for r in batch[k + 1:]])[1:-1])
        else:
            parts.append(orjson.dumps([dict(zip(keys, r, strict=True)) for r in batch])[1:-1])
        yield (b"," if pos else b"") + b",".join(parts)
        pos += len(batch)
    yield b"]"


def _xml_body(rows: Iterator[tuple[Any, ...]], keys: tuple[str, ...], middle: int) -> Iterator[bytes]:
    """`<records><record><key>value</key>...</record>...</records>` as the XML page shows (indented, no
    declaration); the corrupt record stops after half its elements, unclosed."""
    record = "    <record>\n" + "".join(f"        <{k}>{{}}</{k}>\n" for k in keys) + "    </record>\n"
    broken = "    <record>\n" + "".join(f"        <{k}>{{}}</{k}>\n" for k in keys[: len(keys) // 2])
    fill = record.format
    yield b"<records>\n"
    pos = 0
    for batch in _batches(rows):
        out = [fill(*r) for r in batch]
        if pos <= middle < pos + len(batch):
            out[middle - pos] = broken.format(*batch[middle - pos][: len(keys) // 2])
        pos += len(batch)
        yield "".join(out).encode()
    yield b"</records>\n"


def parse_day(text: str) -> date | None:
    if not DATE_RE.match(text.strip()):
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


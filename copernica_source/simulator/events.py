"""The six engagement event tables of a product, each a pure function of the event index.

Event i of a table is inserted at start + i*history/count0 and gets ID i+1. Its timestamp is its
insertion time, except every 41st event is late: stamped up to three days earlier (never before
its emailing was sent). It belongs to the emailing sent last before its insertion, and to the
destinations of that emailing in a fixed order, so per-emailing and per-destination lists are
arithmetic runs of indices, and filters on ID and time are answered without scanning.
"""
from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from typing import Any

from . import clock as clk
from .clock import Clock, mix
from .emailings import Emailings
from .filters import Condition, matches
from .seq import Selection, Seq

LATE_MAX = 3 * clk.DAY
LATE_EVERY = 41

# kind -> (share of `events`, share of an emailing's destinations that get such events)
KINDS: dict[str, tuple[float, float]] = {
    "clicks": (1.0, 0.2),
    "deliveries": (1.0, 1.0),
    "impressions": (0.8, 0.5),
    "errors": (0.05, 0.05),
    "unsubscribes": (0.02, 0.02),
    "abuses": (0.005, 0.01),
}

LINKS = [
    ("{webversion}", ""), ("https://www.example.com/sale?utm_source=copernica", "Bekijk de aanbieding"),
    ("https://www.example.fr/événements/été", "Événements d'été ☀️"),
    ("https://shop.example.de/straße/müller", "Zum Shop"),
    ("https://www.example.com/unsubscribe", "Afmelden"), ("https://example.jp/新着", "新着情報"),
    ("http://www.myshop.nl/promotions/customer/{$profile.customerid}", "Jouw voordeel 🎁"),
]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Microsoft Outlook 16.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 Chrome/119.0 Mobile Safari/537.36",
]
DEVICES = ["desktop", "mobile", "tablet", "unknown", "desktop", "mobile"]
ERRORS = [
    ("5.1.1", "User unknown", "unreachable", "Mailbox does not exist"),
    ("5.1.2", "Resolver error: no mailservers found for domain", "nohost", "Map domain name to IP address"),
    ("4.2.2", "Mailbox full", "mailerror", "Temporary mail error"),
    ("5.7.1", "Message rejected as spam", "error", "Permanent error"),
    ("0", "No valid from address is set", "nocontent", "No content"),
]
ABUSE = [("arf", "abuse"), ("arf", "opt-out"), ("JMR", "not-spam"), ("none", "other"), ("arf", "fraud")]
REFERERS = [None] * 7 + ["https://mail.google.com/", "https://outlook.live.com/"]
SMTP = ["250 2.0.0 OK", "250 Ok: queued as 4F1D2", "250 2.6.0 Message accepted ✓"]


def _ip(h: int) -> str:
    if h & 7 == 0:
        return f"2a03:e280:0:{h >> 8 & 0xfff:x}::{h >> 20 & 0xff:x}"
    return f"{(h >> 8) % 223 + 1}.{(h >> 16) & 255}.{(h >> 24) & 255}.{(h >> 32) % 254 + 1}"


class EventTable:
    def __init__(self, emailings: Emailings, kind: str, number: int, events: int, clock: Clock) -> None:
        share, dest_share = KINDS[kind]
        self.emailings = emailings
        self.kind = kind
        self.html = emailings.html
        self.clock = clock
        self.n0 = round(events * share)
        self.dk = max(1, min(emailings.dests, -(-int(emailings.dests * dest_share * 1000) // 1000)))
        self.late_res = (number * 7 + 3) % LATE_EVERY
        self.seed = mix(emailings.seed, number)
        self._moves: dict[int, tuple[int, bool, array[int], array[int]]] = {}

    # --- index <-> time -----------------------------------------------------------------
    def count(self) -> int:
        if self.n0 == 0:
            return 0
        return -((-(self.clock.now - self.clock.start) * self.n0) // self.clock.history)

    def ins(self, i: int) -> int:
        return self.clock.start + i * self.clock.history // self.n0

    def first_at(self, t: int) -> int:
        """First index inserted at or after t (unclamped, >= 0)."""
        if self.n0 == 0:
            return 0
        return max(0, -((-(t - self.clock.start) * self.n0) // self.clock.history))

    def emailing_range(self, j: int, n: int) -> tuple[int, int]:
        """Home range of emailing j: the events inserted while j was the latest emailing."""
        e = self.emailings
        return min(n, self.first_at(e.ts(j))), min(n, self.first_at(e.ts(j + 1)))

    def ts(self, i: int) -> int:
        t = self.ins(i)
        if i % LATE_EVERY != self.late_res:
            return t
        return max(self.clock.start, t - 1 - mix(self.seed, i) % LATE_MAX)

    def _home_rank(self, i: int) -> tuple[int, int]:
        """(home emailing, position in its home range) of event i."""
        e = self.emailings
        j = e.latest_at(self.ins(i))
        return j, i - self.first_at(e.ts(j))

    def moves(self, j: int, n: int) -> tuple[array[int], array[int]]:
        """Late events that leave emailing j's home range (stamped before j was sent: they belong to
        an earlier emailing) and late events from later ranges stamped while j was the latest.
        Both are sparse; once the clock is 3 days past the next emailing they never change."""
        cached = self._moves.get(j)
        if cached is not None and (cached[0] == n or cached[1]):
            return cached[2], cached[3]
        e = self.emailings
        sent, nxt = e.ts(j), e.ts(j + 1)
        a, b = self.emailing_range(j, n)
        out = array("q", (i for i in self._lates(a, min(b, self.first_at(sent + LATE_MAX))) if self.ts(i) < sent))
        y_end = self.first_at(nxt + LATE_MAX + 1)
        into = array("q", (i for i in self._lates(b, min(n, y_end)) if sent <= self.ts(i) < nxt))
        self._moves[j] = (n, y_end <= n, out, into)
        return out, into

    def emailing_count(self, j: int, n: int) -> int:
        a, b = self.emailing_range(j, n)
        out, into = self.moves(j, n)
        return b - a - len(out) + len(into)

    # --- lists --------------------------------------------------------------------------
    def seq_all(self, n: int, unique: bool = False) -> Seq:
        if not unique:
            return Seq([(0, n, 1)])
        firsts: list[int] = []
        for j in range(self.emailings.count()):
            firsts += self.unique_firsts(j, n)
        return Seq.of(sorted(firsts))

    def seq_emailing(self, j: int, n: int, unique: bool = False) -> Seq:
        if unique:
            return Seq.of(self.unique_firsts(j, n))
        a, b = self.emailing_range(j, n)
        out, into = self.moves(j, n)
        return Seq.split((a, b, 1), out, into)

    def unique_firsts(self, j: int, n: int) -> list[int]:
        """The first event of each destination of emailing j (what unique=true lists)."""
        a, b = self.emailing_range(j, n)
        out, into = self.moves(j, n)
        gone = set(out)
        firsts, covered = [], set()
        for t in range(min(self.dk, b - a)):
            i = a + t
            while i < b and i in gone:
                i += self.dk
            if i < b:
                firsts.append(i)
                covered.add(t)
        for i in into:
            t = self._home_rank(i)[1] % self.dk
            if t not in covered:
                covered.add(t)
                firsts.append(i)
        return sorted(firsts)

    def _rank_in_emailing(self, j: int, d: int) -> int | None:
        """Home-range offset (0..dk-1) of destination d's events in emailing j, None if it has none."""
        r = self.emailings.rank_of_dest(j, d)
        if self.kind == "errors":
            r = self.emailings.dests - 1 - r
        return r if r < self.dk else None

    def seq_destination(self, j: int, d: int, n: int, unique: bool = False) -> Seq:
        t = self._rank_in_emailing(j, d)
        if t is None:
            return Seq([])
        a, b = self.emailing_range(j, n)
        out, into = self.moves(j, n)
        seq = Seq.split((a + t, b, self.dk), [i for i in out if (i - a) % self.dk == t],
                        [i for i in into if self._home_rank(i)[1] % self.dk == t])
        if unique and len(seq):
            return Seq.of([seq.at(0)])
        return seq

    def select(self, seq: Seq, conds: list[Condition], n: int) -> Selection:
        """Positions of `seq` matching ID/timestamp selectors, by arithmetic; other selectors
        (on other keys, or LIKE) fall back to a predicate over the candidates."""
        lo_i, hi_i = 0, n  # index range from id
        lo_t, hi_t = None, None  # inclusive time bounds
        drop_ids: list[int] = []
        slow: list[Condition] = []
        for c in conds:
            if c.field == "id" and c.op not in ("=~", "!~"):
                try:
                    v = int(float(c.value.strip("'\"")))
                except ValueError:
                    continue
                i = v - 1
                if c.op == "==":
                    lo_i, hi_i = max(lo_i, i), min(hi_i, i + 1)
                elif c.op == "!=":
                    drop_ids.append(i)
                elif c.op == ">":
                    lo_i = max(lo_i, i + 1)
                elif c.op == ">=":
                    lo_i = max(lo_i, i)
                elif c.op == "<":
                    hi_i = min(hi_i, i)
                elif c.op == "<=":
                    hi_i = min(hi_i, i + 1)
            elif c.field == "timestamp" and c.op in ("==", "<", ">", "<=", ">="):
                t = clk.parse(c.value)
                if t is None:
                    continue
                if c.op in (">", ">=", "=="):
                    b = t + 1 if c.op == ">" else t
                    lo_t = b if lo_t is None else max(lo_t, b)
                if c.op in ("<", "<=", "=="):
                    b = t - 1 if c.op == "<" else t
                    hi_t = b if hi_t is None else min(hi_t, b)
            else:
                slow.append(c)
        lo_i, hi_i = max(lo_i, 0), max(min(hi_i, n), 0)
        main_lo, main_hi = lo_i, hi_i
        minus: list[int] = []
        plus: list[int] = []
        lo_t_v = lo_t if lo_t is not None else -(1 << 62)
        hi_t_v = hi_t if hi_t is not None else 1 << 62
        if lo_t is not None:
            a = self.first_at(lo_t)
            sure = self.first_at(lo_t + LATE_MAX)
            main_lo = max(main_lo, a)
            minus += [i for i in self._lates(max(a, lo_i), min(sure, hi_i)) if self.ts(i) < lo_t]
        if hi_t is not None:
            c_ = self.first_at(hi_t + 1)
            b = self.first_at(hi_t + 1 + LATE_MAX)
            main_hi = min(main_hi, c_)
            plus += [i for i in self._lates(max(c_, lo_i), min(b, hi_i)) if lo_t_v <= self.ts(i) <= hi_t_v]
        minus += drop_ids
        plus = [i for i in plus if i not in drop_ids]
        main_hi = max(main_hi, main_lo)
        pred: Callable[[int], bool] | None = None
        if slow:
            pred = self._predicate(slow, seq)
        r = seq.rank
        return Selection(seq, r(main_lo), r(main_hi),
                         [r(i) for i in minus if seq.contains(i)],
                         [r(i) for i in plus if seq.contains(i)], pred)

    def _lates(self, a: int, b: int) -> range:
        first = a + (self.late_res - a) % LATE_EVERY
        return range(first, max(first, b), LATE_EVERY)

    def _predicate(self, conds: list[Condition], seq: Seq) -> Callable[[int], bool]:
        def pred(i: int) -> bool:
            row = self.row(i, True)
            low = {k.lower(): v for k, v in row.items()}
            return all(c.field in low and matches(c, low[c.field]) for c in conds)
        return pred

    # --- rows ---------------------------------------------------------------------------
    def locate(self, i: int) -> tuple[int, int, int]:
        """(emailing index, destination number, round) of event i. A late event keeps the
        destination rank of its home range but belongs to the emailing sent before its stamp."""
        j, t = self._home_rank(i)
        rnd, r = divmod(t, self.dk)
        if i % LATE_EVERY == self.late_res:
            j = self.emailings.latest_at(self.ts(i))
        if self.kind == "errors":
            r = self.emailings.dests - 1 - r
        return j, self.emailings.dest_of_rank(j, r), rnd

    def row(self, i: int, with_profile: bool) -> dict[str, Any]:
        return self.rows([i], with_profile)[0]

    def rows(self, indices: Iterable[int], with_profile: bool) -> list[dict[str, Any]]:
        """Events as the API renders them; ms account-wide lists leave out profile/subprofile."""
        e = self.emailings
        html, kind, seed, fmt = self.html, self.kind, self.seed, clk.fmt
        ts_of, locate, profile_of = self.ts, self.locate, e.profile_of
        out: list[dict[str, Any]] = []
        append = out.append
        for i in indices:
            row: dict[str, Any]
            j, d, rnd = locate(i)
            # the event's hash, every generated value's source (logfiles._RowMaker.rows draws the same)
            h = (i * 0x9E3779B97F4A7C15 ^ seed) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
            h ^= h >> 29
            ts = fmt(ts_of(i))
            dest = str(e.dest_base + j * e.dests + d)
            sid_ = str(i + 1)
            if html:
                if kind == "clicks":
                    k = h % len(LINKS)
                    row = {"ID": sid_, "link_id": str(3000 + (j * 7 + k) % 5000), "link": LINKS[k][0],
                           "link_title": LINKS[k][1], "timestamp": ts, "ip": _ip(h),
                           "useragent": AGENTS[(h >> 40) % len(AGENTS)], "referer": REFERERS[(h >> 44) % len(REFERERS)]}
                elif kind == "deliveries":
                    row = {"ID": sid_, "timestamp": ts, "attempt": str(rnd),
                           "smtp-response": SMTP[(h >> 8) % len(SMTP)]}
                elif kind == "impressions":
                    row = {"ID": sid_, "timestamp": ts, "ip": _ip(h), "useragent": AGENTS[(h >> 40) % len(AGENTS)],
                           "device": DEVICES[(h >> 4) % len(DEVICES)], "referer": REFERERS[(h >> 44) % len(REFERERS)]}
                elif kind == "errors":
                    code, desc, etype, tdesc = ERRORS[h % len(ERRORS)]
                    row = {"ID": sid_, "timestamp": ts, "errorcode": code, "description": desc, "errortype": etype,
                           "errortypedescription": tdesc}
                elif kind == "unsubscribes":
                    row = {"ID": sid_, "timestamp": ts, "source": "link" if h % 4 else "email", "success": h % 10 != 0}
                else:
                    rec, fb = ABUSE[h % len(ABUSE)]
                    row = {"ID": sid_, "timestamp": ts, "recognized_as": rec, "feedback_type": fb,
                           "arf_version": "0.1" if rec == "arf" else "",
                           "details": "" if h & 16 else "Feedback-Type: abuse\nUser-Agent: SomeISP/1.0"}
                pid, sub = profile_of(j, d)
                row["emailing"] = str(e.id_base + j)
                row["destination"] = dest
                row["profile"] = str(pid)
                row["subprofile"] = None if sub is None else str(sub)
                append(row)
                continue
            row = {"ID": sid_, "mailing": str(e.id_base + j)}
            if kind == "clicks":
                row.update(link=LINKS[h % len(LINKS)][0], timestamp=ts, ip=_ip(h),
                           useragent=AGENTS[(h >> 40) % len(AGENTS)], destination=dest)
            elif kind == "deliveries":
                row.update(timestamp=ts, attempts=rnd + 1, destination=dest)
            elif kind == "impressions":
                row.update(timestamp=ts, ip=_ip(h), useragent=AGENTS[(h >> 40) % len(AGENTS)],
                           device=DEVICES[(h >> 4) % len(DEVICES)], destination=dest)
            elif kind == "errors":
                code, desc, etype, _ = ERRORS[h % len(ERRORS)]
                row.update(timestamp=ts, status=None, errorcode=code, description=desc, errortype=etype,
                           destination=dest)
            elif kind == "unsubscribes":
                row.update(timestamp=ts, destination=dest, source="link" if h % 4 else "email")
                if with_profile:
                    row["success"] = h % 10 != 0
            else:
                report = {} if h % 3 else {"feedback-type": "abuse", "user-agent": "SomeISP/1.0"}
                row.update(timestamp=ts, report=report, destination=dest)
            if with_profile:
                pid, sub = profile_of(j, d)
                row["profile"] = str(pid)
                row["subprofile"] = None if sub is None else str(sub)
            append(row)
        return out

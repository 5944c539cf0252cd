"""One product's (html or draganddrop) emailings, destinations, statistics and event lists.

Joins the emailing schedule with the six event tables; every counter on an emailing or a
statistics answer is computed from the same index arithmetic as the event lists, so they agree.
"""
from __future__ import annotations

from typing import Any

from . import clock as clk
from .clock import Clock
from .config import SimulatorConfig
from .emailings import Emailings
from .events import KINDS, EventTable
from .filters import Condition, matches
from .layout import Layout
from .paging import DEFAULT_LIMIT, Listing
from .quirks import Quirks

EVENT_KINDS = tuple(KINDS)
_K1 = 0x9E3779B97F4A7C15F39CC0605CEDC835
_K2 = 0x2545F4914F6CDD1D
_M128 = (1 << 128) - 1
_K1_INV = pow(_K1, -1, 1 << 128)
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_M36 = 36 ** 16
_K3 = (0x9E3779B97F4A7C15F39CC06 % _M36) // 6 * 6 + 1  # odd, not a multiple of 3: invertible mod 36**16
_K3_INV = pow(_K3, -1, _M36)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


class Product:
    def __init__(self, product: str, cfg: SimulatorConfig, clock: Clock, layout: Layout,
                 quirks: Quirks | None = None) -> None:
        self.name = product
        self.html = product == "html"
        self.clock = clock
        self.quirks = q = quirks or Quirks()
        self.exclusive = q.window_bounds == "exclusive"
        self.fixed_limit = DEFAULT_LIMIT if q.unpaged_limit == "ignored" else None
        self.cond_fields = {k: _html_cond_fields(k, q.html_id_filter) for k in KINDS}
        self.emailings = Emailings(product, cfg, clock, layout)
        offset = 0 if self.html else 10
        self.tables = {k: EventTable(self.emailings, k, n + offset, cfg.events, clock)
                       for n, k in enumerate(EVENT_KINDS)}
        self._selections: dict[tuple[Any, ...], Any] = {}

    # --- emailings ----------------------------------------------------------------------
    def template_id(self, j: int) -> int:
        return 600 + j % 5 if self.html else 700 + j % 6

    def document_id(self, j: int) -> int:
        """html only: drag-and-drop emailings have a template, no document."""
        return 100 + j % 37

    def emailing_row(self, j: int, single: bool) -> dict[str, Any]:
        e = self.emailings
        name, email = e.sender(j)
        counts = self.event_counts(j)
        ts = clk.fmt(e.ts(j))
        if self.html:
            row: dict[str, Any] = {
                "id": str(e.id(j)), "timestamp": ts, "document": str(self.document_id(j)),
                "template": str(self.template_id(j)),
                "subject": e.subject(j), "description": f"Mailing {j + 1}: {e.subject(j)}",
                "from_address": {"name": name, "email": email}, "destinations": str(e.dests), "testgroups": 0,
                "type": e.kind(j), "clicks": str(counts["clicks"]), "impressions": str(counts["impressions"]),
            }
            if not single:
                row.update(errors=str(counts["errors"]), unsubscribes=str(counts["unsubscribes"]),
                           abuses=str(counts["abuses"]))
            row["contenttype"] = ("html", "both", "html", "text")[j % 4]
            row["target"] = e.target_json(j)
            return row
        row = {"id": str(e.id(j)), "timestamp": ts, "template": str(self.template_id(j)), "subject": e.subject(j),
               "from_address": {"name": name, "email": email}, "destinations": e.dests, "type": e.kind(j),
               "target": e.target_json(j)}
        if single:
            row["tags"] = e.tags(j)
        return row

    def event_counts(self, j: int) -> dict[str, int]:
        out = {}
        for k, t in self.tables.items():
            out[k] = t.emailing_count(j, t.count())
        return out

    def window(self, params: dict[str, str], low: str = "begintime", high: str = "endtime") -> list[Condition]:
        """Time bounds as timestamp selectors, inclusive or exclusive per the window_bounds quirk."""
        conds = []
        if params.get(low):
            conds.append(Condition("timestamp", ">" if self.exclusive else ">=", params[low]))
        if params.get(high):
            conds.append(Condition("timestamp", "<" if self.exclusive else "<=", params[high]))
        return conds

    def emailings_list(self, params: dict[str, str]) -> Listing:
        """Oldest first, or newest first under emailings_order=desc (start/limit page that order)."""
        e = self.emailings
        lo, hi = 0, e.count()
        fromdate, todate = clk.parse(params.get("fromdate", "")), clk.parse(params.get("todate", ""))
        ex = int(self.exclusive)
        if fromdate is not None:
            lo = max(lo, e.first_at_or_after(fromdate + ex))
        if todate is not None:
            hi = min(hi, e.latest_at(todate - ex) + 1)
        for key, off in (("fromid", 0), ("toid", 1)):
            try:
                v = int(params[key]) - e.id_base
            except (KeyError, ValueError):
                continue
            lo, hi = (max(lo, v), hi) if off == 0 else (lo, min(hi, v + 1))
        kind = params.get("type", "").lower()
        followups, test = params.get("followups", "both").lower(), params.get("test", "both").lower()
        status = params.get("status", "sent").lower()
        mind, maxd = params.get("mindestinations"), params.get("maxdestinations")

        def keep(j: int) -> bool:
            if kind in ("mass", "individual") and e.kind(j) != kind:
                return False
            if followups in ("yes", "no") and e.is_followup(j) != (followups == "yes"):
                return False
            if test in ("yes", "no") and e.is_test(j) != (test == "yes"):
                return False
            if not self.html and status in ("failed", "cancelled"):
                return False  # every simulated drag-and-drop mailing was sent
            if mind and mind.isdigit() and e.dests < int(mind):
                return False
            return not (maxd and maxd.isdigit() and e.dests > int(maxd))

        js = [j for j in range(lo, max(lo, hi)) if keep(j)]
        if self.quirks.emailings_order == "desc":
            js.reverse()
        return Listing(lambda: len(js),
                       lambda s, n: (self.emailing_row(j, False) for j in js[s:None if n is None else s + n]))

    def snapshot(self, j: int) -> dict[str, Any]:
        name, email = self.emailings.sender(j)
        key = "document" if self.html else "template"
        value = str(self.document_id(j) if self.html else self.template_id(j))
        return {key: value, "name": f"Mailing {j + 1}", "from_address": f'"{name}" <{email}>',
                "subject": self.emailings.subject(j)}

    def statistics(self, j: int, params: dict[str, str]) -> dict[str, Any]:
        conds = self.window(params)
        tot, uniq = {}, {}
        for k, t in self.tables.items():
            n = t.count()
            tot[k] = t.select(t.seq_emailing(j, n), conds, n).total() if conds else t.emailing_count(j, n)
            uniq[k] = min(tot[k], len(t.unique_firsts(j, n)))
        dests = self.emailings.dests
        out: dict[str, Any] = {
            "destinations": dests, "deliveries": {"total": tot["deliveries"]},
            "errors": {"total": tot["errors"], "unique": uniq["errors"]},
            "impressions": {"total": tot["impressions"], "unique": uniq["impressions"]},
            "clicks": {"total": tot["clicks"], "unique": uniq["clicks"]},
            "unsubscribes": {"total": tot["unsubscribes"], "unique": uniq["unsubscribes"]},
            "abuses": {"total": tot["abuses"], "unique": uniq["abuses"]},
        }
        if not self.html:
            retries = max(0, tot["deliveries"] - uniq["deliveries"])
            out["retries"] = {"total": retries, "unique": min(retries, dests)}
        dominant = self._dominant(uniq, dests)
        out["unknown"] = {"total": max(0, dests - sum(v for k, v in dominant.items() if k != "destinations"))}
        out["dominant_results"] = dominant
        return out

    @staticmethod
    def _dominant(uniq: dict[str, int], dests: int) -> dict[str, int]:
        """Each destination counted once under its strongest result. Engagement of an emailing
        goes to destinations in one fixed order, so the sets nest and this is exact."""
        covered, dom = 0, {}
        for k in ("abuses", "unsubscribes", "clicks", "impressions"):
            u = min(uniq[k], dests)
            dom[k] = max(0, u - covered)
            covered = max(covered, u)
        err_from = dests - min(uniq["errors"], dests)
        dom["errors"] = max(0, dests - max(covered, err_from))
        dom["deliveries"] = max(0, min(uniq["deliveries"], err_from) - covered)
        return {"destinations": dests, "errors": dom["errors"], "abuses": dom["abuses"],
                "unsubscribes": dom["unsubscribes"], "clicks": dom["clicks"], "impressions": dom["impressions"],
                "deliveries": dom["deliveries"]}

    # --- events -------------------------------------------------------------------------
    def events(self, kind: str, scope: tuple[Any, ...], conds: list[Condition], params: dict[str, str]) -> Listing:
        """Event list of one table: scope ('all',) / ('emailing', j) / ('destination', j, d)."""
        t = self.tables[kind]
        n = t.count()
        unique = not self.html and kind in ("clicks", "unsubscribes") and _truthy(params.get("unique"))
        if not self.html:
            conds = self.window(params)  # drag-and-drop takes begintime/endtime instead of fields[]
        else:
            allowed = self.cond_fields[kind]  # the html_id_filter quirk
            conds = [c for c in conds if c.field in allowed]
        key = (kind, scope, tuple(conds), unique, n)
        sel = self._selections.get(key)
        if sel is None:
            if scope[0] == "all":
                seq = t.seq_all(n, unique)
            elif scope[0] == "emailing":
                seq = t.seq_emailing(scope[1], n, unique)
            else:
                seq = t.seq_destination(scope[1], scope[2], n, unique)
            sel = t.select(seq, conds, n)
            if len(self._selections) >= 64:  # clients page one window many times: keep a few
                self._selections.pop(next(iter(self._selections)))
            self._selections[key] = sel
        with_profile = self.html or scope[0] != "all"
        out = Listing(sel.total, lambda s, lim: t.rows(sel.indices(s, lim), with_profile))
        if not with_profile:  # draganddrop account-wide lists: their pages show no paging
            out.fixed_limit = self.fixed_limit
        return out

    # --- destinations -------------------------------------------------------------------
    def dest_hash(self, j: int, d: int) -> str:
        return f"{(self.emailings.internal(j, d) * _K1 + _K2) & _M128:032x}"

    def message_id(self, j: int, d: int) -> str:
        x = (self.emailings.internal(j, d) * _K3 + 12345) % _M36
        chars = []
        for _ in range(16):
            x, r = divmod(x, 36)
            chars.append(_B36[r])
        return "".join(chars)

    def find_destination(self, value: str) -> tuple[int, int] | None:
        """A destination by internal ID, numeric ID or hash / message ID."""
        e = self.emailings
        if value.isdigit():
            return e.from_internal(value)
        if self.html and len(value) == 32:
            try:
                x = int(value, 16)
            except ValueError:
                return None
            return e.from_internal(((x - _K2) * _K1_INV) & _M128)
        if not self.html and len(value) == 16 and all(c in _B36 for c in value):
            x = 0
            for ch in reversed(value):
                x = x * 36 + _B36.index(ch)
            return e.from_internal((x - 12345) * _K3_INV % _M36)
        return None

    def unsubscribed(self, j: int, d: int) -> bool:
        t = self.tables["unsubscribes"]
        return len(t.seq_destination(j, d, t.count())) > 0

    def destination_row(self, j: int, d: int, variant: str) -> dict[str, Any]:
        """variant: 'single' (GET destination/$id), 'emailing' (per emailing list), 'all'."""
        e = self.emailings
        pid, sid = e.profile_of(j, d)
        key = "id" if variant == "all" else "ID"
        ts = clk.fmt(e.ts(j))
        row: dict[str, Any]
        if self.html:
            row = {key: self.dest_hash(j, d), "timestampsent": ts, "internal": str(e.internal(j, d)),
                   "profile": str(pid), "subprofile": None if sid is None else str(sid), "mailing": str(e.id(j))}
            if variant == "all":
                row["mailing-group"] = str(e.id(j) * 10 + 1)
            return row
        row = {key: str(e.internal(j, d))}
        if variant != "emailing":
            row["messageID"] = self.message_id(j, d)
        row.update(timestampsent=ts, profile=str(pid), subprofile=None if sid is None else str(sid),
                   mailing=str(e.id(j)))
        if variant == "all":
            row["unsubscribed"] = self.unsubscribed(j, d)
        return row

    def emailing_destinations(self, j: int, conds: list[Condition], params: dict[str, str]) -> Listing:
        dests = self.emailings.dests
        only_unsub = not self.html and _truthy(params.get("unsubscribed") or params.get("Unsubscribed"))
        conds = [c for c in conds if c.field in ("timestampsent", "id", "profile", "subprofile", "internal")]
        if not conds and not only_unsub:
            return Listing(lambda: dests, lambda s, n: [self.destination_row(j, d, "emailing")
                                                        for d in range(s, dests if n is None else min(dests, s + n))])
        ds = [d for d in range(dests) if (not only_unsub or self.unsubscribed(j, d))]
        if conds:
            def ok(d: int) -> bool:
                row = {k.lower(): v for k, v in self.destination_row(j, d, "emailing").items()}
                return all(c.field in row and matches(c, row[c.field]) for c in conds)
            ds = [d for d in ds if ok(d)]
        return Listing(lambda: len(ds), lambda s, n: [self.destination_row(j, d, "emailing")
                                                      for d in ds[s:None if n is None else s + n]])

    def all_destinations(self, params: dict[str, str]) -> Listing:
        """Destinations of the emailings sent between `from` and `to` (dates, both days included,
        or both excluded under window_bounds=exclusive). Its page shows no paging: unpaged_limit."""
        out = self._all_destinations(params)
        out.fixed_limit = self.fixed_limit
        return out

    def _all_destinations(self, params: dict[str, str]) -> Listing:
        e = self.emailings
        lo, hi = 0, e.count()
        frm, to = clk.parse(params.get("from", "")), clk.parse(params.get("to", ""))
        if frm is not None:
            day = frm - frm % clk.DAY
            lo = max(lo, e.first_at_or_after(day + clk.DAY if self.exclusive else day))
        if to is not None:
            day = to - to % clk.DAY
            hi = min(hi, e.latest_at(day - 1 if self.exclusive else day + clk.DAY - 1) + 1)
        hi = max(lo, hi)
        dests = e.dests
        if not self.html and _truthy(params.get("unsubscribed") or params.get("Unsubscribed")):
            pairs = [(j, d) for j in range(lo, hi) for d in self._unsubscribed_dests(j)]
            return Listing(lambda: len(pairs), lambda s, n: [self.destination_row(j, d, "all")
                                                             for j, d in pairs[s:None if n is None else s + n]])
        total = (hi - lo) * dests

        def page(s: int, n: int | None) -> list[dict[str, Any]]:
            end = total if n is None else min(total, s + n)
            return [self.destination_row(lo + p // dests, p % dests, "all") for p in range(s, end)]

        return Listing(lambda: total, page)

    def _unsubscribed_dests(self, j: int) -> list[int]:
        t = self.tables["unsubscribes"]
        return sorted(t.locate(i)[1] for i in t.unique_firsts(j, t.count()))

    def destination_statistics(self, j: int, d: int) -> dict[str, Any]:
        out: dict[str, Any] = {"ID": str(self.emailings.internal(j, d))}
        for k in ("abuses", "clicks", "deliveries", "errors", "impressions"):
            t = self.tables[k]
            total = len(t.seq_destination(j, d, t.count()))
            unique = not self.html and k == "clicks"
            out[k] = {"total": total, "unique": min(total, 1)} if unique else {"total": total}
        out["retries"] = {"total": max(0, out["deliveries"]["total"] - 1)}
        t = self.tables["unsubscribes"]
        total = len(t.seq_destination(j, d, t.count()))
        out["unsubscribes"] = {"total": total, "unique": min(total, 1)} if not self.html else {"total": total}
        return out


def _html_cond_fields(kind: str, mode: str) -> frozenset[str]:
    """Selector fields an html event list honours under the html_id_filter quirk: every field
    (all), timestamp plus id on deliveries and impressions only (documented), timestamp (none)."""
    if mode == "all":
        return frozenset({"id", "timestamp"} | _HTML_KEYS[kind])
    if mode == "documented" and kind in ("deliveries", "impressions"):
        return frozenset({"id", "timestamp"})
    return frozenset({"timestamp"})


_HTML_KEYS = {
    "clicks": {"link_id", "link", "link_title", "ip", "useragent", "referer", "emailing", "destination", "profile",
               "subprofile"},
    "deliveries": {"attempt", "smtp-response", "emailing", "destination", "profile", "subprofile"},
    "impressions": {"ip", "useragent", "device", "referer", "emailing", "destination", "profile", "subprofile"},
    "errors": {"errorcode", "description", "errortype", "errortypedescription", "emailing", "destination", "profile",
               "subprofile"},
    "unsubscribes": {"source", "success", "emailing", "destination", "profile", "subprofile"},
    "abuses": {"recognized_as", "feedback_type", "arf_version", "details", "emailing", "destination", "profile",
               "subprofile"},
}

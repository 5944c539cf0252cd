"""Profiles and subprofiles: generated from their index, with a small map of what changed.

Base profiles never exist as objects until something changes them; `overrides` holds every
changed, created or deleted (sub)profile. Queries with selectors or another order materialise an
ID list once and cache it until the next change; equality lookups (the upsert path) use lazy
per-field indexes kept in step with every change.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from . import clock as clk
from .clock import Clock, mix
from .config import SimulatorConfig
from .filters import Condition, matches
from .layout import CREATED_SUBPROFILE_ID_BASE, Layout
from .paging import Listing
from .seq import Seq
from .structure import Collection, Database, FieldDef, Structure

FIRST = ["Anna", "Jan", "Émilie", "Jürgen", "Sofía", "Lars", "Zoë", "Mohammed", "Chen", "Yuki", "Piet", "Olga", "Noah",
         "Fatima", "Bjørn", "Ana"]
LAST = ["de Vries", "Jansen", "Müller", "García", "Dubois", "Smith", "O'Brien", "Nowak", "Wang", "Tanaka", "Bakker",
        "Ødegaard", "Rossi", "Kowalski"]
ASCII = {"É": "E", "é": "e", "ü": "u", "í": "i", "ë": "e", "ø": "o", "Ø": "O", "'": "", " ": ""}
CITIES = ["Amsterdam", "Rotterdam", "Köln", "Paris", "München", "Zürich", "東京", "Utrecht", "Antwerpen", "Sevilla"]
PRODUCTS = ["Sneakers", "T-shirt", "Café au lait mug ☕", "Rucksack", "Umbrella", "Notebook 📓"]
YEAR = 365 * clk.DAY


def _ascii(text: str) -> str:
    return "".join(ASCII.get(c, c) for c in text).lower()


def norm(value: str) -> str:
    """Index key: numbers compare numerically, text case-insensitively (as selectors do)."""
    try:
        return repr(float(value))
    except ValueError:
        return value.lower()


@dataclass
class Record:
    """A (sub)profile's current state; `owner` is the database (profiles) or collection (subprofiles)."""

    id: int
    owner: int
    fields: dict[str, str]
    secret: str
    created: int
    modified: int
    interests: list[str] = field(default_factory=list)
    profile: int = 0  # subprofiles: the profile they belong to
    removed: int | None = None


class Store:
    """Shared machinery of profiles (per database) and subprofiles (per collection)."""

    def __init__(self, kind: str, cfg: SimulatorConfig, clock: Clock, layout: Layout, structure: Structure) -> None:
        self.kind = kind
        self.seed = mix(cfg.seed, 1 if kind == "profile" else 2)
        self.clock = clock
        self.layout = layout
        self.structure = structure
        self.overrides: dict[int, Record] = {}
        self.created: dict[int, list[int]] = {}  # owner -> created IDs (ascending)
        self.version = 0
        self._cache: dict[tuple[Any, ...], list[int]] = {}
        self._indexes: dict[tuple[int, str], dict[str, set[int]]] = {}

    # --- to be provided per kind --------------------------------------------------------
    def owner_def(self, owner: int) -> Database | Collection:
        raise NotImplementedError

    def base_range(self, owner: int) -> tuple[int, int]:
        raise NotImplementedError

    def base_locate(self, rid: int) -> tuple[int, int] | None:
        """(owner, index) of a base record."""
        raise NotImplementedError

    def base_value(self, owner: int, idx: int, f: FieldDef, h: int) -> str:
        raise NotImplementedError

    def base_profile(self, owner: int, idx: int) -> int:
        return 0

    def base_interests(self, owner: int, idx: int, h: int) -> list[str]:
        return []

    # --- reading ------------------------------------------------------------------------
    def _h(self, owner: int, idx: int) -> int:
        return mix(self.seed, owner, idx)

    def base_modified(self, owner: int, idx: int) -> int:
        return self.clock.start + self._h(owner, idx) % self.clock.history

    def base_record(self, owner: int, idx: int) -> Record:
        h = self._h(owner, idx)
        lo = self.base_range(owner)[0]
        modified = self.clock.start + h % self.clock.history
        created = modified - (h >> 24) % (2 * YEAR)
        fields = {f.name: self.base_value(owner, idx, f, h) for f in self.owner_def(owner).fields}
        return Record(lo + idx, owner, fields, f"{mix(h, 5):016x}{mix(h, 6):016x}", created, modified,
                      self.base_interests(owner, idx, h), self.base_profile(owner, idx))

    def get(self, rid: int) -> Record | None:
        rec = self.overrides.get(rid)
        if rec is not None:
            return rec
        loc = self.base_locate(rid)
        return self.base_record(*loc) if loc else None

    def record(self, rid: int) -> Record:
        """The record of an ID already known to exist (a route checked it, or a listing produced it)."""
        rec = self.get(rid)
        if rec is None:
            raise KeyError(rid)
        return rec

    def locate(self, rid: int) -> tuple[int, int]:
        """(owner, index) of a base record already known to exist."""
        loc = self.base_locate(rid)
        if loc is None:
            raise KeyError(rid)
        return loc

    def value(self, rid: int, name: str) -> str:
        """One field value (cheap for base records: no full record is built)."""
        rec = self.overrides.get(rid)
        if rec is not None:
            return "" if rec.removed else rec.fields.get(name, "")
        owner, idx = self.locate(rid)
        f = next(f for f in self.owner_def(owner).fields if f.name == name)
        return self.base_value(owner, idx, f, self._h(owner, idx))

    def modified(self, rid: int) -> int:
        rec = self.overrides.get(rid)
        if rec is not None:
            return rec.modified
        owner, idx = self.locate(rid)
        return self.base_modified(owner, idx)

    def live_ids(self, owner: int) -> Iterable[int]:
        lo, hi = self.base_range(owner)
        for rid in range(lo, hi):
            rec = self.overrides.get(rid)
            if rec is None or rec.removed is None:
                yield rid
        for rid in self.created.get(owner, ()):
            if self.overrides[rid].removed is None:
                yield rid

    def removed_ids(self, owner: int) -> list[int]:
        lo, hi = self.base_range(owner)
        return sorted(r.id for r in self.overrides.values()
                      if r.removed is not None and r.owner == owner and lo <= r.id < hi)

    # --- writing ------------------------------------------------------------------------
    def _own(self, rid: int) -> Record:
        rec = self.overrides.get(rid)
        if rec is None:
            rec = self.get(rid)
            assert rec is not None
            self.overrides[rid] = rec
        return rec

    def changed(self) -> None:
        self.version += 1
        self._cache.clear()

    def set_fields(self, rid: int, values: dict[str, str], when: int | None = None) -> bool:
        """Store new values; bump `modified` only when something really changed."""
        rec = self._own(rid)
        if rec.removed is not None:
            if values:
                rec.modified = self.clock.now if when is None else when
                self.changed()
            return bool(values)
        diff = {k: v for k, v in values.items() if rec.fields.get(k) != v}
        if not diff:
            return False
        for (owner, name), index in self._indexes.items():
            if owner == rec.owner and name in diff:
                index.get(norm(rec.fields.get(name, "")), set()).discard(rid)
                index.setdefault(norm(diff[name]), set()).add(rid)
        rec.fields.update(diff)
        rec.modified = self.clock.now if when is None else when
        self.changed()
        return True

    def add(self, rid: int, owner: int, fields: dict[str, str], when: int, profile: int = 0,
            interests: list[str] | None = None) -> Record:
        full = {f.name: f.default if f.type not in ("select",) else (f.default or "")
                for f in self.owner_def(owner).fields}
        full.update(fields)
        h = mix(self.seed, rid, 77)
        rec = Record(rid, owner, full, f"{mix(h, 5):016x}{mix(h, 6):016x}", when, when, interests or [], profile)
        self.overrides[rid] = rec
        self.created.setdefault(owner, []).append(rid)
        for (o, name), index in self._indexes.items():
            if o == owner:
                index.setdefault(norm(full.get(name, "")), set()).add(rid)
        self.changed()
        return rec

    def remove(self, rid: int, when: int) -> None:
        rec = self._own(rid)
        for (o, name), index in self._indexes.items():
            if o == rec.owner:
                index.get(norm(rec.fields.get(name, "")), set()).discard(rid)
        rec.removed = when
        self.changed()

    # --- querying -----------------------------------------------------------------------
    def usable(self, owner: int, conds: list[Condition]) -> list[Condition]:
        """Selectors on known fields (or id/code/modified); the others are ignored, as Copernica does.
        A real field named `modified` (modified_field quirk) takes the selector from the system property."""
        names = {f.name.lower() for f in self.owner_def(owner).fields} | {"id", "code", "modified"}
        return [c for c in conds if c.field in names]

    def _field_name(self, owner: int, lower: str) -> str:
        return next(f.name for f in self.owner_def(owner).fields if f.name.lower() == lower)

    def _predicate(self, owner: int, conds: list[Condition]) -> Callable[[int], bool]:
        checks: list[Callable[[int], bool]] = []
        real_modified = any(f.name.lower() == "modified" for f in self.owner_def(owner).fields)

        def check(c: Condition, value_of: Callable[[int], object]) -> Callable[[int], bool]:
            return lambda rid: matches(c, value_of(rid))

        for c in conds:
            if c.field == "id":
                checks.append(check(c, lambda rid: rid))
            elif c.field == "modified" and not real_modified:
                t = clk.parse(c.value)
                if t is None:
                    continue
                checks.append(check(Condition("modified", c.op, str(t)), self.modified))
            elif c.field == "code":
                checks.append(check(c, lambda rid: self.record(rid).secret))
            else:
                checks.append(check(c, partial(self.value, name=self._field_name(owner, c.field))))
        return lambda rid: all(chk(rid) for chk in checks)

    def index(self, owner: int, name: str) -> dict[str, set[int]]:
        key = (owner, name)
        idx = self._indexes.get(key)
        if idx is None:
            idx = {}
            for rid in self.live_ids(owner):
                idx.setdefault(norm(self.value(rid, name)), set()).add(rid)
            self._indexes[key] = idx
        return idx

    def matching(self, owner: int, conds: list[Condition], extra: Callable[[int], bool] | None = None) -> list[int]:
        """Live IDs matching all selectors, ascending; an equality selector uses an index."""
        conds = self.usable(owner, conds)
        eq = next((c for c in conds if c.op == "==" and c.field not in ("id", "code", "modified")), None)
        if eq is not None:
            name = self._field_name(owner, eq.field)
            candidates: Iterable[int] = sorted(self.index(owner, name).get(norm(eq.value), ()))
        else:
            candidates = self.live_ids(owner)
        pred = self._predicate(owner, conds)
        return [rid for rid in candidates if pred(rid) and (extra is None or extra(rid))]

    def listing(self, owner: int, conds: list[Condition], params: dict[str, str], render: Callable[[int, bool], Any],
                extra: tuple[str, Callable[[int], bool]] | None = None) -> Listing:
        """The list endpoint: selectors, orderby (id|modified|random|<field>), order, dataonly."""
        conds = self.usable(owner, conds)
        orderby = params.get("orderby", "id").strip().lower() or "id"
        desc = params.get("order", "asc").strip().lower() == "desc"
        dataonly = params.get("dataonly", "").strip().lower() in ("true", "1", "yes")
        if extra is None and orderby == "id" and all(c.field == "id" and c.op != "=~" and c.op != "!~" for c in conds):
            seq = self._id_seq(owner, conds)
            n = len(seq)
            at = (lambda p: seq.at(n - 1 - p)) if desc else seq.at
            return Listing(lambda: n, lambda s, lim: [render(at(p), dataonly)
                                                      for p in range(s, n if lim is None else min(n, s + lim))])
        key = (owner, tuple(conds), orderby, desc, extra[0] if extra else None, self.version)
        ids = self._cache.get(key)
        if ids is None:
            ids = self.matching(owner, conds, extra[1] if extra else None)
            ids = self._order(owner, ids, orderby, desc)
            if len(self._cache) > 32:
                self._cache.clear()
            self._cache[key] = ids
        found = ids
        return Listing(lambda: len(found),
                       lambda s, lim: [render(i, dataonly) for i in found[s:None if lim is None else s + lim]])

    def _id_seq(self, owner: int, conds: list[Condition]) -> Seq:
        lo, hi = self.base_range(owner)
        lo_id, hi_id = 0, 1 << 62
        drop = []
        for c in conds:
            try:
                v = int(float(c.value))
            except ValueError:
                continue
            if c.op == "==":
                lo_id, hi_id = max(lo_id, v), min(hi_id, v + 1)
            elif c.op == "!=":
                drop.append(v)
            elif c.op in (">", ">="):
                lo_id = max(lo_id, v + (c.op == ">"))
            elif c.op in ("<", "<="):
                hi_id = min(hi_id, v + (c.op == "<="))
        a, b = max(lo, lo_id), max(max(lo, lo_id), min(hi, hi_id))
        minus = [r for r in self.removed_ids(owner) if a <= r < b] + [d for d in drop if a <= d < b]
        plus = [r for r in self.created.get(owner, ()) if lo_id <= r < hi_id and self.overrides[r].removed is None
                and r not in drop]
        return Seq.split((a, b, 1), sorted(set(minus)), plus)

    def _order(self, owner: int, ids: list[int], orderby: str, desc: bool) -> list[int]:
        if orderby == "random":
            out = list(ids)
            random.Random(self.version * 7919 + len(ids)).shuffle(out)
            return out
        if orderby == "modified":
            return sorted(ids, key=lambda r: (self.modified(r), r), reverse=desc)
        fdef = next((f for f in self.owner_def(owner).fields if f.name.lower() == orderby or str(f.id) == orderby),
                    None)
        if fdef is None:
            return sorted(ids, reverse=desc)
        numeric = fdef.type in ("integer", "float", "foreign_key")

        def key(r: int) -> tuple[float | str, int]:
            v = self.value(r, fdef.name)
            if numeric:
                try:
                    return (float(v or 0), r)
                except ValueError:
                    return (0.0, r)
            return (v.lower(), r)

        return sorted(ids, key=key, reverse=desc)


class Profiles(Store):
    def __init__(self, cfg: SimulatorConfig, clock: Clock, layout: Layout, structure: Structure) -> None:
        super().__init__("profile", cfg, clock, layout, structure)
        self.next_id = layout.first_created_profile_id

    def owner_def(self, owner: int) -> Database:
        return self.structure.databases[owner]

    def base_range(self, owner: int) -> tuple[int, int]:
        lo = self.layout.profile_base[owner]
        return lo, lo + self.layout.base_profiles[owner]

    def base_locate(self, rid: int) -> tuple[int, int] | None:
        return self.layout.base_profile(rid)

    def database_of(self, rid: int) -> int | None:
        rec = self.overrides.get(rid)
        if rec is not None:
            return rec.owner
        loc = self.layout.base_profile(rid)
        return loc[0] if loc else None

    def base_email(self, rid: int) -> str:
        """The address a base profile was created with (what a log file records at send time, whatever
        happened to the profile since); "" for a profile that is not a base one."""
        loc = self.layout.base_profile(rid)
        if loc is None:
            return ""
        owner, idx = loc
        f = next(f for f in self.owner_def(owner).fields if f.name == "email")
        return self.base_value(owner, idx, f, self._h(owner, idx))

    def base_interests(self, owner: int, idx: int, h: int) -> list[str]:
        names = [n for _, n, _ in self.structure.databases[owner].interests]
        return [n for k, n in enumerate(names) if (h >> (40 + k)) & 3 == 0]

    def base_value(self, owner: int, idx: int, f: FieldDef, h: int) -> str:
        first, last = FIRST[h % len(FIRST)], LAST[(h >> 8) % len(LAST)]
        name = f.name
        if name == "email":
            domain = ("example.com", "example.nl", "example.de", "voorbeeld.nl")[(h >> 16) % 4]
            return f"{_ascii(first)}.{_ascii(last)}{idx}@{domain}"
        if name == "customerid":
            return str(10_000 * owner + idx + 1)
        if owner == 2:
            return {"company": f"{last} & Partners B.V.", "contact": f"{first} {last}",
                    "tier": ("bronze", "silver", "gold")[(h >> 20) % 3]}.get(name, "")
        if name == "firstname":
            return first
        if name == "lastname":
            return last
        if name == "age":
            born = (h >> 18) % 15000 + 1000
            return "" if h % 17 == 0 else str((self.clock.start // clk.DAY - born) // 365)
        if name == "score":
            return f"{(h >> 14) % 10000 / 100:.2f}"
        if name == "birthdate":
            return clk.fmt_date(((h >> 18) % 15000 + 1000) * clk.DAY)
        if name == "last_order":
            return "" if h & 4 else clk.fmt_date(self.clock.start - (h >> 22) % YEAR)
        if name == "signup":
            return clk.fmt(self.clock.start - (h >> 24) % (3 * YEAR))
        if name == "last_login":
            return "" if h & 8 else clk.fmt(self.clock.start + (h >> 26) % self.clock.history)
        if name == "country":
            return f.options[(h >> 28) % len(f.options)]
        if name == "notes":
            if h & 16:
                return ""
            return f"Prefers {CITIES[(h >> 30) % len(CITIES)]} store ★\nCalled on {clk.fmt_date(self.clock.start)}"
        if name == "mobile":
            return "" if h & 32 else f"+316{(h >> 32) % 100000000:08d}"
        if name == "account":
            return str((h >> 36) % 500)
        if name == "newsletter":
            return "no" if h % 5 == 0 else "yes"
        if name == "city":
            return CITIES[(h >> 30) % len(CITIES)]
        return f.default

    def render(self, rid: int, dataonly: bool = False) -> dict[str, Any]:
        rec = self.get(rid)
        assert rec is not None
        fields = {k: "" for k in rec.fields} if rec.removed is not None else dict(rec.fields)
        if dataonly:
            return {"ID": str(rid), "fields": fields, "interests": list(rec.interests),
                    "modified": clk.fmt(rec.modified)}
        return {"ID": str(rid), "fields": fields, "interests": list(rec.interests), "database": str(rec.owner),
                "secret": rec.secret, "created": clk.fmt(rec.created), "modified": clk.fmt(rec.modified),
                "removed": False if rec.removed is None else clk.fmt(rec.removed)}

    def set_interests(self, rid: int, names: list[str], replace: bool) -> None:
        rec = self._own(rid)
        new = list(names) if replace else rec.interests + [n for n in names if n not in rec.interests]
        order = [n for _, n, _ in self.structure.databases[rec.owner].interests]
        new = sorted(set(new), key=order.index)
        if new != rec.interests:
            rec.interests = new
            rec.modified = self.clock.now
            self.changed()

    def create(self, db: int, fields: dict[str, str], interests: list[str] | None = None,
               when: int | None = None) -> Record:
        rid = self.next_id
        self.next_id += 1
        return self.add(rid, db, fields, self.clock.now if when is None else when, interests=interests)


class Subprofiles(Store):
    def __init__(self, cfg: SimulatorConfig, clock: Clock, layout: Layout, structure: Structure) -> None:
        super().__init__("subprofile", cfg, clock, layout, structure)
        self.next_id = CREATED_SUBPROFILE_ID_BASE

    def owner_def(self, owner: int) -> Collection:
        return self.structure.collections[owner]

    def base_range(self, owner: int) -> tuple[int, int]:
        c = self.layout.collections[owner]
        return c.id_base, c.id_base + c.count(self.layout.base_profiles[c.database])

    def base_locate(self, rid: int) -> tuple[int, int] | None:
        loc = self.layout.base_subprofile(rid)
        return (loc[0].id, loc[1]) if loc else None

    def base_profile(self, owner: int, idx: int) -> int:
        c = self.layout.collections[owner]
        return self.layout.profile_id(c.database, c.profile_index(idx))

    def base_value(self, owner: int, idx: int, f: FieldDef, h: int) -> str:
        name = f.name
        if name == "order_number":
            return str(100_000 + idx)
        if name == "amount":
            return f"{(h >> 10) % 50000 / 100:.2f}"
        if name in ("order_date", "opened"):
            return clk.fmt(self.clock.start - (h >> 20) % YEAR)
        if name in ("status", "channel"):
            return f.options[(h >> 12) % len(f.options)]
        if name == "product":
            return PRODUCTS[(h >> 16) % len(PRODUCTS)]
        if name == "topic":
            return ("Nieuws", "Aanbiedingen", "Événements")[(h >> 18) % 3]
        if name == "subject":
            return f"Ticket #{idx + 1}: {PRODUCTS[(h >> 16) % len(PRODUCTS)]}"
        if name == "priority":
            return str(1 + (h >> 22) % 5)
        return f.default

    def render(self, rid: int, dataonly: bool = False) -> dict[str, Any]:
        rec = self.get(rid)
        assert rec is not None
        fields = {k: "" for k in rec.fields} if rec.removed is not None else dict(rec.fields)
        if dataonly:
            return {"ID": str(rid), "fields": fields, "profile": str(rec.profile), "collection": str(rec.owner),
                    "modified": clk.fmt(rec.modified)}
        return {"ID": str(rid), "secret": rec.secret, "fields": fields, "profile": str(rec.profile),
                "collection": str(rec.owner), "created": clk.fmt(rec.created), "modified": clk.fmt(rec.modified),
                "removed": False if rec.removed is None else clk.fmt(rec.removed)}

    def of_profile(self, profile_id: int, collection: int) -> list[int]:
        """Live subprofile IDs of one profile in one collection."""
        out = []
        base = self.layout.base_profile(profile_id)
        c = self.layout.collections[collection]
        if base is not None and base[0] == c.database:
            lo = c.id_base
            out += [lo + s for s in c.subprofile_indices(base[1])]
        out += [r for r in self.created.get(collection, ()) if self.overrides[r].profile == profile_id]
        return [r for r in out if (self.overrides.get(r) is None or self.overrides[r].removed is None)]

    def create(self, collection: int, profile: int, fields: dict[str, str]) -> Record:
        rid = self.next_id
        self.next_id += 1
        return self.add(rid, collection, fields, self.clock.now, profile=profile)

"""The account beyond engagement: profile and subprofile churn (what the clock does to them:
advance(): ~1% of profiles modified per day, a few created and deleted), cascading profile deletes,
and the files data requests serve. Dataset builds the stores this works on and hands them in."""
from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from . import clock as clk
from .engagement import Product
from .profiles import Profiles, Subprofiles
from .structure import Structure


class Account:
    def __init__(self, seed: int, clock: clk.Clock, structure: Structure, profiles: Profiles,
                 subprofiles: Subprofiles, products: Mapping[str, Product]) -> None:
        self.clock = clock
        self.structure = structure
        self.profiles = profiles
        self.subprofiles = subprofiles
        self.products = products
        self.rng = random.Random(seed * 1_000_003 + 11)

    # --- time ---------------------------------------------------------------------------
    def advance(self, old: int, new: int) -> None:
        """Profile churn for the interval (old, new]: modified ones get `modified` = new now."""
        days = (new - old) / clk.DAY
        if days <= 0:
            return
        rng = self.rng
        for db in self.structure.databases:
            ids = list(self.profiles.live_ids(db))
            if not ids:
                continue
            n_mod = self._amount(len(ids) * 0.01 * days)
            for rid in rng.sample(ids, min(n_mod, len(ids))):
                self.profiles.set_fields(rid, self._churn_values(db, rid), when=new)
            for _ in range(self._amount(max(1.0, len(ids) * 0.001) * days)):
                when = rng.randint(old + 1, new)
                k = self.profiles.next_id
                email = f"new.customer{k}@example.com"
                fields = {"email": email, "customerid": str(900_000 + k)}
                if db == 1:
                    fields.update(firstname="Nieuwe", lastname=f"Klant {k}", country="NL", newsletter="yes")
                self.profiles.create(db, fields, when=when)
            for rid in rng.sample(ids, min(self._amount(max(0.5, len(ids) * 0.0005) * days), len(ids))):
                self.delete_profile(rid, rng.randint(old + 1, new))
        for cid in self.structure.collections:
            ids = list(self.subprofiles.live_ids(cid))
            for rid in rng.sample(ids, min(self._amount(len(ids) * 0.005 * days), len(ids))):
                f = self.structure.collections[cid].fields[-1]
                self.subprofiles.set_fields(rid, {f.name: f"{f.default or 'updated'} {rng.randint(1, 999)}"
                                                  if f.type == "text" else str(rng.randint(1, 5))}, when=new)

    def _amount(self, expected: float) -> int:
        """An integer with the given expectation (deterministic through the seeded rng)."""
        whole = int(expected)
        return whole + (1 if self.rng.random() < expected - whole else 0)

    def _churn_values(self, db: int, rid: int) -> dict[str, str]:
        rng = self.rng
        if db == 1:
            return {"score": f"{rng.randint(0, 9999) / 100:.2f}", "last_login": clk.fmt(self.clock.now),
                    "city": rng.choice(["Amsterdam", "Delft", "Gent", "Lyon", "Kraków", "Ōsaka"])}
        return {"tier": rng.choice(["bronze", "silver", "gold"]), "contact": f"Contact {rng.randint(1, 99999)}"}

    def delete_profile(self, rid: int, when: int) -> None:
        """Remove a profile and its subprofiles; `modified` stays as it was."""
        db = self.profiles.database_of(rid)
        self.profiles.remove(rid, when)
        for cid, c in self.structure.collections.items():
            if c.database == db:
                for sid in self.subprofiles.of_profile(rid, cid):
                    self.subprofiles.remove(sid, when)

    # --- data request files -------------------------------------------------------------
    def data_file(self, kind: str, target: str) -> list[list[Any]]:
        rows: list[list[Any]] = []
        if kind == "email":
            rows.append(["email", {"address": target}])
            for db in self.structure.databases:
                for rid in sorted(self.profiles.index(db, "email").get(target.lower(), ())):
                    rows += self._profile_rows(rid, None)
            return rows
        if kind == "subprofile":
            sub = self.subprofiles.get(int(target))
            assert sub is not None
            rows.append(["subprofile", self.subprofiles.render(sub.id)])
            return rows + self._profile_rows(sub.profile, sub.id)[1:]
        return self._profile_rows(int(target), None)

    def _profile_rows(self, rid: int, subprofile: int | None) -> list[list[Any]]:
        rows: list[list[Any]] = [["profile", self.profiles.render(rid)]]
        for name, product in self.products.items():
            e = product.emailings
            for j in range(e.count()):
                d = e.destination_of_profile(j, rid)
                if d is None:
                    continue
                _, sid = e.profile_of(j, d)
                if subprofile is not None and sid != subprofile:
                    continue
                rows.append([f"{name}-destination", product.destination_row(j, d, "single")])
                for kind in ("deliveries", "impressions", "clicks"):
                    t = product.tables[kind]
                    seq = t.seq_destination(j, d, t.count())
                    first = (seq.at(p) for p in range(min(len(seq), 20)))
                    rows += [[f"{name}-{kind}", row] for row in t.rows(first, True)]
        return rows


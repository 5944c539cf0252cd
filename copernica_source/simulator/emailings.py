"""When each emailing is sent, whom it targets, and which profile each of its destinations is.

Emailing j of a product is sent at start + j*history/emailings (the same rate continues after
advance()), so emailing IDs increase with time and every question about them is arithmetic.
Destination d of emailing j is a fixed permutation of the target's profiles.
"""
from __future__ import annotations

from typing import Any

from .clock import Clock, mix
from .config import SimulatorConfig
from .layout import CollectionLayout, Layout

SUBJECTS = [
    "Your weekly update", "Nieuwsbrief week {n}", "Last chance: 20% off", "Événement spécial à Paris",
    "Sommerangebote für Sie 🌞", "新产品发布 {n}", "Welcome to the club!", "Order confirmation #{n}",
    "¡Oferta exclusiva! 🎉", "Reminder: your cart is waiting", "Zomer-sale 😎 tot 50%", "Invitation: webinar {n}",
    "Ihre Rechnung für März", "お知らせ：新機能 {n}", "Thanks for your feedback", "Back in stock 🛒",  # noqa: RUF001
]
SENDERS = [("Copernica Shop", "shop@example.com"), ("Équipe Marketing", "marketing@example.fr"),
           ("Nieuwsbrief", "nieuws@example.nl"), ("Müller & Söhne", "info@example.de")]
TAGS = ["newsletter", "promo", "Transactional", "welcome", "Zomer", "B2B"]


def _coprime_step(n: int) -> int:
    """A multiplier coprime with n, so i -> i*step % n is a permutation that scatters neighbours."""
    for p in (7919, 104729, 1299709, 15485863):
        if n % p:
            return p % n or 1
    return 1


class Emailings:
    """The emailings of one product ('html' or 'draganddrop')."""

    def __init__(self, product: str, cfg: SimulatorConfig, clock: Clock, layout: Layout) -> None:
        self.product = product
        self.html = product == "html"
        self.clock = clock
        self.layout = layout
        self.seed = cfg.seed * 2 + (0 if self.html else 1)
        self.e0 = cfg.emailings
        self.dests = cfg.destinations_per_emailing
        self.id_base = 1000 if self.html else 5000
        self.dest_base = 1_000_000 if self.html else 50_000_000
        self.multi_db = cfg.databases > 1
        d = self.dests
        self.perm_step = _coprime_step(d) if d > 1 else 1
        self.perm_inv = pow(self.perm_step, -1, d) if d > 1 else 0
        self._perm_cache: dict[int, int] = {}
        # emailing -> (profiles in its database, step, offset, first profile ID, collection or None)
        self._profile_plans: dict[int, tuple[int, int, int, int, CollectionLayout | None]] = {}

    # --- time -----------------------------------------------------------------------------
    def count(self) -> int:
        elapsed = self.clock.now - self.clock.start
        return -((-elapsed * self.e0) // self.clock.history)

    def ts(self, j: int) -> int:
        return self.clock.start + j * self.clock.history // self.e0

    def latest_at(self, t: int) -> int:
        """Index of the last emailing sent at or before t (-1 if none)."""
        return -((-(t - self.clock.start + 1) * self.e0) // self.clock.history) - 1

    def first_at_or_after(self, t: int) -> int:
        return self.latest_at(t - 1) + 1

    def id(self, j: int) -> int:
        return self.id_base + j

    def index(self, emailing_id: str | int) -> int | None:
        try:
            j = int(emailing_id) - self.id_base
        except (TypeError, ValueError):
            return None
        return j if 0 <= j < self.count() else None

    # --- target ---------------------------------------------------------------------------
    def target(self, j: int) -> tuple[str, int, int | None]:
        """(target type, database, collection/view id or None)."""
        if self.multi_db and j % 4 == 1:
            return "database", 2, None
        if j % 5 == 3:
            return "collection", 1, 101
        if j % 7 == 6:
            return "view", 1, 301
        return "database", 1, None

    def target_json(self, j: int) -> dict[str, Any]:
        kind, db, sub = self.target(j)
        sources = [{"id": str(db), "type": "database"}]
        if sub is not None:
            sources.insert(0, {"id": str(sub), "type": kind})
        return {"type": kind, "sources": sources}

    # --- destinations ---------------------------------------------------------------------
    def _perm(self, j: int) -> int:
        c = self._perm_cache.get(j)
        if c is None:
            c = self._perm_cache[j] = mix(self.seed, j) % self.dests
        return c

    def dest_of_rank(self, j: int, r: int) -> int:
        """Destination number d (0..dests-1) of the r-th destination in engagement order."""
        return (r * self.perm_step + self._perm(j)) % self.dests if self.dests > 1 else 0

    def rank_of_dest(self, j: int, d: int) -> int:
        if self.dests <= 1:
            return 0
        return (d - self._perm(j)) * self.perm_inv % self.dests

    def internal(self, j: int, d: int) -> int:
        return self.dest_base + j * self.dests + d

    def from_internal(self, value: str | int) -> tuple[int, int] | None:
        try:
            x = int(value) - self.dest_base
        except (TypeError, ValueError):
            return None
        if x < 0:
            return None
        j, d = divmod(x, self.dests)
        return (j, d) if j < self.count() else None

    def profile_of(self, j: int, d: int) -> tuple[int, int | None]:
        """(profile ID, subprofile ID or None) of destination d of emailing j."""
        plan = self._profile_plans.get(j)
        if plan is None:
            kind, db, sub = self.target(j)
            n = self.layout.base_profiles[db]
            step = _coprime_step(n) if n > 1 else 0
            coll = self.layout.collections.get(sub) if kind == "collection" and sub is not None else None
            plan = self._profile_plans[j] = (n, step, mix(self.seed, j, 7) % n, self.layout.profile_base[db], coll)
        n, step, off, base, coll = plan
        idx = (d * step + off) % n
        if coll is not None:
            subs = coll.subprofile_indices(idx)
            if len(subs):
                return base + idx, coll.id_base + subs[d % len(subs)]
        return base + idx, None

    def destination_of_profile(self, j: int, profile_id: int) -> int | None:
        """Destination number of a base profile in emailing j, None when it was not a recipient."""
        _, db, _ = self.target(j)
        idx = profile_id - self.layout.profile_base[db]
        n = self.layout.base_profiles[db]
        if not 0 <= idx < n:
            return None
        self.profile_of(j, 0)  # fills the plan
        _, step, off, _, _ = self._profile_plans[j]
        d = (idx - off) * pow(step, -1, n) % n if n > 1 else 0
        return d if d < self.dests else None

    # --- descriptive fields ---------------------------------------------------------------
    def subject(self, j: int) -> str:
        return SUBJECTS[mix(self.seed, j, 1) % len(SUBJECTS)].format(n=j + 1)

    def sender(self, j: int) -> tuple[str, str]:
        return SENDERS[mix(self.seed, j, 2) % len(SENDERS)]

    def kind(self, j: int) -> str:
        return "individual" if j % 9 == 8 else "mass"

    def is_followup(self, j: int) -> bool:
        return j % 11 == 10

    def is_test(self, j: int) -> bool:
        return j % 13 == 12

    def tags(self, j: int) -> list[str]:
        h = mix(self.seed, j, 3)
        return [TAGS[(h >> (4 * k)) % len(TAGS)] for k in range(h % 3)]

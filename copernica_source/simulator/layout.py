"""How the simulated account numbers its databases, profiles, collections and subprofiles.

Base (initial) profiles and subprofiles are numbered by formula, so events can point at real
profiles without any table in memory; profiles created later take IDs from a counter above them.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import SimulatorConfig

PROFILE_ID_BASE = 100_001
CREATED_SUBPROFILE_ID_BASE = 90_000_001


@dataclass(frozen=True)
class CollectionLayout:
    """A collection whose initial subprofiles are: subprofile index s belongs to profile s*num//den."""

    id: int
    database: int
    name: str
    id_base: int
    per_profile: int  # subprofiles per profile (0 = every `every`-th profile has one)
    every: int = 1

    def count(self, profiles: int) -> int:
        if self.per_profile:
            return profiles * self.per_profile
        return (profiles + self.every - 1) // self.every

    def profile_index(self, s: int) -> int:
        return s // self.per_profile if self.per_profile else s * self.every

    def subprofile_indices(self, profile_index: int) -> range:
        if self.per_profile:
            return range(profile_index * self.per_profile, (profile_index + 1) * self.per_profile)
        if profile_index % self.every:
            return range(0)
        return range(profile_index // self.every, profile_index // self.every + 1)


class Layout:
    def __init__(self, cfg: SimulatorConfig) -> None:
        self.database_ids = [1, 2][: cfg.databases]
        self.base_profiles = {1: cfg.profiles, 2: max(1, cfg.profiles // 10)}
        self.profile_base = {1: PROFILE_ID_BASE, 2: PROFILE_ID_BASE + cfg.profiles}
        self.first_created_profile_id = PROFILE_ID_BASE + cfg.profiles + self.base_profiles[2]
        colls = [
            CollectionLayout(101, 1, "orders", 10_000_001, 2),
            CollectionLayout(102, 1, "preferences", 30_000_001, 0, 2),
        ]
        if cfg.databases > 1:
            colls.append(CollectionLayout(201, 2, "tickets", 40_000_001, 1))
        self.collections = {c.id: c for c in colls}

    def profile_id(self, db: int, index: int) -> int:
        return self.profile_base[db] + index

    def base_profile(self, profile_id: int) -> tuple[int, int] | None:
        """(database, index) of a base profile ID, None for created or unknown IDs."""
        for db in self.database_ids:
            idx = profile_id - self.profile_base[db]
            if 0 <= idx < self.base_profiles[db]:
                return db, idx
        return None

    def subprofile_id(self, collection: int, s: int) -> int:
        return self.collections[collection].id_base + s

    def base_subprofile(self, subprofile_id: int) -> tuple[CollectionLayout, int] | None:
        for c in self.collections.values():
            s = subprofile_id - c.id_base
            if 0 <= s < c.count(self.base_profiles[c.database]):
                return c, s
        return None

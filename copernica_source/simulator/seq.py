"""Virtual, sorted lists of event indices and the subsets a filter selects from them.

An event list (account-wide, one emailing's, one destination's, the unique ones) is a few
arithmetic runs of event indices. Filters on ID and time cut a contiguous stretch out of it, minus a
few late events, plus a few late events after it. Both are answered with arithmetic and bisection,
so a page deep inside five million events costs the same as the first page.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence


class Seq:
    """Ascending event indices made of runs (first, end, step): first, first+step, ... < end."""

    def __init__(self, runs: Sequence[tuple[int, int, int]]) -> None:
        self.runs = [(f, e, s) for f, e, s in runs if e > f]
        self.firsts = [f for f, _, _ in self.runs]
        self.offsets = []  # position of each run's first element
        total = 0
        for f, e, s in self.runs:
            self.offsets.append(total)
            total += (e - f + s - 1) // s
        self.length = total

    @classmethod
    def of(cls, indices: Sequence[int]) -> Seq:
        """A list of sorted single indices."""
        return cls([(i, i + 1, 1) for i in indices])

    @classmethod
    def split(cls, run: tuple[int, int, int], minus: Sequence[int], plus: Sequence[int]) -> Seq:
        """One run without the (on-stride) elements of `minus`, then the sorted `plus` (all after it)."""
        first, end, step = run
        runs = []
        for x in sorted(minus):
            if first <= x < end:
                runs.append((first, x, step))
                first = x + step
        runs.append((first, end, step))
        runs += [(i, i + 1, 1) for i in sorted(plus)]
        return cls(runs)

    def __len__(self) -> int:
        return self.length

    def at(self, p: int) -> int:
        r = bisect_right(self.offsets, p) - 1
        f, _, s = self.runs[r]
        return f + (p - self.offsets[r]) * s

    def rank(self, i: int) -> int:
        """How many elements are < i."""
        r = bisect_right(self.firsts, i) - 1
        if r < 0:
            return 0
        f, e, s = self.runs[r]
        n_run = (e - f + s - 1) // s
        inside = min(n_run, (i - f + s - 1) // s)
        return self.offsets[r] + inside

    def contains(self, i: int) -> bool:
        r = bisect_right(self.firsts, i) - 1
        if r < 0:
            return False
        f, e, s = self.runs[r]
        return i < e and (i - f) % s == 0


class Selection:
    """Positions [lo, hi) of a Seq minus `minus`, then the positions in `plus` (all >= hi),
    optionally filtered further by `pred` (slow path, for selectors without arithmetic)."""

    def __init__(self, seq: Seq, lo: int, hi: int, minus: Sequence[int] = (), plus: Sequence[int] = (),
                 pred: Callable[[int], bool] | None = None) -> None:
        self.seq = seq
        self.lo = max(0, lo)
        self.hi = max(self.lo, min(hi, len(seq)))
        self.minus = sorted(p for p in set(minus) if self.lo <= p < self.hi)
        self.plus = sorted(p for p in set(plus) if p >= self.hi and p < len(seq))
        self.pred = pred

    def _positions(self, start: int) -> Iterator[int]:
        """Matching positions from rank `start` on (ignoring pred)."""
        main = self.hi - self.lo - len(self.minus)
        if start < main:
            # position of rank `start`: skip the removed positions below it
            p = self.lo + start
            k = 0
            while k < len(self.minus) and self.minus[k] <= p:
                p += 1
                k += 1
            while p < self.hi:
                if k < len(self.minus) and self.minus[k] == p:
                    k += 1
                else:
                    yield p
                p += 1
            start = main
        yield from self.plus[start - main:]

    def positions(self, start: int) -> Iterator[int]:
        """Matching positions from rank `start` on, ascending (pred ignored): for a Seq that is one run
        (0, n, 1), positions are the event indices themselves."""
        return self._positions(start)

    def total(self) -> int:
        if self.pred is None:
            return self.hi - self.lo - len(self.minus) + len(self.plus)
        return sum(1 for _ in self.indices(0, None))

    def indices(self, start: int, limit: int | None) -> Iterator[int]:
        """Event indices of matches [start, start+limit) (limit None = all)."""
        if (limit is not None and limit <= 0) or start < 0:
            return
        at = self.seq.at
        n = 0
        if self.pred is None:
            for p in self._positions(start):
                if limit is not None and n >= limit:
                    return
                yield at(p)
                n += 1
            return
        skipped = 0
        for p in self._positions(0):
            i = at(p)
            if not self.pred(i):
                continue
            if skipped < start:
                skipped += 1
                continue
            if limit is not None and n >= limit:
                return
            yield i
            n += 1

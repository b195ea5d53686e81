"""Targeted quantiles over a sliding time window, for ``Summary(objectives=...)``.

The estimator is the targeted ("biased") quantile summary of Cormode, Korn,
Muthukrishnan and Srivastava (CKMS): a sorted list of tuples ``(v, g, d)``
where ``v`` is an observed value, ``g`` the number of observations it stands
for (so the sum of ``g`` up to and including a tuple is the lowest rank ``v``
can have) and ``d`` how much higher its rank may be. Every tuple keeps
``g + d <= f(r, n)``, where ``r`` is the sum of ``g`` before it and ``n`` the
number of observations.

``f`` is the minimum over the objectives ``(phi, eps)`` of
``max(a * (n - r), b * r)`` with ``b = 2 eps / (phi - eps)`` and
``a = min(1, 2 eps / (1 - phi + eps))``. The paper's own ``f`` lets the rank
error of a query reach ``eps * n / (1 - 2 eps / (1 - phi))`` (25 % too much
for ``{0.99: 0.001}``); this one is the largest of that shape for which the
query below is provably within ``eps * n``: left of the target window no
tuple can reach past it (``r + f(r, n) <= (phi + eps) n`` for
``r < (phi - eps) n``). Both parts grow with ``n`` and do not shrink when an
insert before a tuple raises ``r`` and ``n`` together, so an insert or a merge
never breaks the bound of another tuple. Objectives with ``phi <= eps`` need
no tuple bound at all (the smallest value is always kept exactly). A query
aims at rank ``ceil(phi n)``, as the Go client does; the answer's rank is
within ``eps * n`` of ``phi * n``, rounded out to whole ranks.

Observations are buffered; a full buffer is sorted once and merged into the
tuple list by bisection and slicing, new values that fall between two existing
tuples being grouped as coarsely as ``f`` allows, so Python-level work follows
the number of tuples, not of observations. A query merges adjacent tuples
(compression) and answers from the ranks.

The window keeps ``age_buckets`` streams, the way the Go client does: every
observation goes into every stream; every ``max_age / age_buckets`` seconds the
stream that was queried is emptied and the next one, which holds the last
``max_age`` seconds (at least ``max_age * (1 - 1 / age_buckets)``), takes over.
"""

from __future__ import annotations

import math
import numbers
import time
from bisect import bisect_left, bisect_right
from itertools import accumulate
from threading import Lock
from typing import Any, Callable, List, Mapping, Optional, Tuple

from .utils import floatToGoString

# The window's time source, read when a window is created; tests replace it to move time by hand.
_clock: Callable[[], float] = time.monotonic

_NAN = float("nan")
# Below this many tuples, inserts do not compress (a query still does).
_MIN_COMPRESS_AT = 64


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Summary {what} must be a number, not {type(value).__name__}")
    return float(value)


class QuantileSpec:
    """Validated ``objectives``, ``max_age``, ``age_buckets`` and ``buffer_size`` of one Summary."""

    __slots__ = ("_bounds", "age_buckets", "buffer_size", "labels", "max_age", "objectives", "quantiles")

    def __init__(self, objectives: Mapping[float, float], max_age: float, age_buckets: int,
                 buffer_size: int) -> None:
        pairs: List[Tuple[float, float]] = []
        for q, e in objectives.items():
            phi = _number(q, "objective quantile")
            eps = _number(e, "objective error")
            if not 0.0 <= phi <= 1.0:
                raise ValueError(f"Summary objective quantile {q!r} is not in [0, 1]")
            if not 0.0 <= eps < 1.0:
                raise ValueError(f"Summary objective error {e!r} for quantile {q!r} is not in [0, 1)")
            pairs.append((phi, eps))
        pairs.sort()
        self.objectives = tuple(pairs)
        self.quantiles = tuple(phi for phi, _ in pairs)
        self.labels = tuple(floatToGoString(phi) for phi in self.quantiles)
        # (a, b) of each objective that bounds tuples at all; see the module docstring.
        bounds = []
        for phi, eps in pairs:
            if phi > eps:
                wide = 1.0 - phi + eps
                bounds.append((1.0 if wide <= 2.0 * eps else 2.0 * eps / wide, 2.0 * eps / (phi - eps)))
        self._bounds = tuple(bounds)
        self.max_age = max_age
        self.age_buckets = age_buckets
        self.buffer_size = buffer_size

    @classmethod
    def build(cls, objectives: Optional[Mapping[float, float]], max_age: float, age_buckets: int,
              buffer_size: int) -> Optional[QuantileSpec]:
        """Check the Summary's quantile options; ``None`` when there are no objectives."""
        if objectives is not None and not isinstance(objectives, Mapping):
            raise TypeError("Summary objectives must be a dict of {quantile: allowed rank error}, "
                            f"not {type(objectives).__name__}")
        age = _number(max_age, "max_age")
        if not 0.0 < age < math.inf:
            raise ValueError(f"Summary max_age must be a positive number of seconds, got {max_age!r}")
        for what, v in (("age_buckets", age_buckets), ("buffer_size", buffer_size)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"Summary {what} must be an int, not {type(v).__name__}")
            if v < 1:
                raise ValueError(f"Summary {what} must be at least 1, got {v}")
        if not objectives:
            return None
        return cls(objectives, age, age_buckets, buffer_size)

    def allowance(self, r: float, n: float) -> float:
        """``f(r, n)``: how many ranks a tuple starting after rank ``r`` may span among ``n`` observations."""
        best = math.inf
        for a, b in self._bounds:
            x = a * (n - r)
            y = b * r
            if y > x:
                x = y
            if x < best:
                best = x
        return best

    def new_window(self) -> SlidingWindow:
        """An empty window for one Summary child."""
        return SlidingWindow(self)


class Stream:
    """One CKMS summary of every value inserted since it was last reset."""

    __slots__ = ("_compress_at", "_compressed", "_d", "_g", "_n", "_spec", "_v")

    def __init__(self, spec: QuantileSpec) -> None:
        self._spec = spec
        self.reset()

    def reset(self) -> None:
        """Forget every value."""
        self._v: List[float] = []
        self._g: List[int] = []
        self._d: List[int] = []
        self._n = 0
        self._compressed = True
        self._compress_at = _MIN_COMPRESS_AT

    def __len__(self) -> int:
        return len(self._v)

    @property
    def count(self) -> int:
        """How many values the stream summarizes."""
        return self._n

    def insert_sorted(self, batch: List[float]) -> None:
        """Merge an ascending list of values (no NaN) into the summary."""
        if not batch:
            return
        allowance = self._spec.allowance
        vals, gs, ds = self._v, self._g, self._d
        s, m = len(vals), len(batch)
        n = self._n + m
        ov: List[float] = []
        og: List[int] = []
        od: List[int] = []
        ends = list(accumulate(gs))  # ends[k]: sum of g up to and including old tuple k
        r = 0  # sum of g in the output so far
        i = lo = 0
        while lo < m:
            j = bisect_right(vals, batch[lo], i)
            if j > i:
                ov += vals[i:j]
                og += gs[i:j]
                od += ds[i:j]
                r += ends[j - 1] - (ends[i - 1] if i else 0)
                i = j
            if i < s:
                hi = bisect_left(batch, vals[i], lo)
                # A new value just below tuple i ranks at most where tuple i can (GK's insertion bound).
                delta = gs[i] + ds[i] - 1
            else:
                hi = m
                delta = 0
            p = lo
            if not ov:  # the smallest value stays a tuple of its own, so quantile 0 is exact
                ov.append(batch[p])
                og.append(1)
                od.append(0)
                r = 1
                p += 1
            while p < hi:
                room = allowance(r, n) - delta
                q = hi if room >= hi - p else p + max(1, int(room))
                ov.append(batch[q - 1])
                og.append(q - p)
                od.append(delta)
                r += q - p
                p = q
            lo = hi
        if i < s:
            ov += vals[i:]
            og += gs[i:]
            od += ds[i:]
        self._v, self._g, self._d, self._n = ov, og, od, n
        self._compressed = False
        if len(ov) >= self._compress_at:
            self.compress()

    def compress(self) -> None:
        """Merge each tuple into its right neighbour where the bound allows (never the first or the last)."""
        if self._compressed:
            return
        self._compressed = True
        vals, gs, ds = self._v, self._g, self._d
        s = len(vals)
        if s < 3:
            return
        allowance = self._spec.allowance
        n = self._n
        ov, og, od = [vals[-1]], [gs[-1]], [ds[-1]]
        right_g, right_d = gs[-1], ds[-1]
        r = n - right_g
        for k in range(s - 2, 0, -1):
            g = gs[k]
            r -= g
            if g + right_g + right_d <= allowance(r, n):
                right_g += g
                og[-1] = right_g
            else:
                ov.append(vals[k])
                og.append(g)
                od.append(ds[k])
                right_g, right_d = g, ds[k]
        ov.append(vals[0])
        og.append(gs[0])
        od.append(ds[0])
        ov.reverse()
        og.reverse()
        od.reverse()
        self._v, self._g, self._d = ov, og, od
        # Compress again once the list has doubled: amortized linear, and memory stays within twice the bound.
        self._compress_at = max(_MIN_COMPRESS_AT, 2 * len(ov))

    def query(self) -> List[float]:
        """The value at each objective's quantile, in quantile order (NaN each when empty)."""
        spec = self._spec
        if not self._n:
            return [_NAN] * len(spec.objectives)
        self.compress()
        vals, gs, ds = self._v, self._g, self._d
        n = self._n
        out = []
        for phi, eps in spec.objectives:
            # The value of rank ceil(phi n), give or take eps n: the tuple before the first one whose highest
            # rank passes that. The tolerance keeps 0.9 * 10 (9.000000000000002) at rank 9.
            exact = phi * n
            bound = math.ceil(exact - 1e-9 * max(1.0, exact)) + eps * n
            rmin = 0
            answer = vals[-1]
            for k, g in enumerate(gs):
                rmin += g
                if rmin + ds[k] > bound:
                    answer = vals[k - 1] if k else vals[0]
                    break
            out.append(float(answer))
        return out


class SlidingWindow:
    """The quantiles of the last ``max_age`` seconds of one Summary child; every method takes one lock."""

    __slots__ = ("_buf", "_buf_size", "_clock", "_expires", "_head", "_lock", "_rotations", "_span", "_spec",
                 "_start", "_streams")

    def __init__(self, spec: QuantileSpec) -> None:
        self._spec = spec
        self._streams = [Stream(spec) for _ in range(spec.age_buckets)]
        self._head = 0
        self._buf: List[float] = []
        self._buf_size = spec.buffer_size
        self._lock = Lock()
        self._clock = _clock
        self._start = self._clock()
        self._span = spec.max_age / spec.age_buckets
        self._rotations = 0
        self._expires = self._start + self._span

    def observe(self, value: float) -> None:
        """Add one value (NaN is dropped at the next flush)."""
        with self._lock:
            if self._clock() >= self._expires:
                self._rotate()
            buf = self._buf
            buf.append(value)
            if len(buf) >= self._buf_size:
                self._flush()

    def query(self) -> List[float]:
        """The value at each objective's quantile over the window, in quantile order (NaN when empty)."""
        with self._lock:
            if self._clock() >= self._expires:
                self._rotate()
            self._flush()
            return self._streams[self._head].query()

    def _flush(self) -> None:
        buf = self._buf
        if not buf:
            return
        self._buf = []
        batch = sorted([v for v in buf if v == v])  # NaN has no rank
        for stream in self._streams:
            stream.insert_sorted(batch)

    def _rotate(self) -> None:
        # The buffer holds only values observed before the first expiry due (every observe checks first).
        self._flush()
        now = self._clock()
        due = int((now - self._start) // self._span) - self._rotations
        if due < 1:  # float rounding at the boundary: the expiry compared >=, so rotate once
            due = 1
        streams = self._streams
        k = len(streams)
        for step in range(min(due, k)):
            streams[(self._head + step) % k].reset()
        self._head = (self._head + due) % k
        self._rotations += due
        self._expires = self._start + (self._rotations + 1) * self._span

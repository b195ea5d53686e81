"""Native (sparse, exponential) histograms: the bucket math and the per-child state.

A native histogram of schema ``s`` has buckets whose boundaries are the powers of
``base = 2**(2**-s)``: bucket ``i`` counts the observations ``v`` with
``base**(i-1) < |v| <= base**i`` (positive and negative values in two separate
bucket sets), and one *zero bucket* counts ``|v| <= zero_threshold``. Only
buckets that were hit are stored, as ``{index: count}``; exposition turns them
into spans of consecutive indexes and count deltas (the protobuf format's
``BucketSpan``/``*_delta`` fields).

Like the Go client, ``NaN`` goes into the count and the sum but into no bucket;
``+Inf``/``-Inf`` go into the bucket one past the one of ``±MaxFloat64``.

Concurrency follows :mod:`pyrometer.values`. On GIL builds of CPython 3.10+ an
observation into an existing bucket takes no lock: it re-reads ``_layout`` (the
schema and zero threshold it computed the index with) and, if unchanged, does
its increments, and that check-and-increment contains no call or backward jump,
so no other thread runs in between. Everything that changes the layout or reads
a consistent snapshot holds ``_lock`` and first replaces ``_layout`` by a
sentinel: from then on lock-free observers fail the check and queue on the lock,
and none can be half-way through an increment. Observations creating a bucket
also take the lock. Other interpreters lock every observation.
"""

from __future__ import annotations

import math
import sys
import time
from bisect import bisect_left
from threading import Lock
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import values
from ._accel import speedups
from .samples import BucketSpan, Exemplar, NativeHistogram

SCHEMA_MIN = -4
SCHEMA_MAX = 8
DEFAULT_BUCKET_FACTOR = 1.1
DEFAULT_ZERO_THRESHOLD = 2.0 ** -128  # the Go client's DefNativeHistogramZeroThreshold
DEFAULT_MAX_BUCKETS = 160

_INF = math.inf
_MAX = sys.float_info.max
_frexp = math.frexp

# (zero_threshold, schema, 2.0**schema): what an index was computed with.
Layout = Tuple[float, int, float]
_FROZEN: Layout = (math.nan, 0, math.nan)  # compares false to everything: observers fall to the locked path
_log2 = math.log2
_ceil = math.ceil


def _py_bucket_key(magnitude: float, scale: float) -> Optional[int]:
    """The bucket index ``ceil(log2(magnitude) * scale)`` of a magnitude above the zero threshold, if certain.

    ``scale`` is ``2**schema``. math.log2 is within an ulp or so, so a product that is not within 1e-6 of an
    integer has the exact ceiling; for the rest (exact powers of the base, ties, ±Inf) this returns ``None``
    and the caller takes the exact path under its lock. ``pyrometer._speedups.bucket_key`` is the same
    arithmetic in C, used when built: it saves a third of a native ``observe()``.
    """
    x = _log2(magnitude) * scale
    try:
        key = _ceil(x)
    except OverflowError:  # +Inf
        return None
    return key if 1e-6 < key - x < 0.999999 else None


bucket_key: Callable[[float, float], Optional[int]] = _py_bucket_key if speedups is None else speedups.bucket_key

_bounds_cache: Dict[int, List[float]] = {}


def pick_schema(bucket_factor: float) -> int:
    """The coarsest schema whose bucket growth factor ``2**(2**-schema)`` is at most ``bucket_factor``.

    That is the Go client's choice: 1.1 gives schema 3 (factor 1.0905). Factors below the finest schema's
    get schema 8, factors above the coarsest's get -4.
    """
    if not bucket_factor > 1:  # also refuses NaN
        raise ValueError(f"native_bucket_factor must be greater than 1, got {bucket_factor!r}")
    for schema in range(SCHEMA_MIN, SCHEMA_MAX + 1):
        if 2.0 ** (2.0 ** -schema) <= bucket_factor:
            return schema
    return SCHEMA_MAX


def _at_most_bound(c: float, j: int, schema: int) -> bool:
    """Whether ``c <= 2**(j / 2**schema - 1)``, decided exactly on integers."""
    num, den = c.as_integer_ratio()  # den is a power of two
    n = 1 << schema
    # c**n <= 2**(j - n)  <=>  num**n * 2**(n - j) <= den**n
    return num ** n << (n - j) <= den ** n


def bounds(schema: int) -> List[float]:
    """For schema > 0: the lower boundaries of the ``2**schema`` buckets of one power of two, scaled into [0.5, 1).

    Entry ``j`` is the largest float at most ``2**(j / 2**schema) / 2``. Rounded down, not to nearest, so that
    "the float fraction ``f`` is greater than entry ``j``" holds exactly when ``f`` is greater than the real
    boundary; a bisection over this table then gives exact bucket indexes.
    """
    table = _bounds_cache.get(schema)
    if table is None:
        n = 1 << schema
        table = []
        for j in range(n):
            c = 0.5 * 2.0 ** (j / n)
            while not _at_most_bound(c, j, schema):
                c = math.nextafter(c, 0.0)
            while _at_most_bound(math.nextafter(c, 1.0), j, schema):
                c = math.nextafter(c, 1.0)
            table.append(c)
        _bounds_cache[schema] = table
    return table


def bucket_index(value: float, schema: int) -> int:
    """The index of the bucket of ``|value|`` (not zero, not NaN) in ``schema``; ±Inf get the Go client's index."""
    v = abs(value)
    extra = 0
    if v == _INF:
        v, extra = _MAX, 1
    frac, exp = _frexp(v)
    if schema > 0:
        table = bounds(schema)
        return bisect_left(table, frac) + (exp - 1) * len(table) + extra
    key = exp - 1 if frac == 0.5 else exp
    return ((key + (1 << -schema) - 1) >> -schema) + extra


def upper_bound(index: int, schema: int) -> float:
    """The upper boundary ``base**index`` of a bucket, as the float used for a widened zero threshold."""
    if schema > 0:
        table = bounds(schema)
        frac = table[index & ((1 << schema) - 1)]
        exp = (index >> schema) + 1
    else:
        frac, exp = 0.5, (index << -schema) + 1
    if exp > 1024:
        return _MAX
    return math.ldexp(frac, exp)


def _layout(zero_threshold: float, schema: int) -> Layout:
    return (zero_threshold, schema, 2.0 ** schema)


def spans_and_deltas(buckets: Dict[int, int]) -> Tuple[List[BucketSpan], List[int]]:
    """Sparse buckets as the exposition wants them: spans of consecutive indexes and count deltas.

    Like the Go client, a gap of one or two empty buckets is bridged with zero counts instead of a new span,
    which is no larger on the wire.
    """
    spans: List[BucketSpan] = []
    deltas: List[int] = []
    prev_index = 0
    prev_count = 0
    offset = length = 0
    for index in sorted(buckets):
        count = buckets[index]
        if not spans and not length:
            offset, length = index, 0
        else:
            gap = index - prev_index - 1
            if gap > 2:
                spans.append(BucketSpan(offset, length))
                offset, length = gap, 0
            else:
                for _ in range(gap):
                    deltas.append(-prev_count)
                    prev_count = 0
                length += gap
        deltas.append(count - prev_count)
        prev_count = count
        prev_index = index
        length += 1
    if length:
        spans.append(BucketSpan(offset, length))
    return spans, deltas


class NativeCount(float):
    """The ``_count`` sample value of a native histogram child, carrying its native part in ``native``.

    A float to every text writer; the protobuf writer reads ``native``. The one way the native buckets travel
    through ``collect()`` without the text formats seeing a sample they cannot express.
    """

    __slots__ = ("native",)

    def __new__(cls, count: float, native: NativeHistogram) -> NativeCount:
        self = super().__new__(cls, count)
        self.native = native
        return self

    def __reduce__(self) -> Tuple[type, Tuple[float]]:
        return float, (float(self),)  # copies and pickles degrade to a plain float


class NativeConfig:
    """The validated native-histogram options of one ``Histogram`` (shared by its children)."""

    __slots__ = ("max_buckets", "max_zero_threshold", "min_reset_duration", "schema", "zero_threshold")

    def __init__(self, bucket_factor: float = DEFAULT_BUCKET_FACTOR, zero_threshold: float = DEFAULT_ZERO_THRESHOLD,
                 max_buckets: int = DEFAULT_MAX_BUCKETS, min_reset_duration: Optional[float] = None,
                 max_zero_threshold: float = 0.0) -> None:
        self.schema = pick_schema(bucket_factor)
        if not (zero_threshold >= 0 and zero_threshold < _INF):
            raise ValueError(f"native_zero_threshold must be a finite number >= 0, got {zero_threshold!r}")
        if isinstance(max_buckets, bool) or not isinstance(max_buckets, int) or max_buckets < 0:
            raise ValueError(f"native_max_buckets must be an int >= 0 (0: no limit), got {max_buckets!r}")
        if min_reset_duration is not None and not min_reset_duration > 0:
            raise ValueError(f"native_min_reset_duration must be None or > 0 seconds, got {min_reset_duration!r}")
        if not (max_zero_threshold >= 0 and max_zero_threshold < _INF):
            raise ValueError(f"native_max_zero_threshold must be a finite number >= 0, got {max_zero_threshold!r}")
        self.zero_threshold = float(zero_threshold)
        self.max_buckets = max_buckets
        self.min_reset_duration = min_reset_duration
        self.max_zero_threshold = float(max_zero_threshold)


class BucketLimit:
    """The bucket limit of a native state, shared by the local and the multiprocess one.

    The subclass holds ``_config``, ``_layout``, ``_pos``, ``_neg``, ``_last_reset`` and ``_now``, adds an
    observation under the lock with ``_add(amount, ci, layout)`` and supplies the hooks that differ: how a reset
    clears (``_reset``, which also sets ``_layout`` and ``_last_reset``), how the bucket maps move to the next
    coarser schema (``_halve_buckets``), where the counts of a bucket merged into the zero bucket go
    (``_merge_into_zero``) and how the new layout is made known (``_announce``). Called only with ``_lock``
    held; no observe fast path calls into it.
    """

    __slots__ = ()

    _config: NativeConfig
    _layout: Layout
    _pos: Dict[int, Any]
    _neg: Dict[int, Any]
    _last_reset: float
    _now: Callable[[], float]

    def _limit(self, amount: float, ci: int) -> None:
        """Bring the bucket count down to the maximum: reset, else widen the zero bucket, else halve the resolution.

        The Go client's order. Where Go applies one step per observation, this repeats until the count fits or
        nothing is left to do (schema -4 with a zero bucket that may not grow further).
        """
        config = self._config
        layout = self._layout
        self._layout = _FROZEN
        try:
            if config.min_reset_duration is not None and self._now() - self._last_reset >= config.min_reset_duration:
                self._reset()
                layout = self._layout
                self._layout = _FROZEN
                self._add(amount, ci, layout)  # keep the observation that overflowed
                return
            zt, schema = layout[0], layout[1]
            while len(self._pos) + len(self._neg) > config.max_buckets:
                widened = self._widen_zero_bucket(zt, schema)
                if widened is not None:
                    zt = widened
                elif schema > SCHEMA_MIN:
                    schema -= 1
                    self._halve_buckets(schema)
                else:
                    break
            self._announce(zt, schema)
            layout = _layout(zt, schema)
        finally:
            self._layout = layout

    def _widen_zero_bucket(self, zt: float, schema: int) -> Optional[float]:
        """Merge the bucket(s) closest to zero into the zero bucket if the max zero threshold allows; the new one."""
        if zt >= self._config.max_zero_threshold or not (self._pos or self._neg):
            return None
        smallest = min(min(self._pos, default=sys.maxsize), min(self._neg, default=sys.maxsize))
        new_zt = upper_bound(smallest, schema)
        if new_zt > self._config.max_zero_threshold:
            return None
        self._merge_into_zero(smallest)
        return new_zt

    def _add(self, amount: float, ci: int, layout: Layout) -> None:
        raise NotImplementedError

    def _reset(self) -> None:
        """Start the series afresh at the configured layout (sets ``_layout`` and ``_last_reset``)."""
        raise NotImplementedError

    def _halve_buckets(self, schema: int) -> None:
        """Replace ``_pos`` and ``_neg`` by their maps at ``schema``, one coarser than theirs."""
        raise NotImplementedError

    def _merge_into_zero(self, index: int) -> None:
        """Drop bucket ``index`` of both signs, its counts now belonging to the zero bucket."""
        raise NotImplementedError

    def _announce(self, zero_threshold: float, schema: int) -> None:
        """Make the new layout known before observers use it (nothing to do for the local state)."""


class NativeHistogramState(BucketLimit):
    """Classic bucket counts, sum, zero bucket and sparse native buckets of one histogram child.

    Exposes the same ``snapshot()``/``exemplars()``/``set_exemplar()`` as the classic counts, so the text
    writers render its classic part unchanged; ``native()`` gives the native part.
    """

    __slots__ = ("_classic", "_config", "_counts", "_exemplars", "_last_reset", "_layout", "_lock", "_make_exemplar",
                 "_neg", "_now", "_pos", "_sum", "_zero")

    def __init__(self, config: NativeConfig, upper_bounds: Sequence[float],
                 make_exemplar: Callable[[Dict[str, str], float], Exemplar],
                 now: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        # Classic bounds, the last being +Inf; None when +Inf is the only one (no bisection needed).
        self._classic: Optional[List[float]] = list(upper_bounds) if len(upper_bounds) > 1 else None
        self._make_exemplar = make_exemplar
        self._now = now
        self._lock = Lock()
        self._exemplars: Optional[List[Optional[Exemplar]]] = None
        self._last_reset = now()
        self._counts: List[int] = [0] * len(upper_bounds)
        self._clear()

    def _clear(self) -> None:
        self._counts = [0] * len(self._counts)
        self._sum = 0.0
        self._zero = 0
        self._pos: Dict[int, int] = {}
        self._neg: Dict[int, int] = {}
        self._layout = _layout(self._config.zero_threshold, self._config.schema)

    # -- observing ------------------------------------------------------------

    def observe(self, amount: float, exemplar: Optional[Dict[str, str]] = None) -> None:
        """Record one observation (the ``observe`` of the histogram child itself, so one call deep)."""
        classic = self._classic
        ci = 0 if classic is None else bisect_left(classic, amount)  # NaN gets 0 here, set right where it goes
        layout = self._layout
        zt = layout[0]
        # The index is ceil(log2(|v|) * 2**schema) where that is certain (bucket_key); the rest (exact powers
        # of the base, ±Inf, ties) take the exact path under the lock.
        if amount > zt:
            key = bucket_key(amount, layout[2])
            if key is not None and self._layout is layout:
                # From the check to the last increment: no call, no backward jump (see the module docstring).
                try:
                    self._pos[key] += 1
                except KeyError:
                    self._observe_locked(amount, ci)
                else:
                    self._counts[ci] += 1
                    self._sum += amount
            else:
                self._observe_locked(amount, ci)
        elif amount < -zt:
            key = bucket_key(-amount, layout[2])
            if key is not None and self._layout is layout:
                try:
                    self._neg[key] += 1
                except KeyError:
                    self._observe_locked(amount, ci)
                else:
                    self._counts[ci] += 1
                    self._sum += amount
            else:
                self._observe_locked(amount, ci)
        elif layout is _FROZEN or self._layout is not layout:  # frozen compares false to any threshold
            self._observe_locked(amount, ci)
        elif amount == amount:
            self._zero += 1
            self._counts[ci] += 1
            self._sum += amount
        else:  # NaN: no native bucket; the +Inf classic bucket, like Go
            self._counts[-1] += 1
            self._sum += amount
        if exemplar:
            self.set_exemplar(ci if amount == amount else len(self._counts) - 1, self._make_exemplar(exemplar, amount))

    def _observe_locked(self, amount: float, ci: int) -> None:
        with self._lock:
            self._add(amount, ci, self._layout)
            if self._config.max_buckets and len(self._pos) + len(self._neg) > self._config.max_buckets:
                self._limit(amount, ci)

    def _add(self, amount: float, ci: int, layout: Layout) -> None:
        """One observation; the caller holds ``_lock``, so no bucket appears or moves meanwhile."""
        zt, schema = layout[0], layout[1]
        if amount > zt or amount < -zt:
            buckets = self._pos if amount > 0 else self._neg
            key = bucket_index(amount, schema)
            if key in buckets:
                buckets[key] += 1  # lock-free observers may be incrementing it too
            else:
                buckets[key] = 1
        elif amount == amount:
            self._zero += 1
        else:
            ci = len(self._counts) - 1  # NaN: the +Inf classic bucket
        self._counts[ci] += 1
        self._sum += amount

    # -- the bucket limit: the hooks of BucketLimit -----------------------------

    def _reset(self) -> None:
        self._clear()
        self._last_reset = self._now()

    def _halve_buckets(self, schema: int) -> None:
        self._pos = _halve(self._pos)
        self._neg = _halve(self._neg)

    def _merge_into_zero(self, index: int) -> None:
        self._zero += self._pos.pop(index, 0) + self._neg.pop(index, 0)

    # -- reading --------------------------------------------------------------

    def set_exemplar(self, index: int, exemplar: Exemplar) -> None:
        """Remember the latest exemplar of classic bucket ``index``."""
        ex = self._exemplars
        if ex is None:
            ex = self._exemplars = [None] * len(self._counts)
        ex[index] = exemplar

    def exemplars(self) -> Optional[List[Optional[Exemplar]]]:
        """Latest exemplar per classic bucket, or ``None`` when none was ever set."""
        return None if self._exemplars is None else list(self._exemplars)

    def _read(self) -> Tuple[List[int], float, int, Dict[int, int], Dict[int, int], Layout]:
        with self._lock:
            layout = self._layout
            self._layout = _FROZEN
            try:
                pos, neg = dict(self._pos), dict(self._neg)
                return self._classic_counts(pos, neg), self._sum, self._zero, pos, neg, layout
            finally:
                self._layout = layout

    def _classic_counts(self, pos: Dict[int, int], neg: Dict[int, int]) -> List[int]:
        """The classic bucket counts (not cumulative), read with the lock held."""
        return list(self._counts)

    def snapshot(self) -> Tuple[List[float], float]:
        """Cumulative classic bucket counts (the last one is the total count) and the sum."""
        counts, total = self._read()[:2]
        acc = 0.0
        out: List[float] = []
        for c in counts:
            acc += c
            out.append(acc)
        return out, total

    def native(self) -> NativeHistogram:
        """A consistent snapshot of the native part, spans and deltas ready for exposition."""
        return self.snapshot_with_native()[2].native

    def snapshot_with_native(self) -> Tuple[List[float], float, NativeCount]:
        """``snapshot()`` and the native part, read together; the count carries the native part."""
        counts, total, zero, pos, neg, layout = self._read()
        pos_spans, pos_deltas = spans_and_deltas(pos)
        neg_spans, neg_deltas = spans_and_deltas(neg)
        cumulative: List[float] = []
        acc = 0.0
        for c in counts:
            acc += c
            cumulative.append(acc)
        nh = NativeHistogram(acc, total, layout[1], layout[0], float(zero), pos_spans, neg_spans, pos_deltas,
                             neg_deltas)
        return cumulative, total, NativeCount(acc, nh)

    def buckets(self) -> Tuple[int, float, int, Dict[int, int], Dict[int, int]]:
        """Schema, zero threshold, zero count and copies of the positive and negative buckets (for tests)."""
        _, _, zero, pos, neg, layout = self._read()
        return layout[1], layout[0], zero, pos, neg


class LockedObserve:
    """Every observation under the state's lock, for interpreters where the lock-free path is not atomic.

    Mixed in before a native state class, whose ``_classic``, ``_observe_locked`` and exemplar methods it uses.
    """

    __slots__ = ()

    _classic: Optional[List[float]]
    _make_exemplar: Callable[[Dict[str, str], float], Exemplar]
    _observe_locked: Callable[[float, int], None]
    set_exemplar: Callable[[int, Exemplar], None]

    def observe(self, amount: float, exemplar: Optional[Dict[str, str]] = None) -> None:
        """Record one observation under the lock."""
        classic = self._classic
        ci = 0 if classic is None else bisect_left(classic, amount)
        self._observe_locked(amount, ci)
        if exemplar:
            # NaN belongs to the +Inf classic bucket, the last one (the only one when there is no bisection).
            index = ci if amount == amount else (0 if classic is None else len(classic) - 1)
            self.set_exemplar(index, self._make_exemplar(exemplar, amount))


class _LockedNativeHistogramState(LockedObserve, NativeHistogramState):
    """``NativeHistogramState`` for interpreters where the lock-free path is not atomic (see module docstring)."""

    __slots__ = ()


def _halve(buckets: Dict[int, int]) -> Dict[int, int]:
    """The buckets of the next coarser schema: bucket ``i`` merges into ``ceil(i / 2)``."""
    out: Dict[int, int] = {}
    for key, count in buckets.items():
        key = -(-key // 2)
        out[key] = out.get(key, 0) + count
    return out


StateClass = NativeHistogramState if values._GIL_ATOMIC else _LockedNativeHistogramState


def new_state(config: NativeConfig, upper_bounds: Sequence[float], metric_name: str,
              make_exemplar: Callable[[Dict[str, str], float], Exemplar], help_text: str = "",
              labelnames: Sequence[str] = (), labelvalues: Sequence[str] = (),
              le: Sequence[str] = ()) -> Any:
    """The native state of a new histogram child: local, or in this process's files in multiprocess mode.

    The choice is made per child, like every value cell (``values._multiprocess_identity``); both kinds have
    ``observe``, ``snapshot``, ``snapshot_with_native``, ``native``, ``buckets`` and the exemplar methods.
    """
    ident = values._multiprocess_identity()
    if ident is None:
        if len(upper_bounds) == 1:  # no classic buckets: the state whose count is derived (faster observe)
            from ._native_only import NativeOnlyStateClass  # it subclasses this module's state

            return NativeOnlyStateClass(config, upper_bounds, make_exemplar)
        return StateClass(config, upper_bounds, make_exemplar)
    from . import _mp_native  # only multiprocess mode needs it

    return _mp_native.new_state(config, upper_bounds, metric_name, make_exemplar, ident, help_text, labelnames,
                                labelvalues, le)

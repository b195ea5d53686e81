"""Native histograms in multiprocess mode: each worker's buckets in its own files, merged at scrape.

Storage (``_mp_store`` key lines, all of one histogram child in the worker's files):

* ``histogram``: the classic part exactly as a classic multiprocess histogram stores it (one slot per classic
  bucket, then the sum), so ``_count``, ``_sum`` and classic buckets merge as they always did.
* ``nhmeta`` (3 slots): the zero-bucket count (summed over workers), the zero threshold (the largest wins) and
  the schema as its *coarseness* ``SCHEMA_MAX + 1 - schema`` (the largest wins). Coarseness rather than the
  schema so that a zero-filled slot (a series whose line a scrape sees before its first write) means "unknown"
  and loses every comparison, instead of claiming schema 0.
* ``nhbucket`` (1 slot per bucket ever hit): extra ``[schema, sign, index]``. A scrape sums each distinct
  (schema, sign, index) over the workers with the existing summed-column machinery (one decode per key line,
  then one add per worker), so the per-bucket work at scrape is that of a counter.

Merge (:func:`merge`): every bucket is first reduced to the coarsest schema present, index ``i`` at schema
``s`` going to ``((i - 1) >> (s - t)) + 1`` at schema ``t`` (that is ``ceil(i / 2**(s - t))``, also for
negative indexes; bucket ``i`` is ``(base**(i-1), base**i]`` and ``base**i`` is a boundary of every coarser
schema, so the mapping is exact and a value on a boundary stays in the lower bucket). Then, once and at that
schema, the zero bucket: the threshold is the largest of the workers'; buckets whose upper boundary is within
it fold into the zero bucket, and a populated bucket that straddles it raises the threshold to the bucket's
upper boundary and folds too, as Prometheus's own ``FloatHistogram.Add`` does (``reconcileZeroBuckets`` /
``zeroCountForLargerThreshold``, with the coarser histogram as the accumulator). Counts and sums add exactly;
same schema means a bucket-for-bucket sum. Reducing commutes with summing, and the zero bucket is settled only
after both, so the result does not depend on which workers are live and which were folded into merged.db
(tests/core/native/test_mp_native_merge.py checks both with hypothesis). One consequence: a single worker that
widened its zero bucket and then lowered its schema can show a wider zero bucket than the same observations in
one process, whose threshold may stay inside a coarser bucket.

Bucket limit: a worker applies it like the single-process state (reset, widen the zero bucket, lower the
schema), but never *moves* counts between slots. After lowering the schema, the worker's existing buckets stay
in their slots at the old schema and new observations go to slots at the new one; after widening, counts of
buckets now within the zero threshold stay where they are. The stored coarseness/threshold tell the scrape to
reduce and fold them. Rewriting the buckets at the new schema instead would mean removing counts from some
slots and adding them to others while scrapes read the file without any lock: a scrape between the two would
see counts vanish or double, which Prometheus takes for a counter reset. Keeping them costs at most one set of
``native_max_buckets`` slots per schema the worker passes through (13 schemas), and the fold into merged.db
reduces a dead worker's buckets to one schema (:func:`compact_folded`). The limit applies per worker: the
merged histogram can hold up to that many buckets per worker (Prometheus's scrape option
``native_histogram_bucket_limit`` can reduce it further at ingestion).

A reset (``native_min_reset_duration``) zeroes every slot of the series in the worker's file and writes the
configured schema and threshold back; a scrape that runs during the reset may see it half done, which is a
counter reset either way. ``remove()``/``clear()`` tombstone every slot of the series.

Concurrency follows ``_native_histogram``: an observation into an existing bucket at the current layout is one
``+=`` per slot without a lock on GIL builds (same no-switch argument); new buckets and layout changes take the
state's lock. Fork: a child's first observation finds the parent's mapping released and starts the series afresh
in its own files, like every multiprocess cell.
"""

from __future__ import annotations

import json
import os
import time
from array import array
from bisect import bisect_left
from threading import Lock
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from . import _mp_store, values
from ._mp_store import TOMBSTONE, Binding, ExemplarSlot, Ident, get_store, series_key
from ._native_histogram import (
    _FROZEN,
    SCHEMA_MAX,
    SCHEMA_MIN,
    BucketLimit,
    Layout,
    LockedObserve,
    NativeConfig,
    NativeCount,
    _layout,
    bucket_index,
    bucket_key,
    spans_and_deltas,
    upper_bound,
)
from .samples import Exemplar, NativeHistogram

META = "nhmeta"
BUCKET = "nhbucket"

# (schema, sign (1 or -1), index) -> count
BucketKey = Tuple[int, int, int]
Merged = Tuple[int, float, float, Dict[int, float], Dict[int, float]]



def coarseness(schema: int) -> float:
    """The stored form of a schema: larger is coarser, and 0 (a zero-filled slot) means unknown."""
    return float(SCHEMA_MAX + 1 - schema)


def schema_of(stored: float) -> Optional[int]:
    """The schema a coarseness slot holds, or ``None`` when it was never written."""
    if not 1 <= stored <= SCHEMA_MAX + 1 - SCHEMA_MIN:
        return None
    return SCHEMA_MAX + 1 - int(stored)


def reduce_index(index: int, schema: int, target: int) -> int:
    """The index at the coarser schema ``target`` of bucket ``index`` at ``schema`` (``ceil(i / 2**(s - t))``)."""
    return ((index - 1) >> (schema - target)) + 1


def widen_zero(schema: int, threshold: float, zero: float, pos: Dict[int, float],
               neg: Dict[int, float]) -> Tuple[float, float]:
    """Fold into the zero bucket the buckets within ``threshold``; (threshold, zero count) after folding.

    A populated bucket that straddles the threshold raises it to the bucket's upper boundary (Prometheus's
    ``zeroCountForLargerThreshold``), so the result never splits a bucket. Mutates ``pos`` and ``neg``.
    """
    for k in sorted(set(pos).union(neg)):
        ub = upper_bound(k, schema)
        if ub > threshold:
            if upper_bound(k - 1, schema) >= threshold:
                break  # this bucket and every later one lie above the threshold
            threshold = ub
        zero += pos.pop(k, 0.0) + neg.pop(k, 0.0)
    return threshold, zero


def reduce_buckets(buckets: Mapping[BucketKey, float], target: int) -> Dict[BucketKey, float]:
    """Buckets stored at any schemas ``>= target``, summed at schema ``target`` (zero counts dropped)."""
    out: Dict[BucketKey, float] = {}
    for (s, sign, i), c in buckets.items():
        if c:
            k = (target, sign, i if s == target else reduce_index(i, s, target))
            out[k] = out.get(k, 0.0) + c
    return out


def target_schema(schema: Optional[int], buckets: Mapping[BucketKey, float]) -> int:
    """The coarsest of the announced ``schema`` (``None``: unknown) and of every schema holding a bucket."""
    schemas = {s for (s, _, _), c in buckets.items() if c}
    if schema is not None:
        schemas.add(schema)
    return min(schemas) if schemas else 0


def merge(schema: Optional[int], threshold: float, zero: float, buckets: Mapping[BucketKey, float]) -> Merged:
    """(schema, zero threshold, zero count, positive, negative) of buckets stored at any schemas.

    First every bucket is reduced to the target schema (:func:`target_schema`), then the zero bucket is
    reconciled once, at that schema. Always in that order: folding buckets into the zero bucket at a finer
    schema first could give a different (narrower) threshold, and the result would depend on how the
    workers' data was grouped (live or folded into merged.db).
    """
    target = target_schema(schema, buckets)
    pos: Dict[int, float] = {}
    neg: Dict[int, float] = {}
    for (_, sign, i), c in reduce_buckets(buckets, target).items():
        (pos if sign > 0 else neg)[i] = c
    threshold, zero = widen_zero(target, threshold, zero, pos, neg)
    return target, threshold, zero, pos, neg


def merge_all(parts: Sequence[Tuple[int, float, float, Mapping[BucketKey, float]]]) -> Merged:
    """Merge several histograms given as (schema, threshold, zero count, buckets by key)."""
    buckets: Dict[BucketKey, float] = {}
    for _, _, _, b in parts:
        for k, c in b.items():
            buckets[k] = buckets.get(k, 0.0) + c
    schema = min((p[0] for p in parts), default=None)
    return merge(schema, max((p[1] for p in parts), default=0.0), sum(p[2] for p in parts), buckets)


def native_sample(count: float, total: float, merged: Merged) -> NativeCount:
    """The ``_count`` value of a merged histogram: ``count`` carrying its native part."""
    schema, threshold, zero, pos, neg = merged
    pos_spans, pos_deltas = spans_and_deltas({k: int(c) for k, c in pos.items()})
    neg_spans, neg_deltas = spans_and_deltas({k: int(c) for k, c in neg.items()})
    nh = NativeHistogram(count, total, schema, threshold, zero, pos_spans, neg_spans, pos_deltas, neg_deltas)
    return NativeCount(count, nh)


# -- merged.db ------------------------------------------------------------------

def combine_meta(cur: Any, new: Any) -> None:
    """Fold a dead worker's ``nhmeta`` slots into merged.db's: zero counts add, threshold and coarseness max."""
    cur[0] += new[0]
    cur[2] = max(cur[2], new[2])
    cur[4] = max(cur[4], new[4])


def compact_folded(table: Dict[str, Tuple[List[Any], array]]) -> None:
    """Reduce merged.db's native buckets of each series to the coarsest schema among them, in place.

    ``table`` is the fold's key (JSON of the line without slot and width) -> (line, slots). A scrape reduces
    them to at least that schema anyway, and reductions compose exactly, so this changes no scrape; it keeps
    merged.db at one set of buckets per series however many workers and schemas were folded into it. The zero
    bucket is left to the scrape (see :func:`merge` for why).
    """
    metas: Dict[Tuple[Any, ...], array] = {}
    groups: Dict[Tuple[Any, ...], List[str]] = {}
    for key, (line, slots) in table.items():
        ident = (line[4], line[5], tuple(line[7]), tuple(line[8]))
        if line[2] == META:
            metas[ident] = slots
        elif line[2] == BUCKET:
            groups.setdefault(ident, []).append(key)
    for ident, keys in groups.items():
        mslots = metas.get(ident)
        buckets: Dict[BucketKey, float] = {}
        for key in keys:
            s, sign, i = table[key][0][9]
            buckets[(s, sign, i)] = buckets.get((s, sign, i), 0.0) + table[key][1][0]
        target = target_schema(None if mslots is None else schema_of(mslots[4]), buckets)
        template = table[keys[0]][0]
        for key in keys:
            del table[key]
        for (s, sign, i), c in reduce_buckets(buckets, target).items():
            line = template[:9] + [[s, sign, i]] + template[10:]
            table[json.dumps(line[2:])] = (line, array("d", (c, 0.0)))
        if mslots is not None:
            mslots[4] = max(mslots[4], coarseness(target))


# -- the worker side -----------------------------------------------------------

class MultiProcessNativeState(BucketLimit):
    """One native histogram child's counts in this process's multiprocess files.

    The same interface as ``_native_histogram.NativeHistogramState`` (``observe``, ``snapshot``,
    ``snapshot_with_native``, ``buckets``, exemplars) plus ``tombstone``.
    """

    _multiprocess = True
    __slots__ = ("_a", "_classic", "_config", "_exemplars", "_hist", "_hist_key", "_ident", "_key_parts",
                 "_last_reset", "_layout", "_lock", "_make_exemplar", "_meta", "_meta_key", "_n", "_neg", "_now",
                 "_path", "_pid", "_pos", "_slots", "_sum", "_x")

    def __init__(self, config: NativeConfig, upper_bounds: Sequence[float],
                 make_exemplar: Callable[[Dict[str, str], float], Exemplar], path: str,
                 ident: Callable[[], Ident], metric_name: str, help_text: str, labelnames: Sequence[str],
                 labelvalues: Sequence[str], le: Sequence[str], now: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._classic: Optional[List[float]] = list(upper_bounds) if len(upper_bounds) > 1 else None
        self._n = len(upper_bounds)
        self._make_exemplar = make_exemplar
        self._now = now
        self._lock = Lock()
        self._path = path
        self._ident = ident
        self._key_parts = (metric_name, help_text, list(labelnames), list(labelvalues))
        self._hist_key = series_key("histogram", "", metric_name, help_text, metric_name, labelnames, labelvalues,
                                    list(le))
        self._meta_key = series_key(META, "", metric_name, help_text, metric_name, labelnames, labelvalues)
        self._exemplars: Optional[List[Optional[Exemplar]]] = None
        self._x: Optional[List[ExemplarSlot]] = None
        self._fresh()

    # -- slots ----------------------------------------------------------------

    def _fresh(self) -> None:
        """Resolve the series in this process's store and start with empty in-memory bucket maps."""
        self._slots: Dict[BucketKey, int] = {}
        self._pos: Dict[int, Optional[int]] = {}
        self._neg: Dict[int, Optional[int]] = {}
        self._layout = _layout(self._config.zero_threshold, self._config.schema)
        self._last_reset = self._now()
        self._resolve()
        a = self._a
        a[self._meta + 2] = max(a[self._meta + 2], self._config.zero_threshold)
        a[self._meta + 4] = max(a[self._meta + 4], coarseness(self._config.schema))

    def _resolve(self) -> None:
        self._pid = os.getpid()
        store = get_store(self._path, self._ident())
        _, self._hist = store.slot(self._hist_key, self._n + 1)
        self._sum = self._hist + 2 * self._n
        self._a, self._meta = store.slot(self._meta_key, 3)

    def _rebind(self) -> None:
        """After a fork start afresh in the child's files; after ``close_all`` find the same slots again."""
        if os.getpid() != self._pid:
            self._fresh()
        else:
            self._resolve()  # the keys file is re-read: every slot keeps its position

    def _bucket_slot(self, schema: int, sign: int, index: int) -> int:
        k = (schema, sign, index)
        p = self._slots.get(k)
        if p is None:
            metric, help_text, lnames, lvalues = self._key_parts
            key = series_key(BUCKET, "", metric, help_text, metric, lnames, lvalues, [schema, sign, index])
            # The newest mapping covers every slot of the file, so it replaces the view for all of them.
            self._a, p = get_store(self._path, self._ident()).slot(key, 1)
            self._slots[k] = p
        return p

    # -- observing ------------------------------------------------------------

    def observe(self, amount: float, exemplar: Optional[Dict[str, str]] = None) -> None:
        """Record one observation (the histogram child's ``observe`` itself)."""
        classic = self._classic
        ci = 0 if classic is None else bisect_left(classic, amount)
        layout = self._layout
        zt = layout[0]
        if amount > zt:
            key = bucket_key(amount, layout[2])
            if key is not None and self._layout is layout:
                # From the check to the first increment: no call, no backward jump (see the module docstring).
                try:
                    a = self._a
                    a[self._pos[key]] += 1.0
                except (KeyError, TypeError, IndexError, ValueError):  # new bucket, newer mapping, fork
                    self._observe_locked(amount, ci)
                else:
                    a[self._hist + 2 * ci] += 1.0
                    a[self._sum] += amount
            else:
                self._observe_locked(amount, ci)
        elif amount < -zt:
            key = bucket_key(-amount, layout[2])
            if key is not None and self._layout is layout:
                try:
                    a = self._a
                    a[self._neg[key]] += 1.0
                except (KeyError, TypeError, IndexError, ValueError):
                    self._observe_locked(amount, ci)
                else:
                    a[self._hist + 2 * ci] += 1.0
                    a[self._sum] += amount
            else:
                self._observe_locked(amount, ci)
        elif layout is _FROZEN or self._layout is not layout or amount != amount:  # frozen: nan threshold
            self._observe_locked(amount, ci)
        else:
            try:
                a = self._a
                a[self._meta] += 1.0
            except ValueError:
                self._observe_locked(amount, ci)
            else:
                a[self._hist + 2 * ci] += 1.0
                a[self._sum] += amount
        if exemplar:
            self.set_exemplar(ci if amount == amount else self._n - 1, self._make_exemplar(exemplar, amount))

    def _observe_locked(self, amount: float, ci: int) -> None:
        with self._lock:
            try:
                self._add(amount, ci, self._layout)
            except ValueError:  # released mapping: forked child or closed files; nothing was written
                self._rebind()
                self._add(amount, ci, self._layout)
            if self._config.max_buckets and len(self._pos) + len(self._neg) > self._config.max_buckets:
                self._limit(amount, ci)

    def _add(self, amount: float, ci: int, layout: Layout) -> None:
        """One observation; the caller holds ``_lock``."""
        self._a[self._sum]  # raises ValueError before any write when the mapping was released
        zt, schema = layout[0], layout[1]
        if amount > zt or amount < -zt:
            sign = 1 if amount > 0 else -1
            buckets = self._pos if sign > 0 else self._neg
            key = bucket_index(amount, schema)
            p = buckets.get(key)
            if p is None:
                p = buckets[key] = self._bucket_slot(schema, sign, key)
            self._a[p] += 1.0
        elif amount == amount:
            self._a[self._meta] += 1.0
        else:
            ci = self._n - 1  # NaN: the +Inf classic bucket, no native bucket
        a = self._a
        a[self._hist + 2 * ci] += 1.0
        a[self._sum] += amount

    # -- the bucket limit: the hooks of BucketLimit -----------------------------

    def _announce(self, zero_threshold: float, schema: int) -> None:
        # Before observers use the new layout: a scrape then reduces and folds the old slots.
        a = self._a
        a[self._meta + 2] = max(a[self._meta + 2], zero_threshold)
        a[self._meta + 4] = max(a[self._meta + 4], coarseness(schema))

    def _halve_buckets(self, schema: int) -> None:
        self._pos = self._halve(self._pos, schema, 1)
        self._neg = self._halve(self._neg, schema, -1)

    def _halve(self, buckets: Dict[int, Optional[int]], schema: int, sign: int) -> Dict[int, Optional[int]]:
        """The bucket map at the next coarser ``schema``: counts stay in their old slots, new ones come lazily."""
        out: Dict[int, Optional[int]] = {}
        for key in buckets:
            key = -(-key // 2)
            out[key] = self._slots.get((schema, sign, key))
        return out

    def _merge_into_zero(self, index: int) -> None:
        # The counts stay in their slots: the stored threshold makes the scrape fold them (module docstring).
        self._pos.pop(index, None)
        self._neg.pop(index, None)

    def _reset(self) -> None:
        a = self._a
        for i in range(self._hist, self._sum + 1, 2):
            a[i] = 0.0
        a[self._meta] = 0.0
        for p in self._slots.values():
            a[p] = 0.0
        a[self._meta + 2] = self._config.zero_threshold
        a[self._meta + 4] = coarseness(self._config.schema)
        self._pos = {}
        self._neg = {}
        self._layout = _layout(self._config.zero_threshold, self._config.schema)
        self._last_reset = self._now()

    # -- reading --------------------------------------------------------------

    def tombstone(self) -> None:
        """Hide every slot of this series from scrapes (``remove``/``clear``)."""
        with self._lock:
            try:
                self._a[self._sum]
            except ValueError:
                self._rebind()
            a = self._a
            for p in (self._hist, self._meta, *self._slots.values()):
                a[p + 1] = TOMBSTONE

    def set_exemplar(self, index: int, exemplar: Exemplar) -> None:
        """Remember the latest exemplar of classic bucket ``index`` (also in the file, for the scrape)."""
        ex = self._exemplars
        if ex is None:
            ex = self._exemplars = [None] * self._n
        ex[index] = exemplar
        if self._x is None:
            le = json.loads(self._hist_key)[7]
            binding = Binding(self._path, self._ident, self._hist_key, self._n + 1)
            self._x = [ExemplarSlot(binding, self._key_parts[0] + "_bucket", bound) for bound in le]
        self._x[index].write(*_mp_store._exemplar_of(exemplar))

    def exemplars(self) -> Optional[List[Optional[Exemplar]]]:
        """Latest exemplar per classic bucket, or ``None`` when none was ever set."""
        return None if self._exemplars is None else list(self._exemplars)

    def _read(self) -> Tuple[List[float], float, Merged]:
        with self._lock:
            try:
                self._a[self._sum]
            except ValueError:
                self._rebind()
            a = self._a
            counts = a[self._hist:self._sum:2].tolist()
            total = a[self._sum]
            buckets = {k: a[p] for k, p in self._slots.items()}
            merged = merge(schema_of(a[self._meta + 4]), a[self._meta + 2], a[self._meta], buckets)
        return counts, total, merged

    def snapshot(self) -> Tuple[List[float], float]:
        """This process's cumulative classic bucket counts (the last is the count) and sum."""
        counts, total, _ = self._read()
        acc = 0.0
        for i, c in enumerate(counts):
            acc += c
            counts[i] = acc
        return counts, total

    def snapshot_with_native(self) -> Tuple[List[float], float, NativeCount]:
        """``snapshot()`` and this process's native part, reduced to its current schema."""
        counts, total, merged = self._read()
        acc = 0.0
        for i, c in enumerate(counts):
            acc += c
            counts[i] = acc
        return counts, total, native_sample(acc, total, merged)

    def native(self) -> NativeHistogram:
        """This process's native part, spans and deltas ready for exposition."""
        return self.snapshot_with_native()[2].native

    def buckets(self) -> Tuple[int, float, float, Dict[int, float], Dict[int, float]]:
        """Schema, zero threshold, zero count, positive and negative buckets of this process (for tests)."""
        schema, threshold, zero, pos, neg = self._read()[2]
        return schema, threshold, zero, pos, neg


class _LockedMultiProcessNativeState(LockedObserve, MultiProcessNativeState):
    """Every observation under the lock, for interpreters where ``+=`` on a slot is not atomic."""

    __slots__ = ()


StateClass = MultiProcessNativeState if values._GIL_ATOMIC else _LockedMultiProcessNativeState


def new_state(config: NativeConfig, upper_bounds: Sequence[float], metric_name: str,
              make_exemplar: Callable[[Dict[str, str], float], Exemplar], ident: Callable[[], Ident],
              help_text: str, labelnames: Sequence[str], labelvalues: Sequence[str],
              le: Sequence[str]) -> MultiProcessNativeState:
    """The native state of a new histogram child in this process's files in ``PROMETHEUS_MULTIPROC_DIR``."""
    return StateClass(config, upper_bounds, make_exemplar, values._require_dir(), ident, metric_name, help_text,
                      labelnames, labelvalues, le)

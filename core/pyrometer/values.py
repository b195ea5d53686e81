"""Where a metric child keeps its numbers.

A child holds one *value cell*. Which cell it gets is decided when the child is
created, not at import, so a later switch (multiprocess mode, a test that
patches ``ValueClass``) applies to every metric created afterwards.

Single-process cells come in two kinds:

* ``_AtomicValue``: no lock. On GIL builds of CPython 3.10+ the bytecode of
  ``self._value += amount`` on a slot holding a float has no point where the
  interpreter can switch threads (switches happen only at calls, backward jumps
  and function entry), so the read-modify-write is atomic. A lock would cost
  more than the rest of ``Counter.inc`` put together. tests/core/test_threads.py
  hammers this with a tiny switch interval and checks exact totals.
* ``MutexValue``: the same behind a lock, used on 3.9 (which could switch
  between any two instructions) and on free-threaded builds with the GIL off.
"""

from __future__ import annotations

import sys
from threading import Lock
from typing import Any, Callable, List, Optional, Sequence

from .samples import Exemplar

_GIL_ATOMIC = sys.version_info >= (3, 10) and bool(getattr(sys, "_is_gil_enabled", lambda: True)())


class MutexValue:
    """A float behind a lock; prometheus_client's single-process value."""

    _multiprocess = False
    __slots__ = ("_exemplar", "_lock", "_value")

    def __init__(self, typ: str = "", metric_name: str = "", name: str = "", labelnames: Sequence[str] = (),
                 labelvalues: Sequence[str] = (), help_text: str = "", **kwargs: Any) -> None:
        self._value = 0.0
        self._exemplar: Optional[Exemplar] = None
        self._lock = Lock()

    def inc(self, amount: float) -> None:
        """Add ``amount``."""
        with self._lock:
            self._value += amount

    def set(self, value: float, timestamp: Optional[float] = None) -> None:
        """Replace the value."""
        with self._lock:
            self._value = value

    def set_exemplar(self, exemplar: Exemplar) -> None:
        """Remember the latest exemplar."""
        with self._lock:
            self._exemplar = exemplar

    def get(self) -> float:
        """The current value."""
        with self._lock:
            return self._value

    def get_exemplar(self) -> Optional[Exemplar]:
        """The latest exemplar, if any."""
        with self._lock:
            return self._exemplar


class _AtomicValue:
    """``MutexValue`` without the lock, for interpreters where ``+=`` on a float slot is atomic."""

    _multiprocess = False
    __slots__ = ("_exemplar", "_value")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._value = 0.0
        self._exemplar: Optional[Exemplar] = None

    def inc(self, amount: float) -> None:
        self._value += amount

    def set(self, value: float, timestamp: Optional[float] = None) -> None:
        self._value = value

    def set_exemplar(self, exemplar: Exemplar) -> None:
        self._exemplar = exemplar

    def get(self) -> float:
        return self._value

    def get_exemplar(self) -> Optional[Exemplar]:
        return self._exemplar


class _HistogramCounts:
    """Per-bucket (non-cumulative) counts plus the sum; cumulated only when rendered."""

    __slots__ = ("_counts", "_exemplars", "_sum")

    def __init__(self, nbuckets: int) -> None:
        self._counts: List[float] = [0.0] * nbuckets
        self._sum = 0.0
        self._exemplars: Optional[List[Optional[Exemplar]]] = None

    def observe(self, index: int, amount: float) -> None:
        """Count one observation into bucket ``index``."""
        self._counts[index] += 1.0
        self._sum += amount

    def set_exemplar(self, index: int, exemplar: Exemplar) -> None:
        """Remember the latest exemplar of bucket ``index``."""
        ex = self._exemplars
        if ex is None:
            ex = self._exemplars = [None] * len(self._counts)
        ex[index] = exemplar

    def _read(self) -> tuple[List[float], float]:
        return list(self._counts), self._sum

    def snapshot(self) -> tuple[List[float], float]:
        """Cumulative bucket counts and the sum."""
        counts, total = self._read()
        acc = 0.0
        for i, c in enumerate(counts):
            acc += c
            counts[i] = acc
        return counts, total

    def exemplars(self) -> Optional[List[Optional[Exemplar]]]:
        """Latest exemplar per bucket, or ``None`` when none was ever set."""
        return None if self._exemplars is None else list(self._exemplars)


class _LockedHistogramCounts(_HistogramCounts):
    """``_HistogramCounts`` for interpreters without atomic ``+=`` (see module docstring)."""

    __slots__ = ("_lock",)

    def __init__(self, nbuckets: int) -> None:
        super().__init__(nbuckets)
        self._lock = Lock()

    def observe(self, index: int, amount: float) -> None:
        with self._lock:
            self._counts[index] += 1.0
            self._sum += amount

    def _read(self) -> tuple[List[float], float]:
        with self._lock:
            return list(self._counts), self._sum


HistogramCounts = _HistogramCounts if _GIL_ATOMIC else _LockedHistogramCounts


def get_value_class() -> Callable[..., Any]:
    """The value class that metrics created now will use."""
    if ValueClass is not None:
        return ValueClass
    return _AtomicValue if _GIL_ATOMIC else MutexValue


# Assigning a class here makes every metric created afterwards use it (the
# seam prometheus_client's users patch in tests). Left at None, pyrometer picks
# the fastest correct cell for this interpreter.
ValueClass: Optional[Callable[..., Any]] = None


_LocalValue: Callable[[], Any] = _AtomicValue if _GIL_ATOMIC else MutexValue


def new_value(typ: str, metric_name: str, name: str, labelnames: Sequence[str],
              labelvalues: Sequence[str], help_text: str, **kwargs: Any) -> Any:
    """A fresh value cell for one sample of a new child."""
    cls = ValueClass
    if cls is None:
        return _LocalValue()
    return cls(typ, metric_name, name, labelnames, labelvalues, help_text, **kwargs)


def close_all_multiprocess_files() -> None:
    """Close memory-mapped files held by this process (no-op without multiprocess mode)."""

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

Multiprocess cells (``PROMETHEUS_MULTIPROC_DIR`` set when the child is
created, or ``ValueClass = MultiProcessValue()``) live in ``_mp_store``: the
same ``+=``, on a float64 in this process's memory-mapped file, with the same
lock-or-not rule.
"""

from __future__ import annotations

import os
import sys
import warnings
from threading import Lock
from typing import Any, Callable, List, Optional, Sequence, Union

from . import _mp_store
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

_LocalValue: type = _AtomicValue if _GIL_ATOMIC else MutexValue
_DEFAULT_VALUE_CLASS = _LocalValue

# Assigning a class here makes every metric created afterwards use it (the seam
# prometheus_client's users patch in tests, e.g. ``values.ValueClass =
# values.MultiProcessValue()``). Left at its default, pyrometer picks per child:
# the fastest correct local cell, or a multiprocess cell when
# PROMETHEUS_MULTIPROC_DIR is set at the time the child is created.
ValueClass: Callable[..., Any] = _DEFAULT_VALUE_CLASS


_environ_data = getattr(os.environ, "_data", None)
if os.name == "posix" and isinstance(_environ_data, dict) and b"PATH" in _environ_data:
    def _multiprocess_env() -> bool:
        """Whether PROMETHEUS_MULTIPROC_DIR (or its old lowercase name) is set, in one C dict lookup each.

        ``key in os.environ`` goes through ``Mapping.__contains__`` and a KeyError when absent: about 1 us,
        which would double the cost of creating a label child.
        """
        return b"PROMETHEUS_MULTIPROC_DIR" in _environ_data or b"prometheus_multiproc_dir" in _environ_data  # type: ignore[operator]
else:  # pragma: no cover - other platforms keep os.environ's own (slower) lookup
    def _multiprocess_env() -> bool:
        return "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ


def _multiproc_dir() -> Optional[str]:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path is None:
        path = os.environ.get("prometheus_multiproc_dir")
        if path is not None:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
            warnings.warn("prometheus_multiproc_dir variable has been deprecated in favor of the upper case "
                          "naming PROMETHEUS_MULTIPROC_DIR", DeprecationWarning, stacklevel=4)
    return path


def MultiProcessValue(process_identifier: Callable[[], Union[int, str]] = os.getpid) -> type:
    """A value class writing to this process's files in ``PROMETHEUS_MULTIPROC_DIR``.

    ``process_identifier()`` must return distinct values in processes running at
    the same time; it names the files and the ``pid`` label.
    """
    base = _mp_store.MultiProcessCell if _GIL_ATOMIC else _mp_store.LockedMultiProcessCell

    class MmapedValue(base):  # type: ignore[misc, valid-type]
        """A float in this process's memory-mapped values file."""

        __slots__ = ()
        _mp_ident = staticmethod(process_identifier)

        def __init__(self, typ: str, metric_name: str, name: str, labelnames: Sequence[str],
                     labelvalues: Sequence[str], help_text: str, multiprocess_mode: str = "", **kwargs: Any) -> None:
            key = _mp_store.series_key(typ, multiprocess_mode if typ == "gauge" else "", metric_name, help_text,
                                       name, labelnames, labelvalues, kwargs.get("extra"))
            super().__init__(_mp_store.Binding(_require_dir(), process_identifier, key, 1))

        @classmethod
        def close_all_files(cls) -> None:
            _mp_store.close_all()

    return MmapedValue


def _require_dir() -> str:
    path = _multiproc_dir()
    if not path:
        raise ValueError("env PROMETHEUS_MULTIPROC_DIR is not set")
    return path


_default_mp: Optional[type] = None


def _default_multiprocess() -> type:
    global _default_mp
    if _default_mp is None:
        _default_mp = MultiProcessValue()
    return _default_mp


def get_value_class() -> Callable[..., Any]:
    """The value class that metrics created now will use."""
    if ValueClass is not _DEFAULT_VALUE_CLASS:
        return ValueClass
    if _multiproc_dir() is not None:
        return _default_multiprocess()
    return _LocalValue


def new_value(typ: str, metric_name: str, name: str, labelnames: Sequence[str],
              labelvalues: Sequence[str], help_text: str, **kwargs: Any) -> Any:
    """A fresh value cell for one sample of a new child."""
    cls = ValueClass
    if cls is _DEFAULT_VALUE_CLASS:
        if not _multiprocess_env():
            return _LocalValue()
        cls = _default_multiprocess()
    return cls(typ, metric_name, name, labelnames, labelvalues, help_text, **kwargs)


def inline_values() -> bool:
    """Whether a child created now may keep its numbers in slots of its own instead of a cell object.

    That is exactly when ``new_value`` and ``new_histogram_counts`` would hand out the
    lock-free local cells: the child's own ``+=`` on its slots is then just as atomic,
    and saves the cell (48 bytes or more per child) and one call per update.
    """
    return (_LocalValue is _AtomicValue and HistogramCounts is _HistogramCounts
            and ValueClass is _DEFAULT_VALUE_CLASS and not _multiprocess_env())


class InlineCell:
    """The cell interface (``get``, ``inc``, ``set``, exemplars) over a child that keeps its value inline.

    Made on demand by the child's ``_value`` property, so code written against
    prometheus_client (``metric.labels(...)._value.get()`` in tests) keeps working.
    """

    _multiprocess = False
    __slots__ = ("_owner",)

    def __init__(self, owner: Any) -> None:
        self._owner = owner

    def inc(self, amount: float) -> None:
        self._owner._v += amount

    def set(self, value: float, timestamp: Optional[float] = None) -> None:
        self._owner._v = value

    def get(self) -> float:
        return self._owner._v

    def set_exemplar(self, exemplar: Exemplar) -> None:
        self._owner._ex = exemplar

    def get_exemplar(self) -> Optional[Exemplar]:
        return self._owner._ex


class InlineSummaryCount(InlineCell):
    """``InlineCell`` over a Summary child's own ``_c`` slot (its count)."""

    __slots__ = ()

    def inc(self, amount: float) -> None:
        self._owner._c += amount

    def set(self, value: float, timestamp: Optional[float] = None) -> None:
        self._owner._c = value

    def get(self) -> float:
        return self._owner._c


class InlineSummarySum(InlineCell):
    """``InlineCell`` over a Summary child's own ``_s`` slot (its sum)."""

    __slots__ = ()

    def inc(self, amount: float) -> None:
        self._owner._s += amount

    def set(self, value: float, timestamp: Optional[float] = None) -> None:
        self._owner._s = value

    def get(self) -> float:
        return self._owner._s


class InlineHistogramCounts:
    """``_HistogramCounts``'s interface over a histogram child that keeps ``_counts``, ``_sum`` and
    ``_exemplars`` in slots of its own (see ``InlineCell``)."""

    __slots__ = ("_owner",)

    def __init__(self, owner: Any) -> None:
        self._owner = owner

    def observe(self, index: int, amount: float) -> None:
        owner = self._owner
        owner._counts[index] += 1.0
        owner._sum += amount

    def set_exemplar(self, index: int, exemplar: Exemplar) -> None:
        _HistogramCounts.set_exemplar(self._owner, index, exemplar)

    def _read(self) -> tuple[List[float], float]:
        return list(self._owner._counts), self._owner._sum

    snapshot = _HistogramCounts.snapshot

    def exemplars(self) -> Optional[List[Optional[Exemplar]]]:
        return _HistogramCounts.exemplars(self._owner)


def _multiprocess_identity() -> Optional[Callable[[], Union[int, str]]]:
    """The process identifier of the multiprocess value class new children get, or ``None`` for local cells."""
    cls = ValueClass
    ident = getattr(cls, "_mp_ident", None)
    if ident is None and cls is _DEFAULT_VALUE_CLASS and _multiprocess_env():
        ident = os.getpid
    return ident


def new_histogram_counts(nbuckets: int, metric_name: str = "", labelnames: Sequence[str] = (),
                         labelvalues: Sequence[str] = (), help_text: str = "", le: Sequence[str] = ()) -> Any:
    """Bucket counts and sum for one histogram child: local, or in this process's files in multiprocess mode."""
    ident = _multiprocess_identity()
    if ident is None:
        return HistogramCounts(nbuckets)
    key = _mp_store.series_key("histogram", "", metric_name, help_text, metric_name, labelnames, labelvalues,
                               list(le))
    binding = _mp_store.Binding(_require_dir(), ident, key, nbuckets + 1)
    counts = _mp_store.MultiProcessHistogramCounts if _GIL_ATOMIC else _mp_store.LockedMultiProcessHistogramCounts
    return counts(binding, nbuckets)


def multiprocess_cell(typ: str, metric_name: str, name: str, labelnames: Sequence[str],
                      labelvalues: Sequence[str], help_text: str, extra: Any = None) -> Any:
    """A one-slot cell in this process's files for Info/Enum state, or ``None`` outside multiprocess mode."""
    ident = _multiprocess_identity()
    if ident is None:
        return None
    key = _mp_store.series_key(typ, "", metric_name, help_text, name, labelnames, labelvalues, extra)
    cell = _mp_store.LockedMultiProcessCell if not _GIL_ATOMIC else _mp_store.MultiProcessCell
    return cell(_mp_store.Binding(_require_dir(), ident, key, 1))


def close_all_multiprocess_files() -> None:
    """Close the memory-mapped files of this process; cells reopen them if written again."""
    _mp_store.close_all()

"""The writer side of multiprocess mode: one pair of files per process.

Each process that creates metrics while ``PROMETHEUS_MULTIPROC_DIR`` is set owns

* ``w-<pid>.values``: an array of *slots*, each two float64 (value, timestamp),
  memory-mapped and written in place. It grows by doubling; a grown file gets a
  new mapping, and cells made earlier keep their old mapping, which shares the
  same page-cache pages (``MAP_SHARED``), so no cell ever has to be re-pointed.
* ``w-<pid>.keys``: append-only UTF-8 JSON lines. The first line is a header
  ``{"pyrometer": 1, "gen": <random>}``; every other line describes one series:
  ``[slot, nslots, type, mode, metric, help, sample, labelnames, labelvalues, extra]``.

A new series extends ``.values`` (zero-filled) *before* its key line is
appended, so a reader that sees a complete line always finds its slots.

Writes are ``arr[i] += amount`` on a ``memoryview(mmap).cast('d')``: on GIL
builds this read-modify-write has no point where another thread can run (same
reasoning as ``values._AtomicValue``), so the hot path takes no lock. Where
``values._GIL_ATOMIC`` is false, the ``_Locked*`` cells take a per-process lock.

A timestamp field of ``TOMBSTONE`` (-1.0) marks a removed series; readers skip
it, and re-creating the series zeroes the slot.

Fork: a hook releases every view this process mapped, so a cell used in a
forked child raises ``ValueError`` on its first access; the cell then resolves
its slot again in the child's own store (its own files). That check costs the
hot path nothing.
"""

from __future__ import annotations

import fcntl
import json
import mmap
import os
import secrets
import struct
import time
from contextlib import contextmanager
from threading import Lock
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

TOMBSTONE = -1.0
SLOT_BYTES = 16
_INITIAL_SLOTS = 1024
LOCK_NAME = "merged.lock"
MERGED_NAME = "merged.db"

Ident = Union[int, str]


def file_names(path: str, ident: Ident) -> Tuple[str, str]:
    base = os.path.join(path, f"w-{ident}")
    return base + ".keys", base + ".values"


@contextmanager
def dir_lock(path: str) -> Iterator[None]:
    """The directory-wide lock that serializes folds (and store creation against them)."""
    fd = os.open(os.path.join(path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_header(data: bytes) -> Optional[str]:
    """The generation token of a keys file, or ``None`` when its header line is not complete yet."""
    end = data.find(b"\n")
    if end < 0:
        return None
    header = json.loads(data[:end])
    if not isinstance(header, dict) or header.get("pyrometer") != 1:
        raise ValueError("not a pyrometer keys file")
    return str(header["gen"])


class Store:
    """One process's pair of files and its key → slot table."""

    def __init__(self, path: str, ident: Ident) -> None:
        self.path = path
        self.ident = ident
        self.lock = Lock()
        self.slots: Dict[str, int] = {}
        self.views: List[memoryview] = []
        self.bytes_views: List[memoryview] = []
        self.maps: List[mmap.mmap] = []
        self.next_slot = 0
        keys_name, values_name = file_names(path, ident)
        if not os.path.isdir(path):
            raise ValueError(f"PROMETHEUS_MULTIPROC_DIR {path!r} is not a directory")
        try:
            with dir_lock(path):
                self._open(keys_name, values_name)
        except OSError as e:
            raise ValueError(f"PROMETHEUS_MULTIPROC_DIR {path!r} is not writable: {e}") from e

    def _open(self, keys_name: str, values_name: str) -> None:
        from . import _mp_read  # the fold's bookkeeping: which generations are absorbed

        existing = b""
        if os.path.exists(keys_name):
            with open(keys_name, "rb") as f:
                existing = f.read()
            try:
                gen = read_header(existing)
                stale = gen is None or f"{self.ident}:{gen}" in _mp_read.absorbed_tokens(self.path)
            except ValueError:
                stale = True
            if stale:  # a dead process with our pid, already folded (or never finished its header)
                os.unlink(keys_name)
                existing = b""
        self.vfd = os.open(values_name, os.O_RDWR | os.O_CREAT, 0o666)
        good = existing[:existing.rfind(b"\n") + 1]  # drop a line cut short by a kill
        try:
            for raw in good.splitlines()[1:]:
                line = json.loads(raw)
                slot, n = line[0], line[1]
                self.slots[json.dumps(line[2:], ensure_ascii=False)] = slot
                self.next_slot = max(self.next_slot, slot + n)
        except (ValueError, TypeError, IndexError):  # corrupt: scrapes skip it already, so start afresh
            self.slots.clear()
            self.next_slot = 0
            good = b""
        if good:
            self.kfd = os.open(keys_name, os.O_RDWR | os.O_APPEND)
            os.ftruncate(self.kfd, len(good))
        else:
            os.ftruncate(self.vfd, 0)
            self.kfd = os.open(keys_name, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o666)
            header = json.dumps({"pyrometer": 1, "gen": secrets.token_hex(8)})
            os.write(self.kfd, header.encode() + b"\n")
        size = os.fstat(self.vfd).st_size // SLOT_BYTES
        self.capacity = 0
        self._map(max(size, self.next_slot, _INITIAL_SLOTS))

    def _map(self, slots: int) -> None:
        cap = max(self.capacity, _INITIAL_SLOTS)
        while cap < slots:
            cap *= 2
        if os.fstat(self.vfd).st_size < cap * SLOT_BYTES:
            os.ftruncate(self.vfd, cap * SLOT_BYTES)
        mm = mmap.mmap(self.vfd, cap * SLOT_BYTES)
        self.maps.append(mm)
        self.bytes_views.append(memoryview(mm))
        self.views.append(self.bytes_views[-1].cast("d"))
        self.capacity = cap

    def slot(self, key: str, nslots: int) -> Tuple[memoryview, int]:
        """The view and first double index of the series ``key`` (a JSON list), creating it if new."""
        with self.lock:
            slot = self.slots.get(key)
            view = self.views[-1]
            if slot is None:
                slot = self.next_slot
                if slot + nslots > self.capacity:
                    self._map(slot + nslots)
                    view = self.views[-1]
                self.next_slot = slot + nslots
                line = "[" + str(slot) + "," + str(nslots) + "," + key[1:] + "\n"
                os.write(self.kfd, line.encode("utf-8"))
                self.slots[key] = slot
            elif view[2 * slot + 1] == TOMBSTONE:  # re-created after remove(): start from zero
                for i in range(2 * slot, 2 * (slot + nslots)):
                    view[i] = 0.0
            return view, 2 * slot

    def record(self, key: str, nslots: int) -> Tuple[memoryview, int]:
        """A byte view and byte offset of the raw record ``key`` (exemplars), creating it if new."""
        _, index = self.slot(key, nslots)
        return self.bytes_views[-1], index * 8

    def close(self) -> None:
        for view in self.views + self.bytes_views:
            view.release()
        for mm in self.maps:
            try:
                mm.close()
            except BufferError:  # a view still exported somewhere: the mapping goes with the last reference
                pass
        self.views.clear()
        self.bytes_views.clear()
        self.maps.clear()
        for fd in (self.vfd, self.kfd):
            try:
                os.close(fd)
            except OSError:
                pass


_stores: Dict[Tuple[str, Ident], Store] = {}
_stores_lock = Lock()


def get_store(path: str, ident: Ident) -> Store:
    store = _stores.get((path, ident))
    if store is None:
        with _stores_lock:
            store = _stores.get((path, ident))
            if store is None:
                store = _stores[(path, ident)] = Store(path, ident)
    return store


def close_all() -> None:
    """Unmap and close every store of this process; cells re-resolve on their next access."""
    with _stores_lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()


def _after_fork_in_child() -> None:
    # Locks another thread may have held at the fork would never be released in the child.
    global _stores_lock, _exemplar_lock
    _stores_lock = Lock()
    _exemplar_lock = Lock()
    LockedMultiProcessCell._lock = Lock()
    LockedMultiProcessHistogramCounts._lock = Lock()
    stores = list(_stores.values())
    _stores.clear()
    for store in stores:
        store.close()


os.register_at_fork(after_in_child=_after_fork_in_child)


def series_key(typ: str, mode: str, metric_name: str, help_text: str, sample: str, labelnames: Any,
               labelvalues: Any, extra: Any = None) -> str:
    return json.dumps([typ, mode, metric_name, help_text, sample, list(labelnames), list(labelvalues), extra],
                      ensure_ascii=False)


class Binding:
    """What a cell needs to find (again) its slots: directory, process identity, key and width."""

    __slots__ = ("ident", "key", "nslots", "path")

    def __init__(self, path: str, ident: Callable[[], Ident], key: str, nslots: int) -> None:
        self.path = path
        self.ident = ident
        self.key = key
        self.nslots = nslots

    def resolve(self) -> Tuple[memoryview, int]:
        return get_store(self.path, self.ident()).slot(self.key, self.nslots)


# -- exemplars ------------------------------------------------------------------
#
# The latest exemplar of a series lives in a record of its own slots in the values file (key line type
# "exemplar", extra = [le or null, nslots]): [seq u64][timestamp f64][value f64][length u32, pad][labels JSON]...
# [seq u64 at the record's end]. The writer stores the end seq, then the body, then the head seq; a reader
# accepts a record whose head and end seq agree (a torn copy does not). Records start at 256 bytes and
# double (up to what 128 characters of labels can need) when an exemplar does not fit; each series keeps at
# most its largest record, so the space is bounded by the series that ever had exemplars.

EXEMPLAR_HEAD = struct.Struct("<QddI4x")
SEQ = struct.Struct("<Q")
_exemplar_lock = Lock()


class ExemplarSlot:
    """Where one series (or histogram bucket) writes its latest exemplar."""

    __slots__ = ("binding", "le", "nslots", "offset", "sample", "seq", "view")

    def __init__(self, binding: Binding, sample: str, le: Optional[str]) -> None:
        self.binding = binding
        self.sample = sample
        self.le = le
        self.nslots = 16
        self.seq = 0
        self.view: Optional[memoryview] = None
        self.offset = 0

    def _resolve(self) -> None:
        _, _, metric, help_text, _, lnames, lvalues, _ = json.loads(self.binding.key)
        key = series_key("exemplar", "", metric, help_text, self.sample, lnames, lvalues, [self.le, self.nslots])
        store = get_store(self.binding.path, self.binding.ident())
        self.view, self.offset = store.record(key, self.nslots)

    def write(self, labels: Dict[str, str], value: float, timestamp: float) -> None:
        payload = json.dumps(labels, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        need = EXEMPLAR_HEAD.size + len(payload) + SEQ.size
        with _exemplar_lock:
            if need > self.nslots * SLOT_BYTES:
                while need > self.nslots * SLOT_BYTES:
                    self.nslots *= 2
                self.view = None
            for _ in range(2):
                try:
                    if self.view is None:
                        self._resolve()
                    self.seq += 1
                    self._store(payload, value, timestamp)
                    return
                except ValueError:  # released view: forked child or closed files
                    self.view = None

    def _store(self, payload: bytes, value: float, timestamp: float) -> None:
        view, off = self.view, self.offset
        assert view is not None
        seq = SEQ.pack(self.seq)
        end = off + self.nslots * SLOT_BYTES - SEQ.size
        view[end:end + SEQ.size] = seq
        body = EXEMPLAR_HEAD.pack(self.seq, timestamp, value, len(payload))[SEQ.size:] + payload
        view[off + SEQ.size:off + SEQ.size + len(body)] = body
        view[off:off + SEQ.size] = seq


def _exemplar_of(exemplar: Any) -> Tuple[Dict[str, str], float, float]:
    ts = exemplar.timestamp
    return dict(exemplar.labels), float(exemplar.value), float(ts) if ts is not None else time.time()


class _SlotView:
    """A run of slots in this process's values file: the array view ``_a``, the first index ``_i``, and how
    to find them again (``_b``) when a fork left this object holding the parent's released mapping."""

    _multiprocess = True
    __slots__ = ("_a", "_b", "_i", "_x")

    def _rebind(self) -> None:
        self._a, self._i = self._b.resolve()

    def tombstone(self) -> None:
        """Hide this series from scrapes (``remove``/``clear``)."""
        try:
            self._a[self._i + 1] = TOMBSTONE
        except ValueError:
            self._rebind()
            self._a[self._i + 1] = TOMBSTONE


class MultiProcessCell(_SlotView):
    """A float in this process's values file: the multiprocess counterpart of ``values._AtomicValue``."""

    __slots__ = ("_exemplar",)

    def __init__(self, binding: Binding) -> None:
        self._b = binding
        self._a, self._i = binding.resolve()
        self._exemplar: Any = None
        self._x: Optional[ExemplarSlot] = None

    def inc(self, amount: float) -> None:
        try:
            self._a[self._i] += amount
        except ValueError:  # released view: forked child or closed files
            self._rebind()
            self._a[self._i] += amount

    def set(self, value: float, timestamp: Optional[float] = None) -> None:
        value = float(value)
        try:
            self._a[self._i] = value
        except ValueError:
            self._rebind()
            self._a[self._i] = value
        if timestamp is not None:
            self._a[self._i + 1] = float(timestamp)

    def get(self) -> float:
        try:
            return self._a[self._i]
        except ValueError:
            self._rebind()
            return self._a[self._i]

    def set_exemplar(self, exemplar: Any) -> None:
        self._exemplar = exemplar
        x = self._x
        if x is None:
            x = self._x = ExemplarSlot(self._b, json.loads(self._b.key)[4], None)
        x.write(*_exemplar_of(exemplar))

    def get_exemplar(self) -> Any:
        return self._exemplar

class LockedMultiProcessCell(MultiProcessCell):
    """``MultiProcessCell`` behind a per-process lock, for interpreters without atomic ``+=``."""

    __slots__ = ()
    _lock = Lock()

    def inc(self, amount: float) -> None:
        with self._lock:
            MultiProcessCell.inc(self, amount)

    def set(self, value: float, timestamp: Optional[float] = None) -> None:
        with self._lock:
            MultiProcessCell.set(self, value, timestamp)


class MultiProcessHistogramCounts(_SlotView):
    """``values._HistogramCounts`` over consecutive slots: one per bucket (not cumulative), then the sum."""

    __slots__ = ("_exemplars", "_n", "_sum")

    def __init__(self, binding: Binding, nbuckets: int) -> None:
        self._b = binding
        self._n = nbuckets
        self._exemplars: Optional[List[Any]] = None
        self._x: Optional[List[ExemplarSlot]] = None
        self._rebind()

    def _rebind(self) -> None:
        super()._rebind()
        self._sum = self._i + 2 * self._n

    def observe(self, index: int, amount: float) -> None:
        try:
            a = self._a
            a[self._i + 2 * index] += 1.0
        except ValueError:
            self._rebind()
            a = self._a
            a[self._i + 2 * index] += 1.0
        a[self._sum] += amount

    def set_exemplar(self, index: int, exemplar: Any) -> None:
        ex = self._exemplars
        if ex is None:
            ex = self._exemplars = [None] * self._n
        ex[index] = exemplar
        if self._x is None:
            key = json.loads(self._b.key)
            self._x = [ExemplarSlot(self._b, key[2] + "_bucket", le) for le in key[7]]
        self._x[index].write(*_exemplar_of(exemplar))

    def _read(self) -> Tuple[List[float], float]:
        try:
            a = self._a
            return a[self._i:self._sum:2].tolist(), a[self._sum]
        except ValueError:
            self._rebind()
            return self._read()

    def snapshot(self) -> Tuple[List[float], float]:
        counts, total = self._read()
        acc = 0.0
        for i, c in enumerate(counts):
            acc += c
            counts[i] = acc
        return counts, total

    def exemplars(self) -> Optional[List[Any]]:
        return None if self._exemplars is None else list(self._exemplars)

class LockedMultiProcessHistogramCounts(MultiProcessHistogramCounts):
    """``MultiProcessHistogramCounts`` behind a per-process lock."""

    __slots__ = ()
    _lock = Lock()

    def observe(self, index: int, amount: float) -> None:
        with self._lock:
            MultiProcessHistogramCounts.observe(self, index, amount)

"""The reader side of multiprocess mode: the scrape-time merge.

Each key line is decoded once per process lifetime: a module-level cache keeps,
per keys file (its path, its header line with the writer's random generation,
bytes consumed), the *ops* its lines decode to, ``(value index, tombstone
index, series id)``, with series ids interned globally. A scrape then reads
each values file in one ``pread`` and does one add (or compare) per op; summed
columns of files holding the same series are added element-wise first.

``merged.db`` holds what dead workers left: ``MAGIC``, a little-endian u64
length, JSON metadata ``{"absorbed": {"<pid>:<gen>": fold time}, "keys": [...]}``
(key lines as in the workers' files, plus the pid for ``all``-mode gauges),
padding to 8 bytes, then the float64 slots. A fold (``_mp_fold``) writes a temporary file,
fsyncs it, renames it over ``merged.db``, fsyncs the directory and only then
deletes the worker's files. A scrape reads the worker files *before* it reads
``merged.db`` and ignores every worker generation listed as absorbed; with
that order a fold running concurrently, or killed at any step, never makes a
scrape count a worker twice or not at all.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from array import array
from operator import add, itemgetter
from threading import Lock
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

from . import _mp_native
from ._mp_store import EXEMPLAR_HEAD, MERGED_NAME, SEQ, SLOT_BYTES, TOMBSTONE, file_names, read_header
from .metrics_core import Metric
from .samples import Exemplar, Sample
from .utils import floatToGoString

logger = logging.getLogger("pyrometer.multiprocess")

MAGIC = b"PYRMRG01"
_HEAD = struct.Struct("<8sQ")
ABSORBED_TTL = 3600.0  # seconds a folded generation stays listed after its files are gone


# Op kinds.
SUM, MIN, MAX, SET, LAST, EXEMPLAR = range(6)
_NATIVE_TAGS = {"nz": 0, "nt": 1, "ns": 2, "nb": 3}
_GAUGE_KIND = {"sum": SUM, "livesum": SUM, "min": MIN, "livemin": MIN, "max": MAX, "livemax": MAX,
               "all": SET, "liveall": SET, "mostrecent": LAST, "livemostrecent": LAST}

_sids: Dict[Tuple[Any, ...], int] = {}
_specs: List[Tuple[Any, ...]] = []
_column_ids: Dict[Tuple[int, ...], int] = {}
SPEC_SLACK = 100_000  # interned series beyond 4x those the files hold before the caches are dropped
_lock = Lock()


def _after_fork_in_child() -> None:
    global _lock
    _lock = Lock()  # a scrape running in another thread at the fork never finishes in the child


os.register_at_fork(after_in_child=_after_fork_in_child)


class CorruptFileError(Exception):
    """A file that cannot be read; the scrape skips it and logs its name."""


def _sid(spec: Tuple[Any, ...]) -> int:
    sid = _sids.get(spec)
    if sid is None:
        sid = _sids[spec] = len(_specs)
        _specs.append(spec)
    return sid


class Decoded:
    """The ops of one keys file (or of merged.db's metadata)."""

    __slots__ = ("columns", "consumed", "gen", "header", "need", "ops")

    def __init__(self, header: bytes = b"", gen: Optional[str] = None) -> None:
        self.header = header
        self.gen = gen
        self.consumed = 0
        self.need = 0
        self.ops: Tuple[List[Any], ...] = ([], [], [], [], [], [])
        self.columns: Optional[Tuple[Callable[[Any], Tuple[float, ...]], Callable[[Any], Tuple[float, ...]],
                                     List[int], int]] = None

    def sum_columns(self) -> Tuple[Callable[[Any], Tuple[float, ...]], Callable[[Any], Tuple[float, ...]], List[int],
                                   int]:
        """(values getter, timestamps getter, series ids, column id) of the summed ops, ordered by series id.

        One C call fetches a column. Files holding the same set of summed series
        (workers running the same code) get the same column id whatever order
        they created the series in, so a scrape adds their columns element-wise.
        """
        cols = self.columns
        if cols is None:
            sums = sorted(self.ops[SUM], key=lambda op: op[2])
            sids = [op[2] for op in sums]
            key = tuple(sids)
            column_id = _column_ids.setdefault(key, len(_column_ids))
            cols = self.columns = (_getter([op[0] for op in sums]), _getter([op[1] for op in sums]), sids, column_id)
        return cols

    def add_line(self, line: List[Any], pid: str) -> None:
        self.columns = None
        slot, n, typ, mode, metric, help_text, sample, lnames, lvalues, extra = line[:10]
        if len(line) > 10 and line[10] is not None:
            pid = line[10]
        base = 2 * slot
        self.need = max(self.need, 2 * (slot + n))
        pairs = tuple(sorted(zip(lnames, lvalues)))
        fam = (metric, typ, help_text)
        ops = self.ops
        if typ == "histogram":
            for i, le in enumerate(extra):
                spec = ("b", fam, pairs, float(le))
                ops[SUM].append((base + 2 * i, base + 1, _sid(spec)))
            ops[SUM].append((base + 2 * len(extra), base + 1, _sid(("h", fam, pairs, None))))
        elif typ == "gauge":
            kind = _GAUGE_KIND.get(mode, SET)
            if kind == SET:
                pairs = pairs + (("pid", str(pid)),)
            sid = _sid(("g", fam, sample, pairs))
            ops[kind].append((base, base + 1, sid, None) if kind == LAST else (base, base + 1, sid))
        elif typ == _mp_native.META:
            # One native histogram's per-worker layout: zero counts add, threshold and coarseness take the max.
            fam = (metric, "histogram", help_text)
            ops[SUM].append((base, base + 1, _sid(("nz", fam, pairs, None))))
            ops[MAX].append((base + 2, base + 1, _sid(("nt", fam, pairs, None))))
            ops[MAX].append((base + 4, base + 1, _sid(("ns", fam, pairs, None))))
        elif typ == _mp_native.BUCKET:
            ops[SUM].append((base, base + 1, _sid(("nb", (metric, "histogram", help_text), pairs, tuple(extra)))))
        elif typ == "exemplar":
            ops[EXEMPLAR].append((base * 8, n * SLOT_BYTES, (sample, pairs, extra[0])))
        elif typ in ("info", "stateset"):
            ops[LAST].append((base, base + 1, _sid(("l", fam, sample, pairs)), extra))
        else:
            ops[SUM].append((base, base + 1, _sid(("s", fam, sample, pairs))))


def _getter(indices: List[int]) -> Callable[[Any], Tuple[float, ...]]:
    if len(indices) == 1:
        i = indices[0]
        return lambda a: (a[i],)
    if not indices:
        return lambda a: ()
    return itemgetter(*indices)


def parse_lines(data: bytes, start: int, name: str) -> Tuple[List[List[Any]], int]:
    """Complete JSON lines of ``data`` from ``start``, and where the next one begins."""
    end = data.rfind(b"\n") + 1
    if end <= start:
        return [], start
    try:
        return [json.loads(raw) for raw in data[start:end].splitlines()], end
    except ValueError as e:
        raise CorruptFileError(f"bad key line ({e})") from None


def _read_exemplar(raw: bytes, off: int, size: int) -> Optional[Exemplar]:
    """The exemplar in a record, or ``None`` when never written or copied mid-write (seqs disagree)."""
    if off + size > len(raw):
        return None
    seq, ts, value, length = EXEMPLAR_HEAD.unpack_from(raw, off)
    if seq == 0 or SEQ.unpack_from(raw, off + size - 8)[0] != seq or length > size:
        return None
    start = off + EXEMPLAR_HEAD.size
    try:
        labels = json.loads(raw[start:start + length])
    except ValueError:
        return None
    return Exemplar(labels, value, ts)


class _Merge:
    """Accumulators for one scrape."""

    def __init__(self, nspecs: int) -> None:
        self.sums = [0.0] * nspecs  # summed series, by id: a list index is cheaper than a dict update
        self.present: Set[int] = set()
        self.columns: Dict[int, List[Any]] = {}  # column id -> [series ids, element-wise sum of the files' columns]
        self.acc: Dict[int, float] = {}  # min/max/per-pid gauges
        self.last: Dict[int, Tuple[float, float, Any]] = {}
        self.exemplars: Dict[Tuple[Any, ...], Exemplar] = {}

    def add(self, decoded: Decoded, vals: Any, raw: bytes = b"", raw_start: int = 0) -> None:
        vget, tget, sids, column_id = decoded.sum_columns()
        column = vget(vals)
        stamps = tget(vals)
        if TOMBSTONE in stamps:  # some series were removed: check each
            sums_acc = self.sums
            for sid, v, t in zip(sids, column, stamps):
                if t != TOMBSTONE:
                    sums_acc[sid] += v
                    self.present.add(sid)
        else:
            group = self.columns.get(column_id)
            if group is None:
                self.columns[column_id] = [sids, column]
            else:
                group[1] = list(map(add, group[1], column))
        acc = self.acc
        get = acc.get
        _, mins, maxs, sets, lasts, exemplars = decoded.ops
        for off, size, key in exemplars:
            ex = _read_exemplar(raw, raw_start + off, size)
            if ex is not None:
                cur = self.exemplars.get(key)
                if cur is None or ex.timestamp > cur.timestamp:  # type: ignore[operator]
                    self.exemplars[key] = ex
        for v, t, sid in sets:
            if vals[t] != TOMBSTONE:
                acc[sid] = vals[v]
        for v, t, sid in mins:
            if vals[t] != TOMBSTONE:
                x = vals[v]
                cur = get(sid)
                if cur is None or x < cur:
                    acc[sid] = x
        for v, t, sid in maxs:
            if vals[t] != TOMBSTONE:
                x = vals[v]
                cur = get(sid)
                if cur is None or x > cur:
                    acc[sid] = x
        last = self.last
        for v, t, sid, extra in lasts:
            ts = vals[t]
            if ts >= 0.0:
                cur = last.get(sid)
                if cur is None or ts > cur[0]:
                    last[sid] = (ts, vals[v], extra)

    def _scatter(self) -> None:
        sums = self.sums
        for sids, column in self.columns.values():
            for sid, v in zip(sids, column):
                sums[sid] += v
            self.present.update(sids)
        self.columns.clear()

    def families(self) -> List[Metric]:
        self._scatter()
        fams: Dict[str, Metric] = {}
        hists: Dict[Tuple[Any, ...], Dict[float, float]] = {}
        hsums: Dict[Tuple[Any, ...], float] = {}
        natives: Dict[Tuple[Any, ...], List[Any]] = {}  # (fam, pairs) -> [zero, threshold, coarseness, buckets]

        def family(fam: Tuple[str, str, str]) -> Metric:
            m = fams.get(fam[0])
            if m is None:
                m = fams[fam[0]] = Metric(fam[0], fam[2], fam[1])
            return m

        specs = _specs
        sums = self.sums
        acc = self.acc
        for sid in sorted(self.present.union(acc, self.last)):
            value = acc[sid] if sid in acc else sums[sid]
            spec = specs[sid]
            tag, fam = spec[0], spec[1]
            m = family(fam)
            if tag == "b":
                hists.setdefault((fam, spec[2]), {})[spec[3]] = value
            elif tag == "h":
                hsums[(fam, spec[2])] = value
                hists.setdefault((fam, spec[2]), {})
            elif tag in _NATIVE_TAGS:
                native = natives.get((fam, spec[2]))
                if native is None:
                    native = natives[(fam, spec[2])] = [0.0, 0.0, 0.0, {}]
                if tag == "nb":
                    native[3][spec[3]] = value
                else:
                    native[_NATIVE_TAGS[tag]] = value
            elif tag == "g":
                if fam[1] == "gauge" and sid in self.last:  # mostrecent
                    ts, latest, _ = self.last[sid]
                    if ts > 0:
                        m.samples.append(Sample(spec[2], dict(spec[3]), latest))
                else:
                    m.samples.append(Sample(spec[2], dict(spec[3]), value))
            elif tag == "l":
                _, latest, extra = self.last[sid]
                labels = dict(spec[3])
                if fam[1] == "info":
                    labels.update(extra)
                    m.samples.append(Sample(spec[2], labels, 1.0))
                else:
                    current = int(latest)
                    for i, state in enumerate(extra):
                        m.samples.append(Sample(spec[2], dict(labels, **{fam[0]: state}), 1.0 if i == current else 0.0))
            else:
                m.samples.append(Sample(spec[2], dict(spec[3]), value, None,
                                        self.exemplars.get((spec[2], spec[3], None))))
        for (fam, pairs), buckets in hists.items():
            m = family(fam)
            name = fam[0]
            labels = dict(pairs)
            m.samples.append(Sample(name + "_sum", labels, hsums.get((fam, pairs), 0.0)))
            running = 0.0
            for bound in sorted(buckets):
                running += buckets[bound]
                le = floatToGoString(bound)
                m.samples.append(Sample(name + "_bucket", dict(labels, le=le), running, None,
                                        self.exemplars.get((name + "_bucket", pairs, le))))
            native = natives.get((fam, pairs))
            if native is not None:
                merged = _mp_native.merge(_mp_native.schema_of(native[2]), native[1], native[0], native[3])
                running = _mp_native.native_sample(running, hsums.get((fam, pairs), 0.0), merged)
            m.samples.append(Sample(name + "_count", labels, running))
        return list(fams.values())


# -- merged.db --------------------------------------------------------------

def read_merged_bytes(data: bytes) -> Tuple[Dict[str, Any], array]:
    """Metadata and values of a merged.db image."""
    if len(data) < _HEAD.size:
        raise CorruptFileError("truncated header")
    magic, n = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise CorruptFileError("bad magic")
    start = _HEAD.size + n
    try:
        meta = json.loads(data[_HEAD.size:start])
    except ValueError as e:
        raise CorruptFileError(f"bad metadata ({e})") from None
    start += -start % 8
    vals = array("d")
    vals.frombytes(data[start:start + (len(data) - start) // 8 * 8])
    need = max((2 * (k[0] + k[1]) for k in meta["keys"]), default=0)
    if len(vals) < need:
        raise CorruptFileError("values shorter than its keys")
    return meta, vals


def _read_fd(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0)


def absorbed_tokens(path: str) -> Dict[str, float]:
    """Worker generations already folded into ``merged.db`` (call under the directory lock)."""
    try:
        with open(os.path.join(path, MERGED_NAME), "rb") as f:
            meta, _ = read_merged_bytes(f.read())
    except FileNotFoundError:
        return {}
    return dict(meta["absorbed"])


_merged_cache: Dict[str, Tuple[Tuple[int, int, int], Decoded, Dict[str, Any], int]] = {}
_file_cache: Dict[str, Decoded] = {}


def _decoded_merged(path: str, fd: int, data: bytes) -> Tuple[Decoded, Dict[str, Any], array, int]:
    """merged.db's ops (decoded once per version of the file), absorbed generations and values."""
    st = os.fstat(fd)
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    cached = _merged_cache.get(path)
    if cached is not None and cached[0] == stamp and data[:8] == MAGIC:
        _, dec, absorbed, start = cached
        vals = array("d")
        vals.frombytes(data[start:start + (len(data) - start) // 8 * 8])
        if len(vals) >= dec.need:
            return dec, absorbed, vals, start
    meta, vals = read_merged_bytes(data)
    dec = Decoded()
    for line in meta["keys"]:
        dec.add_line(line, "")
    start = _HEAD.size + _HEAD.unpack_from(data)[1]
    start += -start % 8
    _merged_cache[path] = (stamp, dec, meta["absorbed"], start)
    return dec, meta["absorbed"], vals, start


# -- scrape -----------------------------------------------------------------

def _decode_worker(ident: str, keys_name: str, kfd: int) -> Decoded:
    size = os.fstat(kfd).st_size
    dec = _file_cache.get(keys_name)
    # The header line carries a random generation: a file recreated under the same name (even on a reused
    # inode) never matches the cached one.
    if dec is None or size < dec.consumed or os.pread(kfd, len(dec.header), 0) != dec.header:
        data = os.pread(kfd, size, 0)
        try:
            gen = read_header(data)
        except ValueError:
            raise CorruptFileError("bad header line") from None
        if gen is None:
            return Decoded()
        dec = Decoded(data[:data.find(b"\n") + 1], gen)
        dec.consumed = start = len(dec.header)
    else:
        data = os.pread(kfd, size - dec.consumed, dec.consumed)
        start = 0
    lines, end = parse_lines(data, start, keys_name)
    for line in lines:
        try:
            dec.add_line(line, ident)
        except (ValueError, TypeError, IndexError) as e:
            _file_cache.pop(keys_name, None)
            raise CorruptFileError(f"bad key line ({e})") from None
    dec.consumed += end - start
    _file_cache[keys_name] = dec
    return dec


def _worker_values(dec: Decoded, vfd: int, name: str) -> Tuple[array, bytes]:
    need = dec.need * 8
    data = os.pread(vfd, need, 0) if need else b""
    if len(data) < need:
        raise CorruptFileError(f"{os.path.basename(name)} holds {len(data)} bytes, its keys need {need}")
    vals = array("d")
    vals.frombytes(data)
    return vals, data


def _read_workers(path: str) -> Tuple[List[Tuple[str, Decoded, array, bytes]], Set[str]]:
    """Snapshot every worker's files: (ident, decoded keys, values, raw values); and the keys files seen.

    Keys are read before values: a writer extends its values file before it
    appends a key line, so every line read has its slots in what is read next.
    """
    out = []
    seen = set()
    for name in os.listdir(path):
        if not (name.startswith("w-") and name.endswith(".keys")):
            continue
        ident = name[2:-5]
        keys_name, values_name = file_names(path, ident)
        try:
            kfd = os.open(keys_name, os.O_RDONLY)
        except FileNotFoundError:
            continue  # folded and deleted since the listing: merged.db (read later) has it
        try:
            seen.add(keys_name)
            try:
                dec = _decode_worker(ident, keys_name, kfd)
                if dec.gen is None:
                    continue  # a worker still writing its header: it has no series yet
                try:
                    vfd = os.open(values_name, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                try:
                    out.append((ident, dec, *_worker_values(dec, vfd, values_name)))
                finally:
                    os.close(vfd)
            except CorruptFileError as e:
                _file_cache.pop(keys_name, None)
                _warn_once(keys_name, kfd, e)
        finally:
            os.close(kfd)
    return out, seen


def collect(path: str) -> Iterable[Metric]:
    """Merge every live worker's files with merged.db into metric families.

    The workers' files are read FIRST and merged.db after (see the module
    docstring): a fold finishing in between lists a worker as absorbed, and
    that worker's snapshot is then skipped.
    """
    with _lock:
        workers, seen = _read_workers(path)
        for stale in [k for k in _file_cache if os.path.dirname(k) == path and k not in seen]:
            del _file_cache[stale]
        absorbed: Dict[str, float] = {}
        merged = None
        mpath = os.path.join(path, MERGED_NAME)
        try:
            mfd = os.open(mpath, os.O_RDONLY)
        except FileNotFoundError:
            mfd = -1
        if mfd >= 0:
            try:
                data = _read_fd(mfd)
                dec, absorbed, vals, start = _decoded_merged(mpath, mfd, data)
                merged = (dec, vals, data, start)
            except (CorruptFileError, KeyError, TypeError, ValueError) as e:
                _warn_once(mpath, mfd, e)
            finally:
                os.close(mfd)
        merge = _Merge(len(_specs))
        if merged is not None:
            merge.add(*merged)
        for ident, dec, vals, raw in workers:
            if f"{ident}:{dec.gen}" not in absorbed:
                merge.add(dec, vals, raw)
        families = merge.families()
        held = sum(len(ops) for _, dec, _, _ in workers for ops in dec.ops[:EXEMPLAR])
        if merged is not None:
            held += sum(len(ops) for ops in merged[0].ops[:EXEMPLAR])
        if len(_specs) > SPEC_SLACK + 4 * held:
            _forget()  # mostly series no file holds any more (label churn, dead workers): start afresh
    return families


def _forget() -> None:
    """Drop every decoded key and interned series; the next scrape decodes what the files hold now."""
    _sids.clear()
    _specs.clear()
    _column_ids.clear()
    _file_cache.clear()
    _merged_cache.clear()


_corrupt: Dict[str, Tuple[int, int]] = {}


def _warn_once(name: str, fd: int, error: Exception) -> None:
    """Log a corrupt file once per version of it (inode and size), not at every scrape."""
    st = os.fstat(fd)
    if _corrupt.get(name) != (st.st_ino, st.st_size):
        _corrupt[name] = (st.st_ino, st.st_size)
        logger.warning("skipping corrupt multiprocess file %s: %s", name, error)

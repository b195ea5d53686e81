"""The reader side of multiprocess mode: scrape-time merge and the fold of dead workers.

Each key line is decoded once per process lifetime: a module-level cache keeps,
per keys file (path, inode, bytes consumed), the *ops* its lines decode to,
``(value index, tombstone index, series id)``, with series ids interned
globally. A scrape then reads each values file in one ``pread`` and does one
add (or compare) per op.

``merged.db`` holds what dead workers left: ``MAGIC``, a little-endian u64
length, JSON metadata ``{"absorbed": {"<pid>:<gen>": fold time}, "keys": [...]}``
(key lines as in the workers' files, plus the pid for ``all``-mode gauges),
padding to 8 bytes, then the float64 slots. A fold writes a temporary file,
fsyncs it, renames it over ``merged.db``, fsyncs the directory and only then
deletes the worker's files. A scrape opens the worker files *before* it reads
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
from threading import Lock
from typing import Any, Dict, Iterable, List, Optional, Tuple

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
_GAUGE_KIND = {"sum": SUM, "livesum": SUM, "min": MIN, "livemin": MIN, "max": MAX, "livemax": MAX,
               "all": SET, "liveall": SET, "mostrecent": LAST, "livemostrecent": LAST}

_sids: Dict[Tuple[Any, ...], int] = {}
_specs: List[Tuple[Any, ...]] = []
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

    __slots__ = ("consumed", "gen", "header", "need", "ops")

    def __init__(self, header: bytes = b"", gen: Optional[str] = None) -> None:
        self.header = header
        self.gen = gen
        self.consumed = 0
        self.need = 0
        self.ops: Tuple[List[Any], ...] = ([], [], [], [], [], [])

    def add_line(self, line: List[Any], pid: str) -> None:
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
        elif typ == "exemplar":
            ops[EXEMPLAR].append((base * 8, n * SLOT_BYTES, (sample, pairs, extra[0])))
        elif typ in ("info", "stateset"):
            ops[LAST].append((base, base + 1, _sid(("l", fam, sample, pairs)), extra))
        else:
            ops[SUM].append((base, base + 1, _sid(("s", fam, sample, pairs))))


def parse_lines(data: bytes, start: int, name: str) -> Tuple[List[List[Any]], int]:
    """Complete JSON lines of ``data`` from ``start``, and where the next one begins."""
    end = data.rfind(b"\n") + 1
    if end <= start:
        return [], start
    try:
        return [json.loads(raw) for raw in data[start:end].splitlines()], end
    except ValueError as e:
        raise CorruptFileError(f"{name}: bad key line ({e})") from None


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

    def __init__(self) -> None:
        self.acc: Dict[int, float] = {}
        self.last: Dict[int, Tuple[float, float, Any]] = {}
        self.exemplars: Dict[Tuple[Any, ...], Exemplar] = {}

    def add(self, decoded: Decoded, vals: Any, raw: bytes = b"", raw_start: int = 0) -> None:
        acc = self.acc
        get = acc.get
        sums, mins, maxs, sets, lasts, exemplars = decoded.ops
        for off, size, key in exemplars:
            ex = _read_exemplar(raw, raw_start + off, size)
            if ex is not None:
                cur = self.exemplars.get(key)
                if cur is None or ex.timestamp > cur.timestamp:  # type: ignore[operator]
                    self.exemplars[key] = ex
        for v, t, sid in sums:
            if vals[t] != TOMBSTONE:
                acc[sid] = get(sid, 0.0) + vals[v]
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

    def families(self) -> List[Metric]:
        fams: Dict[str, Metric] = {}
        hists: Dict[Tuple[Any, ...], Dict[float, float]] = {}
        hsums: Dict[Tuple[Any, ...], float] = {}

        def family(fam: Tuple[str, str, str]) -> Metric:
            m = fams.get(fam[0])
            if m is None:
                m = fams[fam[0]] = Metric(fam[0], fam[2], fam[1])
            return m

        specs = _specs
        for sid in sorted(set(self.acc) | set(self.last)):
            spec = specs[sid]
            tag, fam = spec[0], spec[1]
            m = family(fam)
            if tag == "b":
                hists.setdefault((fam, spec[2]), {})[spec[3]] = self.acc[sid]
            elif tag == "h":
                hsums[(fam, spec[2])] = self.acc[sid]
                hists.setdefault((fam, spec[2]), {})
            elif tag == "g":
                if fam[1] == "gauge" and sid in self.last:  # mostrecent
                    ts, value, _ = self.last[sid]
                    if ts > 0:
                        m.samples.append(Sample(spec[2], dict(spec[3]), value))
                else:
                    m.samples.append(Sample(spec[2], dict(spec[3]), self.acc[sid]))
            elif tag == "l":
                _, value, extra = self.last[sid]
                labels = dict(spec[3])
                if fam[1] == "info":
                    labels.update(extra)
                    m.samples.append(Sample(spec[2], labels, 1.0))
                else:
                    current = int(value)
                    for i, state in enumerate(extra):
                        m.samples.append(Sample(spec[2], dict(labels, **{fam[0]: state}), 1.0 if i == current else 0.0))
            else:
                m.samples.append(Sample(spec[2], dict(spec[3]), self.acc[sid], None,
                                        self.exemplars.get((spec[2], spec[3], None))))
        for (fam, pairs), buckets in hists.items():
            m = family(fam)
            name = fam[0]
            labels = dict(pairs)
            m.samples.append(Sample(name + "_sum", labels, hsums.get((fam, pairs), 0.0)))
            acc = 0.0
            for bound in sorted(buckets):
                acc += buckets[bound]
                le = floatToGoString(bound)
                m.samples.append(Sample(name + "_bucket", dict(labels, le=le), acc, None,
                                        self.exemplars.get((name + "_bucket", pairs, le))))
            m.samples.append(Sample(name + "_count", labels, acc))
        return list(fams.values())


# -- merged.db --------------------------------------------------------------

def read_merged_bytes(data: bytes) -> Tuple[Dict[str, Any], array]:
    """Metadata and values of a merged.db image."""
    if len(data) < _HEAD.size:
        raise CorruptFileError("merged.db: truncated header")
    magic, n = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise CorruptFileError("merged.db: bad magic")
    start = _HEAD.size + n
    try:
        meta = json.loads(data[_HEAD.size:start])
    except ValueError as e:
        raise CorruptFileError(f"merged.db: bad metadata ({e})") from None
    start += -start % 8
    vals = array("d")
    vals.frombytes(data[start:start + (len(data) - start) // 8 * 8])
    need = max((2 * (k[0] + k[1]) for k in meta["keys"]), default=0)
    if len(vals) < need:
        raise CorruptFileError("merged.db: values shorter than its keys")
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

def _list_workers(path: str) -> List[Tuple[str, str, int, int]]:
    """Open every worker's pair of files: (ident, keys path, keys fd, values fd)."""
    out = []
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
            vfd = os.open(values_name, os.O_RDONLY)
        except FileNotFoundError:
            os.close(kfd)
            continue
        out.append((ident, keys_name, kfd, vfd))
    return out


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
            raise CorruptFileError(f"{keys_name}: bad header line") from None
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
            raise CorruptFileError(f"{keys_name}: bad key line ({e})") from None
    dec.consumed += end - start
    _file_cache[keys_name] = dec
    return dec


def _worker_values(dec: Decoded, vfd: int, name: str) -> Tuple[array, bytes]:
    need = dec.need * 8
    data = os.pread(vfd, need, 0) if need else b""
    if len(data) < need:
        raise CorruptFileError(f"{name}: values file holds {len(data)} bytes, its keys need {need}")
    vals = array("d")
    vals.frombytes(data)
    return vals, data


def collect(path: str) -> Iterable[Metric]:
    """Merge every live worker's files with merged.db into metric families."""
    workers = _list_workers(path)  # FIRST: see the module docstring
    merge = _Merge()
    try:
        with _lock:
            absorbed: Dict[str, float] = {}
            mpath = os.path.join(path, MERGED_NAME)
            try:
                mfd = os.open(mpath, os.O_RDONLY)
            except FileNotFoundError:
                mfd = -1
            if mfd >= 0:
                try:
                    data = _read_fd(mfd)
                    dec, absorbed, vals, start = _decoded_merged(mpath, mfd, data)
                    merge.add(dec, vals, data, start)
                except (CorruptFileError, KeyError, TypeError, ValueError) as e:
                    logger.warning("skipping corrupt multiprocess file %s: %s", mpath, e)
                finally:
                    os.close(mfd)
            seen = set()
            for ident, keys_name, kfd, vfd in workers:
                seen.add(keys_name)
                try:
                    dec = _decode_worker(ident, keys_name, kfd)
                    if dec.gen is None or f"{ident}:{dec.gen}" in absorbed:
                        continue
                    merge.add(dec, *_worker_values(dec, vfd, keys_name[:-5] + ".values"))
                except CorruptFileError as e:
                    _file_cache.pop(keys_name, None)
                    _warn_once(keys_name, kfd, e)
            for stale in [k for k in _file_cache if os.path.dirname(k) == path and k not in seen]:
                del _file_cache[stale]
    finally:
        for _, _, kfd, vfd in workers:
            os.close(kfd)
            os.close(vfd)
    return merge.families()


_corrupt: Dict[str, Tuple[int, int]] = {}


def _warn_once(name: str, fd: int, error: Exception) -> None:
    """Log a corrupt file once per version of it (inode and size), not at every scrape."""
    st = os.fstat(fd)
    if _corrupt.get(name) != (st.st_ino, st.st_size):
        _corrupt[name] = (st.st_ino, st.st_size)
        logger.warning("skipping corrupt multiprocess file %s", error)

"""Folding a dead worker into merged.db (see ``pyrometer._mp_read`` for the file format and why it is safe).

Under the directory lock: read merged.db and the worker's files, combine each
of the worker's series into merged.db's (counters, histograms, summaries and
``sum`` gauges add; ``min``/``max`` keep the extreme; ``mostrecent`` gauges,
Info, Enum and exemplars keep the newest by timestamp; ``all`` gauges keep a
series per pid; ``live*`` gauges and removed series are dropped), record the
worker's generation as absorbed, write ``merged.db.tmp-*``, fsync, rename over
merged.db, fsync the directory, and only then delete the worker's files.
"""

from __future__ import annotations

import json
import os
import time
from array import array
from typing import Any, Dict, List, Tuple

from . import _mp_native
from ._mp_read import _HEAD, ABSORBED_TTL, MAGIC, CorruptFileError, logger, parse_lines, read_merged_bytes
from ._mp_store import MERGED_NAME, TOMBSTONE, dir_lock, file_names, read_header

_LIVE = frozenset(("liveall", "livemin", "livemax", "livesum", "livemostrecent"))
_ALL = frozenset(("all", "liveall"))
_MOST_RECENT = frozenset(("mostrecent", "livemostrecent"))


def _write_merged(path: str, meta: Dict[str, Any], vals: array) -> None:
    body = json.dumps(meta, ensure_ascii=False).encode("utf-8")
    head = _HEAD.pack(MAGIC, len(body)) + body
    head += b"\0" * (-len(head) % 8)
    tmp = os.path.join(path, f"{MERGED_NAME}.tmp-{os.getpid()}-{time.monotonic_ns()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        os.write(fd, head)
        os.write(fd, vals.tobytes())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, os.path.join(path, MERGED_NAME))
    dfd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _combine(kind: str, mode: str, cur: array, new: array) -> None:
    """Fold ``new`` (a dead worker's slots) into ``cur`` (merged.db's) in place."""
    if kind == _mp_native.META:
        _mp_native.combine_meta(cur, new)
    elif kind in ("info", "stateset", "exemplar") or (kind == "gauge" and mode in _MOST_RECENT):
        if new[1] > cur[1]:
            cur[:] = new
    elif kind == "gauge" and mode in ("min", "max"):
        if (new[0] < cur[0]) if mode == "min" else (new[0] > cur[0]):
            cur[:] = new
    elif kind == "gauge" and mode in _ALL:
        cur[:] = new
    else:
        for i in range(0, len(cur), 2):
            cur[i] += new[i]


def fold(path: str, ident: str) -> None:
    """Move a dead worker's series into merged.db (dropping its live-mode gauges), then delete its files."""
    keys_name, values_name = file_names(path, ident)
    with dir_lock(path):
        mpath = os.path.join(path, MERGED_NAME)
        for name in os.listdir(path):
            if name.startswith(MERGED_NAME + ".tmp-"):  # left by a fold that was killed; we hold the lock
                os.unlink(os.path.join(path, name))
        table: Dict[str, Tuple[List[Any], array]] = {}
        absorbed: Dict[str, float] = {}
        try:
            with open(mpath, "rb") as f:
                meta, mvals = read_merged_bytes(f.read())
            absorbed = dict(meta["absorbed"])
            for line in meta["keys"]:
                slot, n = line[0], line[1]
                table[json.dumps(line[2:])] = (line, mvals[2 * slot:2 * (slot + n)])
        except FileNotFoundError:
            pass
        except (CorruptFileError, KeyError, TypeError, ValueError) as e:
            logger.warning("replacing corrupt multiprocess file %s: %s", mpath, e)
        try:
            with open(keys_name, "rb") as f:
                kdata = f.read()
            with open(values_name, "rb") as f:
                vdata = f.read()
        except FileNotFoundError:  # already folded (a killed fold may have left the values file alone)
            if not os.path.exists(keys_name) and os.path.exists(values_name):
                os.unlink(values_name)
            return
        token = None
        try:
            gen = read_header(kdata)
            if gen is not None:
                token = f"{ident}:{gen}"
                start = kdata.find(b"\n") + 1
                lines, _ = parse_lines(kdata, start, keys_name)
                wvals = array("d")
                wvals.frombytes(vdata[:len(vdata) // 8 * 8])
                if token not in absorbed:
                    for line in lines:
                        slot, n, typ, mode = line[0], line[1], line[2], line[3]
                        if 2 * (slot + n) > len(wvals):
                            raise CorruptFileError(f"{values_name}: shorter than its keys")
                        new = wvals[2 * slot:2 * (slot + n)]  # an array slice: exemplar bytes copied as they are
                        if new[1] == TOMBSTONE or (typ == "gauge" and mode in _LIVE):
                            continue
                        mline = line[:10] + [ident if typ == "gauge" and mode in _ALL else None]
                        key = json.dumps(mline[2:])
                        old = table.get(key)
                        if old is None:
                            table[key] = (mline, new)
                        else:
                            _combine(typ, mode, old[1], new)
        except (CorruptFileError, ValueError, TypeError, IndexError) as e:
            logger.warning("dropping corrupt multiprocess file %s of a dead worker: %s", keys_name, e)
            token = None
        now = time.time()
        if token is not None and token not in absorbed:
            absorbed[token] = now
            absorbed = {t: at for t, at in absorbed.items()
                        if now - at < ABSORBED_TTL or os.path.exists(file_names(path, t.split(":", 1)[0])[0])}
            _mp_native.compact_folded(table)
            keys: List[List[Any]] = []
            vals = array("d")
            for line, slots in table.values():
                keys.append([len(vals) // 2, len(slots) // 2, *line[2:]])
                vals.extend(slots)
            _write_merged(path, {"absorbed": absorbed, "keys": keys}, vals)
        for name in (keys_name, values_name):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass

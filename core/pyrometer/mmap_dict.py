"""prometheus_client's ``MmapedDict`` file format, kept for code that uses it directly.

pyrometer's own multiprocess mode does not use this format (see
``pyrometer._mp_store``: append-only key lines plus an array of slots). This
module keeps the names ``MmapedDict`` and ``mmap_key`` with prometheus_client's
behaviour, so tools that read or write ``*.db`` files of prometheus_client's
layout keep working: a 4-byte used-length and 4 bytes of padding, then entries
of a 4-byte key length, the UTF-8 key padded to 8-byte alignment, and two
float64 (value, timestamp). Not thread-safe, like the original.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from typing import Dict, Iterator, List, Optional, Tuple, Union

_INITIAL_MMAP_SIZE = 1 << 16
_INT = struct.Struct("i")
_TWO = struct.Struct("dd")

Buffer = Union[bytes, mmap.mmap]


def _entries(data: Buffer, used: int) -> Iterator[Tuple[str, float, float, int]]:
    pos = 8
    while pos < used:
        (length,) = _INT.unpack_from(data, pos)
        if pos + length > used:
            raise RuntimeError("Read beyond file size detected, file is corrupted.")
        key = bytes(data[pos + 4:pos + 4 + length]).decode("utf-8")
        pos += 4 + length + (8 - (length + 4) % 8)
        value, timestamp = _TWO.unpack_from(data, pos)
        yield key, value, timestamp, pos
        pos += 16


class MmapedDict:
    """A dict of (value, timestamp) float pairs backed by a memory-mapped file."""

    def __init__(self, filename: str, read_mode: bool = False) -> None:
        self._fname = filename
        self._f: Optional[object] = open(filename, "rb" if read_mode else "a+b")
        fd = self._f.fileno()  # type: ignore[attr-defined]
        self._capacity = os.fstat(fd).st_size
        if self._capacity == 0:
            os.ftruncate(fd, _INITIAL_MMAP_SIZE)
            self._capacity = _INITIAL_MMAP_SIZE
        self._m: Optional[mmap.mmap] = mmap.mmap(
            fd, self._capacity, access=mmap.ACCESS_READ if read_mode else mmap.ACCESS_WRITE)
        self._positions: Dict[str, int] = {}
        (self._used,) = _INT.unpack_from(self._m, 0)
        if self._used == 0:
            self._used = 8
            if not read_mode:
                self._m[0:4] = _INT.pack(8)
        elif not read_mode:
            for key, _, _, pos in _entries(self._m, self._used):
                self._positions[key] = pos

    @staticmethod
    def read_all_values_from_file(filename: str) -> Iterator[Tuple[str, float, float, int]]:
        """(key, value, timestamp, position) of every entry of a file, read without mapping it."""
        with open(filename, "rb") as f:
            data = f.read()
        (used,) = _INT.unpack_from(data, 0)
        return _entries(data, used)

    def _init_value(self, key: str) -> None:
        encoded = key.encode("utf-8")
        padded = encoded + b" " * (8 - (len(encoded) + 4) % 8)
        entry = _INT.pack(len(encoded)) + padded + _TWO.pack(0.0, 0.0)
        while self._used + len(entry) > self._capacity:
            self._capacity *= 2
            fd = self._f.fileno()  # type: ignore[union-attr]
            os.ftruncate(fd, self._capacity)
            self._m = mmap.mmap(fd, self._capacity)
        m = self._m
        assert m is not None
        m[self._used:self._used + len(entry)] = entry
        self._used += len(entry)
        m[0:4] = _INT.pack(self._used)
        self._positions[key] = self._used - 16

    def read_all_values(self) -> Iterator[Tuple[str, float, float]]:
        """(key, value, timestamp) of every entry."""
        for key, value, timestamp, _ in _entries(self._m, self._used):  # type: ignore[arg-type]
            yield key, value, timestamp

    def read_value(self, key: str) -> Tuple[float, float]:
        """(value, timestamp) of ``key``, creating it at zero."""
        if key not in self._positions:
            self._init_value(key)
        return _TWO.unpack_from(self._m, self._positions[key])  # type: ignore[arg-type]

    def write_value(self, key: str, value: float, timestamp: float) -> None:
        """Store (value, timestamp) for ``key`` (one slice assignment, never a torn zero)."""
        if key not in self._positions:
            self._init_value(key)
        pos = self._positions[key]
        self._m[pos:pos + 16] = _TWO.pack(value, timestamp)  # type: ignore[index]

    def close(self) -> None:
        """Unmap and close the file."""
        if self._f is not None:
            self._m.close()  # type: ignore[union-attr]
            self._m = None
            self._f.close()  # type: ignore[attr-defined]
            self._f = None


def mmap_key(metric_name: str, name: str, labelnames: List[str], labelvalues: List[str], help_text: str) -> str:
    """The JSON key prometheus_client files use for one sample."""
    return json.dumps([metric_name, name, dict(zip(labelnames, labelvalues)), help_text], sort_keys=True)

"""Process metrics (CPU, memory, start time, file descriptors) read from Linux ``/proc``."""

from __future__ import annotations

import os
from typing import Callable, List, Optional, Tuple, Union

from .metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from .registry import REGISTRY, Collector, CollectorRegistry

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)

# (name after the prefix, help, family class), in the order the families are exported.
_SERIES: Tuple[Tuple[str, str, Callable[..., Metric]], ...] = (
    ("virtual_memory_bytes", "Virtual memory size in bytes.", GaugeMetricFamily),
    ("resident_memory_bytes", "Resident memory size in bytes.", GaugeMetricFamily),
    ("start_time_seconds", "Start time of the process since unix epoch in seconds.", GaugeMetricFamily),
    ("cpu_seconds_total", "Total user and system CPU time spent in seconds.", CounterMetricFamily),
    ("open_fds", "Number of open file descriptors.", GaugeMetricFamily),
    ("max_fds", "Maximum number of open file descriptors.", GaugeMetricFamily),
)


def _sysconf(name: str, default: int) -> int:
    try:
        value = os.sysconf(name)
    except (AttributeError, ValueError, OSError):  # no os.sysconf on Windows; name unknown elsewhere
        return default
    return value if value > 0 else default


def _read(path: str) -> bytes:
    """Whole contents of a file; raw os calls because this runs on every scrape."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        chunks = []
        # /proc files may come back in several short reads, so read until EOF.
        while True:
            chunk = os.read(fd, 8192)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _soft_max_open_files(limits: bytes) -> Optional[float]:
    for line in limits.splitlines():
        if line.startswith(b"Max open files"):
            try:
                return float(line.split()[3])
            except (IndexError, ValueError):
                return None
    return None


class ProcessCollector(Collector):
    """Exports CPU time, memory, start time and file descriptor use of a process.

    ``pid`` is called on every scrape, so it may follow a process that is
    restarted; ``proc`` is the procfs mount point. Without a readable
    ``<proc>/stat`` (e.g. not on Linux) the collector exports nothing.
    """

    def __init__(self, namespace: str = "", pid: Callable[[], Union[int, str]] = lambda: "self",
                 proc: str = "/proc", registry: Optional[CollectorRegistry] = REGISTRY) -> None:
        self._namespace = namespace
        self._pid = pid
        self._proc = proc
        prefix = namespace + "_process_" if namespace else "process_"
        self._series = [(cls, prefix + suffix, doc) for suffix, doc, cls in _SERIES]
        self._ticks = _sysconf("SC_CLK_TCK", 100)
        self._pagesize = _sysconf("SC_PAGE_SIZE", 4096)
        # Boot time also tells whether procfs is usable at all.
        self._btime = self._boot_time()
        if registry is not None:
            registry.register(self)

    def _boot_time(self) -> Optional[float]:
        try:
            data = _read(os.path.join(self._proc, "stat"))
            for line in data.splitlines():
                if line.startswith(b"btime "):
                    return float(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass
        return None

    def describe(self) -> List[Metric]:
        """The families this collector exports (none when procfs is unavailable)."""
        if self._btime is None:
            return []
        return [cls(name, doc) for cls, name, doc in self._series]

    def collect(self) -> List[Metric]:
        """Read the process's current figures; a process that is gone yields nothing."""
        if self._btime is None:
            return []
        base = os.path.join(self._proc, str(self._pid()).strip())
        values: List[Optional[float]] = [None] * 6
        try:
            stat = _read(os.path.join(base, "stat"))
            # The command name may contain spaces and ')', so split after its last ')'.
            fields = stat.rpartition(b")")[2].split()
            ticks = self._ticks
            # Summed after dividing, so the value matches prometheus_client to the last bit.
            values[:4] = (
                float(fields[20]),
                float(fields[21]) * self._pagesize,
                float(fields[19]) / ticks + self._btime,
                float(fields[11]) / ticks + float(fields[12]) / ticks,
            )
        except (OSError, ValueError, IndexError):
            pass
        try:
            limits = _read(os.path.join(base, "limits"))
            open_fds = len(os.listdir(os.path.join(base, "fd")))
        except OSError:
            pass
        else:
            values[4] = open_fds
            values[5] = _soft_max_open_files(limits)
        return [
            cls(name, doc, value=value)
            for (cls, name, doc), value in zip(self._series, values)
            if value is not None
        ]


PROCESS_COLLECTOR = ProcessCollector()
"""The process collector registered in ``REGISTRY``."""

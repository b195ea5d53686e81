"""Multiprocess mode: merge what every worker process wrote into one scrape.

Set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the workers
start; every metric created while it is set writes to memory-mapped files of
its process there. The process that serves ``/metrics`` merges them::

    from pyrometer import CollectorRegistry, generate_latest, multiprocess

    def metrics():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)

Counters, histograms and summaries are summed over processes; native
histograms are reduced to the coarsest schema of any process, then summed
(``pyrometer._mp_native``). Gauges follow
their ``multiprocess_mode``: ``all``/``liveall`` keep one series per process
(a ``pid`` label), ``min``/``max``/``sum``/``mostrecent`` (and their ``live``
variants) merge into one. ``Info`` and ``Enum`` show the most recent write of
any process (by wall-clock timestamp), and so do exemplars: the latest of each
counter and histogram bucket, whichever process recorded it (prometheus_client
drops exemplars in multiprocess mode). ``remove()``/``clear()`` hide a series
in the calling process's files; other processes' copies of it stay visible.

When a worker exits, call ``mark_process_dead(pid)`` (the Gunicorn hook
``pyrometer_gunicorn.child_exit`` does): its ``live`` gauges disappear and
everything else it counted is folded into ``merged.db``, so a scrape reads one
file per live worker plus one, however many workers have come and gone. The
fold is crash-safe; see ``pyrometer._mp_read`` and ``pyrometer._mp_fold``.
"""

from __future__ import annotations

import os
import warnings
from typing import Iterable, Optional, Union

from . import _mp_fold, _mp_read
from .metrics_core import Metric
from .registry import Collector, CollectorRegistry

__all__ = ["MultiProcessCollector", "mark_process_dead"]


def _env_dir() -> Optional[str]:
    if "prometheus_multiproc_dir" in os.environ and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.environ["prometheus_multiproc_dir"]
        warnings.warn("prometheus_multiproc_dir variable has been deprecated in favor of the upper case naming "
                      "PROMETHEUS_MULTIPROC_DIR", DeprecationWarning, stacklevel=3)
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


class MultiProcessCollector(Collector):
    """Collects the merged series of every process writing to ``path`` (default: ``PROMETHEUS_MULTIPROC_DIR``).

    Thread-safe; each ``collect()`` reads the directory afresh, decoding only
    series it has not seen before in this process.
    """

    def __init__(self, registry: Optional[CollectorRegistry], path: Optional[str] = None) -> None:
        if path is None:
            path = _env_dir()
        if not path or not os.path.isdir(path):
            raise ValueError("env PROMETHEUS_MULTIPROC_DIR is not set or not a directory")
        self._path = path
        if registry:
            registry.register(self)

    def collect(self) -> Iterable[Metric]:
        """The merged families: summed counters, histograms (cumulative, with ``_count``), summaries; gauges by mode."""
        return _mp_read.collect(self._path)


def mark_process_dead(pid: Union[int, str], path: Optional[str] = None) -> None:
    """Retire a worker that has exited: drop its live gauges and fold the rest of its series into merged.db.

    Only call it for a process that has really exited; writes it makes later are lost.
    """
    if path is None:
        path = _env_dir()
    if not path:
        raise ValueError("env PROMETHEUS_MULTIPROC_DIR is not set")
    _mp_fold.fold(path, str(pid))

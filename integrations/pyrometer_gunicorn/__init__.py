"""Gunicorn hooks for pyrometer's multiprocess mode.

In ``gunicorn.conf.py``::

    from pyrometer_gunicorn import on_starting, child_exit

and start Gunicorn with ``PROMETHEUS_MULTIPROC_DIR`` set to a directory used
only for this. ``on_starting`` (in the master, before any worker) creates the
directory and removes what a previous run left in it; ``child_exit`` retires
each worker that exits (crash, ``max_requests`` restart, kill): its live
gauges disappear and its counters, histograms and other gauges are folded into
``merged.db`` (see ``pyrometer.multiprocess.mark_process_dead``), so totals
survive worker restarts and the scrape cost stays proportional to the live
workers. Serve ``/metrics`` from the app with a fresh registry per scrape::

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
"""

from __future__ import annotations

import os
from typing import Any

from pyrometer.multiprocess import mark_process_dead

__all__ = ["child_exit", "on_starting"]

# What pyrometer (and prometheus_client, for a directory that used to serve it) writes there.
_OURS = ("w-", "merged.db", "merged.lock")


def _directory() -> str:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")
    if not path:
        raise RuntimeError(
            "pyrometer_gunicorn hooks need PROMETHEUS_MULTIPROC_DIR set (to a directory used only for metrics) "
            "in the environment Gunicorn starts with")
    return path


def on_starting(server: Any) -> None:
    """Create the multiprocess directory and empty it of a previous run's metric files.

    Files of the master itself are kept: with ``preload_app`` it has already
    imported the app (and created its metrics) when this hook runs.
    """
    path = _directory()
    os.makedirs(path, exist_ok=True)
    own = f"w-{os.getpid()}."
    for name in os.listdir(path):
        if (name.startswith(_OURS) or name.endswith(".db")) and not name.startswith(own):
            full = os.path.join(path, name)
            if os.path.isfile(full):
                os.unlink(full)


def child_exit(server: Any, worker: Any) -> None:
    """Retire an exited worker: drop its live gauges, fold the rest of its series into merged.db."""
    try:
        mark_process_dead(worker.pid, _directory())
    except Exception:  # never take the arbiter down with a metrics problem
        log = getattr(server, "log", None)
        if log is None:
            raise
        log.exception("pyrometer_gunicorn: could not retire worker %s", worker.pid)

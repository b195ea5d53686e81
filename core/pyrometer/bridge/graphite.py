"""Send the samples of a registry to Graphite over its plaintext protocol (TCP, one line per sample)."""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from typing import Callable, List, Tuple

from ..registry import REGISTRY, Collector

__all__ = ["GraphiteBridge"]

_log = logging.getLogger(__name__)

# Graphite path components must stay usable as file names and must not contain
# the '.' separator, so everything else becomes '_'.
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


def _clean(text: str) -> str:
    return _UNSAFE.sub("_", text)


class GraphiteBridge:
    """Push a registry's samples to a Graphite (carbon) plaintext listener.

    Plain mode writes ``prefix.name.label.value value timestamp``; with
    ``tags=True`` labels become Graphite tags: ``name;label=value value timestamp``.
    Label names and values are sanitised (anything outside ``[a-zA-Z0-9_-]``
    becomes ``_``) and sorted by name.
    """

    def __init__(
        self,
        address: Tuple[str, int],
        registry: Collector = REGISTRY,
        timeout_seconds: float = 30,
        _timer: Callable[[], float] = time.time,
        tags: bool = False,
    ) -> None:
        self._address = address
        self._registry = registry
        self._timeout = timeout_seconds
        self._timer = _timer
        self._tags = tags
        self._stop = threading.Event()
        self._threads: List[threading.Thread] = []

    def _render(self, prefix: str) -> str:
        stamp = int(self._timer())
        head = prefix + "." if prefix else ""
        sep, pair = (";", "{}={}") if self._tags else (".", "{}.{}")
        lines = []
        for family in self._registry.collect():
            for sample in family.samples:
                labels = "".join(
                    sep + pair.format(_clean(k), _clean(v)) for k, v in sorted(sample.labels.items())
                )
                lines.append(f"{head}{_clean(sample.name)}{labels} {float(sample.value)} {stamp}\n")
        return "".join(lines)

    def push(self, prefix: str = "") -> None:
        """Send every sample once over a fresh connection; raises ``OSError`` when Graphite is unreachable."""
        payload = self._render(prefix).encode("utf-8")
        with socket.create_connection(self._address, self._timeout) as conn:
            conn.sendall(payload)

    def start(self, interval: float = 60.0, prefix: str = "") -> None:
        """Push now and then every ``interval`` seconds from a daemon thread.

        A failed push is logged and retried at the next interval (with a new
        connection); pushes missed while one was slow are skipped, not queued.
        """
        if not interval > 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self._stop.clear()
        thread = threading.Thread(
            target=self._run, args=(interval, prefix), name="pyrometer-graphite", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads :meth:`start` began and wait up to ``timeout`` seconds for them."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = [t for t in self._threads if t.is_alive()]

    def _run(self, interval: float, prefix: str) -> None:
        due = time.monotonic()
        while True:
            try:
                self.push(prefix=prefix)
            except Exception:
                _log.exception("Graphite push to %s:%s failed; retrying in %ss", *self._address[:2], interval)
            now = time.monotonic()
            due += interval
            if due < now:
                due += interval * ((now - due) // interval + 1)
            if self._stop.wait(due - now):
                return

"""The metrics on a port of their own, next to the Django server (``PYROMETER_EXPORT_PORT``).

    PYROMETER_EXPORT_PORT = 8001                       # one process
    PYROMETER_EXPORT_PORT_RANGE = range(8001, 8050)    # several workers: each takes the first free port
    PYROMETER_EXPORT_ADDR = "0.0.0.0"                  # the default

``AppConfig.ready()`` calls ``start_exporter()``: once per process, never in the
parent process of ``runserver``'s autoreloader (only the child that serves). The
port serves what ``/metrics`` serves (in multiprocess mode: every worker's merged
files), guarded by ``PYROMETER["protection"]``.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import threading
from typing import Any, List, NamedTuple, Optional, Sequence

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pyrometer.exposition import start_http_server
from pyrometer.http import scrape_registry

from ._config import get_config

__all__ = ["Exporter", "export_ports", "exporter", "start_exporter", "stop_exporter"]

PORT, PORT_RANGE, ADDR = "PYROMETER_EXPORT_PORT", "PYROMETER_EXPORT_PORT_RANGE", "PYROMETER_EXPORT_ADDR"
DEFAULT_ADDR = "0.0.0.0"
AUTORELOAD_ENV = "RUN_MAIN"  # django.utils.autoreload.DJANGO_AUTORELOAD_ENV: set to "true" in the serving child

logger = logging.getLogger("pyrometer_django")


class Exporter(NamedTuple):
    """The running export server of this process."""

    server: Any
    thread: threading.Thread
    addr: str
    port: int


_lock = threading.Lock()
_running: Optional[Exporter] = None


def _port(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ImproperlyConfigured(f"settings.{what} must be a port number (an int from 1 to 65535), not {value!r}")
    return value


def export_ports() -> List[int]:
    """The ports to try, from ``PYROMETER_EXPORT_PORT`` or ``PYROMETER_EXPORT_PORT_RANGE`` ([] when neither is set).

    A range is a ``range`` or a ``(start, stop)`` pair, ``stop`` excluded as in ``range``.
    """
    port = getattr(settings, PORT, None)
    port_range = getattr(settings, PORT_RANGE, None)
    if port is not None and port_range is not None:
        raise ImproperlyConfigured(f"Set settings.{PORT} or settings.{PORT_RANGE}, not both")
    if port is not None:
        return [_port(port, PORT)]
    if port_range is None:
        return []
    if isinstance(port_range, range):
        ports = list(port_range)
    elif isinstance(port_range, (tuple, list)) and len(port_range) == 2:
        ports = list(range(_port(port_range[0], PORT_RANGE), _port(port_range[1], PORT_RANGE)))
    else:
        raise ImproperlyConfigured(f"settings.{PORT_RANGE} must be a range or a (start, stop) pair, "
                                   f"not {port_range!r}")
    if not ports:
        raise ImproperlyConfigured(f"settings.{PORT_RANGE} is empty: {port_range!r}")
    return [_port(p, PORT_RANGE) for p in ports]


def export_addr() -> str:
    """``PYROMETER_EXPORT_ADDR`` (``"0.0.0.0"`` when unset)."""
    addr = getattr(settings, ADDR, None)
    if addr is None:
        return DEFAULT_ADDR
    if not isinstance(addr, str) or not addr:
        raise ImproperlyConfigured(f"settings.{ADDR} must be a host name or address string, not {addr!r}")
    return addr


def autoreload_parent(argv: Sequence[str] = ()) -> bool:
    """Whether this is ``runserver``'s autoreloader parent, which only watches files and restarts the child."""
    argv = list(argv or sys.argv)
    return ("runserver" in argv[1:2] and "--noreload" not in argv
            and os.environ.get(AUTORELOAD_ENV) != "true")


def start_exporter() -> Optional[Exporter]:
    """Serve the metrics on the configured port (the first free one of the range), once per process.

    Returns the running exporter, or ``None`` when no port is configured, in the
    autoreloader's parent, or when no port could be bound (logged as a warning: the
    site keeps running without it). A bad setting raises ``ImproperlyConfigured``.
    """
    global _running
    ports = export_ports()
    addr = export_addr()
    if not ports or autoreload_parent():
        return None
    with _lock:
        if _running is not None:
            return _running
        config = get_config()
        for port in ports:
            try:
                server, thread = start_http_server(port, addr, registry=scrape_registry(config.registry),
                                                   protection=config.protection)
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    continue
                raise
            _running = Exporter(server, thread, addr, port)
            logger.info("pyrometer_django: metrics served on %s:%d", addr, port)
            return _running
    logger.warning("pyrometer_django: no free port to serve the metrics on %s among %s", addr,
                   f"{ports[0]}..{ports[-1]}" if len(ports) > 1 else ports[0])
    return None


def exporter() -> Optional[Exporter]:
    """The exporter this process runs, if any."""
    return _running


def stop_exporter() -> None:
    """Stop this process's exporter and free its port (tests; a process that exits needs not)."""
    global _running
    with _lock:
        running, _running = _running, None
    if running is not None:
        running.server.shutdown()
        running.server.server_close()
        running.thread.join(10)

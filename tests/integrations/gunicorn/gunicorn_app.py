"""The WSGI app the real-gunicorn test serves: counts requests, serves merged /metrics."""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterable

from pyrometer import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

REQUESTS = Counter("app_requests", "Requests served.", ["path"])
LATENCY = Histogram("app_latency_seconds", "Latency.", buckets=(0.1, 1.0))
IN_PROGRESS = Gauge("app_in_progress", "Requests in progress.", multiprocess_mode="livesum")
WORKERS = Gauge("app_worker_up", "One per live worker.", multiprocess_mode="liveall")
WORKERS.set(1)


def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    path = environ["PATH_INFO"]
    if path == "/metrics":
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        with IN_PROGRESS.track_inprogress():
            REQUESTS.labels(path).inc()
            LATENCY.observe(0.05)
            body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]

"""A plain WSGI app with native histograms for the multiprocess e2e test (test_native_multiprocess_e2e.py).

Run under Gunicorn with ``PROMETHEUS_MULTIPROC_DIR`` set and the pyrometer_gunicorn hooks:

- ``GET /observe?v=<float>[&queue=<name>]`` observes ``v`` into ``job_seconds`` (native and classic buckets) and,
  with ``queue``, into ``task_seconds{queue=...}`` (native only); answers with the worker's pid.
- ``GET /metrics`` serves every worker's series merged (protobuf when the scraper asks for it).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterable
from urllib.parse import parse_qs

from pyrometer import CollectorRegistry, Histogram, make_wsgi_app, multiprocess

JOB = Histogram("job_seconds", "Job duration.", native=True, buckets=(0.01, 0.1, 1.0, 10.0))
TASK = Histogram("task_seconds", "Task duration by queue.", ["queue"], native=True)

# The collector reads the directory at every collect, so one registry built at import serves every scrape.
_registry = CollectorRegistry()
multiprocess.MultiProcessCollector(_registry)
_metrics = make_wsgi_app(_registry)


def _reply(start_response: Callable[..., Any], status: str, body: bytes) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Route /metrics to the multiprocess exporter and /observe to the histograms."""
    path = environ.get("PATH_INFO", "")
    if path == "/metrics":
        return _metrics(environ, start_response)
    if path != "/observe":
        return _reply(start_response, "404 Not Found", b"not found\n")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        (v,) = query["v"]
        amount = float(v)
    except (KeyError, ValueError):
        return _reply(start_response, "400 Bad Request", b"want exactly one float v=\n")
    JOB.observe(amount)
    for queue in query.get("queue", ()):
        TASK.labels(queue).observe(amount)
    return _reply(start_response, "200 OK", str(os.getpid()).encode())

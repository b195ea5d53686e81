"""A WSGI app run by Gunicorn with 4 workers, whose /metrics merges every worker's counts.

    PROMETHEUS_MULTIPROC_DIR=/tmp/pyrometer-metrics gunicorn -c example_apps/gunicorn.conf.py gunicorn_app:app
    curl http://127.0.0.1:8000/hello; curl http://127.0.0.1:8000/metrics

Kill a worker (``kill -9``): Gunicorn starts another, and the totals stay exact.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable

from pyrometer import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

REQUESTS = Counter("example_requests", "Requests served.", ["path"])
LATENCY = Histogram("example_request_duration_seconds", "Time spent serving a request.")
IN_PROGRESS = Gauge("example_requests_in_progress", "Requests being served.", multiprocess_mode="livesum")


def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/metrics":
        registry = CollectorRegistry()  # a fresh registry per scrape, reading every worker's files
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        with IN_PROGRESS.track_inprogress(), LATENCY.time():
            REQUESTS.labels("/hello" if environ["PATH_INFO"] == "/hello" else "other").inc()
            body = b"hello\n"
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]

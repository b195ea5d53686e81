"""A small job-processing service that exposes live metrics on /metrics.

Run it with ``python3 scripts/dev.py demo`` (port 8000, or give one), then open
http://127.0.0.1:8000/metrics or ``curl -H 'Accept: application/openmetrics-text' ...``.
Ctrl-C stops it cleanly.
"""

from __future__ import annotations

import random
import signal
import sys
import threading

from pyrometer import Counter, Enum, Gauge, Histogram, Info, start_http_server

JOBS = Counter("demo_jobs_total", "Jobs processed, by kind and outcome.", ["kind", "outcome"])
LATENCY = Histogram("demo_job_duration_seconds", "Time spent on one job.", ["kind"])
QUEUE = Gauge("demo_queue_length", "Jobs waiting to be processed.")
IN_FLIGHT = Gauge("demo_jobs_in_progress", "Jobs being processed right now.")
STATE = Enum("demo_worker_state", "What the worker is doing.", states=["idle", "busy", "stopping"])
BUILD = Info("demo_build", "Build of the demo service.")


def work(stop: threading.Event) -> None:
    """Pull fake jobs from a fake queue until told to stop."""
    rng = random.Random()
    while not stop.is_set():
        QUEUE.set(rng.randint(0, 20))
        kind = rng.choice(["resize", "encode", "upload"])
        STATE.state("busy")
        with IN_FLIGHT.track_inprogress(), LATENCY.labels(kind).time():
            stop.wait(rng.expovariate(1 / 0.05))
        outcome = "error" if rng.random() < 0.05 else "ok"
        JOBS.labels(kind, outcome).inc(exemplar={"trace_id": f"{rng.getrandbits(64):016x}"})
        STATE.state("idle")
        stop.wait(0.01)


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    BUILD.info({"version": "0.1.0", "python": sys.version.split()[0]})
    server, thread = start_http_server(port, addr="127.0.0.1")
    stop = threading.Event()
    worker = threading.Thread(target=work, args=(stop,), name="demo-worker", daemon=True)
    worker.start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"serving metrics on http://127.0.0.1:{port}/metrics - Ctrl-C to stop", flush=True)
    try:
        while not stop.is_set():
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    STATE.state("stopping")
    stop.set()
    worker.join(timeout=2)
    server.shutdown()
    server.server_close()
    thread.join(timeout=2)
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

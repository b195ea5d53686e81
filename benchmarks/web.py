"""The middleware overhead rows: Flask and FastAPI in this process, Django in a subprocess (``django_suite``)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

from .middleware import (
    ASGIDriver,
    Batch,
    WSGIDriver,
    absent_rows,
    counted,
    dist_version,
    installed,
    interleave,
    overhead_rows,
    sent,
)

Rows = List[Dict[str, Any]]
FLASK_PEER = "prometheus-flask-exporter"
DJANGO_PEER = "django-prometheus"
FASTAPI_PEERS = ("prometheus-fastapi-instrumentator", "starlette-exporter")


def flask_rows(size: int, repeats: int, target: str) -> Rows:
    """pyrometer_flask and prometheus-flask-exporter against a bare Flask app."""
    if not installed("flask"):
        return absent_rows("Flask", target, size, [FLASK_PEER], "flask not installed")
    import prometheus_client
    import pyrometer
    from flask import Flask
    from pyrometer_flask import FlaskMetrics

    def make() -> Flask:
        app = Flask("bench")

        @app.get("/users/<int:user_id>")
        def user(user_id: int) -> Dict[str, int]:
            return {"id": user_id}
        return app

    route = "/users/<int:user_id>"
    drivers: Dict[str, WSGIDriver] = {"bare": WSGIDriver(make())}
    checks: Dict[str, Callable[[int, int], bool]] = {}

    app = make()
    ours = pyrometer.CollectorRegistry()
    FlaskMetrics(app, registry=ours)
    drivers["pyrometer"] = WSGIDriver(app)
    checks["pyrometer"] = lambda hits, misses: (counted(ours, "http_requests_total", route) == hits
                                                and counted(ours, "http_requests_total", "none") == misses)
    if installed("prometheus_flask_exporter"):
        from prometheus_flask_exporter import PrometheusMetrics
        app = make()
        theirs = prometheus_client.CollectorRegistry()
        # group_by="url_rule": the route template as label, like pyrometer's handler (the default is the raw path).
        PrometheusMetrics(app, registry=theirs, group_by="url_rule")
        drivers[FLASK_PEER] = WSGIDriver(app)
        checks[FLASK_PEER] = lambda hits, misses: counted(
            theirs, "flask_http_request_duration_seconds_count", route) == hits
    return _compare("Flask", target, size, repeats, drivers, checks, [FLASK_PEER])


def fastapi_rows(size: int, repeats: int, target: str) -> Rows:
    """pyrometer_fastapi, prometheus-fastapi-instrumentator and starlette-exporter against a bare FastAPI app."""
    if not installed("fastapi"):
        return absent_rows("FastAPI", target, size, list(FASTAPI_PEERS), "fastapi not installed")
    import prometheus_client
    import pyrometer
    from fastapi import FastAPI
    from pyrometer_fastapi import PrometheusMiddleware

    def make() -> FastAPI:
        app = FastAPI()

        @app.get("/users/{user_id}")
        async def user(user_id: int) -> Dict[str, int]:
            return {"id": user_id}
        return app

    route = "/users/{user_id}"
    loop = asyncio.new_event_loop()
    try:
        drivers: Dict[str, ASGIDriver] = {"bare": ASGIDriver(make(), loop)}
        checks: Dict[str, Callable[[int, int], bool]] = {}

        app = make()
        ours = pyrometer.CollectorRegistry()
        app.add_middleware(PrometheusMiddleware, registry=ours)
        drivers["pyrometer"] = ASGIDriver(app, loop)
        checks["pyrometer"] = lambda hits, misses: (counted(ours, "http_requests_total", route) == hits
                                                    and counted(ours, "http_requests_total", "none") == misses)
        if installed("prometheus_fastapi_instrumentator"):
            from prometheus_fastapi_instrumentator import Instrumentator
            app = make()
            inst = prometheus_client.CollectorRegistry()
            Instrumentator(registry=inst).instrument(app)
            drivers[FASTAPI_PEERS[0]] = ASGIDriver(app, loop)
            checks[FASTAPI_PEERS[0]] = lambda hits, misses: counted(inst, "http_requests_total", route) == hits
        if installed("starlette_exporter"):
            import starlette_exporter
            app = make()
            # It only registers into prometheus_client's default registry; nothing else in this run uses that one.
            app.add_middleware(starlette_exporter.PrometheusMiddleware)
            drivers[FASTAPI_PEERS[1]] = ASGIDriver(app, loop)
            checks[FASTAPI_PEERS[1]] = lambda hits, misses: counted(
                prometheus_client.REGISTRY, "starlette_requests_total", route) == hits
        return _compare("FastAPI", target, size, repeats, drivers, checks, list(FASTAPI_PEERS))
    finally:
        loop.close()


def _compare(framework: str, target: str, size: int, repeats: int, drivers: Dict[str, Any],
             checks: Dict[str, Callable[[int, int], bool]], peers: List[str]) -> Rows:
    answered = {name: d.check() for name, d in drivers.items()}
    batches: Dict[str, Batch] = {name: d.batch for name, d in drivers.items()}
    samples = interleave(batches, size, repeats)
    exact = {name: answered[name] and checks.get(name, lambda h, m: True)(*sent(drivers[name].total))
             for name in drivers}
    return overhead_rows(framework, target, size, samples, exact, [(p, dist_version(p)) for p in peers])


def django_rows(size: int, repeats: int, target: str) -> Rows:
    """pyrometer_django and django-prometheus against a bare Django project, in a subprocess of their own.

    Django's settings are process-wide, so the three variants share one configured
    subprocess (interleaved there) that hands its samples back as JSON.
    """
    if not installed("django"):
        return absent_rows("Django", target, size, [DJANGO_PEER], "django not installed")
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.django_suite", str(size), str(repeats)], cwd=root,
                          env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"the Django benchmark subprocess failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout)
    return overhead_rows("Django", target, size, result["samples"], result["exact"],
                         [(DJANGO_PEER, dist_version(DJANGO_PEER))])

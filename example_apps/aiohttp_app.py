"""A small aiohttp API with request metrics and /metrics (pyrometer_aiohttp.setup_metrics).

Run it (port 8003, or give one)::

    python example_apps/aiohttp_app.py 8003

Then::

    curl http://127.0.0.1:8003/users/42
    curl http://127.0.0.1:8003/error            # 500, counted in http_exceptions_total
    curl http://127.0.0.1:8003/metrics

``/health`` is excluded from the metrics.
"""

from __future__ import annotations

import sys

from aiohttp import web
from pyrometer_aiohttp import setup_metrics


async def index(request: web.Request) -> web.Response:
    return web.json_response({"service": "aiohttp-example"})


async def get_user(request: web.Request) -> web.Response:
    user_id = int(request.match_info["id"])  # measured as handler="/users/{id}"
    return web.json_response({"id": user_id, "name": f"user{user_id}"})


async def error(request: web.Request) -> web.Response:
    raise RuntimeError("something broke")  # aiohttp answers 500; the exception is counted


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get(r"/users/{id:\d+}", get_user)
    app.router.add_get("/error", error)
    app.router.add_get("/health", health)
    setup_metrics(app, excluded_paths=["/health"])  # middleware first + GET /metrics
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 8003)

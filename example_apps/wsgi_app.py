"""A plain WSGI app routed by a Werkzeug Map, measured by pyrometer_wsgi.MetricsMiddleware, served by wsgiref.

Run it (port 8005, or give one)::

    python example_apps/wsgi_app.py 8005

Then::

    curl http://127.0.0.1:8005/users/42
    curl http://127.0.0.1:8005/error            # 500, counted in http_exceptions_total
    curl http://127.0.0.1:8005/metrics
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, Iterable
from wsgiref.simple_server import make_server

from pyrometer_wsgi import MetricsMiddleware
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule

url_map = Map(
    [
        Rule("/", endpoint="index"),
        Rule("/users/<int:user_id>", endpoint="user"),
        Rule("/error", endpoint="error"),
    ]
)


def _json(start_response: Callable[..., Any], status: str, body: Any) -> Iterable[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def app(environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
    try:
        endpoint, args = url_map.bind_to_environ(environ).match()
    except HTTPException as exc:
        return exc(environ, start_response)
    if endpoint == "index":
        return _json(start_response, "200 OK", {"service": "wsgi-example"})
    if endpoint == "user":
        return _json(start_response, "200 OK", {"id": args["user_id"], "name": f"user{args['user_id']}"})
    raise RuntimeError("something broke")  # /error: the middleware counts it, wsgiref answers 500


application = MetricsMiddleware(app, url_map=url_map)  # request metrics + GET /metrics


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8005
    with make_server("127.0.0.1", port, application) as server:
        print(f"serving on http://127.0.0.1:{port}/metrics", flush=True)
        server.serve_forever()

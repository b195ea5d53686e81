"""A small Flask shop API with request metrics and /metrics, ready for Gunicorn multiprocess mode.

One process (development)::

    flask --app example_apps/flask_app.py run --port 8000

Gunicorn, 4 workers, every worker's counts merged on /metrics (``on_starting``
empties the directory first)::

    PROMETHEUS_MULTIPROC_DIR=/tmp/pyrometer-flask gunicorn -c example_apps/gunicorn.conf.py -w 4 flask_app:app

Then::

    curl http://127.0.0.1:8000/users/42
    curl 'http://127.0.0.1:8000/slow?delay=0.3'
    curl http://127.0.0.1:8000/error            # 500, counted in http_exceptions_total
    curl -X POST -H 'X-Trace-Id: abc123' -H 'Content-Type: application/json' -d '{"name": "linus"}' \
        http://127.0.0.1:8000/users             # shop_user_signups_total, exemplar trace_id="abc123"
    curl http://127.0.0.1:8000/metrics
    curl -H 'Accept: application/openmetrics-text' http://127.0.0.1:8000/metrics   # with exemplars

``example_apps/prometheus.yml`` scrapes it (job ``flask``), ``example_apps/alerts.yml``
holds the SLO rules. ``/health`` is excluded from the metrics.
"""

from __future__ import annotations

import time
from typing import Any, Dict, Tuple

from flask import Flask, abort, jsonify, request
from pyrometer import Counter
from pyrometer_flask import FlaskMetrics

MAX_DELAY = 10.0  # seconds; /slow never sleeps longer than this

app = Flask(__name__)
metrics = FlaskMetrics(app, excluded_paths=["/health"])  # request metrics + GET /metrics

# A business metric next to the request metrics. Each increment carries the caller's trace id as an
# exemplar (OpenMetrics scrapes only; Prometheus keeps them with --enable-feature=exemplar-storage).
SIGNUPS = Counter("shop_user_signups_total", "Users created.")

# In memory and per worker process: a stand-in for a database.
USERS: Dict[int, Dict[str, Any]] = {1: {"id": 1, "name": "ada"}, 2: {"id": 2, "name": "grace"}}


@app.get("/")
def index() -> Dict[str, str]:
    return {"service": "flask-example"}


@app.get("/users/<int:user_id>")
def get_user(user_id: int) -> Dict[str, Any]:
    # Any id is a user here, so a load generator gets 200s; real code would abort(404).
    return USERS.get(user_id, {"id": user_id, "name": f"user{user_id}"})


@app.post("/users")
def create_user() -> Tuple[Any, int]:
    body = request.get_json(silent=True) or {}
    if not isinstance(body.get("name"), str):
        abort(400)
    user = {"id": max(USERS) + 1, "name": body["name"]}
    USERS[user["id"]] = user
    trace_id = request.headers.get("X-Trace-Id", "")
    SIGNUPS.inc(exemplar={"trace_id": trace_id[:64]} if trace_id else None)
    return jsonify(user), 201


@app.get("/error")
def error() -> str:
    raise RuntimeError("something broke")  # Flask answers 500; the exception is counted


@app.get("/slow")
def slow() -> Dict[str, float]:
    delay = min(max(request.args.get("delay", 0.5, type=float), 0.0), MAX_DELAY)
    time.sleep(delay)
    return {"slept": delay}


@app.get("/health")
def health() -> str:
    return "ok"

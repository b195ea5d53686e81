"""A small FastAPI inventory API with request metrics and /metrics, ready for Gunicorn multiprocess mode.

One process (development)::

    uvicorn --app-dir example_apps fastapi_app:app --port 8001

Gunicorn with 4 uvicorn workers, every worker's counts merged on /metrics
(``on_starting`` empties the directory first)::

    PROMETHEUS_MULTIPROC_DIR=/tmp/pyrometer-fastapi gunicorn -c example_apps/gunicorn.conf.py -w 4 \\
        -k uvicorn_worker.UvicornWorker -b 127.0.0.1:8001 fastapi_app:app

Then::

    curl http://127.0.0.1:8001/items/42
    curl 'http://127.0.0.1:8001/slow?delay=0.3'
    curl http://127.0.0.1:8001/error            # 500, counted in http_exceptions_total
    curl http://127.0.0.1:8001/metrics

``example_apps/prometheus.yml`` scrapes it (job ``fastapi``), ``example_apps/alerts.yml``
holds the SLO rules. ``/health`` is excluded from the metrics.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict

from fastapi import APIRouter, FastAPI, HTTPException, Query
from pydantic import BaseModel
from pyrometer_fastapi import PrometheusMiddleware

MAX_DELAY = 10.0  # seconds; /slow never sleeps longer than this

app = FastAPI(title="fastapi-example")
app.add_middleware(PrometheusMiddleware, excluded_paths=["/health"])  # request metrics + GET /metrics

# In memory and per worker process: a stand-in for a database.
ITEMS: Dict[int, Dict[str, Any]] = {1: {"id": 1, "name": "hammer"}, 2: {"id": 2, "name": "saw"}}


class NewItem(BaseModel):
    name: str


@app.get("/")
async def index() -> Dict[str, str]:
    return {"service": "fastapi-example"}


@app.get("/items/{item_id}")
async def get_item(item_id: int) -> Dict[str, Any]:
    # Any id is an item here, so a load generator gets 200s; real code would raise a 404.
    return ITEMS.get(item_id, {"id": item_id, "name": f"item{item_id}"})


@app.post("/items", status_code=201)
async def create_item(item: NewItem) -> Dict[str, Any]:
    new = {"id": max(ITEMS) + 1, "name": item.name}
    ITEMS[new["id"]] = new
    return new


orders = APIRouter(prefix="/api/v1")


@orders.get("/orders/{order_id}")
async def get_order(order_id: int) -> Dict[str, Any]:
    if order_id <= 0:
        raise HTTPException(status_code=404, detail="no such order")
    return {"id": order_id, "status": "shipped"}


app.include_router(orders)  # measured as handler="/api/v1/orders/{order_id}"


@app.get("/error")
async def error() -> None:
    raise RuntimeError("something broke")  # answered 500; the exception is counted


@app.get("/slow")
async def slow(delay: float = Query(0.5, ge=0.0, le=MAX_DELAY)) -> Dict[str, float]:
    await asyncio.sleep(delay)
    return {"slept": delay}


@app.get("/health")
async def health() -> str:
    return "ok"

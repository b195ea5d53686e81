"""PrometheusMiddleware and instrument(app).expose(app) on FastAPI: TestClient, httpx ASGITransport, real uvicorn."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import warnings
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import APIRouter, BackgroundTasks, FastAPI, Request, WebSocket
from fastapi.responses import StreamingResponse
from pyrometer import CollectorRegistry, generate_latest
from pyrometer.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from pyrometer.protection import Protection
from pyrometer.testing import samples
from pyrometer_fastapi import PrometheusMiddleware, instrument
from thread_servers import serve_uvicorn

with warnings.catch_warnings():
    # Starlette >= 1.x warns at import that its TestClient prefers the httpx2 package over httpx;
    # the tests deliberately use httpx (also for ASGITransport), so only that one warning is silenced.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from starlette.testclient import TestClient


def _app(registry: CollectorRegistry, **options) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int):
        return {"id": item_id}

    @app.get("/boom")
    async def boom():
        raise RuntimeError("boom")

    @app.get("/health")
    def health():
        return "ok"

    @app.post("/items")
    def create():
        return {"created": True}

    app.add_middleware(PrometheusMiddleware, registry=registry, **options)
    return app


def _traffic(client) -> None:
    """Three matched GETs, five scanner URLs, one POST, one excluded path."""
    assert [client.get(f"/items/{i}").status_code for i in range(3)] == [200, 200, 200]
    assert {client.get(f"/scan/{i}/wp-admin.php?x={i}").status_code for i in range(5)} == {404}
    assert client.post("/items", json={}).status_code == 200
    assert client.get("/health").status_code == 200


EXPECTED_REQUESTS = [
    ({"handler": "/items/{item_id}", "method": "GET", "status": "200"}, 3.0),
    ({"handler": "none", "method": "GET", "status": "404"}, 5.0),
    ({"handler": "/items", "method": "POST", "status": "200"}, 1.0),
    ({"handler": "/boom", "method": "GET", "status": "500"}, 1.0),
]


def test_mixed_traffic_exact_series_test_client():
    """Matched, unmatched, excluded and raising requests give exact series through Starlette's TestClient."""
    registry = CollectorRegistry()
    client = TestClient(_app(registry, excluded_paths=["/health"]), raise_server_exceptions=False)
    _traffic(client)
    assert client.get("/boom").status_code == 500
    assert samples("http_requests_total", registry) == EXPECTED_REQUESTS
    assert samples("http_exceptions_total", registry) == [
        ({"exception": "RuntimeError", "handler": "/boom", "method": "GET"}, 1.0),
    ]
    assert samples("http_requests_in_progress", registry) == [
        ({"handler": "/items/{item_id}", "method": "GET"}, 0.0),
        ({"handler": "none", "method": "GET"}, 0.0),
        ({"handler": "/items", "method": "POST"}, 0.0),
        ({"handler": "/boom", "method": "GET"}, 0.0),
    ]
    assert registry.get_sample_value(
        "http_request_duration_seconds_count", {"method": "GET", "handler": "/items/{item_id}"}) == 3
    text = generate_latest(registry).decode()
    assert "/health" not in text and "/scan" not in text


def test_mixed_traffic_exact_series_httpx_asgi_transport():
    """The same traffic through an async httpx client on ASGITransport gives the same series."""
    registry = CollectorRegistry()
    app = _app(registry, excluded_paths=["/health"])

    async def go():
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for i in range(3):
                assert (await client.get(f"/items/{i}")).status_code == 200
            for i in range(5):
                assert (await client.get(f"/scan/{i}/wp-admin.php?x={i}")).status_code == 404
            assert (await client.post("/items", json={})).status_code == 200
            assert (await client.get("/health")).status_code == 200
            assert (await client.get("/boom")).status_code == 500

    asyncio.run(go())
    assert samples("http_requests_total", registry) == EXPECTED_REQUESTS
    assert registry.get_sample_value(
        "http_exceptions_total", {"method": "GET", "handler": "/boom", "exception": "RuntimeError"}) == 1


def test_exception_reraised_and_counted():
    """With raise_server_exceptions=True the endpoint's exception reaches the test and is still a counted 500."""
    registry = CollectorRegistry()
    client = TestClient(_app(registry))
    with pytest.raises(RuntimeError, match="boom"):
        client.get("/boom")
    base = {"method": "GET", "handler": "/boom"}
    assert registry.get_sample_value("http_requests_total", {**base, "status": "500"}) == 1
    assert registry.get_sample_value("http_exceptions_total", {**base, "exception": "RuntimeError"}) == 1
    assert registry.get_sample_value("http_requests_in_progress", base) == 0


def test_group_status():
    """group_status=True reports status classes."""
    registry = CollectorRegistry()
    client = TestClient(_app(registry, group_status=True))
    client.get("/items/1")
    client.post("/items")
    client.get("/nothing")
    assert samples("http_requests_total", registry) == [
        ({"handler": "/items/{item_id}", "method": "GET", "status": "2xx"}, 1.0),
        ({"handler": "/items", "method": "POST", "status": "2xx"}, 1.0),
        ({"handler": "none", "method": "GET", "status": "4xx"}, 1.0),
    ]


def test_in_progress_carries_the_route_while_the_endpoint_runs():
    """While an async endpoint awaits, the in-progress gauge already counts it under its route."""
    registry = CollectorRegistry()
    app = FastAPI()
    seen = []

    base = {"method": "GET", "handler": "/slow/{n}"}

    @app.get("/slow/{n}")
    async def slow(n: int):
        await asyncio.sleep(0.01)
        seen.append(registry.get_sample_value("http_requests_in_progress", base))
        return {}

    @app.get("/sync/{n}")
    def sync(n: int):  # FastAPI runs it in a worker thread
        seen.append(registry.get_sample_value("http_requests_in_progress", {**base, "handler": "/sync/{n}"}))
        return {}

    app.add_middleware(PrometheusMiddleware, registry=registry)
    client = TestClient(app)
    client.get("/slow/1")
    client.get("/sync/1")
    assert seen == [1.0, 1.0]
    assert registry.get_sample_value("http_requests_in_progress", base) == 0


def test_streaming_response_timed_to_last_chunk():
    """A streamed body is timed until its last chunk; time to first byte and response size are exact."""
    registry = CollectorRegistry()
    app = FastAPI()

    @app.get("/stream")
    async def stream():
        async def chunks():
            for _ in range(3):
                await asyncio.sleep(0.05)
                yield b"chunk"
        return StreamingResponse(chunks(), media_type="text/plain")

    app.add_middleware(PrometheusMiddleware, registry=registry,
                       metrics=["requests", "duration", "in_progress", "ttfb", "response_size"])
    response = TestClient(app).get("/stream")
    assert response.content == b"chunk" * 3
    base = {"method": "GET", "handler": "/stream"}
    assert registry.get_sample_value("http_request_duration_seconds_sum", base) >= 0.1
    assert registry.get_sample_value("http_time_to_first_byte_seconds_sum", base) < 0.1
    assert registry.get_sample_value("http_response_size_bytes_sum", base) == 15
    assert registry.get_sample_value("http_requests_total", {**base, "status": "200"}) == 1


def test_background_task_not_in_duration():
    """A background task (0.3 s) runs after the last body chunk and is not part of the request's duration."""
    registry = CollectorRegistry()
    app = FastAPI()
    done = threading.Event()

    def later():
        time.sleep(0.3)
        done.set()

    @app.post("/jobs")
    async def jobs(background: BackgroundTasks):
        background.add_task(later)
        return {"queued": True}

    app.add_middleware(PrometheusMiddleware, registry=registry)
    assert TestClient(app).post("/jobs").json() == {"queued": True}
    assert done.is_set()  # the TestClient waited for the task, the metric did not
    base = {"method": "POST", "handler": "/jobs"}
    assert registry.get_sample_value("http_request_duration_seconds_count", base) == 1
    assert registry.get_sample_value("http_request_duration_seconds_sum", base) < 0.3


def test_failing_background_task_leaves_the_request_as_answered():
    """A background task that raises after the response does not turn the answered request into a failure."""
    registry = CollectorRegistry()
    app = FastAPI()

    def explode():
        raise ValueError("late")

    @app.post("/jobs")
    async def jobs(background: BackgroundTasks):
        background.add_task(explode)
        return {"queued": True}

    app.add_middleware(PrometheusMiddleware, registry=registry)
    with pytest.raises(ValueError, match="late"):
        TestClient(app).post("/jobs")
    assert samples("http_requests_total", registry) == [
        ({"handler": "/jobs", "method": "POST", "status": "200"}, 1.0),
    ]
    assert samples("http_exceptions_total", registry) == []


def test_mounted_sub_app_and_router_prefix_templates():
    """Templates include mount paths (with their parameters) and router prefixes, nested and included twice."""
    registry = CollectorRegistry()
    app = FastAPI()
    users = APIRouter()

    @users.get("/users/{user_id}")
    def user(user_id: int):
        return {}

    deep = APIRouter()

    @deep.get("/orders/{order_id}")
    def order(order_id: str):
        return {}

    users.include_router(deep, prefix="/shop")
    app.include_router(users, prefix="/api/v1")
    app.include_router(users, prefix="/api/v2")
    sub = FastAPI()

    @sub.get("/reports/{report_id}")
    def report(report_id: int):
        return {}

    app.mount("/tenants/{tenant}", sub)

    async def raw_asgi(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    app.mount("/raw", raw_asgi)
    app.add_middleware(PrometheusMiddleware, registry=registry)
    client = TestClient(app)
    for path in ("/api/v1/users/1", "/api/v2/users/2", "/api/v1/shop/orders/x", "/tenants/acme/reports/3",
                 "/tenants/other/reports/4", "/tenants/acme/missing", "/raw/anything/at/all"):
        client.get(path)
    assert samples("http_requests_total", registry) == [
        ({"handler": "/api/v1/users/{user_id}", "method": "GET", "status": "200"}, 1.0),
        ({"handler": "/api/v2/users/{user_id}", "method": "GET", "status": "200"}, 1.0),
        ({"handler": "/api/v1/shop/orders/{order_id}", "method": "GET", "status": "200"}, 1.0),
        ({"handler": "/tenants/{tenant}/reports/{report_id}", "method": "GET", "status": "200"}, 2.0),
        ({"handler": "none", "method": "GET", "status": "404"}, 1.0),
        ({"handler": "/raw", "method": "GET", "status": "204"}, 1.0),
    ]


def test_websocket_passes_through_untouched():
    """A websocket endpoint works through the middleware and creates no request series."""
    registry = CollectorRegistry()
    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket):
        await websocket.accept()
        await websocket.send_text("hi " + await websocket.receive_text())
        await websocket.close()

    app.add_middleware(PrometheusMiddleware, registry=registry)
    with TestClient(app).websocket_connect("/ws") as socket:
        socket.send_text("there")
        assert socket.receive_text() == "hi there"
    assert samples("http_requests_total", registry) == []
    assert samples("http_requests_in_progress", registry) == []


def test_lifespan_runs_with_the_middleware():
    """Lifespan startup and shutdown pass through the middleware to the app."""
    registry = CollectorRegistry()
    events = []

    @asynccontextmanager
    async def lifespan(app):
        events.append("startup")
        yield {"greeting": "hello"}
        events.append("shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.get("/hello")
    async def hello(request: Request):
        return {"greeting": request.state.greeting}

    app.add_middleware(PrometheusMiddleware, registry=registry)
    with TestClient(app) as client:
        assert events == ["startup"]
        assert client.get("/hello").json() == {"greeting": "hello"}
    assert events == ["startup", "shutdown"]
    base = {"method": "GET", "handler": "/hello"}
    assert registry.get_sample_value("http_requests_total", {**base, "status": "200"}) == 1


def test_instrument_expose_negotiation_and_protection():
    """instrument(app).expose(app) serves OpenMetrics on request, refuses without credentials, and is not measured."""
    registry = CollectorRegistry()
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int):
        return {}

    instrument(app, registry=registry).expose(app, protection=Protection(basic_auth={"prom": "secret"}))
    client = TestClient(app)
    client.get("/items/1")
    assert client.get("/metrics").status_code == 401
    auth = {"Authorization": "Basic " + base64.b64encode(b"prom:secret").decode()}
    plain = client.get("/metrics", headers=auth)
    assert plain.status_code == 200
    assert 'http_requests_total{handler="/items/{item_id}",method="GET",status="200"} 1.0' in plain.text
    om = client.get("/metrics", headers={**auth, "Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["content-type"].startswith(OPENMETRICS_TYPE)
    assert om.text.endswith("# EOF\n")
    assert "/metrics" not in generate_latest(registry).decode()  # scrapes are never measured
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_expose_in_schema_and_middleware_metrics_path():
    """include_in_schema=True lists /metrics in OpenAPI; PrometheusMiddleware serves its own path too."""
    registry = CollectorRegistry()
    app = FastAPI()
    instrument(app, registry=registry).expose(app, endpoint="/prom", include_in_schema=True)
    assert "/prom" in TestClient(app).get("/openapi.json").json()["paths"]

    other = CollectorRegistry()
    app2 = FastAPI()
    app2.add_middleware(PrometheusMiddleware, registry=other, path="/internal/metrics")
    client = TestClient(app2)
    client.get("/nothing")
    scrape = client.get("/internal/metrics")
    assert scrape.status_code == 200
    assert 'http_requests_total{handler="none",method="GET",status="404"} 1.0' in scrape.text
    assert "/internal/metrics" not in scrape.text


def test_preset_instrumentator_names():
    """preset="instrumentator" keeps prometheus-fastapi-instrumentator's names, labels and status grouping."""
    registry = CollectorRegistry()
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int):
        return {"id": item_id}

    instrument(app, registry=registry, preset="instrumentator").expose(app)
    client = TestClient(app)
    client.get("/items/1")
    client.get("/items/2")
    assert samples("http_requests_total", registry) == [
        ({"handler": "/items/{item_id}", "method": "GET", "status": "2xx"}, 2.0),
    ]
    assert registry.get_sample_value("http_request_duration_highr_seconds_count") == 2
    assert registry.get_sample_value(
        "http_request_duration_seconds_count", {"method": "GET", "handler": "/items/{item_id}"}) == 2
    assert registry.get_sample_value("http_response_size_bytes_count", {"handler": "/items/{item_id}"}) == 2
    assert registry.get_sample_value("http_response_size_bytes_sum", {"handler": "/items/{item_id}"}) == 16


def test_extra_labels_get_a_starlette_request():
    """extra_labels functions receive a Starlette Request (headers readable), bounded by the engine."""
    registry = CollectorRegistry()
    client = TestClient(_app(registry, extra_labels={"tenant": lambda r: r.headers.get("x-tenant", "")}))
    client.get("/items/1", headers={"X-Tenant": "acme"})
    assert registry.get_sample_value(
        "http_requests_total", {"method": "GET", "handler": "/items/{item_id}", "status": "200", "tenant": "acme"}) == 1


def test_bad_options_fail_at_instrument():
    """instrument() builds the engine at once, so a bad option fails there."""
    with pytest.raises(ValueError, match="Unknown preset"):
        instrument(FastAPI(), registry=CollectorRegistry(), preset="nope")


def test_real_uvicorn_server_exact_totals():
    """Under a real uvicorn server, N requests give exact totals and /metrics answers over the socket."""
    registry = CollectorRegistry()
    port, stop = serve_uvicorn(_app(registry), lifespan="on")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for i in range(20):
                assert client.get(f"/items/{i}").status_code == 200
            for i in range(7):
                assert client.get(f"/random/{i}").status_code == 404
            scrape = client.get("/metrics", headers={"Accept-Encoding": "identity"}).text
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            # uvicorn closes a keep-alive connection after an app exception: this one goes last, alone.
            assert client.get("/boom").status_code == 500
    finally:
        stop()  # fails unless the server thread has ended
    assert 'http_requests_total{handler="/items/{item_id}",method="GET",status="200"} 20.0' in scrape
    assert samples("http_requests_total", registry) == [
        ({"handler": "/items/{item_id}", "method": "GET", "status": "200"}, 20.0),
        ({"handler": "none", "method": "GET", "status": "404"}, 7.0),
        ({"handler": "/boom", "method": "GET", "status": "500"}, 1.0),
    ]
    assert registry.get_sample_value(
        "http_exceptions_total", {"method": "GET", "handler": "/boom", "exception": "RuntimeError"}) == 1

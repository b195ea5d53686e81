"""pyrometer_aiohttp through aiohttp's own test server and client: request series and /metrics serving."""

from __future__ import annotations

import asyncio
import base64
import threading

import pytest

pytest.importorskip("aiohttp")

import pyrometer_aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pyrometer import CollectorRegistry
from pyrometer.http import HttpMetrics
from pyrometer.protection import Protection
from pyrometer.testing import samples
from pyrometer_aiohttp import metrics_middleware, setup_metrics


async def _user(request: web.Request) -> web.Response:
    return web.json_response({"id": request.match_info["id"]})


async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("boom")


async def _gone(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


async def _health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _create(request: web.Request) -> web.Response:
    return web.json_response({"created": True}, status=201)


def _app(registry: CollectorRegistry, **options) -> web.Application:
    app = web.Application()
    app.router.add_get("/users/{id}", _user)
    app.router.add_get("/boom", _boom)
    app.router.add_get("/gone", _gone)
    app.router.add_get("/health", _health)
    app.router.add_post("/items", _create)
    setup_metrics(app, registry=registry, **options)
    return app


def _run(app: web.Application, scenario):
    """Run ``scenario(client)`` against ``app`` served by aiohttp's TestServer on a fresh event loop."""
    async def main():
        async with TestClient(TestServer(app)) as client:
            return await scenario(client)
    return asyncio.run(main())


def _statuses(app: web.Application, method: str, paths: list, **kwargs) -> list:
    async def scenario(client):
        statuses = []
        for path in paths:
            async with client.request(method, path, **kwargs) as response:
                await response.read()
                statuses.append(response.status)
        return statuses
    return _run(app, scenario)


def test_mixed_traffic_exact_series():
    """A matched route, random URLs, a raising handler, a raised HTTPNotFound and an excluded path give exact series."""
    registry = CollectorRegistry()
    app = _app(registry, excluded_paths=["/health"])

    async def scenario(client):
        statuses = []
        for path in ["/users/1", "/users/2", "/users/3", *[f"/scan/{i}/wp-admin.php?x={i}" for i in range(5)],
                     "/boom", "/gone", "/health"]:
            async with client.get(path) as response:
                statuses.append(response.status)
        async with client.post("/items", json={}) as response:
            statuses.append(response.status)
        return statuses

    assert _run(app, scenario) == [200, 200, 200, 404, 404, 404, 404, 404, 500, 404, 200, 201]
    assert samples("http_requests_total", registry) == [
        ({"handler": "/users/{id}", "method": "GET", "status": "200"}, 3.0),
        ({"handler": "none", "method": "GET", "status": "404"}, 5.0),
        ({"handler": "/boom", "method": "GET", "status": "500"}, 1.0),
        ({"handler": "/gone", "method": "GET", "status": "404"}, 1.0),
        ({"handler": "/items", "method": "POST", "status": "201"}, 1.0),
    ]
    assert samples("http_exceptions_total", registry) == [
        ({"exception": "RuntimeError", "handler": "/boom", "method": "GET"}, 1.0),
    ]
    assert samples("http_requests_in_progress", registry) == [
        ({"handler": "/users/{id}", "method": "GET"}, 0.0),
        ({"handler": "none", "method": "GET"}, 0.0),
        ({"handler": "/boom", "method": "GET"}, 0.0),
        ({"handler": "/gone", "method": "GET"}, 0.0),
        ({"handler": "/items", "method": "POST"}, 0.0),
    ]
    assert samples("http_request_duration_seconds_count", registry) == [
        ({"handler": "/users/{id}", "method": "GET"}, 3.0),
        ({"handler": "none", "method": "GET"}, 5.0),
        ({"handler": "/boom", "method": "GET"}, 1.0),
        ({"handler": "/gone", "method": "GET"}, 1.0),
        ({"handler": "/items", "method": "POST"}, 1.0),
    ]


@pytest.mark.filterwarnings("ignore:returning HTTPException object is deprecated:DeprecationWarning")
def test_returned_http_exception_is_a_response():
    """An HTTPException returned rather than raised counts with its status and not as an exception."""
    registry = CollectorRegistry()
    app = web.Application()

    async def teapot(request):
        return web.HTTPFound("/elsewhere")

    app.router.add_get("/old", teapot)
    setup_metrics(app, registry=registry)
    assert _statuses(app, "GET", ["/old"], allow_redirects=False) == [302]
    assert samples("http_requests_total", registry) == [
        ({"handler": "/old", "method": "GET", "status": "302"}, 1.0),
    ]
    assert samples("http_exceptions_total", registry) == []


def test_method_not_allowed_and_timeout():
    """A 405 carries the route it hit; a handler's TimeoutError is aiohttp's 504 and counts the exception."""
    registry = CollectorRegistry()
    app = web.Application()

    async def slow(request):
        raise asyncio.TimeoutError()

    app.router.add_get("/slow", slow)
    setup_metrics(app, registry=registry)

    async def scenario(client):
        return [(await client.delete("/slow")).status, (await client.get("/slow")).status]

    assert _run(app, scenario) == [405, 504]
    assert samples("http_requests_total", registry) == [
        ({"handler": "/slow", "method": "DELETE", "status": "405"}, 1.0),
        ({"handler": "/slow", "method": "GET", "status": "504"}, 1.0),
    ]
    assert samples("http_exceptions_total", registry) == [
        ({"exception": "TimeoutError", "handler": "/slow", "method": "GET"}, 1.0),
    ]


def test_group_status():
    """group_status=True reports 2xx/4xx/5xx instead of the exact codes."""
    registry = CollectorRegistry()
    app = _app(registry, group_status=True)
    assert _statuses(app, "GET", ["/users/1", "/nope", "/boom", "/gone"]) == [200, 404, 500, 404]
    assert samples("http_requests_total", registry) == [
        ({"handler": "/users/{id}", "method": "GET", "status": "2xx"}, 1.0),
        ({"handler": "none", "method": "GET", "status": "4xx"}, 1.0),
        ({"handler": "/boom", "method": "GET", "status": "5xx"}, 1.0),
        ({"handler": "/gone", "method": "GET", "status": "4xx"}, 1.0),
    ]


def test_in_progress_while_handler_runs():
    """The in-progress gauge carries the route template while the handler runs and is 0 afterwards."""
    registry = CollectorRegistry()
    app = web.Application()
    seen = []

    async def work(request):
        seen.append(registry.get_sample_value("http_requests_in_progress", {"method": "GET", "handler": "/work/{job}"}))
        return web.Response(text=request.match_info["job"])

    app.router.add_get("/work/{job}", work)
    setup_metrics(app, registry=registry)
    assert _statuses(app, "GET", ["/work/a"]) == [200]
    assert seen == [1.0]
    assert registry.get_sample_value("http_requests_in_progress", {"method": "GET", "handler": "/work/{job}"}) == 0


def test_streaming_handler_timed_until_it_returns():
    """A StreamResponse the handler writes is timed until the handler returns, first byte when it was prepared."""
    registry = CollectorRegistry()
    app = web.Application()

    async def stream(request):
        response = web.StreamResponse()
        if request.query.get("sized"):
            response.content_length = 15
        await response.prepare(request)
        for _ in range(3):
            await asyncio.sleep(0.05)
            await response.write(b"chunk")
        await response.write_eof()
        return response

    app.router.add_get("/stream", stream)
    setup_metrics(app, registry=registry, metrics=["requests", "duration", "in_progress", "response_size", "ttfb"])

    async def scenario(client):
        bodies = []
        for path in ["/stream?sized=1", "/stream"]:
            async with client.get(path) as response:
                bodies.append(await response.read())
        return bodies

    assert _run(app, scenario) == [b"chunk" * 3, b"chunk" * 3]
    base = {"method": "GET", "handler": "/stream"}
    assert registry.get_sample_value("http_requests_total", {**base, "status": "200"}) == 2
    duration = registry.get_sample_value("http_request_duration_seconds_sum", base)
    first_byte = registry.get_sample_value("http_time_to_first_byte_seconds_sum", base)
    assert registry.get_sample_value("http_time_to_first_byte_seconds_count", base) == 2
    assert duration - first_byte >= 0.29  # three 50 ms sleeps after prepare(), twice
    assert registry.get_sample_value("http_response_size_bytes_count", base) == 1  # the chunked one has no size
    assert registry.get_sample_value("http_response_size_bytes_sum", base) == 15
    assert registry.get_sample_value("http_requests_in_progress", base) == 0


def test_client_gone_counts_499():
    """With handler_cancellation on, a client hanging up mid-handler counts as 499 and ends in-progress."""
    registry = CollectorRegistry()
    app = web.Application()
    started = []

    async def slow(request):
        started[0].set()
        await asyncio.sleep(10)
        return web.Response(text="late")

    app.router.add_get("/slow", slow)
    setup_metrics(app, registry=registry)
    base = {"method": "GET", "handler": "/slow"}

    async def main():
        started.append(asyncio.Event())  # made on the running loop (Python 3.9 binds it at creation)
        async with TestClient(TestServer(app, handler_cancellation=True)) as client:
            request = asyncio.ensure_future(client.get("/slow"))
            await started[0].wait()
            request.cancel()  # drops the connection
            with pytest.raises(asyncio.CancelledError):
                await request
            for _ in range(500):
                if registry.get_sample_value("http_requests_total", {**base, "status": "499"}):
                    break
                await asyncio.sleep(0.01)

    asyncio.run(main())
    assert samples("http_requests_total", registry) == [
        ({"handler": "/slow", "method": "GET", "status": "499"}, 1.0),
    ]
    assert registry.get_sample_value("http_requests_in_progress", base) == 0
    assert samples("http_exceptions_total", registry) == []


def test_sizes_of_plain_responses():
    """Request and response sizes come from the request's Content-Length and the response body."""
    registry = CollectorRegistry()
    app = _app(registry, metrics=["requests", "request_size", "response_size"])
    assert _statuses(app, "POST", ["/items"], data=b"x" * 10) == [201]
    base = {"method": "POST", "handler": "/items"}
    assert registry.get_sample_value("http_request_size_bytes_sum", base) == 10
    assert registry.get_sample_value("http_response_size_bytes_sum", base) == len(b'{"created": true}')


def test_subapp_routes_carry_their_prefix():
    """Routes of a sub-application are labelled with the prefixed canonical path."""
    registry = CollectorRegistry()
    app = web.Application()
    api = web.Application()
    api.router.add_get("/orders/{order_id}", _health)
    app.add_subapp("/api/v1", api)
    setup_metrics(app, registry=registry)
    assert _statuses(app, "GET", ["/api/v1/orders/1", "/api/v1/orders/2", "/api/v1/nothing"]) == [200, 200, 404]
    assert samples("http_requests_total", registry) == [
        ({"handler": "/api/v1/orders/{order_id}", "method": "GET", "status": "200"}, 2.0),
        ({"handler": "none", "method": "GET", "status": "404"}, 1.0),
    ]


def test_extra_labels_get_the_aiohttp_request():
    """extra_labels functions receive the aiohttp Request."""
    registry = CollectorRegistry()
    app = _app(registry, metrics=["requests"], extra_labels={"tenant": lambda r: r.headers.get("X-Tenant", "-")})
    assert _statuses(app, "GET", ["/users/1"], headers={"X-Tenant": "acme"}) == [200]
    assert samples("http_requests_total", registry) == [
        ({"handler": "/users/{id}", "method": "GET", "status": "200", "tenant": "acme"}, 1.0),
    ]


def test_metrics_endpoint_negotiation():
    """/metrics answers the text format by default and OpenMetrics when asked, and is not itself measured."""
    registry = CollectorRegistry()
    app = _app(registry)

    async def scenario(client):
        await (await client.get("/users/1")).read()
        text = await client.get("/metrics")
        om = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
        return (text.status, text.headers["Content-Type"], await text.read(),
                om.status, om.headers["Content-Type"], await om.read())

    status, content_type, body, om_status, om_type, om_body = _run(app, scenario)
    assert (status, content_type) == (200, "text/plain; version=0.0.4; charset=utf-8")
    assert b'http_requests_total{handler="/users/{id}",method="GET",status="200"} 1.0\n' in body
    assert b"/metrics" not in body
    assert om_status == 200
    assert om_type == "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
    assert om_body.endswith(b"# EOF\n")
    assert b'http_requests_total{handler="/users/{id}",method="GET",status="200"} 1.0\n' in om_body


def test_metrics_endpoint_protection():
    """With basic-auth protection /metrics answers 401 without credentials and 200 with them."""
    registry = CollectorRegistry()
    app = _app(registry, protection=Protection(basic_auth={"prom": "s3cret"}))
    good = base64.b64encode(b"prom:s3cret").decode()
    wrong = base64.b64encode(b"prom:nope").decode()

    async def scenario(client):
        denied = await client.get("/metrics")
        bad = await client.get("/metrics", headers={"Authorization": f"Basic {wrong}"})
        ok = await client.get("/metrics", headers={"Authorization": f"Basic {good}"})
        app_open = await client.get("/users/1")
        return denied.status, denied.headers.get("WWW-Authenticate", ""), bad.status, ok.status, app_open.status

    denied, challenge, bad, ok, app_open = _run(app, scenario)
    assert (denied, bad, ok, app_open) == (401, 401, 200, 200)
    assert challenge.startswith("Basic")


def test_scrape_reads_registry_in_a_worker_thread(monkeypatch):
    """The scrape resolves its registry (the multiprocess merge) in an executor thread, not on the event loop."""
    registry = CollectorRegistry()
    threads = []

    def recording_scrape_registry(reg):
        threads.append(threading.current_thread())
        return reg

    monkeypatch.setattr(pyrometer_aiohttp, "scrape_registry", recording_scrape_registry)
    app = _app(registry)
    assert _statuses(app, "GET", ["/metrics"]) == [200]
    assert len(threads) == 1 and threads[0] is not threading.main_thread()


def test_middleware_alone_and_bad_setup():
    """metrics_middleware works without setup_metrics; a second setup or engine plus options is refused."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, metrics=["requests"])
    app = web.Application(middlewares=[metrics_middleware(engine)])
    app.router.add_get("/users/{id}", _user)
    assert _statuses(app, "GET", ["/users/1", "/metrics"]) == [200, 404]
    assert samples("http_requests_total", registry) == [
        ({"handler": "/users/{id}", "method": "GET", "status": "200"}, 1.0),
        ({"handler": "none", "method": "GET", "status": "404"}, 1.0),
    ]
    with pytest.raises(TypeError):
        metrics_middleware(engine, namespace="x")
    twice = web.Application()
    setup_metrics(twice, registry=CollectorRegistry())
    with pytest.raises(ValueError, match="already instrumented"):
        setup_metrics(twice, registry=CollectorRegistry())
    with pytest.raises(ValueError, match="preset"):
        setup_metrics(web.Application(), registry=CollectorRegistry(), preset="nope")


def test_method_not_allowed_is_labelled_with_the_matched_route():
    """A 405 carries the matched resource's canonical path, like the other adapters; a 404 stays `none`."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer
    from pyrometer import CollectorRegistry
    from pyrometer_aiohttp import setup_metrics

    reg = CollectorRegistry()

    async def order(request):
        return web.Response(text="ok")

    async def run():
        app = web.Application()
        app.router.add_get("/orders/{order_id}", order)
        app.router.add_get("/static-path", order)
        setup_metrics(app, registry=reg)
        async with TestClient(TestServer(app)) as client:
            assert (await client.post("/orders/7")).status == 405
            assert (await client.post("/static-path")).status == 405
            assert (await client.post("/nowhere")).status == 404

    asyncio.run(run())
    assert reg.get_sample_value(
        "http_requests_total", {"method": "POST", "handler": "/orders/{order_id}", "status": "405"}) == 1.0
    assert reg.get_sample_value(
        "http_requests_total", {"method": "POST", "handler": "/static-path", "status": "405"}) == 1.0
    assert reg.get_sample_value("http_requests_total", {"method": "POST", "handler": "none", "status": "404"}) == 1.0

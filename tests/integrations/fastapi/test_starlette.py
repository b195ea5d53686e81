"""PrometheusMiddleware on plain Starlette, and the framework-neutral ASGIInstrumentation driven by hand."""

from __future__ import annotations

import asyncio
import threading
import warnings

import pytest
from pyrometer import CollectorRegistry
from pyrometer.http import HttpMetrics
from pyrometer.http.asgi import HANDLER_KEY, PENDING, SKIP_KEY, TIMER_KEY, ASGIInstrumentation
from pyrometer.protection import Protection
from pyrometer.testing import samples
from pyrometer_fastapi import PrometheusMiddleware
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Host, Mount, Route

with warnings.catch_warnings():
    # Starlette >= 1.x warns at import that its TestClient prefers the httpx2 package over httpx;
    # the tests deliberately use httpx, so only that one warning is silenced.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
    from starlette.testclient import TestClient


async def ok(request):
    return PlainTextResponse("ok")


class CopyScope:
    """A middleware that hands the app a copy of the scope, so the router's notes never reach the outside."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(dict(scope), receive, send)


def _starlette(registry: CollectorRegistry, *, copy_scope: bool = False) -> Starlette:
    api = [Route("/users/{user_id:int}", ok), Mount("/admin", routes=[Route("/stats", ok)])]
    middleware = [Middleware(PrometheusMiddleware, registry=registry)]
    if copy_scope:
        middleware.append(Middleware(CopyScope))
    return Starlette(routes=[
        Route("/", ok),
        Route("/only-post", ok, methods=["POST"]),
        Mount("/api/{version}", routes=api),
        Host("internal.example", app=Starlette(routes=[Route("/status", ok)])),
    ], middleware=middleware)


@pytest.mark.parametrize("copy_scope", [False, True], ids=["router-notes", "scope-copied-before-routing"])
def test_starlette_templates(copy_scope):
    """Routes, parametrised mounts, hosts and 405s get templates, also when the router worked on a scope copy."""
    registry = CollectorRegistry()
    client = TestClient(_starlette(registry, copy_scope=copy_scope))
    client.get("/")
    client.get("/api/v1/users/7")
    client.get("/api/v2/users/8")
    client.get("/api/v1/admin/stats")
    client.get("/api/v1/admin/nothing")
    client.get("/only-post")
    client.get("/status", headers={"Host": "internal.example"})
    client.get("/wp-login.php")
    assert samples("http_requests_total", registry) == [
        ({"handler": "/", "method": "GET", "status": "200"}, 1.0),
        ({"handler": "/api/{version}/users/{user_id:int}", "method": "GET", "status": "200"}, 2.0),
        ({"handler": "/api/{version}/admin/stats", "method": "GET", "status": "200"}, 1.0),
        ({"handler": "none", "method": "GET", "status": "404"}, 2.0),
        ({"handler": "/only-post", "method": "GET", "status": "405"}, 1.0),
        ({"handler": "/status", "method": "GET", "status": "200"}, 1.0),
    ]


def test_routes_added_after_the_first_request():
    """A route added after requests were measured is still named by its template."""
    registry = CollectorRegistry()
    app = _starlette(registry)
    client = TestClient(app)
    client.get("/")
    app.router.routes.append(Route("/late/{x}", ok))
    client.get("/late/1")
    assert registry.get_sample_value("http_requests_total", {"method": "GET", "handler": "/late/{x}",
                                                             "status": "200"}) == 1


def test_metrics_path_protected_and_rendered_off_the_event_loop():
    """The middleware's /metrics honours protection, and the scrape runs in a worker thread, not the loop's."""
    registry = CollectorRegistry()
    threads = []

    class Probe:
        def collect(self):
            threads.append(threading.current_thread())
            return []

    registry.register(Probe())
    app = Starlette(routes=[Route("/", ok)],
                    middleware=[Middleware(PrometheusMiddleware, registry=registry,
                                           protection=Protection(bearer_tokens=["t0k3n"]))])
    client = TestClient(app)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer t0k3n"}).status_code == 200
    loop_threads = []

    async def loop_thread(request):
        loop_threads.append(threading.current_thread())
        return PlainTextResponse("")

    app.router.routes.append(Route("/where", loop_thread))
    client.get("/where")
    assert threads and loop_threads[0] not in threads


# -- the framework-neutral middleware, driven by hand -------------------------------------------------------------


def _scope(path="/x", method="GET", headers=()):
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": list(headers),
            "query_string": b""}


def _run(app, scope, incoming=({"type": "http.request", "body": b"", "more_body": False},), send_error=None):
    """Run one request through ``app``; returns the messages it sent."""
    sent = []
    queue = list(incoming)

    async def receive():
        if queue:
            return queue.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        if send_error is not None and message["type"] == "http.response.body" and sent:
            raise send_error
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _engine():
    registry = CollectorRegistry()
    return registry, HttpMetrics(registry=registry, metrics=["requests", "duration", "in_progress", "exceptions",
                                                             "request_size", "response_size"])


def _answer(status=200, chunks=(b"hello",)):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": []})
        for i, chunk in enumerate(chunks):
            await send({"type": "http.response.body", "body": chunk, "more_body": i < len(chunks) - 1})
    return app


def test_handler_from_scope_state_and_sizes():
    """An app naming its route in scope["state"] gets that label; request and response sizes are exact."""
    registry, engine = _engine()
    answer = _answer(chunks=(b"abc", b"defg"))

    async def app(scope, receive, send):
        assert isinstance(scope["state"][TIMER_KEY], object)
        scope["state"][HANDLER_KEY] = "/things/{id}"
        await answer(scope, receive, send)

    _run(ASGIInstrumentation(app, engine), _scope(method="POST", headers=[(b"content-length", b"12")]))
    base = {"method": "POST", "handler": "/things/{id}"}
    assert registry.get_sample_value("http_requests_total", {**base, "status": "200"}) == 1
    assert registry.get_sample_value("http_request_size_bytes_sum", base) == 12
    assert registry.get_sample_value("http_response_size_bytes_sum", base) == 7


def test_handler_function_pending_until_routed():
    """A handler function answering PENDING is asked again; PENDING at the end means handler="none"."""
    registry, engine = _engine()
    calls = []

    def handler(scope, final):
        calls.append(final)
        return "/routed" if scope.get("routed") else PENDING

    async def routing_app(scope, receive, send):
        await asyncio.sleep(0)
        scope["routed"] = True
        await asyncio.sleep(0)
        await _answer()(scope, receive, send)

    _run(ASGIInstrumentation(routing_app, engine, handler=handler), _scope())
    _run(ASGIInstrumentation(_answer(404), engine, handler=handler), _scope())
    assert samples("http_requests_total", registry) == [
        ({"handler": "/routed", "method": "GET", "status": "200"}, 1.0),
        ({"handler": "none", "method": "GET", "status": "404"}, 1.0),
    ]
    assert False in calls and True in calls


def test_exception_before_and_after_headers():
    """Raising before the response is a 500; raising mid-stream keeps the sent status; both re-raise."""
    registry, engine = _engine()

    async def before(scope, receive, send):
        raise KeyError("early")

    async def midway(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise OSError("disk gone")

    for app, exc in ((before, KeyError), (midway, OSError)):
        with pytest.raises(exc):
            _run(ASGIInstrumentation(app, engine), _scope())
    assert samples("http_requests_total", registry) == [
        ({"handler": "none", "method": "GET", "status": "500"}, 1.0),
        ({"handler": "none", "method": "GET", "status": "200"}, 1.0),
    ]
    assert samples("http_exceptions_total", registry) == [
        ({"exception": "KeyError", "handler": "none", "method": "GET"}, 1.0),
        ({"exception": "OSError", "handler": "none", "method": "GET"}, 1.0),
    ]
    assert registry.get_sample_value("http_requests_in_progress", {"method": "GET", "handler": "none"}) == 0


def test_client_disconnect_finishes_once():
    """http.disconnect before any response ends the request as 499, once, whatever the app does after."""
    registry, engine = _engine()

    async def long_poll(scope, receive, send):
        while (await receive())["type"] != "http.disconnect":
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"too late"})

    _run(ASGIInstrumentation(long_poll, engine), _scope(),
         incoming=({"type": "http.request", "body": b""}, {"type": "http.disconnect"}))
    assert samples("http_requests_total", registry) == [
        ({"handler": "none", "method": "GET", "status": "499"}, 1.0),
    ]
    assert registry.get_sample_value("http_response_size_bytes_count", {"method": "GET", "handler": "none"}) == 1


def test_send_failing_midway_finishes_once():
    """A send that fails mid-stream (client gone) finishes the request with the sent status, no exception label."""
    registry, engine = _engine()
    with pytest.raises(ConnectionResetError):
        _run(ASGIInstrumentation(_answer(chunks=(b"a", b"b", b"c")), engine), _scope(),
             send_error=ConnectionResetError("gone"))
    assert samples("http_requests_total", registry) == [
        ({"handler": "none", "method": "GET", "status": "200"}, 1.0),
    ]
    assert samples("http_exceptions_total", registry) == []


def test_cancelled_app_counts_as_client_closed():
    """An app cancelled by the server (client gone) is a 499 without an exception label."""
    registry, engine = _engine()

    async def slow(scope, receive, send):
        await asyncio.sleep(3600)

    async def go():
        task = asyncio.ensure_future(ASGIInstrumentation(slow, engine)(_scope(), None, None))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert samples("http_requests_total", registry) == [
        ({"handler": "none", "method": "GET", "status": "499"}, 1.0),
    ]
    assert samples("http_exceptions_total", registry) == []


def test_app_returning_without_a_response_is_a_500():
    """An app that returns without answering is counted as a 500."""
    registry, engine = _engine()

    async def silent(scope, receive, send):
        return None

    _run(ASGIInstrumentation(silent, engine), _scope())
    assert registry.get_sample_value("http_requests_total", {"method": "GET", "handler": "none", "status": "500"}) == 1


def test_skip_and_excluded_leave_no_series():
    """A request marked pyrometer.skip, or on an excluded path, creates no series at all."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, excluded_paths=["/health"])

    async def skipping(scope, receive, send):
        scope["state"][SKIP_KEY] = True
        await _answer()(scope, receive, send)

    _run(ASGIInstrumentation(skipping, engine), _scope())
    _run(ASGIInstrumentation(_answer(), engine), _scope("/health"))
    assert samples("http_requests_total", registry) == []
    assert samples("http_requests_in_progress", registry) == []


def test_lifespan_and_websocket_scopes_untouched():
    """Lifespan and websocket scopes reach the app with the server's own receive and send."""
    _, engine = _engine()
    seen = []

    async def app(scope, receive, send):
        seen.append((scope["type"], receive, send, "state" in scope))

    async def receive():
        return {}

    async def send(message):
        return None

    middleware = ASGIInstrumentation(app, engine)
    for kind in ("lifespan", "websocket"):
        asyncio.run(middleware({"type": kind, "path": "/ws"}, receive, send))
    assert seen == [("lifespan", receive, send, False), ("websocket", receive, send, False)]


def test_metrics_endpoint_mounted_by_hand_is_not_measured():
    """A MetricsEndpoint routed by the app marks its requests skipped: scrapes never count as requests."""
    from pyrometer.http.asgi import MetricsEndpoint

    registry = CollectorRegistry()
    app = Starlette(routes=[Route("/", ok), Route("/scrape", MetricsEndpoint(registry))],
                    middleware=[Middleware(PrometheusMiddleware, registry=registry, path=None)])
    client = TestClient(app)
    client.get("/")
    assert client.get("/metrics").status_code == 404
    assert 'handler="/",method="GET",status="200"} 1.0' in client.get("/scrape").text
    assert [labels["handler"] for labels, _ in samples("http_requests_total", registry)] == ["/", "none"]


def test_multiprocess_scrape_merges_worker_files(tmp_path, monkeypatch):
    """In multiprocess mode /metrics serves the merge of the workers' files, with the request counted."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    registry = CollectorRegistry()
    app = Starlette(routes=[Route("/", ok)], middleware=[Middleware(PrometheusMiddleware, registry=registry)])
    client = TestClient(app)
    client.get("/")
    client.get("/")
    text = client.get("/metrics").text
    assert 'http_requests_total{handler="/",method="GET",status="200"} 2.0' in text
    assert 'http_requests_in_progress{handler="/",method="GET"} 0.0' in text

"""pyrometer_twisted on a real listening port: a private reactor in a thread, driven by urllib from the test."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Iterator, Tuple

import pytest

pytest.importorskip("twisted")

from process_helpers import request as fetch
from pyrometer import CollectorRegistry, generate_latest
from pyrometer.http import HttpMetrics
from pyrometer.testing import samples
from pyrometer_twisted import InstrumentedSite, MetricsResource
from twisted.internet.selectreactor import SelectReactor
from twisted.internet.threads import blockingCallFromThread
from twisted.web import pages
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request


@pytest.fixture(scope="module")
def reactor() -> Iterator[Any]:
    """A private reactor running in a thread, so the global one stays untouched for other tests."""
    reactor = SelectReactor()
    thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True)
    thread.start()
    yield reactor
    reactor.callFromThread(reactor.stop)
    thread.join(10)
    reactor.waker.connectionLost(None)


class Text(Resource):
    """Answers GET with a fixed body."""

    def __init__(self, body: bytes = b"ok") -> None:
        super().__init__()
        self.body = body

    def render_GET(self, request: Request) -> bytes:
        return self.body

    def render_POST(self, request: Request) -> bytes:
        request.setResponseCode(201)
        return b"created"


class User(Resource):
    """A child made per request by Users.getChild."""

    isLeaf = True

    def __init__(self, user_id: bytes) -> None:
        super().__init__()
        self.user_id = user_id

    def render_GET(self, request: Request) -> bytes:
        return self.user_id


class Users(Text):
    """Static children via putChild, numeric dynamic children via getChild."""

    def getChild(self, path: bytes, request: Request) -> Resource:
        if path.isdigit():
            return User(path)
        return pages.notFound()  # Resource.getChild's default page is deprecated


class Boom(Resource):
    """Raises while rendering."""

    def render_GET(self, request: Request) -> bytes:
        raise RuntimeError("boom")


class Later(Resource):
    """Answers NOT_DONE_YET and finishes 50 ms later from the reactor."""

    def __init__(self, reactor: Any, delay: float = 0.05) -> None:
        super().__init__()
        self.reactor = reactor
        self.delay = delay

    def render_GET(self, request: Request) -> Any:
        def done() -> None:
            request.setResponseCode(202)
            request.write(b"later")
            request.finish()
        self.reactor.callLater(self.delay, done)
        return NOT_DONE_YET


class Never(Resource):
    """Answers NOT_DONE_YET and never finishes."""

    def render_GET(self, request: Request) -> Any:
        return NOT_DONE_YET


class Root(Resource):
    """Hands out a prebuilt resource for /legacy from getChild, so only routes= can name it."""

    def __init__(self, legacy: Resource) -> None:
        super().__init__()
        self.legacy = legacy

    def getChild(self, path: bytes, request: Request) -> Resource:
        return self.legacy if path == b"legacy" else pages.notFound()


def _tree(reactor: Any, registry: CollectorRegistry) -> Tuple[Resource, Resource]:
    legacy = Text(b"legacy")
    root = Root(legacy)
    users = Users(b"users")
    users.putChild(b"active", Text(b"active"))
    root.putChild(b"users", users)
    root.putChild(b"boom", Boom())
    root.putChild(b"health", Text())
    root.putChild(b"later", Later(reactor))
    root.putChild(b"never", Never())
    static = Text(b"file")
    static.isLeaf = True
    root.putChild(b"static", static)
    root.putChild(b"metrics", MetricsResource(registry, reactor=reactor))
    return root, legacy


def _serve(reactor: Any, site: InstrumentedSite) -> Tuple[int, Any]:
    site.noisy = False
    listening = blockingCallFromThread(reactor, reactor.listenTCP, 0, site, interface="127.0.0.1")
    return listening.getHost().port, listening


@pytest.fixture()
def served(reactor: Any) -> Iterator[Any]:
    """Start an InstrumentedSite over the test tree: yields ``start(**options) -> (port, registry)``."""
    listenings = []

    def start(**options: Any) -> Tuple[int, CollectorRegistry]:
        registry = CollectorRegistry()
        root, legacy = _tree(reactor, registry)
        routes = {"/users/{id}": User, "/legacy": legacy, **options.pop("routes", {})}
        site = InstrumentedSite(root, routes=routes, reactor=reactor, registry=registry, **options)
        port, listening = _serve(reactor, site)
        listenings.append(listening)
        return port, registry

    yield start
    for listening in listenings:
        blockingCallFromThread(reactor, listening.stopListening)


def _sync(reactor: Any) -> None:
    """Wait until the reactor has run everything queued so far."""
    blockingCallFromThread(reactor, lambda: None)


def test_mixed_traffic_exact_series(reactor, served):
    """Registered, dynamic, routed, leaf, unknown, raising and excluded resources give exact series."""
    port, registry = served(excluded_paths=["/health"])
    paths = ["/users", "/users/active", "/users/1", "/users/2", "/legacy", "/static/css/a.css",
             *[f"/scan/{i}/wp-admin.php?x={i}" for i in range(4)], "/users/nobody", "/boom", "/health"]
    statuses = [fetch(port, "GET", p)[0] for p in paths]
    assert statuses == [200, 200, 200, 200, 200, 200, 404, 404, 404, 404, 404, 500, 200]
    assert fetch(port, "POST", "/users", body=b"{}")[0] == 201
    _sync(reactor)
    assert samples("http_requests_total", registry) == [
        ({"handler": "/users", "method": "GET", "status": "200"}, 1.0),
        ({"handler": "/users/active", "method": "GET", "status": "200"}, 1.0),
        ({"handler": "/users/{id}", "method": "GET", "status": "200"}, 2.0),
        ({"handler": "/legacy", "method": "GET", "status": "200"}, 1.0),
        ({"handler": "/static", "method": "GET", "status": "200"}, 1.0),
        ({"handler": "none", "method": "GET", "status": "404"}, 5.0),
        ({"handler": "/boom", "method": "GET", "status": "500"}, 1.0),
        ({"handler": "/users", "method": "POST", "status": "201"}, 1.0),
    ]
    assert samples("http_exceptions_total", registry) == [
        ({"exception": "RuntimeError", "handler": "/boom", "method": "GET"}, 1.0),
    ]
    assert samples("http_requests_in_progress", registry) == [
        ({"handler": "/users", "method": "GET"}, 0.0),
        ({"handler": "/users/active", "method": "GET"}, 0.0),
        ({"handler": "/users/{id}", "method": "GET"}, 0.0),
        ({"handler": "/legacy", "method": "GET"}, 0.0),
        ({"handler": "/static", "method": "GET"}, 0.0),
        ({"handler": "none", "method": "GET"}, 0.0),
        ({"handler": "/boom", "method": "GET"}, 0.0),
        ({"handler": "/users", "method": "POST"}, 0.0),
    ]
    assert samples("http_request_duration_seconds_count", registry) == [
        ({"handler": "/users", "method": "GET"}, 1.0),
        ({"handler": "/users/active", "method": "GET"}, 1.0),
        ({"handler": "/users/{id}", "method": "GET"}, 2.0),
        ({"handler": "/legacy", "method": "GET"}, 1.0),
        ({"handler": "/static", "method": "GET"}, 1.0),
        ({"handler": "none", "method": "GET"}, 5.0),
        ({"handler": "/boom", "method": "GET"}, 1.0),
        ({"handler": "/users", "method": "POST"}, 1.0),
    ]


def test_deferred_resource_timed_to_finish(reactor, served):
    """A NOT_DONE_YET resource finished later by callLater is timed to finish(), with its final status."""
    port, registry = served(metrics=["requests", "duration", "in_progress", "response_size"])
    assert fetch(port, "GET", "/later") == (202, b"later")
    _sync(reactor)
    base = {"method": "GET", "handler": "/later"}
    assert samples("http_requests_total", registry) == [
        ({"handler": "/later", "method": "GET", "status": "202"}, 1.0),
    ]
    assert registry.get_sample_value("http_request_duration_seconds_sum", base) >= 0.05
    assert registry.get_sample_value("http_response_size_bytes_sum", base) == 5
    assert registry.get_sample_value("http_requests_in_progress", base) == 0


def test_connection_lost_counts_499(reactor, served):
    """A request still in progress when the client hangs up counts as 499 and leaves in-progress at 0."""
    port, registry = served()
    base = {"method": "GET", "handler": "/never"}
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"GET /never HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        deadline = time.monotonic() + 10
        while registry.get_sample_value("http_requests_in_progress", base) != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert registry.get_sample_value("http_requests_in_progress", base) == 1
    deadline = time.monotonic() + 10
    while registry.get_sample_value("http_requests_total", {**base, "status": "499"}) is None \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    _sync(reactor)
    assert samples("http_requests_total", registry) == [
        ({"handler": "/never", "method": "GET", "status": "499"}, 1.0),
    ]
    assert registry.get_sample_value("http_requests_in_progress", base) == 0
    assert samples("http_exceptions_total", registry) == []


def test_group_status_and_extra_labels(reactor, served):
    """group_status gives 2xx/4xx; extra_labels functions receive the twisted Request."""
    port, registry = served(group_status=True, metrics=["requests"],
                            extra_labels={"agent": lambda r: (r.getHeader(b"x-agent") or b"-").decode()})
    assert fetch(port, "GET", "/users", headers={"X-Agent": "probe"})[0] == 200
    assert fetch(port, "GET", "/nothing")[0] == 404
    _sync(reactor)
    assert samples("http_requests_total", registry) == [
        ({"agent": "probe", "handler": "/users", "method": "GET", "status": "2xx"}, 1.0),
        ({"agent": "-", "handler": "none", "method": "GET", "status": "4xx"}, 1.0),
    ]


def test_metrics_resource_served_and_not_measured(reactor, served):
    """The MetricsResource in the tree serves the registry (OpenMetrics when asked) and is itself not measured."""
    port, registry = served()
    assert fetch(port, "GET", "/users/active")[0] == 200
    status, body = fetch(port, "GET", "/metrics")
    assert status == 200
    assert b'http_requests_total{handler="/users/active",method="GET",status="200"} 1.0\n' in body
    status, om = fetch(port, "GET", "/metrics",
                       headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert status == 200 and om.endswith(b"# EOF\n")
    _sync(reactor)
    assert "/metrics" not in generate_latest(registry).decode()


def test_engine_and_request_factory(reactor):
    """An engine can be shared; a custom Request subclass keeps working; bad arguments are refused."""
    registry = CollectorRegistry()
    engine = HttpMetrics(registry=registry, metrics=["requests"])
    seen = []

    class Tagged(Request):
        def process(self) -> None:
            seen.append(self.path)
            super().process()

    root = Resource()
    root.putChild(b"a", Text())
    site = InstrumentedSite(root, Tagged, engine=engine, reactor=reactor)
    port, listening = _serve(reactor, site)
    try:
        assert fetch(port, "GET", "/a")[0] == 200
        _sync(reactor)
    finally:
        blockingCallFromThread(reactor, listening.stopListening)
    assert seen == [b"/a"]
    assert samples("http_requests_total", registry) == [
        ({"handler": "/a", "method": "GET", "status": "200"}, 1.0),
    ]
    with pytest.raises(TypeError):
        InstrumentedSite(root, engine=engine, namespace="x")
    with pytest.raises(TypeError):
        InstrumentedSite(root, lambda *a: None, registry=CollectorRegistry())
    with pytest.raises(ValueError, match="preset"):
        InstrumentedSite(root, registry=CollectorRegistry(), preset="nope")

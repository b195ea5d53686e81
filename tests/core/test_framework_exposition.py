"""Tests for the aiohttp handler, the Twisted resource and the Django view, each behind a real server."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import threading
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Tuple

import pytest
from pyrometer import exposition
from pyrometer._text_format import generate_latest
from pyrometer.metrics import Counter, Gauge
from pyrometer.metrics_core import Metric
from pyrometer.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from pyrometer.registry import CollectorRegistry

Stop = Callable[[], None]


class Response(NamedTuple):
    status: int
    headers: Dict[str, str]
    body: bytes


class Broken:
    """A collector whose collect() fails."""

    def describe(self) -> List[Metric]:
        return []

    def collect(self) -> List[Metric]:
        raise RuntimeError("collector exploded")


class Swappable:
    """Stands in for a registry so that one long-lived server serves each test's own registry."""

    target: CollectorRegistry

    def collect(self) -> Iterable[Metric]:
        return self.target.collect()

    def restricted_registry(self, names: Iterable[str]) -> Any:
        return self.target.restricted_registry(names)


def fetch(port: int, path: str = "/metrics", method: str = "GET",
          headers: Optional[Dict[str, str]] = None) -> Response:
    """One request over a fresh connection; header names are lower-cased."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


# -- one server per framework, alive for the module -------------------------

def _serve_aiohttp(registry: Any) -> Tuple[int, Stop]:
    pytest.importorskip("aiohttp")
    from aiohttp import web
    from pyrometer.aiohttp import make_aiohttp_handler

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> Tuple[web.AppRunner, int]:
        app = web.Application()
        handler = make_aiohttp_handler(registry)
        app.router.add_route("*", "/metrics", handler)
        app.router.add_route("*", "/favicon.ico", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, runner.addresses[0][1]

    runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(10)

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        asyncio.run_coroutine_threadsafe(loop.shutdown_default_executor(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

    return port, stop


def _serve_twisted(registry: Any) -> Tuple[int, Stop]:
    pytest.importorskip("twisted")
    from pyrometer.twisted import MetricsResource
    from twisted.internet.selectreactor import SelectReactor
    from twisted.internet.threads import blockingCallFromThread
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    # A private reactor, so the global one stays untouched (and startable) for other tests.
    reactor = SelectReactor()
    metrics = MetricsResource(registry, reactor=reactor)
    root = Resource()
    root.putChild(b"metrics", metrics)
    root.putChild(b"favicon.ico", metrics)
    site = Site(root, reactor=reactor)
    site.noisy = False
    listening = reactor.listenTCP(0, site, interface="127.0.0.1")
    thread = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False}, daemon=True)
    thread.start()

    def stop() -> None:
        blockingCallFromThread(reactor, listening.stopListening)
        reactor.callFromThread(reactor.stop)
        thread.join(10)
        reactor.waker.connectionLost(None)

    return listening.getHost().port, stop


def _serve_django(registry: Any) -> Tuple[int, Stop]:
    pytest.importorskip("django")
    from wsgiref.simple_server import make_server

    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings
    from django.urls import path
    from pyrometer._wsgi_server import ThreadingWSGIServer, _SilentHandler
    from pyrometer.django import PrometheusDjangoView

    if not settings.configured:
        settings.configure(SECRET_KEY="pyrometer-tests", USE_TZ=True)
        django.setup()

    class URLConf:
        view = PrometheusDjangoView.as_view(registry=registry)
        urlpatterns = [path("metrics", view), path("favicon.ico", view)]

    overrides = override_settings(ROOT_URLCONF=URLConf, ALLOWED_HOSTS=["127.0.0.1"], MIDDLEWARE=[], DEBUG=False)
    overrides.enable()
    server = make_server("127.0.0.1", 0, WSGIHandler(), ThreadingWSGIServer, _SilentHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(10)
        overrides.disable()

    return server.server_address[1], stop


@pytest.fixture(scope="module", params=[_serve_aiohttp, _serve_twisted, _serve_django],
                ids=["aiohttp", "twisted", "django"])
def served(request: pytest.FixtureRequest) -> Iterator[Tuple[int, Swappable]]:
    swappable = Swappable()
    port, stop = request.param(swappable)
    yield port, swappable
    stop()


@pytest.fixture
def registry() -> CollectorRegistry:
    reg = CollectorRegistry()
    Counter("requests", "Requests served.", ["path"], registry=reg).labels("/a").inc(3)
    Gauge("temperature", "Current temperature.", registry=reg).set(21.5)
    return reg


@pytest.fixture
def port(served: Tuple[int, Swappable], registry: CollectorRegistry) -> int:
    served[1].target = registry
    return served[0]


# -- the behaviour every endpoint shares -------------------------------------

def test_plain_scrape_is_exact_writer_output(port: int, registry: CollectorRegistry) -> None:
    """A plain GET returns exactly generate_latest(registry) as text 0.0.4."""
    resp = fetch(port)
    assert resp.status == 200
    assert resp.headers["content-type"] == exposition.CONTENT_TYPE_PLAIN_0_0_4
    assert resp.body == generate_latest(registry)
    assert "content-encoding" not in resp.headers


def test_gzip_scrape(port: int, registry: CollectorRegistry) -> None:
    """With Accept-Encoding: gzip the body is gzip of the writer's output."""
    resp = fetch(port, headers={"Accept-Encoding": "gzip"})
    assert resp.headers["content-encoding"] == "gzip"
    assert gzip.decompress(resp.body) == generate_latest(registry)


def test_openmetrics_scrape(port: int) -> None:
    """An OpenMetrics Accept header gets OpenMetrics text ending in # EOF."""
    resp = fetch(port, headers={"Accept": "application/openmetrics-text"})
    assert resp.headers["content-type"] == OPENMETRICS_TYPE
    assert resp.body.endswith(b"# EOF\n")


def test_name_filter(port: int, registry: CollectorRegistry) -> None:
    """name[] query parameters (repeated) restrict the scrape to those series."""
    resp = fetch(port, path="/metrics?name[]=temperature&name[]=nothing")
    assert resp.body == generate_latest(registry.restricted_registry(["temperature"]))


def test_post_is_405_with_allow(port: int) -> None:
    """POST is refused with 405 and an Allow header."""
    resp = fetch(port, method="POST")
    assert resp.status == 405 and resp.headers["allow"] == "GET, HEAD, OPTIONS"


def test_options(port: int) -> None:
    """OPTIONS answers 200 with the allowed methods and no body."""
    resp = fetch(port, method="OPTIONS")
    assert (resp.status, resp.headers["allow"], resp.body) == (200, "GET, HEAD, OPTIONS", b"")


def test_head(port: int, registry: CollectorRegistry) -> None:
    """HEAD answers 200 with GET's content type and length but no body."""
    resp = fetch(port, method="HEAD")
    assert (resp.status, resp.body) == (200, b"")
    assert resp.headers["content-type"] == exposition.CONTENT_TYPE_PLAIN_0_0_4
    assert resp.headers["content-length"] == str(len(generate_latest(registry)))


def test_favicon(port: int) -> None:
    """/favicon.ico is an empty 200."""
    resp = fetch(port, path="/favicon.ico")
    assert (resp.status, resp.body) == (200, b"")


def test_raising_collector_gives_500(port: int, registry: CollectorRegistry,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """A collector that raises gives a 500 without any partial metric text."""
    registry.register(Broken())
    resp = fetch(port)
    assert resp.status == 500 and b"requests" not in resp.body
    assert "collector exploded" in caplog.text

"""Servers in a thread and the client side, shared by the core tests that scrape a real endpoint.

Imported by name (``from server_helpers import ...``) like the other helper modules here: pytest puts
``tests/core`` on ``sys.path`` because the tests directories are not packages. Framework imports happen
inside the ``serve_*`` functions, after their ``pytest.importorskip``.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
import threading
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple

import pytest
from pyrometer.metrics import Counter, Gauge
from pyrometer.metrics_core import Metric
from pyrometer.registry import CollectorRegistry

# Re-exported: the core tests import every server from here; uvicorn also serves the integration tests.
from thread_servers import Stop as Stop
from thread_servers import serve_uvicorn as serve_uvicorn


class Response(NamedTuple):
    status: int
    headers: Dict[str, str]
    body: bytes


def fetch(port: int, path: str = "/metrics", method: str = "GET", headers: Optional[Dict[str, str]] = None, *,
          host: str = "127.0.0.1", context: Optional[ssl.SSLContext] = None) -> Response:
    """One request over a fresh connection (HTTPS with ``context``); header names are lower-cased."""
    if context is None:
        conn: http.client.HTTPConnection = http.client.HTTPConnection(host, port, timeout=5)
    else:
        conn = http.client.HTTPSConnection(host, port, timeout=5, context=context)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


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


@pytest.fixture(name="registry")
def populated_registry() -> CollectorRegistry:
    """The ``registry`` fixture of a module that imports it: a labelled counter at 3 and a gauge at 21.5."""
    reg = CollectorRegistry()
    Counter("requests", "Requests served.", ["path"], registry=reg).labels("/a").inc(3)
    Gauge("temperature", "Current temperature.", registry=reg).set(21.5)
    return reg


def require_ipv6_loopback() -> None:
    """Skip the calling test where Python or the machine has no IPv6 loopback (``::1``)."""
    if not socket.has_ipv6:
        pytest.skip("Python built without IPv6")
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback on this machine: {exc}")


def stopper(server: Any, thread: threading.Thread) -> Stop:
    """How to stop a socketserver running ``serve_forever`` in ``thread`` and free its port."""
    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(10)

    return stop


def serve_in_thread(server: Any) -> Tuple[int, Stop]:
    """Run a socketserver in a daemon thread; its port and how to stop it."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server.server_address[1], stopper(server, thread)


def serve_aiohttp(add_routes: Callable[[Any], None]) -> Tuple[int, Stop]:
    """Serve an aiohttp app, given its routes by ``add_routes(app)``, on a loop in a daemon thread."""
    pytest.importorskip("aiohttp")
    from aiohttp import web

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> Tuple[web.AppRunner, int]:
        app = web.Application()
        add_routes(app)
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


def serve_twisted(children: Callable[[Any], Dict[bytes, Any]]) -> Tuple[int, Stop]:
    """Serve a Twisted site whose root has ``children(reactor)`` on a private reactor in a daemon thread."""
    pytest.importorskip("twisted")
    from twisted.internet.selectreactor import SelectReactor
    from twisted.internet.threads import blockingCallFromThread
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    # A private reactor, so the global one stays untouched (and startable) for other tests.
    reactor = SelectReactor()
    root = Resource()
    for name, child in children(reactor).items():
        root.putChild(name, child)
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


def serve_django(urlpatterns: Callable[[], List[Any]]) -> Tuple[int, Stop]:
    """Serve Django (configured minimally if nobody has) with ``urlpatterns()`` as its URLconf, in a thread."""
    pytest.importorskip("django")
    from wsgiref.simple_server import make_server

    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.utils import override_settings
    from pyrometer._wsgi_server import ThreadingWSGIServer, _SilentHandler

    if not settings.configured:
        settings.configure(SECRET_KEY="pyrometer-tests", USE_TZ=True)
        django.setup()

    class URLConf:
        pass

    URLConf.urlpatterns = urlpatterns()  # type: ignore[attr-defined]
    overrides = override_settings(ROOT_URLCONF=URLConf, ALLOWED_HOSTS=["127.0.0.1"], MIDDLEWARE=[], DEBUG=False)
    overrides.enable()
    port, stop_server = serve_in_thread(make_server("127.0.0.1", 0, WSGIHandler(), ThreadingWSGIServer,
                                                    _SilentHandler))

    def stop() -> None:
        stop_server()
        overrides.disable()

    return port, stop

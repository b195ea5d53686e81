"""Tests for the ASGI metrics app, through httpx's ASGITransport and a real uvicorn server."""

from __future__ import annotations

import asyncio
import gzip
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from pyrometer import exposition
from pyrometer._text_format import generate_latest
from pyrometer.asgi import make_asgi_app
from pyrometer.metrics_core import Metric
from pyrometer.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from pyrometer.registry import CollectorRegistry
from server_helpers import (
    Broken,
    Response,
    Swappable,
    populated_registry,  # noqa: F401 - the module's registry fixture
    serve_uvicorn,
)

httpx = pytest.importorskip("httpx")


# httpx asks for gzip by default; the tests ask for it only when they mean to.
IDENTITY = {"Accept-Encoding": "identity"}


Scrape = Callable[..., Response]


def _asgi_transport_scrape(app: Any) -> Scrape:
    def scrape(method: str = "GET", path: str = "/metrics", headers: Optional[Dict[str, str]] = None) -> Response:
        async def go() -> Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                async with client.stream(method, path, headers={**IDENTITY, **(headers or {})}) as resp:
                    raw = b"".join([chunk async for chunk in resp.aiter_raw()])
                    return Response(resp.status_code, dict(resp.headers), raw)

        return asyncio.run(go())

    return scrape


@pytest.fixture(scope="module")
def uvicorn_served() -> Iterator[Tuple[str, Swappable]]:
    swappable = Swappable()
    port, stop = serve_uvicorn(make_asgi_app(swappable), lifespan="on")
    yield f"http://127.0.0.1:{port}", swappable
    stop()


def _uvicorn_scrape(base_url: str) -> Scrape:
    def scrape(method: str = "GET", path: str = "/metrics", headers: Optional[Dict[str, str]] = None) -> Response:
        with httpx.Client(base_url=base_url, timeout=5) as client:
            with client.stream(method, path, headers={**IDENTITY, **(headers or {})}) as resp:
                return Response(resp.status_code, dict(resp.headers), b"".join(resp.iter_raw()))

    return scrape


@pytest.fixture(params=["ASGITransport", "uvicorn"])
def scrape(request: pytest.FixtureRequest, registry: CollectorRegistry) -> Scrape:
    if request.param == "ASGITransport":
        return _asgi_transport_scrape(make_asgi_app(registry))
    base_url, swappable = request.getfixturevalue("uvicorn_served")
    swappable.target = registry
    return _uvicorn_scrape(base_url)


def test_plain_scrape_is_exact_writer_output(scrape: Scrape, registry: CollectorRegistry) -> None:
    """A plain GET returns exactly generate_latest(registry) as text 0.0.4."""
    resp = scrape()
    assert resp.status == 200
    assert resp.headers["content-type"] == exposition.CONTENT_TYPE_PLAIN_0_0_4
    assert resp.body == generate_latest(registry)
    assert resp.headers["content-length"] == str(len(resp.body))


def test_gzip_scrape(scrape: Scrape, registry: CollectorRegistry) -> None:
    """With Accept-Encoding: gzip the body is gzip of the writer's output."""
    resp = scrape(headers={"Accept-Encoding": "gzip"})
    assert resp.headers["content-encoding"] == "gzip"
    assert gzip.decompress(resp.body) == generate_latest(registry)


def test_openmetrics_scrape(scrape: Scrape) -> None:
    """An OpenMetrics Accept header gets OpenMetrics text ending in # EOF."""
    resp = scrape(headers={"Accept": "application/openmetrics-text"})
    assert resp.headers["content-type"] == OPENMETRICS_TYPE
    assert resp.body.endswith(b"# EOF\n")


def test_name_filter(scrape: Scrape, registry: CollectorRegistry) -> None:
    """name[] query parameters restrict the scrape to those series."""
    resp = scrape(path="/metrics?name[]=temperature")
    assert resp.body == generate_latest(registry.restricted_registry(["temperature"]))


def test_post_is_405_with_allow(scrape: Scrape) -> None:
    """POST is refused with 405 and an Allow header."""
    resp = scrape("POST")
    assert resp.status == 405 and resp.headers["allow"] == "GET, HEAD, OPTIONS"


def test_options(scrape: Scrape) -> None:
    """OPTIONS answers 200 with the allowed methods and no body."""
    resp = scrape("OPTIONS")
    assert (resp.status, resp.headers["allow"], resp.body) == (200, "GET, HEAD, OPTIONS", b"")


def test_head(scrape: Scrape, registry: CollectorRegistry) -> None:
    """HEAD answers 200 with GET's content type and length but no body."""
    resp = scrape("HEAD")
    assert resp.status == 200 and resp.body == b""
    assert resp.headers["content-length"] == str(len(generate_latest(registry)))


def test_favicon(scrape: Scrape) -> None:
    """/favicon.ico is an empty 200."""
    resp = scrape(path="/favicon.ico")
    assert (resp.status, resp.body) == (200, b"")


def test_raising_collector_gives_500(scrape: Scrape, registry: CollectorRegistry,
                                     caplog: pytest.LogCaptureFixture) -> None:
    """A collector that raises gives a 500 without any partial metric text."""
    registry.register(Broken())
    resp = scrape()
    assert resp.status == 500 and b"requests" not in resp.body
    assert "collector exploded" in caplog.text


# -- the ASGI protocol, driven by hand --------------------------------------

def _call(app: Any, scope: Dict[str, Any], incoming: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Run one ASGI call with scripted receive() messages; return what the app sent."""
    sent: List[Dict[str, Any]] = []

    async def receive() -> Dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_rendering_runs_off_the_event_loop_thread(registry: CollectorRegistry) -> None:
    """Collection runs in a worker thread, so a slow scrape does not block the event loop."""
    threads: List[int] = []

    class Spy:
        def describe(self) -> List[Metric]:
            return []

        def collect(self) -> List[Metric]:
            threads.append(threading.get_ident())
            return []

    registry.register(Spy())
    sent = _call(make_asgi_app(registry), {"type": "http", "method": "GET", "path": "/", "headers": []}, [])
    assert sent[0]["status"] == 200
    assert threads and threads[0] != threading.get_ident()


def test_lifespan_is_acknowledged() -> None:
    """Lifespan startup and shutdown are acknowledged, so the app can be an app server's root."""
    sent = _call(make_asgi_app(CollectorRegistry()), {"type": "lifespan"},
                 [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_websocket_is_refused() -> None:
    """A websocket connection is closed before it is accepted."""
    sent = _call(make_asgi_app(CollectorRegistry()), {"type": "websocket", "path": "/"},
                 [{"type": "websocket.connect"}])
    assert sent == [{"type": "websocket.close", "code": 1003}]


def test_unknown_scope_raises() -> None:
    """A scope type the app does not know raises a clear ValueError."""
    with pytest.raises(ValueError, match="HTTP only"):
        _call(make_asgi_app(CollectorRegistry()), {"type": "telepathy"}, [])


def test_favicon_below_mount_point() -> None:
    """The favicon check uses the path below root_path when the app is mounted."""
    scope = {"type": "http", "method": "GET", "path": "/metrics/favicon.ico", "root_path": "/metrics", "headers": []}
    sent = _call(make_asgi_app(CollectorRegistry()), scope, [])
    assert sent[0]["status"] == 200 and sent[1]["body"] == b""


def test_repeated_headers_are_joined(registry: CollectorRegistry) -> None:
    """Accept headers sent twice are read as one comma-joined list."""
    headers = [(b"accept", b"text/html"), (b"Accept", b"application/openmetrics-text")]
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""}
    sent = _call(make_asgi_app(registry), scope, [])
    assert dict(sent[0]["headers"])[b"content-type"] == OPENMETRICS_TYPE.encode()


def test_exposition_reexports_make_asgi_app() -> None:
    """pyrometer.exposition.make_asgi_app is the ASGI app factory."""
    assert exposition.make_asgi_app is make_asgi_app

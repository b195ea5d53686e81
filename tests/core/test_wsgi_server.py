"""Tests for the WSGI app, the standalone metrics server (HTTP, HTTPS, mTLS, IPv6) and MetricsHandler."""

from __future__ import annotations

import gzip
import socket
import ssl
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator, Optional, Tuple
from wsgiref.simple_server import make_server

import pytest
from pki_helpers import PKI, make_pki
from pyrometer import exposition
from pyrometer._text_format import generate_latest
from pyrometer._wsgi_server import _SilentHandler
from pyrometer.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from pyrometer.registry import CollectorRegistry
from server_helpers import (
    Broken,
    Stop,
    Swappable,
    fetch,
    populated_registry,  # noqa: F401 - the module's registry fixture
    require_ipv6_loopback,
    serve_in_thread,
    stopper,
)


def _run_start_wsgi_server(registry: Any) -> Tuple[int, Stop]:
    server, thread = exposition.start_wsgi_server(0, addr="127.0.0.1", registry=registry)
    assert thread.daemon
    return server.server_address[1], stopper(server, thread)


def _run_make_wsgi_app(registry: Any) -> Tuple[int, Stop]:
    app = exposition.make_wsgi_app(registry)
    return serve_in_thread(make_server("127.0.0.1", 0, app, exposition.ThreadingWSGIServer, _SilentHandler))


def _run_metrics_handler(registry: Any) -> Tuple[int, Stop]:
    return serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), exposition.MetricsHandler.factory(registry)))


@pytest.fixture(scope="module", params=[_run_start_wsgi_server, _run_make_wsgi_app, _run_metrics_handler],
                ids=["start_wsgi_server", "make_wsgi_app", "MetricsHandler"])
def served(request: pytest.FixtureRequest) -> Iterator[Tuple[int, Swappable]]:
    swappable = Swappable()
    bound, stop = request.param(swappable)
    yield bound, swappable
    stop()


@pytest.fixture
def port(served: Tuple[int, Swappable], registry: CollectorRegistry) -> int:
    bound, swappable = served
    swappable.target = registry
    return bound


def test_plain_scrape_is_exact_writer_output(port: int, registry: CollectorRegistry) -> None:
    """A plain GET returns exactly generate_latest(registry) as text 0.0.4."""
    resp = fetch(port)
    assert resp.status == 200
    assert resp.headers["content-type"] == exposition.CONTENT_TYPE_PLAIN_0_0_4
    assert resp.body == generate_latest(registry)
    assert resp.headers["content-length"] == str(len(resp.body))


def test_gzip_scrape(port: int, registry: CollectorRegistry) -> None:
    """With Accept-Encoding: gzip the body is gzip of the writer's output."""
    resp = fetch(port, headers={"Accept-Encoding": "gzip"})
    assert resp.headers["content-encoding"] == "gzip"
    assert gzip.decompress(resp.body) == generate_latest(registry)


def test_openmetrics_scrape(port: int) -> None:
    """An OpenMetrics Accept header gets OpenMetrics text ending in # EOF."""
    resp = fetch(port, headers={"Accept": "application/openmetrics-text"})
    assert resp.headers["content-type"] == OPENMETRICS_TYPE
    assert resp.body.endswith(b"# EOF\n") and b"requests_total{" in resp.body


def test_name_filter(port: int, registry: CollectorRegistry) -> None:
    """name[] query parameters restrict the scrape to those series."""
    resp = fetch(port, path="/metrics?name[]=temperature")
    assert resp.body == generate_latest(registry.restricted_registry(["temperature"]))
    assert b"requests" not in resp.body


@pytest.mark.parametrize("method", ["POST", "DELETE", "BREW"])
def test_other_methods_are_405_with_allow(port: int, method: str) -> None:
    """POST, DELETE and even unknown methods are refused with 405 and an Allow header."""
    resp = fetch(port, method=method)
    assert resp.status == 405 and resp.headers["allow"] == "GET, HEAD, OPTIONS"


def test_options(port: int) -> None:
    """OPTIONS answers 200 with the allowed methods and no body."""
    resp = fetch(port, method="OPTIONS")
    assert (resp.status, resp.headers["allow"], resp.body) == (200, "GET, HEAD, OPTIONS", b"")


def test_head(port: int, registry: CollectorRegistry) -> None:
    """HEAD answers 200 with GET's content type and length but no body."""
    resp = fetch(port, method="HEAD")
    assert resp.status == 200 and resp.body == b""
    assert resp.headers["content-type"] == exposition.CONTENT_TYPE_PLAIN_0_0_4
    assert resp.headers["content-length"] == str(len(generate_latest(registry)))


def test_favicon(port: int) -> None:
    """/favicon.ico is an empty 200."""
    resp = fetch(port, path="/favicon.ico")
    assert (resp.status, resp.body) == (200, b"")


def test_raising_collector_gives_500(port: int, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture) -> None:
    """A collector that raises gives a 500 without any partial metric text."""
    registry.register(Broken())
    resp = fetch(port)
    assert resp.status == 500
    assert b"requests" not in resp.body and b"temperature" not in resp.body
    assert "collector exploded" in caplog.text


def test_start_http_server_is_start_wsgi_server() -> None:
    """start_http_server is the same function as start_wsgi_server, as in prometheus_client."""
    assert exposition.start_http_server is exposition.start_wsgi_server


def test_factory_binds_registry(registry: CollectorRegistry) -> None:
    """MetricsHandler.factory returns a subclass bound to the registry, leaving the base untouched."""
    handler = exposition.MetricsHandler.factory(registry)
    assert issubclass(handler, exposition.MetricsHandler) and handler.registry is registry
    assert exposition.MetricsHandler.registry is not registry


def test_ipv6_loopback(registry: CollectorRegistry) -> None:
    """start_wsgi_server binds an IPv6 address and serves on it."""
    require_ipv6_loopback()
    server, thread = exposition.start_wsgi_server(0, addr="::1", registry=registry)
    try:
        assert server.address_family == socket.AF_INET6
        resp = fetch(server.server_address[1], host="::1")
        assert resp.body == generate_latest(registry)
    finally:
        stopper(server, thread)()


# -- TLS ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    pytest.importorskip("cryptography")
    return make_pki(tmp_path_factory.mktemp("pki"))


def _tls_served(pki: PKI, client_auth_required: bool) -> Iterator[Tuple[int, Swappable]]:
    swappable = Swappable()
    server, thread = exposition.start_wsgi_server(
        0, addr="127.0.0.1", registry=swappable, certfile=str(pki.server_cert), keyfile=str(pki.server_key),
        client_cafile=str(pki.ca), client_auth_required=client_auth_required)
    yield server.server_address[1], swappable
    stopper(server, thread)()


@pytest.fixture(scope="module")
def tls_served(pki: PKI) -> Iterator[Tuple[int, Swappable]]:
    yield from _tls_served(pki, client_auth_required=False)


@pytest.fixture(scope="module")
def mtls_served(pki: PKI) -> Iterator[Tuple[int, Swappable]]:
    yield from _tls_served(pki, client_auth_required=True)


@pytest.fixture
def tls_server(tls_served: Tuple[int, Swappable], registry: CollectorRegistry) -> int:
    tls_served[1].target = registry
    return tls_served[0]


@pytest.fixture
def mtls_server(mtls_served: Tuple[int, Swappable], registry: CollectorRegistry) -> int:
    mtls_served[1].target = registry
    return mtls_served[0]


def _client_context(pki: PKI, cert: Optional[Path] = None, key: Optional[Path] = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def test_https_scrape(tls_server: int, pki: PKI, registry: CollectorRegistry) -> None:
    """With certfile and keyfile the server speaks HTTPS with that certificate."""
    resp = fetch(tls_server, context=_client_context(pki))
    assert resp.status == 200 and resp.body == generate_latest(registry)


def test_https_silent_client_does_not_block_others(tls_server: int, pki: PKI) -> None:
    """A client that connects and never handshakes does not stall other scrapers."""
    with socket.create_connection(("127.0.0.1", tls_server), timeout=5):
        resp = fetch(tls_server, context=_client_context(pki))
    assert resp.status == 200


def test_mtls_refuses_client_without_certificate(mtls_server: int, pki: PKI) -> None:
    """With client_auth_required a client presenting no certificate gets no metrics."""
    with pytest.raises((ssl.SSLError, ConnectionError)):
        fetch(mtls_server, context=_client_context(pki))


def test_mtls_refuses_certificate_from_another_ca(mtls_server: int, pki: PKI) -> None:
    """With client_auth_required a self-signed client certificate is refused."""
    with pytest.raises((ssl.SSLError, ConnectionError)):
        fetch(mtls_server, context=_client_context(pki, pki.stranger_cert, pki.stranger_key))


def test_mtls_accepts_client_signed_by_ca(mtls_server: int, pki: PKI, registry: CollectorRegistry) -> None:
    """With client_auth_required a client certificate signed by the CA is served."""
    resp = fetch(mtls_server, context=_client_context(pki, pki.client_cert, pki.client_key))
    assert resp.status == 200 and resp.body == generate_latest(registry)


def test_missing_certificate_file_is_named(tmp_path: Path, pki: PKI) -> None:
    """A certificate file that cannot be loaded raises an error naming it."""
    missing = str(tmp_path / "nope.crt")
    with pytest.raises(OSError, match=r"nope\.crt"):
        exposition.start_wsgi_server(0, addr="127.0.0.1", certfile=missing, keyfile=missing,
                                     client_cafile=str(pki.ca))

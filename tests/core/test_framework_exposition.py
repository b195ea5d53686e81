"""Tests for the aiohttp handler, the Twisted resource and the Django view, each behind a real server."""

from __future__ import annotations

import gzip
from typing import Any, Iterator, Tuple

import pytest
from pyrometer import exposition
from pyrometer._text_format import generate_latest
from pyrometer.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from pyrometer.registry import CollectorRegistry
from server_helpers import (
    Broken,
    Stop,
    Swappable,
    fetch,
    populated_registry,  # noqa: F401 - the module's registry fixture
    serve_aiohttp,
    serve_django,
    serve_twisted,
)

# -- one server per framework, alive for the module -------------------------


def _serve_aiohttp(registry: Any) -> Tuple[int, Stop]:
    def add_routes(app: Any) -> None:
        from pyrometer.aiohttp import make_aiohttp_handler

        handler = make_aiohttp_handler(registry)
        app.router.add_route("*", "/metrics", handler)
        app.router.add_route("*", "/favicon.ico", handler)

    return serve_aiohttp(add_routes)


def _serve_twisted(registry: Any) -> Tuple[int, Stop]:
    def children(reactor: Any) -> Any:
        from pyrometer.twisted import MetricsResource

        metrics = MetricsResource(registry, reactor=reactor)
        return {b"metrics": metrics, b"favicon.ico": metrics}

    return serve_twisted(children)


def _serve_django(registry: Any) -> Tuple[int, Stop]:
    def urlpatterns() -> Any:
        from django.urls import path
        from pyrometer.django import PrometheusDjangoView

        view = PrometheusDjangoView.as_view(registry=registry)
        return [path("metrics", view), path("favicon.ico", view)]

    return serve_django(urlpatterns)


@pytest.fixture(scope="module", params=[_serve_aiohttp, _serve_twisted, _serve_django],
                ids=["aiohttp", "twisted", "django"])
def served(request: pytest.FixtureRequest) -> Iterator[Tuple[int, Swappable]]:
    swappable = Swappable()
    port, stop = request.param(swappable)
    yield port, swappable
    stop()


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

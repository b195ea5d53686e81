"""Tests for content negotiation and the shared metrics HTTP answer (pyrometer._negotiation)."""

from __future__ import annotations

import gzip
import inspect
import logging
from typing import Any, List

import prometheus_client.exposition as reference
import pytest
from pyrometer import exposition
from pyrometer._negotiation import _bake_output, choose_encoder, gzip_accepted, serve
from pyrometer._text_format import generate_latest
from pyrometer.openmetrics import exposition as openmetrics
from pyrometer.registry import CollectorRegistry
from server_helpers import (
    Broken,
    populated_registry,  # noqa: F401 - the module's registry fixture
)

ACCEPT_HEADERS = [
    None,
    "",
    "*/*",
    "text/plain",
    "text/plain; version=0.0.4",
    "text/plain; version=1.0.0",
    "text/plain;version=1.0.0;escaping=allow-utf-8",
    "text/plain; version=1.0.0; escaping=dots",
    "text/plain; version=1.0.0; escaping=values",
    "text/plain; version=1.0.0; escaping=bogus",
    "text/plain; version=2.0.0; escaping=underscores",
    "application/openmetrics-text",
    "application/openmetrics-text; version=0.0.1",
    "application/openmetrics-text; version=1.0.0",
    "application/openmetrics-text; version=1.0.0; escaping=allow-utf-8",
    "application/openmetrics-text; version=2.0.0; escaping=dots",
    "application/openmetrics-text; version=0.0.1,text/plain;version=1.0.0;escaping=values",
    "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.3,*/*;q=0.1",
    "text/html, application/openmetrics-text; escaping=allow-utf-8",
]


@pytest.mark.parametrize("accept", ACCEPT_HEADERS)
def test_choose_encoder_content_type_matches_prometheus_client(accept: str) -> None:
    """The negotiated content type is exactly prometheus_client 0.26's for the same Accept header."""
    assert choose_encoder(accept)[1] == reference.choose_encoder(accept)[1]


def test_choose_encoder_default_is_text_0_0_4_writer() -> None:
    """Without a usable Accept header the text writer itself is chosen, with the 0.0.4 content type."""
    assert choose_encoder(None) == (generate_latest, exposition.CONTENT_TYPE_PLAIN_0_0_4)


def test_choose_encoder_openmetrics_output_ends_with_eof(registry: CollectorRegistry) -> None:
    """An OpenMetrics Accept header selects the OpenMetrics writer with the negotiated escaping."""
    encoder, content_type = choose_encoder("application/openmetrics-text; version=1.0.0; escaping=allow-utf-8")
    assert content_type == "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
    body = encoder(registry)
    assert body == openmetrics.generate_latest(registry, escaping=openmetrics.ALLOWUTF8, version="1.0.0")
    assert body.endswith(b"# EOF\n")


def test_choose_encoder_ignores_non_numeric_version() -> None:
    """A version that cannot be compared is skipped instead of raising."""
    assert choose_encoder("text/plain; version=1.x")[1] == exposition.CONTENT_TYPE_PLAIN_0_0_4


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, False),
        ("", False),
        ("gzip", True),
        ("GZip", True),
        ("deflate, gzip;q=1.0, *;q=0.5", True),
        ("br, deflate", False),
        ("gzip;q=0", False),
        ("gzip; q=0.001", True),
        ("x-gzip", False),
    ],
)
def test_gzip_accepted(header: str, expected: bool) -> None:
    """gzip is accepted when listed by name (any case), unless its quality is zero."""
    assert gzip_accepted(header) is expected


def test_bake_output_has_prometheus_client_shape(registry: CollectorRegistry) -> None:
    """_bake_output returns ('200 OK', [Content-Type, (Content-Encoding)], bytes) like prometheus_client's."""
    status, headers, body = _bake_output(registry, None, "gzip", {}, False)
    assert status == "200 OK"
    assert headers == [("Content-Type", exposition.CONTENT_TYPE_PLAIN_0_0_4), ("Content-Encoding", "gzip")]
    assert gzip.decompress(body) == generate_latest(registry)
    assert _bake_output(registry, None, "gzip", {}, True) == (
        "200 OK", [("Content-Type", exposition.CONTENT_TYPE_PLAIN_0_0_4)], generate_latest(registry))


class MultiDict(dict):
    """A dict whose item lookup returns the last value, like Django's QueryDict."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key)[-1]

    def getlist(self, key: str) -> List[str]:
        return super().__getitem__(key)


@pytest.mark.parametrize("params", [{"name[]": ["temperature"]}, MultiDict({"name[]": ["temperature"]})])
def test_name_filter(registry: CollectorRegistry, params: dict) -> None:
    """name[] keeps only the named series, from a parse_qs dict or a multi-dict."""
    body = serve(registry, "GET", "/metrics", None, None, params).body
    assert body == generate_latest(registry.restricted_registry(["temperature"]))
    assert b"temperature 21.5" in body and b"requests" not in body


def test_get_body_and_headers(registry: CollectorRegistry) -> None:
    """GET gives 200, the writer's exact bytes, the content type and the right Content-Length."""
    reply = serve(registry, "GET", "/metrics", None, None, {})
    assert reply.status == 200 and reply.status_line == "200 OK"
    assert reply.body == generate_latest(registry)
    assert dict(reply.headers) == {
        "Content-Type": exposition.CONTENT_TYPE_PLAIN_0_0_4, "Content-Length": str(len(reply.body))}


def test_head_has_headers_without_body(registry: CollectorRegistry) -> None:
    """HEAD gives GET's headers (Content-Length included) and an empty body."""
    get = serve(registry, "GET", "/metrics", None, "gzip", {})
    head = serve(registry, "head", "/metrics", None, "gzip", {})
    assert (head.status, head.headers, head.body) == (200, get.headers, b"")


def test_options_lists_allowed_methods(registry: CollectorRegistry) -> None:
    """OPTIONS answers 200 with Allow: GET, HEAD, OPTIONS and no body."""
    reply = serve(registry, "OPTIONS", "/metrics", None, None, {})
    assert reply.status == 200 and reply.body == b""
    assert ("Allow", "GET, HEAD, OPTIONS") in reply.headers


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "BREW"])
def test_other_methods_get_405(registry: CollectorRegistry, method: str) -> None:
    """Any method but GET/HEAD/OPTIONS is refused with 405 and an Allow header."""
    reply = serve(registry, method, "/metrics", None, None, {})
    assert reply.status == 405 and reply.status_line == "405 Method Not Allowed"
    assert ("Allow", "GET, HEAD, OPTIONS") in reply.headers
    assert method.encode() in reply.body


def test_favicon_is_empty_200(registry: CollectorRegistry) -> None:
    """/favicon.ico gets an empty 200 instead of the metrics."""
    assert serve(registry, "GET", "/favicon.ico", None, None, {}) == (200, [("Content-Length", "0")], b"")


def test_raising_collector_gives_500_and_logs(registry: CollectorRegistry, caplog: pytest.LogCaptureFixture) -> None:
    """A collector that raises gives a 500 with no metric text, and the traceback is logged."""
    registry.register(Broken())
    with caplog.at_level(logging.ERROR, logger="pyrometer.exposition"):
        reply = serve(registry, "GET", "/metrics", None, "gzip", {})
    assert reply.status == 500
    assert dict(reply.headers)["Content-Type"] == "text/plain; charset=utf-8"
    assert b"requests" not in reply.body and b"500" in reply.body
    assert "Content-Encoding" not in dict(reply.headers)
    [record] = caplog.records
    assert record.name == "pyrometer.exposition" and record.exc_info is not None
    assert "collector exploded" in caplog.text
    assert serve(registry, "HEAD", "/metrics", None, None, {}).body == b""


@pytest.mark.parametrize("name", [
    "choose_encoder", "gzip_accepted", "_bake_output", "make_wsgi_app", "make_asgi_app",
    "start_wsgi_server", "start_http_server", "write_to_textfile",
])
def test_signature_matches_prometheus_client(name: str) -> None:
    """Parameter names, kinds and defaults match prometheus_client 0.26 (registries compared by role)."""
    def shape(func: Any) -> list:
        params = inspect.signature(func).parameters.values()
        # pyrometer's additions are keyword-only, so they cannot shift a positional call.
        return [(p.name, p.kind, "REGISTRY" if p.name == "registry" and p.default is not p.empty else p.default)
                for p in params if p.kind is not p.KEYWORD_ONLY]

    assert shape(getattr(exposition, name)) == shape(getattr(reference, name))


def test_exposition_exports_prometheus_client_names() -> None:
    """pyrometer.exposition has prometheus_client.exposition's __all__ and its other public helpers."""
    extra = {"ThreadingWSGIServer", "choose_encoder", "gzip_accepted", "_bake_output", "default_handler",
             "basic_auth_handler", "tls_auth_handler", "passthrough_redirect_handler"}
    assert sorted(exposition.__all__) == sorted(reference.__all__)
    assert [n for n in sorted(set(reference.__all__) | extra) if not hasattr(exposition, n)] == []

"""MetricsMiddleware and mount_metrics over plain WSGI apps, Werkzeug routing and a real wsgiref server."""

from __future__ import annotations

import sys
import threading
import time
import urllib.error
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from pyrometer import CollectorRegistry, generate_latest
from pyrometer.http.wsgi import HANDLER_KEY
from pyrometer.testing import samples
from pyrometer_wsgi import MetricsMiddleware, mount_metrics, werkzeug_handler
from werkzeug.routing import Map, Rule
from werkzeug.test import Client


def hello_app(environ, start_response):
    """A plain WSGI app: 200 for everything except /missing (404)."""
    status = "404 Not Found" if environ["PATH_INFO"] == "/missing" else "200 OK"
    start_response(status, [("Content-Type", "text/plain")])
    return [b"hello"]


URL_MAP = Map([Rule("/users/<int:user_id>", endpoint="user"), Rule("/", endpoint="index")])


class _Body:
    """A streamed response body that records whether the server closed it."""

    def __init__(self, chunks: int, delay: float = 0.0) -> None:
        self.chunks = chunks
        self.delay = delay
        self.closed = 0
        self.sent = 0

    def __iter__(self):
        for _ in range(self.chunks):
            time.sleep(self.delay)
            self.sent += 1
            yield b"x" * 10

    def close(self):
        self.closed += 1


def _streaming_app(body: _Body):
    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body
    return app


def _start_response(status, headers, exc_info=None):
    return lambda data: None


def test_plain_app_every_request_is_handler_none():
    """Without a route source every request is handler="none": a raw path never becomes a label."""
    registry = CollectorRegistry()
    client = Client(MetricsMiddleware(hello_app, registry=registry))
    for path in ("/", "/a/b", "/missing", "/x?y=1"):
        client.get(path)
    assert samples("http_requests_total", registry) == [
        ({"handler": "none", "method": "GET", "status": "200"}, 3.0),
        ({"handler": "none", "method": "GET", "status": "404"}, 1.0),
    ]


def test_app_can_name_the_handler_in_environ():
    """An app that leaves pyrometer.handler in the environ gets that route label."""
    def app(environ, start_response):
        environ[HANDLER_KEY] = "/items/{id}"
        return hello_app(environ, start_response)

    registry = CollectorRegistry()
    Client(MetricsMiddleware(app, registry=registry)).get("/items/3")
    assert samples("http_requests_total", registry) == [
        ({"handler": "/items/{id}", "method": "GET", "status": "200"}, 1.0),
    ]


def test_werkzeug_map_handler():
    """With a Werkzeug Map the handler is the rule; unknown URLs and wrong methods are handler="none"."""
    registry = CollectorRegistry()
    client = Client(MetricsMiddleware(hello_app, url_map=URL_MAP, registry=registry))
    client.get("/users/1")
    client.get("/users/2")
    client.get("/")
    client.get("/users/abc")
    client.get("/nope/1")
    assert samples("http_requests_total", registry) == [
        ({"handler": "/users/<int:user_id>", "method": "GET", "status": "200"}, 2.0),
        ({"handler": "/", "method": "GET", "status": "200"}, 1.0),
        ({"handler": "none", "method": "GET", "status": "200"}, 2.0),
    ]
    resolve = werkzeug_handler(Map([Rule("/only-post", endpoint="p", methods=["POST"])]))
    assert resolve({"PATH_INFO": "/only-post", "REQUEST_METHOD": "GET", "SERVER_NAME": "h", "SERVER_PORT": "80",
                    "wsgi.url_scheme": "http"}) is None


def test_user_handler_function_and_in_progress():
    """A handler function names the route from the environ, and in-progress counts it while it runs."""
    registry = CollectorRegistry()
    seen = []

    def app(environ, start_response):
        seen.append(registry.get_sample_value("http_requests_in_progress", {"method": "POST", "handler": "api"}))
        return hello_app(environ, start_response)

    def handler(environ):
        return "api" if environ["PATH_INFO"].startswith("/api/") else None

    client = Client(MetricsMiddleware(app, handler=handler, registry=registry))
    client.post("/api/v1/x", data=b"12345")
    client.get("/other")
    assert seen == [1.0, 0.0]
    assert samples("http_requests_total", registry) == [
        ({"handler": "api", "method": "POST", "status": "200"}, 1.0),
        ({"handler": "none", "method": "GET", "status": "200"}, 1.0),
    ]
    assert registry.get_sample_value("http_requests_in_progress", {"method": "POST", "handler": "api"}) == 0


def test_sizes_from_content_length_and_body():
    """Request size comes from Content-Length, response size from the bytes sent."""
    registry = CollectorRegistry()
    client = Client(MetricsMiddleware(hello_app, registry=registry, metrics=["request_size", "response_size"]))
    client.post("/up", data=b"x" * 250)
    labels = {"method": "POST", "handler": "none"}
    assert registry.get_sample_value("http_request_size_bytes_sum", labels) == 250
    assert registry.get_sample_value("http_response_size_bytes_sum", labels) == 5


def test_streaming_body_measured_until_close():
    """A streamed body is timed to its last chunk, and the app's close() is forwarded."""
    registry = CollectorRegistry()
    body = _Body(chunks=3, delay=0.04)
    middleware = MetricsMiddleware(_streaming_app(body), registry=registry, metrics=["duration", "in_progress",
                                                                                      "response_size", "ttfb"])
    labels = {"method": "GET", "handler": "none"}
    result = middleware({"REQUEST_METHOD": "GET", "PATH_INFO": "/s"}, _start_response)
    assert registry.get_sample_value("http_request_duration_seconds_count", labels) is None
    assert b"".join(result) == b"x" * 30
    result.close()
    assert body.closed == 1
    assert registry.get_sample_value("http_request_duration_seconds_count", labels) == 1
    assert registry.get_sample_value("http_request_duration_seconds_sum", labels) >= 0.1
    assert registry.get_sample_value("http_time_to_first_byte_seconds_sum", labels) < 0.1
    assert registry.get_sample_value("http_response_size_bytes_sum", labels) == 30


def test_client_stopping_early_still_closes_and_records():
    """When the client goes away after one chunk, close() reaches the app and the request is recorded once."""
    registry = CollectorRegistry()
    body = _Body(chunks=100)
    middleware = MetricsMiddleware(_streaming_app(body), registry=registry,
                                   handler=lambda environ: "/download", metrics=["requests", "response_size",
                                                                                 "in_progress"])
    result = middleware({"REQUEST_METHOD": "GET", "PATH_INFO": "/download"}, _start_response)
    iterator = iter(result)
    assert next(iterator) == b"x" * 10
    assert registry.get_sample_value("http_requests_in_progress", {"method": "GET", "handler": "/download"}) == 1
    result.close()
    result.close()
    assert body.closed == 2
    assert body.sent == 1
    assert samples("http_requests_total", registry) == [
        ({"handler": "/download", "method": "GET", "status": "200"}, 1.0),
    ]
    assert registry.get_sample_value("http_response_size_bytes_sum", {"method": "GET", "handler": "/download"}) == 10
    assert registry.get_sample_value("http_requests_in_progress", {"method": "GET", "handler": "/download"}) == 0


def test_close_forwarded_when_body_raises():
    """A body raising mid-stream counts the exception, and close() still reaches the app's iterable."""
    registry = CollectorRegistry()

    class Failing(_Body):
        def __iter__(self):
            yield b"one"
            raise ConnectionResetError("upstream")

    body = Failing(chunks=0)
    result = MetricsMiddleware(_streaming_app(body), registry=registry)({"PATH_INFO": "/f"}, _start_response)
    with pytest.raises(ConnectionResetError):
        list(result)
    result.close()  # what every WSGI server does after a failed iteration
    assert body.closed == 1
    labels = {"method": "GET", "handler": "none"}
    assert registry.get_sample_value("http_exceptions_total", {**labels, "exception": "ConnectionResetError"}) == 1
    assert registry.get_sample_value("http_requests_total", {**labels, "status": "200"}) == 1


def test_app_raising_before_start_response():
    """An app raising before start_response is a counted 500 with its exception, and the exception propagates."""
    def app(environ, start_response):
        raise LookupError("no such thing")

    registry = CollectorRegistry()
    middleware = MetricsMiddleware(app, url_map=URL_MAP, registry=registry)
    with pytest.raises(LookupError, match="no such thing"):
        Client(middleware).get("/users/5")
    labels = {"method": "GET", "handler": "/users/<int:user_id>"}
    assert registry.get_sample_value("http_requests_total", {**labels, "status": "500"}) == 1
    assert registry.get_sample_value("http_exceptions_total", {**labels, "exception": "LookupError"}) == 1
    assert registry.get_sample_value("http_requests_in_progress", labels) == 0


def test_excluded_paths_and_metrics_path():
    """Excluded paths are passed through unmeasured; /metrics is served by the middleware and not measured."""
    registry = CollectorRegistry()
    client = Client(MetricsMiddleware(hello_app, registry=registry, excluded_paths=["/health"]))
    assert client.get("/health").status_code == 200
    client.get("/x")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert samples("http_requests_total", registry) == [
        ({"handler": "none", "method": "GET", "status": "200"}, 1.0),
    ]
    assert response.get_data() == generate_latest(registry)
    assert Client(MetricsMiddleware(hello_app, registry=CollectorRegistry(), path=None)).get("/metrics").get_data() \
        == b"hello"


def test_mount_metrics_with_dispatcher():
    """mount_metrics serves the registry at /metrics beside the app with DispatcherMiddleware."""
    registry = CollectorRegistry()
    registry_app = MetricsMiddleware(hello_app, registry=registry, path=None)
    client = Client(mount_metrics(registry_app, registry=registry))
    assert client.get("/hello").get_data() == b"hello"
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b'http_requests_total{handler="none",method="GET",status="200"} 1.0\n' in response.get_data()
    om = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.get_data().endswith(b"# EOF\n")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def serve():
    """Run a WSGI app on a real wsgiref server on 127.0.0.1, port chosen by the OS."""
    servers = []

    def start(app):
        server = make_server("127.0.0.1", 0, app, server_class=WSGIServer, handler_class=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        thread.join(5)
        server.server_close()


def test_real_wsgiref_server(serve):
    """Over a real socket the streamed body is measured to its end and close() is called by the server."""
    registry = CollectorRegistry()
    body = _Body(chunks=3, delay=0.03)
    url_map = Map([Rule("/stream", endpoint="stream")])

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/stream":
            return _streaming_app(body)(environ, start_response)
        return hello_app(environ, start_response)

    base = serve(MetricsMiddleware(app, url_map=url_map, registry=registry))
    with urllib.request.urlopen(f"{base}/stream", timeout=5) as response:
        assert response.read() == b"x" * 30
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{base}/missing", timeout=5)
    missing.value.close()
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
        scraped = response.read().decode()
    assert body.closed == 1
    assert 'http_requests_total{handler="/stream",method="GET",status="200"} 1.0' in scraped
    assert 'http_requests_total{handler="none",method="GET",status="404"} 1.0' in scraped
    assert registry.get_sample_value("http_request_duration_seconds_sum", {"method": "GET", "handler": "/stream"}) \
        >= 0.06


def test_extra_labels_get_the_environ():
    """extra_labels functions of the plain middleware receive the WSGI environ."""
    registry = CollectorRegistry()
    client = Client(MetricsMiddleware(hello_app, registry=registry, metrics=["requests"],
                                      extra_labels={"tenant": lambda environ: environ["HTTP_X_TENANT"]}))
    client.get("/", headers={"X-Tenant": "acme"})
    client.get("/")
    assert samples("http_requests_total", registry) == [
        ({"handler": "none", "method": "GET", "status": "200", "tenant": "acme"}, 1.0),
        ({"handler": "none", "method": "GET", "status": "200", "tenant": "_OTHER"}, 1.0),
    ]


def test_failing_handler_function_never_breaks_the_request():
    """A handler function that raises gives handler="none" and the app still answers."""
    registry = CollectorRegistry()

    def handler(environ):
        raise KeyError("route")

    client = Client(MetricsMiddleware(hello_app, handler=handler, registry=registry))
    assert client.get("/x").get_data() == b"hello"
    assert samples("http_requests_total", registry) == [
        ({"handler": "none", "method": "GET", "status": "200"}, 1.0),
    ]


def test_status_line_is_passed_through():
    """start_response gets exactly what the app gave, including exc_info, and the status is recorded."""
    registry = CollectorRegistry()
    calls = []

    def app(environ, start_response):
        try:
            raise ValueError("x")
        except ValueError:
            start_response("503 Service Unavailable", [("Retry-After", "1")], sys.exc_info())
        return [b"busy"]

    middleware = MetricsMiddleware(app, registry=registry)
    body = middleware({"REQUEST_METHOD": "GET", "PATH_INFO": "/"}, lambda *args: calls.append(args))
    assert body == [b"busy"]
    assert calls[0][0] == "503 Service Unavailable"
    assert calls[0][1] == [("Retry-After", "1")]
    assert calls[0][2][0] is ValueError
    assert registry.get_sample_value("http_requests_total", {"method": "GET", "handler": "none", "status": "503"}) == 1

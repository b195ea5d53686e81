"""FlaskMetrics through Flask's real test client: request series, per-view metrics, /metrics serving."""

from __future__ import annotations

import base64
import gzip
import time

import pytest
from flask import Blueprint, Flask, Response, abort, request
from pyrometer import CollectorRegistry, generate_latest
from pyrometer.protection import Protection
from pyrometer.testing import samples
from pyrometer_flask import FlaskMetrics


def _app(registry: CollectorRegistry, **options) -> tuple:
    app = Flask(__name__)
    metrics = FlaskMetrics(app, registry=registry, **options)

    @app.get("/users/<int:user_id>")
    def user(user_id):
        return {"id": user_id}

    @app.get("/boom")
    def boom():
        raise RuntimeError("boom")

    @app.get("/gone")
    def gone():
        abort(404)

    @app.get("/health")
    def health():
        return "ok"

    @app.post("/items")
    def create():
        return {"created": True}, 201

    return app, metrics


def test_mixed_traffic_exact_series():
    """200s on a route, 404s on random URLs, a raising view, abort(404) and an excluded path give exact series."""
    registry = CollectorRegistry()
    app, _ = _app(registry, excluded_paths=["/health"])
    client = app.test_client()
    assert [client.get(f"/users/{i}").status_code for i in range(3)] == [200, 200, 200]
    assert {client.get(f"/scan/{i}/wp-admin.php?x={i}").status_code for i in range(5)} == {404}
    assert client.get("/boom").status_code == 500
    assert client.get("/gone").status_code == 404
    assert client.get("/health").status_code == 200
    assert client.post("/items", json={}).status_code == 201
    assert samples("http_requests_total", registry) == [
        ({"handler": "/users/<int:user_id>", "method": "GET", "status": "200"}, 3.0),
        ({"handler": "none", "method": "GET", "status": "404"}, 5.0),
        ({"handler": "/boom", "method": "GET", "status": "500"}, 1.0),
        ({"handler": "/gone", "method": "GET", "status": "404"}, 1.0),
        ({"handler": "/items", "method": "POST", "status": "201"}, 1.0),
    ]
    assert samples("http_exceptions_total", registry) == [
        ({"exception": "RuntimeError", "handler": "/boom", "method": "GET"}, 1.0),
    ]
    assert samples("http_requests_in_progress", registry) == [
        ({"handler": "/users/<int:user_id>", "method": "GET"}, 0.0),
        ({"handler": "none", "method": "GET"}, 0.0),
        ({"handler": "/boom", "method": "GET"}, 0.0),
        ({"handler": "/gone", "method": "GET"}, 0.0),
        ({"handler": "/items", "method": "POST"}, 0.0),
    ]
    assert registry.get_sample_value(
        "http_request_duration_seconds_count", {"method": "GET", "handler": "/users/<int:user_id>"}) == 3
    assert registry.get_sample_value(
        "http_request_duration_seconds_bucket", {"method": "GET", "handler": "none", "le": "+Inf"}) == 5
    assert "/health" not in generate_latest(registry).decode()
    assert "/scan" not in generate_latest(registry).decode()


def test_propagated_exception_in_testing_mode():
    """With TESTING on, the view's exception reaches the caller and the request is still a counted 500."""
    registry = CollectorRegistry()
    app, _ = _app(registry)
    app.testing = True
    with pytest.raises(RuntimeError, match="boom"):
        app.test_client().get("/boom")
    base = {"method": "GET", "handler": "/boom"}
    assert registry.get_sample_value("http_requests_total", {**base, "status": "500"}) == 1
    assert registry.get_sample_value("http_exceptions_total", {**base, "exception": "RuntimeError"}) == 1
    assert registry.get_sample_value("http_requests_in_progress", base) == 0


def test_group_status():
    """group_status=True reports status classes."""
    registry = CollectorRegistry()
    app, _ = _app(registry, group_status=True)
    client = app.test_client()
    client.get("/users/1")
    client.post("/items")
    client.get("/nothing")
    assert samples("http_requests_total", registry) == [
        ({"handler": "/users/<int:user_id>", "method": "GET", "status": "2xx"}, 1.0),
        ({"handler": "/items", "method": "POST", "status": "2xx"}, 1.0),
        ({"handler": "none", "method": "GET", "status": "4xx"}, 1.0),
    ]


def test_in_progress_while_view_runs():
    """The in-progress gauge carries the route while the view runs and is back to 0 afterwards."""
    registry = CollectorRegistry()
    app = Flask(__name__)
    FlaskMetrics(app, registry=registry)
    seen = []

    @app.get("/work/<job>")
    def work(job):
        seen.append(registry.get_sample_value("http_requests_in_progress", {"method": "GET", "handler": "/work/<job>"}))
        return job

    app.test_client().get("/work/a")
    assert seen == [1.0]
    assert registry.get_sample_value("http_requests_in_progress", {"method": "GET", "handler": "/work/<job>"}) == 0


def test_status_code_without_reading_body():
    """A plain client.get(...).status_code, body never read, still records the request and ends in-progress."""
    registry = CollectorRegistry()
    app, _ = _app(registry)
    assert app.test_client().get("/users/7").status_code == 200
    base = {"method": "GET", "handler": "/users/<int:user_id>"}
    assert registry.get_sample_value("http_requests_total", {**base, "status": "200"}) == 1
    assert registry.get_sample_value("http_requests_in_progress", base) == 0


def test_blueprint_route_templates():
    """Routes of a blueprint mounted with url_prefix are labelled with the full rule."""
    registry = CollectorRegistry()
    app = Flask(__name__)
    api = Blueprint("api", __name__, url_prefix="/api/v1")

    @api.get("/orders/<order_id>")
    def order(order_id):
        return order_id

    app.register_blueprint(api)
    FlaskMetrics(app, registry=registry)
    client = app.test_client()
    client.get("/api/v1/orders/1")
    client.get("/api/v1/orders/2")
    assert samples("http_requests_total", registry) == [
        ({"handler": "/api/v1/orders/<order_id>", "method": "GET", "status": "200"}, 2.0),
    ]


def test_streamed_response_timed_to_last_chunk():
    """A streamed body is timed until its last chunk, not until the view returns."""
    registry = CollectorRegistry()
    app = Flask(__name__)
    FlaskMetrics(app, registry=registry, metrics=["duration", "in_progress", "ttfb", "response_size"])

    @app.get("/stream")
    def stream():
        def chunks():
            for _ in range(3):
                time.sleep(0.05)
                yield b"chunk"
        return Response(chunks(), mimetype="text/plain")

    response = app.test_client().get("/stream")
    base = {"method": "GET", "handler": "/stream"}
    assert response.data == b"chunk" * 3
    assert registry.get_sample_value("http_request_duration_seconds_sum", base) >= 0.1
    assert registry.get_sample_value("http_time_to_first_byte_seconds_sum", base) < 0.1
    assert registry.get_sample_value("http_response_size_bytes_sum", base) == 15
    assert registry.get_sample_value("http_requests_in_progress", base) == 0


def test_stream_failing_midway_counts_exception():
    """A streamed body that raises after the headers went out counts the exception."""
    registry = CollectorRegistry()
    app = Flask(__name__)
    FlaskMetrics(app, registry=registry)

    @app.get("/broken")
    def broken():
        def chunks():
            yield b"first"
            raise OSError("disk gone")
        return Response(chunks())

    with pytest.raises(OSError, match="disk gone"):
        app.test_client().get("/broken").get_data()
    base = {"method": "GET", "handler": "/broken"}
    assert registry.get_sample_value("http_exceptions_total", {**base, "exception": "OSError"}) == 1
    assert registry.get_sample_value("http_requests_total", {**base, "status": "200"}) == 1
    assert registry.get_sample_value("http_requests_in_progress", base) == 0


def test_do_not_track():
    """A view marked do_not_track leaves no series at all."""
    registry = CollectorRegistry()
    app = Flask(__name__)
    metrics = FlaskMetrics(app, registry=registry)

    @app.get("/ping")
    @metrics.do_not_track()
    def ping():
        return "pong"

    @metrics.do_not_track()
    @app.get("/ready")
    def ready():
        return "yes"

    client = app.test_client()
    assert client.get("/ping").data == b"pong"
    assert client.get("/ready").data == b"yes"
    assert "/ping" not in generate_latest(registry).decode()
    assert "/ready" not in generate_latest(registry).decode()


def test_before_request_answering_keeps_route():
    """A before_request registered first that answers itself (a login check) still gets the route label."""
    registry = CollectorRegistry()
    app = Flask(__name__)

    @app.before_request
    def login_required():
        if "Authorization" not in request.headers:
            return "login", 401
        return None

    @app.get("/private/<name>")
    def private(name):
        return name

    FlaskMetrics(app, registry=registry)
    app.test_client().get("/private/x")
    assert samples("http_requests_total", registry) == [
        ({"handler": "/private/<name>", "method": "GET", "status": "401"}, 1.0),
    ]


def test_per_view_decorators():
    """counter, histogram, summary and gauge decorators update their metric with labels from the response."""
    registry = CollectorRegistry()
    app = Flask(__name__)
    metrics = FlaskMetrics(app, registry=registry)
    seen_gauge = []

    @app.get("/users/<int:user_id>")
    @metrics.counter("user_lookups_total", "User lookups.", labels={"status": lambda r: r.status_code})
    @metrics.histogram("user_lookup_seconds", "User lookup time.", buckets=[0.5],
                       labels={"found": lambda r: r.status_code == 200, "region": "eu"})
    @metrics.summary("user_lookup_summary_seconds", "User lookup time.",
                     labels={"agent": lambda req, resp: req.headers.get("User-Agent", "-")})
    @metrics.gauge("user_lookups_in_progress", "Lookups running.", labels={"view": "user"})
    def user(user_id):
        seen_gauge.append(registry.get_sample_value("user_lookups_in_progress", {"view": "user"}))
        if user_id == 0:
            abort(404)
        return {"id": user_id}

    client = app.test_client()
    client.get("/users/1", headers={"User-Agent": "curl"})
    client.get("/users/2", headers={"User-Agent": "curl"})
    client.get("/users/0", headers={"User-Agent": "bot"})
    assert seen_gauge == [1.0, 1.0, 1.0]
    assert samples("user_lookups_total", registry) == [({"status": "200"}, 2.0), ({"status": "404"}, 1.0)]
    assert samples("user_lookup_seconds_bucket", registry) == [
        ({"found": "True", "le": "0.5", "region": "eu"}, 2.0),
        ({"found": "True", "le": "+Inf", "region": "eu"}, 2.0),
        ({"found": "False", "le": "0.5", "region": "eu"}, 1.0),
        ({"found": "False", "le": "+Inf", "region": "eu"}, 1.0),
    ]
    assert samples("user_lookup_seconds_count", registry) == [
        ({"found": "True", "region": "eu"}, 2.0),
        ({"found": "False", "region": "eu"}, 1.0),
    ]
    assert samples("user_lookup_summary_seconds_count", registry) == [({"agent": "curl"}, 2.0), ({"agent": "bot"}, 1.0)]
    assert samples("user_lookups_in_progress", registry) == [({"view": "user"}, 0.0)]
    assert sorted({m.name for m in registry.collect() if m.name.startswith("user_")}) == [
        "user_lookup_seconds", "user_lookup_summary_seconds", "user_lookups", "user_lookups_in_progress"]


def test_per_view_label_function_sees_none_when_view_raises():
    """When the view raises, a one-argument label function gets None and a failing one yields _OTHER."""
    registry = CollectorRegistry()
    app = Flask(__name__)
    metrics = FlaskMetrics(app, registry=registry)

    @app.get("/fail")
    @metrics.counter("fail_total", "Failures.", labels={"status": lambda r: r.status_code,
                                                         "ok": lambda r: r is not None})
    def fail():
        raise ValueError("x")

    assert app.test_client().get("/fail").status_code == 500
    assert registry.get_sample_value("fail_total", {"status": "_OTHER", "ok": "False"}) == 1


def test_info():
    """info() exports a gauge set to 1 with the given labels."""
    registry = CollectorRegistry()
    metrics = FlaskMetrics(Flask(__name__), registry=registry)
    metrics.info("app_info", "Application info.", version="1.2.3", commit="abc")
    assert samples("app_info", registry) == [
        ({"commit": "abc", "version": "1.2.3"}, 1.0),
    ]


def test_app_factory_and_two_apps_two_registries():
    """init_app instruments apps made by a factory; two extensions with two registries keep their series apart."""
    reg_a, reg_b = CollectorRegistry(), CollectorRegistry()
    metrics_a, metrics_b = FlaskMetrics(registry=reg_a), FlaskMetrics(registry=reg_b)

    def create_app(metrics):
        app = Flask(__name__)
        metrics.init_app(app)

        @app.get("/hello")
        def hello():
            return "hi"
        return app

    app_a, app_b = create_app(metrics_a), create_app(metrics_b)
    assert app_a.extensions["pyrometer"] is metrics_a
    app_a.test_client().get("/hello")
    app_a.test_client().get("/hello")
    app_b.test_client().get("/hello")
    key = {"method": "GET", "handler": "/hello", "status": "200"}
    assert reg_a.get_sample_value("http_requests_total", key) == 2
    assert reg_b.get_sample_value("http_requests_total", key) == 1
    assert b'http_requests_total{handler="/hello",method="GET",status="200"} 1.0' in app_b.test_client().get(
        "/metrics").data


def test_one_extension_two_apps_share_the_engine():
    """One FlaskMetrics on two apps counts both in one registry."""
    registry = CollectorRegistry()
    metrics = FlaskMetrics(registry=registry)
    apps = [Flask(f"app{i}") for i in range(2)]
    for app in apps:
        metrics.init_app(app)
        app.add_url_rule("/x", "x", lambda: "x")
    for app in apps:
        app.test_client().get("/x")
    assert registry.get_sample_value("http_requests_total", {"method": "GET", "handler": "/x", "status": "200"}) == 2


def test_extra_labels_get_the_flask_request():
    """extra_labels functions receive a Flask request object, so headers and args are at hand."""
    registry = CollectorRegistry()
    app, _ = _app(registry, metrics=["requests"], extra_labels={"tenant": lambda r: r.headers["X-Tenant"]})
    client = app.test_client()
    client.get("/users/1", headers={"X-Tenant": "acme"})
    client.get("/users/1")
    assert samples("http_requests_total", registry) == [
        ({"handler": "/users/<int:user_id>", "method": "GET", "status": "200", "tenant": "acme"}, 1.0),
        ({"handler": "/users/<int:user_id>", "method": "GET", "status": "200", "tenant": "_OTHER"}, 1.0),
    ]


def test_metrics_endpoint_negotiation():
    """/metrics answers the text format by default and OpenMetrics when asked, and is not itself measured."""
    registry = CollectorRegistry()
    app, _ = _app(registry)
    client = app.test_client()
    client.get("/users/1")
    text = client.get("/metrics")
    assert text.status_code == 200
    assert text.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert text.data == generate_latest(registry)
    om = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["Content-Type"] == \
        "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
    assert om.data.endswith(b"# EOF\n")
    assert b'http_requests_total{handler="/users/<int:user_id>",method="GET",status="200"} 1.0\n' in om.data
    assert b"/metrics" not in client.get("/metrics").data


def test_metrics_endpoint_gzip():
    """/metrics is gzipped when the scraper accepts it, unless compression is disabled."""
    registry = CollectorRegistry()
    app, _ = _app(registry)
    zipped = app.test_client().get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.data) == generate_latest(registry)
    plain_app, _ = _app(CollectorRegistry(), disable_compression=True)
    plain = plain_app.test_client().get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers


def test_metrics_endpoint_protection():
    """With basic-auth protection /metrics answers 401 without credentials and 200 with them."""
    registry = CollectorRegistry()
    app, _ = _app(registry, protection=Protection(basic_auth={"prom": "s3cret"}))
    client = app.test_client()
    denied = client.get("/metrics")
    assert denied.status_code == 401
    assert denied.headers["WWW-Authenticate"].startswith("Basic")
    wrong = base64.b64encode(b"prom:nope").decode()
    assert client.get("/metrics", headers={"Authorization": f"Basic {wrong}"}).status_code == 401
    good = base64.b64encode(b"prom:s3cret").decode()
    assert client.get("/metrics", headers={"Authorization": f"Basic {good}"}).status_code == 200
    assert client.get("/users/1").status_code == 200  # the app itself stays open


def test_metrics_path_moved_and_disabled():
    """path= moves /metrics; path=None serves nothing, so Flask answers 404 (measured as handler none)."""
    registry = CollectorRegistry()
    moved, _ = _app(registry, path="/internal/metrics")
    assert moved.test_client().get("/internal/metrics").status_code == 200
    registry = CollectorRegistry()
    app, _ = _app(registry, path=None)
    assert app.test_client().get("/metrics").status_code == 404
    assert registry.get_sample_value("http_requests_total", {"method": "GET", "handler": "none", "status": "404"}) == 1


def test_migration_from_prometheus_flask_exporter():
    """An app written for prometheus-flask-exporter keeps its metric names with preset="flask_exporter"."""
    registry = CollectorRegistry()
    app = Flask(__name__)
    # was: metrics = PrometheusMetrics(app)
    metrics = FlaskMetrics(app, preset="flask_exporter", registry=registry)
    metrics.info("app_info", "Application info", version="1.0.3")

    @app.route("/")
    def main():
        return "OK"

    @app.route("/skip")
    @metrics.do_not_track()
    def skip():
        return "skipped"

    @app.route("/<item_type>")
    @metrics.counter("invocation_by_type", "Number of invocations by type",
                     labels={"item_type": lambda: request.view_args["item_type"]})
    def by_type(item_type):
        return item_type

    client = app.test_client()
    client.get("/")
    client.get("/skip")
    client.get("/fruit")
    client.get("/fruit")
    assert samples("flask_http_request_total", registry) == [
        ({"method": "GET", "status": "200"}, 3.0),
    ]
    assert registry.get_sample_value(
        "flask_http_request_duration_seconds_count", {"method": "GET", "path": "/", "status": "200"}) == 1
    assert registry.get_sample_value(
        "flask_http_request_duration_seconds_count", {"method": "GET", "path": "/<item_type>", "status": "200"}) == 2
    assert registry.get_sample_value("invocation_by_type_total", {"item_type": "fruit"}) == 2
    assert registry.get_sample_value("app_info", {"version": "1.0.3"}) == 1


def test_extra_labels_never_consume_the_body():
    """A label function reading the request body gets _OTHER and the view still receives the whole body."""
    registry = CollectorRegistry()
    app = Flask(__name__)
    FlaskMetrics(app, registry=registry, metrics=["requests"], extra_labels={"kind": lambda r: r.get_json()["kind"]})

    @app.post("/echo")
    def echo():
        return request.get_json()

    response = app.test_client().post("/echo", json={"kind": "a"})
    assert response.get_json() == {"kind": "a"}
    assert registry.get_sample_value(
        "http_requests_total", {"method": "POST", "handler": "/echo", "status": "200", "kind": "_OTHER"}) == 1


def test_bad_options_fail_at_construction():
    """An unknown option or preset fails when FlaskMetrics is created, even before init_app."""
    with pytest.raises(TypeError, match="bucket"):
        FlaskMetrics(registry=CollectorRegistry(), bucket=[1])
    with pytest.raises(ValueError, match="Unknown preset"):
        FlaskMetrics(registry=CollectorRegistry(), preset="flask")


def test_init_app_twice():
    """init_app on an app it already instruments does nothing; a second FlaskMetrics on the same app is refused."""
    registry = CollectorRegistry()
    app, metrics = _app(registry)
    metrics.init_app(app)
    app.test_client().get("/users/1")
    assert registry.get_sample_value(
        "http_requests_total", {"method": "GET", "handler": "/users/<int:user_id>", "status": "200"}) == 1
    with pytest.raises(ValueError, match="already instrumented"):
        FlaskMetrics(app, registry=CollectorRegistry())


def test_label_function_arities():
    """Label functions may take no argument, the response, (request, response) or *args."""
    registry = CollectorRegistry()
    app = Flask(__name__)
    metrics = FlaskMetrics(app, registry=registry)

    @app.get("/a/<x>")
    @metrics.counter("arity_total", "Arity.", labels={
        "zero": lambda: request.view_args["x"],
        "one": lambda response: response.status_code,
        "two": lambda req, resp: req.path,
        "star": lambda *args: len(args),
        "const": 7,
    })
    def a(x):
        return x

    app.test_client().get("/a/q")
    assert samples("arity_total", registry) == [
        ({"const": "7", "one": "200", "star": "2", "two": "/a/q", "zero": "q"}, 1.0),
    ]


def test_method_not_allowed_is_labelled_with_the_matched_route():
    """A 405 hit a real route, so it carries that route's template (as in the ASGI and Twisted adapters), not `none`."""
    from flask import Flask
    from pyrometer import CollectorRegistry
    from pyrometer_flask import FlaskMetrics

    reg = CollectorRegistry()
    app = Flask(__name__)
    FlaskMetrics(app, registry=reg)

    @app.get("/orders/<int:order_id>")
    def order(order_id):
        return "ok"

    client = app.test_client()
    assert client.post("/orders/7").status_code == 405
    assert client.post("/nowhere").status_code == 404
    assert reg.get_sample_value(
        "http_requests_total", {"method": "POST", "handler": "/orders/<int:order_id>", "status": "405"}) == 1.0
    assert reg.get_sample_value("http_requests_total", {"method": "POST", "handler": "none", "status": "404"}) == 1.0

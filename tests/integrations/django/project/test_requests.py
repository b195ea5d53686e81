"""Request metrics through Django's test clients: route labels, unmatched URLs, exceptions, async, streaming."""

import asyncio

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, Client
from helpers import lines
from pyrometer import generate_latest
from pyrometer_django._config import get_config
from pyrometer_django.apps import check_middleware
from testproject import views


def test_mixed_traffic_exact_series(registry):
    """Matched routes (includes, re_path), unmatched scans, a raising view and an excluded path give exact series."""
    client = Client(raise_request_exception=False)
    assert [client.get(f"/polls/{i}/").status_code for i in (1, 2, 3)] == [200, 200, 200]
    assert {client.get(f"/scan/{i}/wp-admin.php?x={i}").status_code for i in range(5)} == {404}
    assert client.get("/boom/").status_code == 500
    assert client.get("/health/").status_code == 200
    assert client.get("/api/v1/things/blue/").status_code == 200
    assert client.get("/articles/2024/").status_code == 200
    assert client.post("/polls/0/").status_code == 404
    assert lines(registry, "http_requests_total") == [
        'http_requests_total{handler="/polls/<int:question_id>/",method="GET",status="200"} 3.0',
        'http_requests_total{handler="none",method="GET",status="404"} 5.0',
        'http_requests_total{handler="/boom/",method="GET",status="500"} 1.0',
        'http_requests_total{handler="/api/v1/things/<slug:name>/",method="GET",status="200"} 1.0',
        'http_requests_total{handler="/articles/(?P<year>[0-9]{4})/",method="GET",status="200"} 1.0',
        'http_requests_total{handler="/polls/<int:question_id>/",method="POST",status="404"} 1.0',
    ]
    assert lines(registry, "http_exceptions_total") == [
        'http_exceptions_total{exception="RuntimeError",handler="/boom/",method="GET"} 1.0',
    ]
    assert lines(registry, "http_requests_in_progress") == [
        'http_requests_in_progress{handler="/polls/<int:question_id>/",method="GET"} 0.0',
        'http_requests_in_progress{handler="none",method="GET"} 0.0',
        'http_requests_in_progress{handler="/boom/",method="GET"} 0.0',
        'http_requests_in_progress{handler="/api/v1/things/<slug:name>/",method="GET"} 0.0',
        'http_requests_in_progress{handler="/articles/(?P<year>[0-9]{4})/",method="GET"} 0.0',
        'http_requests_in_progress{handler="/polls/<int:question_id>/",method="POST"} 0.0',
    ]
    assert registry.get_sample_value(
        "http_request_duration_seconds_count", {"method": "GET", "handler": "/polls/<int:question_id>/"}) == 3
    assert registry.get_sample_value(
        "http_request_duration_seconds_bucket", {"method": "GET", "handler": "none", "le": "+Inf"}) == 5
    text = generate_latest(registry).decode()
    assert "/health" not in text and "/scan" not in text


def test_raised_exception_still_counted(registry):
    """With the test client re-raising the view's exception, the request is still a counted 500 with it."""
    with pytest.raises(RuntimeError, match="boom"):
        Client().get("/boom/")
    base = {"method": "GET", "handler": "/boom/"}
    assert registry.get_sample_value("http_requests_total", {**base, "status": "500"}) == 1
    assert registry.get_sample_value("http_exceptions_total", {**base, "exception": "RuntimeError"}) == 1
    assert registry.get_sample_value("http_requests_in_progress", base) == 0


def test_in_progress_while_view_runs(registry):
    """The in-progress gauge carries the route while the view runs and is back to 0 afterwards."""
    views.seen_in_progress.clear()
    Client().get("/gauge/")
    assert views.seen_in_progress == [1.0]
    assert registry.get_sample_value("http_requests_in_progress", {"method": "GET", "handler": "/gauge/"}) == 0


def test_async_view_through_asgi(registry):
    """An async view served by AsyncClient (ASGI handler, async middleware chain) is measured like a sync one."""
    views.seen_in_progress.clear()

    async def run():
        client = AsyncClient()
        return [(await client.get(f"/async/{n}/")).status_code for n in (1, 2)] + [
            (await client.get("/nowhere/")).status_code]

    assert asyncio.run(run()) == [200, 200, 404]
    assert views.seen_in_progress == [1.0, 1.0]
    assert lines(registry, "http_requests_total") == [
        'http_requests_total{handler="/async/<int:n>/",method="GET",status="200"} 2.0',
        'http_requests_total{handler="none",method="GET",status="404"} 1.0',
    ]


def test_async_view_exception_and_http_answers(registry):
    """Under ASGI an async view's exception is counted with its 500; PermissionDenied is a 403, not an exception."""
    async def run():
        client = AsyncClient(raise_request_exception=False)
        return [(await client.get(path)).status_code for path in ("/async-boom/", "/forbidden/")]

    assert asyncio.run(run()) == [500, 403]
    assert lines(registry, "http_requests_total") == [
        'http_requests_total{handler="/async-boom/",method="GET",status="500"} 1.0',
        'http_requests_total{handler="/forbidden/",method="GET",status="403"} 1.0',
    ]
    assert lines(registry, "http_exceptions_total") == [
        'http_exceptions_total{exception="ValueError",handler="/async-boom/",method="GET"} 1.0',
    ]


def test_async_view_through_sync_client(registry):
    """An async view called through the sync test client (WSGI) gets its route too."""
    assert Client().get("/async/7/").status_code == 200
    assert registry.get_sample_value(
        "http_requests_total", {"method": "GET", "handler": "/async/<int:n>/", "status": "200"}) == 1


def test_middleware_answering_before_resolution_keeps_route(registry):
    """A middleware answering before URL resolution (401) still gets the route label, not none."""
    client = Client()
    assert client.get("/private/x/").status_code == 401
    assert client.get("/private/x/", headers={"X-Token": "t"}).status_code == 200
    assert client.get("/private/").status_code == 401
    assert lines(registry, "http_requests_total") == [
        'http_requests_total{handler="/private/<str:name>/",method="GET",status="401"} 1.0',
        'http_requests_total{handler="/private/<str:name>/",method="GET",status="200"} 1.0',
        'http_requests_total{handler="none",method="GET",status="401"} 1.0',
    ]


def test_streamed_response_timed_to_last_chunk(configure):
    """A streamed body is timed until its last chunk, with time to first byte and its size."""
    registry = configure(metrics=["duration", "in_progress", "ttfb", "response_size"])
    response = Client().get("/stream/")
    base = {"method": "GET", "handler": "/stream/"}
    assert registry.get_sample_value("http_request_duration_seconds_count", base) is None
    assert b"".join(response.streaming_content) == b"chunk" * 3
    assert registry.get_sample_value("http_request_duration_seconds_sum", base) >= 0.15
    assert registry.get_sample_value("http_time_to_first_byte_seconds_sum", base) < 0.1
    assert registry.get_sample_value("http_response_size_bytes_sum", base) == 15
    assert registry.get_sample_value("http_requests_in_progress", base) == 0


def test_async_streamed_response_timed_to_last_chunk(configure):
    """An async streamed body under ASGI is timed until its last chunk."""
    registry = configure(metrics=["duration", "response_size"])

    async def run():
        response = await AsyncClient().get("/astream/")
        return b"".join([chunk async for chunk in response.streaming_content])

    assert asyncio.run(run()) == b"chunk" * 3
    base = {"method": "GET", "handler": "/astream/"}
    assert registry.get_sample_value("http_request_duration_seconds_sum", base) >= 0.15
    assert registry.get_sample_value("http_response_size_bytes_sum", base) == 15


def test_streamed_response_closed_unread(registry):
    """A streamed response closed without being read is recorded when it is closed."""
    response = Client().get("/stream/")
    response.close()
    assert registry.get_sample_value(
        "http_requests_total", {"method": "GET", "handler": "/stream/", "status": "200"}) == 1


def test_do_not_track_and_metrics_path_unmeasured(registry):
    """A do_not_track view and the /metrics view itself leave no series at all."""
    client = Client()
    assert client.get("/untracked/").content == b"not measured"
    assert client.get("/ready/").content == b"ready"
    assert client.get("/metrics").status_code == 401
    assert lines(registry, "http_") == []


def test_handler_label_view(configure):
    """handler_label="view" labels requests with the URL name, namespaces included."""
    registry = configure(handler_label="view")
    Client().get("/polls/3/")
    Client().get("/missing/")
    assert lines(registry, "http_requests_total") == [
        'http_requests_total{handler="polls:detail",method="GET",status="200"} 1.0',
        'http_requests_total{handler="none",method="GET",status="404"} 1.0',
    ]


def test_extra_labels_get_the_django_request(configure):
    """extra_labels functions receive the HttpRequest; a failing one gives _OTHER."""
    registry = configure(metrics=["requests"], extra_labels={"tenant": lambda r: r.headers["X-Tenant"]})
    Client().get("/polls/1/", headers={"X-Tenant": "acme"})
    Client().get("/polls/1/")
    assert lines(registry, "http_requests_total") == [
        'http_requests_total{handler="/polls/<int:question_id>/",method="GET",status="200",tenant="acme"} 1.0',
        'http_requests_total{handler="/polls/<int:question_id>/",method="GET",status="200",tenant="_OTHER"} 1.0',
    ]


def test_bad_settings_are_refused(settings):
    """An unknown PYROMETER key, engine option value or handler_label raises ImproperlyConfigured."""
    for bad, message in (({"bogus": 1}, "Unknown settings.PYROMETER keys"), ({"preset": "nope"}, "Unknown preset"),
                         ({"handler_label": "path"}, "handler_label")):
        settings.PYROMETER = bad
        with pytest.raises(ImproperlyConfigured, match=message):
            get_config()


def test_middleware_check(settings):
    """The system check warns when one middleware is missing or they are in the wrong order."""
    assert check_middleware() == []
    before, *rest, after = settings.MIDDLEWARE
    settings.MIDDLEWARE = [before, *rest]
    assert [m.id for m in check_middleware()] == ["pyrometer_django.W001"]
    settings.MIDDLEWARE = [after, *rest, before]
    assert [m.id for m in check_middleware()] == ["pyrometer_django.W001"]


def test_cancelled_async_request_is_499(registry):
    """An async request cancelled (client gone under ASGI) is counted as 499 without an exception."""
    from django.test import RequestFactory
    from pyrometer_django.middleware import PrometheusBeforeMiddleware

    async def cancelled(request):
        raise asyncio.CancelledError

    middleware = PrometheusBeforeMiddleware(cancelled)
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(middleware(RequestFactory().get("/polls/5/")))
    assert lines(registry, "http_requests_total") == [
        'http_requests_total{handler="/polls/<int:question_id>/",method="GET",status="499"} 1.0',
    ]
    assert lines(registry, "http_exceptions_total") == []


def test_request_and_response_sizes(configure):
    """With the size histograms on, the request body and the response body sizes are observed."""
    registry = configure(metrics=["requests", "request_size", "response_size"])
    Client().post("/api/v1/things/abc/", data=b"x" * 300, content_type="application/octet-stream")
    base = {"method": "POST", "handler": "/api/v1/things/<slug:name>/"}
    assert registry.get_sample_value("http_request_size_bytes_sum", base) == 300
    assert registry.get_sample_value("http_response_size_bytes_sum", base) == 3

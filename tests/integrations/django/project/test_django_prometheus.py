"""The django_prometheus preset: every request series django-prometheus exports, with its names and labels."""

import pytest
from django.test import Client, RequestFactory
from helpers import lines
from pyrometer_django.middleware import PrometheusBeforeMiddleware


def test_every_series(configure):
    """A traffic mix gives django-prometheus's series with exact values; excluded and untracked paths stay out."""
    registry = configure(preset="django_prometheus")
    client = Client(raise_request_exception=False)
    replies = []
    for send in (
        lambda: client.get("/polls/3/"),
        lambda: client.get("/boom/"),
        lambda: client.get("/missing/"),
        lambda: client.get("/hello/", secure=True, headers={"X-Requested-With": "XMLHttpRequest"}),
        lambda: client.get("/stream/"),
        lambda: client.post("/api/v1/things/abc/", data=b"x" * 300, content_type="application/octet-stream"),
    ):
        reply = send()
        replies.append((reply.status_code, len(reply.getvalue())))  # a streamed body is read (and timed) here
    assert [status for status, _ in replies] == [200, 500, 404, 200, 200, 200]
    body = sum(size for _, size in replies)
    assert client.get("/health/").status_code == 200
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic cHJvbTpzM2NyZXQ=").status_code == 200
    assert [line for line in lines(registry, "django_http") if "_bucket" not in line and "_sum " not in line] == [
        'django_http_inflight_requests 0.0',
        'django_http_requests_latency_including_middlewares_seconds_count 6.0',
        'django_http_requests_latency_seconds_by_view_method_count{method="GET",view="polls:detail"} 1.0',
        'django_http_requests_latency_seconds_by_view_method_count{method="GET",view="boom"} 1.0',
        'django_http_requests_latency_seconds_by_view_method_count{method="GET",view="none"} 1.0',
        'django_http_requests_latency_seconds_by_view_method_count{method="GET",view="hello"} 1.0',
        'django_http_requests_latency_seconds_by_view_method_count{method="GET",view="stream"} 1.0',
        'django_http_requests_latency_seconds_by_view_method_count{method="POST",view="thing"} 1.0',
        'django_http_requests_total_by_method_total{method="GET"} 5.0',
        'django_http_requests_total_by_method_total{method="POST"} 1.0',
        'django_http_requests_body_total_bytes_count 6.0',
        'django_http_responses_total_by_status_total{status="200"} 4.0',
        'django_http_responses_total_by_status_total{status="500"} 1.0',
        'django_http_responses_total_by_status_total{status="404"} 1.0',
        'django_http_responses_total_by_status_view_method_total{method="GET",status="200",view="polls:detail"} 1.0',
        'django_http_responses_total_by_status_view_method_total{method="GET",status="500",view="boom"} 1.0',
        'django_http_responses_total_by_status_view_method_total{method="GET",status="404",view="none"} 1.0',
        'django_http_responses_total_by_status_view_method_total{method="GET",status="200",view="hello"} 1.0',
        'django_http_responses_total_by_status_view_method_total{method="GET",status="200",view="stream"} 1.0',
        'django_http_responses_total_by_status_view_method_total{method="POST",status="200",view="thing"} 1.0',
        'django_http_responses_body_total_bytes_count 6.0',
        'django_http_exceptions_total_by_type_total{type="RuntimeError"} 1.0',
        'django_http_exceptions_total_by_view_total{view="boom"} 1.0',
        'django_http_requests_before_middlewares_total 6.0',
        'django_http_responses_before_middlewares_total 6.0',
        'django_http_requests_unknown_latency_including_middlewares_total 0.0',
        'django_http_requests_unknown_latency_total 0.0',
        'django_http_ajax_requests_total 1.0',
        'django_http_requests_total_by_transport_total{transport="http"} 5.0',
        'django_http_requests_total_by_transport_total{transport="https"} 1.0',
        'django_http_requests_total_by_view_transport_method_total{method="GET",transport="http",view="polls:detail"}'
        ' 1.0',
        'django_http_requests_total_by_view_transport_method_total{method="GET",transport="http",view="boom"} 1.0',
        'django_http_requests_total_by_view_transport_method_total{method="GET",transport="https",view="hello"} 1.0',
        'django_http_requests_total_by_view_transport_method_total{method="GET",transport="http",view="stream"} 1.0',
        'django_http_requests_total_by_view_transport_method_total{method="POST",transport="http",view="thing"} 1.0',
        'django_http_responses_total_by_templatename_total{templatename="hello.html"} 1.0',
        'django_http_responses_total_by_charset_total{charset="utf-8"} 6.0',
        'django_http_responses_streaming_total 1.0',
    ]
    get = registry.get_sample_value
    assert get("django_http_requests_body_total_bytes_sum") == 300
    assert get("django_http_requests_body_total_bytes_bucket", {"le": "256.0"}) == 5
    assert get("django_http_requests_body_total_bytes_bucket", {"le": "512.0"}) == 6
    assert get("django_http_responses_body_total_bytes_sum") == body


def test_escaped_exception_and_namespace(configure):
    """An exception escaping the whole stack counts a request but no response; the namespace prefixes every series."""
    registry = configure(preset="django_prometheus", namespace="shop")

    def raising(request):
        raise RuntimeError("escaped")

    with pytest.raises(RuntimeError) as info:
        PrometheusBeforeMiddleware(raising)(RequestFactory().get("/polls/5/", secure=True))
    assert str(info.value) == "escaped"
    series = [line for line in lines(registry, "shop_") if "_bucket" not in line and "seconds_sum" not in line]
    assert series == [
        'shop_django_http_inflight_requests 0.0',
        'shop_django_http_requests_latency_including_middlewares_seconds_count 1.0',
        'shop_django_http_requests_latency_seconds_by_view_method_count{method="GET",view="polls:detail"} 1.0',
        'shop_django_http_requests_total_by_method_total{method="GET"} 1.0',
        'shop_django_http_requests_body_total_bytes_count 1.0',
        'shop_django_http_requests_body_total_bytes_sum 0.0',
        'shop_django_http_responses_total_by_status_total{status="500"} 1.0',
        'shop_django_http_responses_total_by_status_view_method_total{method="GET",status="500",view="polls:detail"}'
        ' 1.0',
        'shop_django_http_responses_body_total_bytes_count 0.0',
        'shop_django_http_responses_body_total_bytes_sum 0.0',
        'shop_django_http_exceptions_total_by_type_total{type="RuntimeError"} 1.0',
        'shop_django_http_exceptions_total_by_view_total{view="polls:detail"} 1.0',
        'shop_django_http_requests_before_middlewares_total 1.0',
        'shop_django_http_responses_before_middlewares_total 0.0',
        'shop_django_http_requests_unknown_latency_including_middlewares_total 0.0',
        'shop_django_http_requests_unknown_latency_total 0.0',
        'shop_django_http_ajax_requests_total 0.0',
        'shop_django_http_requests_total_by_transport_total{transport="https"} 1.0',
        'shop_django_http_requests_total_by_view_transport_method_total{method="GET",transport="https",'
        'view="polls:detail"} 1.0',
        'shop_django_http_responses_streaming_total 0.0',
    ]


def test_preset_change_unregisters_django_only_series(settings, configure):
    """Switching presets takes the Django-only series out of the registry (the engine's series too)."""
    registry = configure(preset="django_prometheus")
    Client().get("/polls/1/")
    assert registry.get_sample_value("django_http_requests_before_middlewares_total") == 1
    settings.PYROMETER = {**settings.PYROMETER, "preset": "default"}
    Client().get("/polls/1/")
    assert [line for line in lines(registry) if "_bucket" not in line and "_count" not in line] == [
        'http_requests_total{handler="/polls/<int:question_id>/",method="GET",status="200"} 1.0',
        'http_requests_in_progress{handler="/polls/<int:question_id>/",method="GET"} 0.0',
    ]

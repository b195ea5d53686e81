"""Per-view control: exclude_from_metrics and per-view custom metrics, on function and class views, sync and async."""

import asyncio

import pytest
from django.test import AsyncClient, Client
from django.views import View
from helpers import lines
from pyrometer import CollectorRegistry
from pyrometer.http import ViewMetric
from pyrometer_django.decorators import counter, do_not_track, exclude_from_metrics, view_metric
from testproject import perview


def own(registry, prefix):
    """Sample lines of the per-view metrics, without the (timing-dependent) sums."""
    return [line for line in lines(registry, prefix) if "_sum" not in line]


@pytest.fixture
def custom():
    """The per-view metrics' registry (each test drives views of its own, so their samples start at zero)."""
    perview.seen.clear()
    return perview.registry


def test_function_view_metrics(registry, custom):
    """A sync function view's counter gets the status of each response (None: raised) and its histogram the time."""
    client = Client()
    assert [client.get(f"/perview/fn/{code}/").status_code for code in (200, 200, 201, 404)] == [200, 200, 201, 404]
    assert own(custom, "fn_view") == [
        'fn_views_total{status="200"} 2.0',
        'fn_views_total{status="201"} 1.0',
        'fn_views_total{status="raised"} 1.0',
        'fn_view_seconds_bucket{le="1.0"} 4.0',
        'fn_view_seconds_bucket{le="+Inf"} 4.0',
        'fn_view_seconds_count 4.0',
    ]
    assert lines(registry, "http_requests_total") == [
        'http_requests_total{handler="/perview/fn/<int:code>/",method="GET",status="200"} 2.0',
        'http_requests_total{handler="/perview/fn/<int:code>/",method="GET",status="201"} 1.0',
        'http_requests_total{handler="/perview/fn/<int:code>/",method="GET",status="404"} 1.0',
    ]


def test_async_function_view_metrics(registry, custom):
    """An async function view stays async; a two-argument label gets the request; its gauge is 1 while it runs."""
    async def run():
        client = AsyncClient()
        return [(await client.get("/perview/afn/")).status_code, (await client.post("/perview/afn/")).status_code]
    assert asyncio.run(run()) == [200, 200]
    assert asyncio.iscoroutinefunction(perview.afn)
    assert perview.seen == [1.0, 1.0]
    assert own(custom, "afn_") == [
        'afn_views_total{method="GET",status="200"} 1.0',
        'afn_views_total{method="POST",status="200"} 1.0',
        'afn_views_in_progress 0.0',
    ]


def test_class_views_sync_and_async(registry, custom):
    """Decorated View classes are measured through dispatch, sync and async handlers, a raising handler included."""
    client = Client(raise_request_exception=False)
    assert client.get("/perview/sync/").status_code == 200
    assert client.post("/perview/sync/").status_code == 500
    assert client.put("/perview/sync/").status_code == 405
    assert asyncio.run(AsyncClient().get("/perview/async/")).content == b"async class"
    assert own(custom, "cbv_") + own(custom, "acbv_") == [
        'cbv_views_total{kind="sync",status="200"} 1.0',
        'cbv_views_total{kind="sync",status="raised"} 1.0',
        'cbv_views_total{kind="sync",status="405"} 1.0',
        'acbv_view_seconds_count 1.0',
        'acbv_views_total{status="200"} 1.0',
    ]
    assert lines(registry, "http_exceptions_total") == [
        'http_exceptions_total{exception="RuntimeError",handler="/perview/sync/",method="POST"} 1.0',
    ]


def test_excluded_views(registry, custom):
    """exclude_from_metrics leaves a view out of the request metrics; its own metrics still count."""
    client = Client()
    assert client.get("/perview/hidden/").content == b"hidden"
    assert client.get("/perview/hidden-counted/").content == b"hidden"
    assert lines(registry, "http_") == []
    assert own(custom, "hidden_") == ["hidden_counted_total 1.0"]
    assert exclude_from_metrics is do_not_track


def test_view_metric_and_bad_targets():
    """view_metric takes a core ViewMetric; anything else, or decorating a non-view, is refused clearly."""
    reg = CollectorRegistry()
    metric = ViewMetric("counter", "things_total", "Things.", registry=reg)

    @view_metric(metric)
    def view(request):
        return "response"

    assert view("request") == "response"
    assert reg.get_sample_value("things_total") == 1
    for target, message in [
        (lambda: view_metric("counter"), "view_metric() takes a pyrometer.http.ViewMetric, not str"),
        (lambda: counter("x_total", "X.", registry=reg)(3),
         "Cannot measure 3: decorate a view function or a View class"),
        (lambda: counter("y_total", "Y.", registry=reg)(type("NotAView", (), {})),
         "NotAView has no dispatch(): decorate a django.views.View subclass"),
    ]:
        with pytest.raises(TypeError) as info:
            target()
        assert str(info.value) == message
    assert issubclass(counter("z_total", "Z.", registry=reg)(type("V", (View,), {})), View)

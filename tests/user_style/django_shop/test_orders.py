"""A Django view with a module-level metric, tested twice in one session with pytest-django's client."""

import importlib
import sys

import pytest
from django.urls import clear_url_caches


@pytest.fixture
def shop_views(metrics_registry, settings):
    """The shop's views and URLs imported afresh, so the module-level metric registers into the test's registry.

    The request metrics follow ``PYROMETER["registry"]``: pytest-django's ``settings`` fixture points it at the
    test's registry too (pyrometer_django rebuilds them when the setting changes, and again when it is restored).
    """
    settings.PYROMETER = {**getattr(settings, "PYROMETER", {}), "registry": metrics_registry}

    def forget():
        for name in ("shop.urls", "shop.views"):
            sys.modules.pop(name, None)
        clear_url_caches()

    forget()
    yield importlib.import_module("shop.views")
    forget()


def test_placing_an_order_is_counted(shop_views, client, metrics_delta):
    """One order: the business counter and the request counter each move by one."""
    assert client.post("/orders/tea/").status_code == 201
    assert metrics_delta.get("shop_orders_placed_total", product="tea") == 1
    assert metrics_delta.get("http_requests_total", method="POST", handler="/orders/<str:product>/",
                             status="201") == 1


def test_placing_orders_again_starts_from_zero(shop_views, client, metrics_delta, metrics_registry):
    """A second test sees only its own orders, with no DuplicateTimeseries from the re-imported view module."""
    for _ in range(2):
        assert client.post("/orders/tea/").status_code == 201
    assert client.post("/orders/cake/").status_code == 201
    assert metrics_delta.get("shop_orders_placed_total", product="tea") == 2
    assert metrics_registry.get_sample_value("shop_orders_placed_total", {"product": "cake"}) == 1
    assert metrics_delta.get("http_requests_total", method="POST", handler="/orders/<str:product>/",
                             status="201") == 3
    body = client.get("/metrics").content.decode()
    assert 'shop_orders_placed_total{product="tea"} 2.0' in body

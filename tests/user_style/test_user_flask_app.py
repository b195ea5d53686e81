"""Testing a Flask app with module-level metrics, twice in one session, through pyrometer's fixtures."""

import importlib
import sys

import pytest


@pytest.fixture
def shop(metrics_registry):
    """The application module, imported afresh into the test's isolated registry."""
    sys.modules.pop("shop_flask_app", None)
    module = importlib.import_module("shop_flask_app")
    yield module
    sys.modules.pop("shop_flask_app", None)


def test_order_counts(shop, metrics_delta):
    """Placing an order counts the order and the HTTP request."""
    client = shop.app.test_client()
    assert client.post("/orders/tea").status_code == 201
    assert metrics_delta.get("shop_orders_placed_total", product="tea") == 1
    assert metrics_delta.get("http_requests_total", method="POST", handler="/orders/<product>", status="201") == 1


def test_order_counts_again(shop, metrics_registry):
    """The same module imported again in a second test starts from zero without DuplicateTimeseries."""
    client = shop.app.test_client()
    client.post("/orders/tea")
    client.post("/orders/tea")
    assert metrics_registry.get_sample_value("shop_orders_placed_total", {"product": "tea"}) == 2
    body = client.get("/metrics").get_data(as_text=True)
    assert 'shop_orders_placed_total{product="tea"} 2.0' in body

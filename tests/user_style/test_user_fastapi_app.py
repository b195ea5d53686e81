"""Testing a FastAPI app asynchronously through httpx's ASGITransport, with pyrometer's fixtures."""

import asyncio
import importlib
import sys

import httpx
import pytest


@pytest.fixture
def shop(metrics_registry):
    """The application module, imported afresh into the test's isolated registry."""
    sys.modules.pop("shop_fastapi_app", None)
    module = importlib.import_module("shop_fastapi_app")
    yield module
    sys.modules.pop("shop_fastapi_app", None)


async def _get(app, *paths):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        return [await client.get(p) for p in paths]


def test_user_lookup_counted(shop, metrics_delta):
    """Requests made through ASGITransport are counted under the route template."""
    responses = asyncio.run(_get(shop.app, "/users/1", "/users/2", "/users/3"))
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert metrics_delta.get("http_requests_total", method="GET", handler="/users/{user_id}", status="200") == 3
    assert metrics_delta.get("shop_signups_total") == 3


def test_user_lookup_counted_again(shop, metrics_delta):
    """A second test re-imports the app and its metrics without collisions and starts from zero."""
    (response,) = asyncio.run(_get(shop.app, "/users/7"))
    assert response.status_code == 200
    assert metrics_delta.get("shop_signups_total") == 1

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


@pytest.fixture
def anyio_backend():
    """Run the async tests below on asyncio (anyio's pytest plugin would also try trio, which is not installed)."""
    return "asyncio"


@pytest.mark.anyio
async def test_user_lookup_counted_in_an_async_test(shop, metrics_delta):
    """In an ``async def`` test (anyio's pytest plugin) the fixtures work unchanged: awaited requests are counted."""
    transport = httpx.ASGITransport(app=shop.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        assert (await client.get("/users/1")).status_code == 200
        assert metrics_delta.get("shop_signups_total") == 1
        assert (await client.get("/users/2")).status_code == 200
        metrics = (await client.get("/metrics")).text
    assert metrics_delta.get("http_requests_total", method="GET", handler="/users/{user_id}", status="200") == 2
    assert "shop_signups_total 2.0" in metrics


@pytest.mark.anyio
async def test_user_lookup_counted_again_in_an_async_test(shop, metrics_delta):
    """A second async test re-imports the app into a fresh registry and starts from zero."""
    transport = httpx.ASGITransport(app=shop.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
        assert (await client.get("/users/3")).status_code == 200
    counted = {key: change for key, change in metrics_delta.changes().items() if key[0].endswith("_total")}
    assert counted == {
        ("shop_signups_total", ()): 1.0,
        ("http_requests_total", (("handler", "/users/{user_id}"), ("method", "GET"), ("status", "200"))): 1.0,
    }

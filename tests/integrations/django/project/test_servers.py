"""The project behind real servers: uvicorn (ASGI, async stack) and wsgiref (WSGI, wsgi.file_wrapper)."""

import os
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

import httpx
import pytest
import testproject.views
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from helpers import lines


def test_uvicorn_asgi(configure):
    """Under uvicorn, sync and async views, unmatched URLs and an async streamed body give exact series."""
    uvicorn = pytest.importorskip("uvicorn")
    registry = configure(metrics=["requests", "duration", "response_size"])
    config = uvicorn.Config(get_asgi_application(), host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                            ws="none", http="h11", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            assert [client.get(f"/async/{i}/").status_code for i in range(5)] == [200] * 5
            assert [client.get(f"/polls/{i}/").status_code for i in range(1, 4)] == [200] * 3
            assert client.get("/nope/").status_code == 404
            assert client.get("/astream/").content == b"chunk" * 3
    finally:
        server.should_exit = True
        thread.join(10)
    assert not thread.is_alive()
    assert lines(registry, "http_requests_total") == [
        'http_requests_total{handler="/async/<int:n>/",method="GET",status="200"} 5.0',
        'http_requests_total{handler="/polls/<int:question_id>/",method="GET",status="200"} 3.0',
        'http_requests_total{handler="none",method="GET",status="404"} 1.0',
        'http_requests_total{handler="/astream/",method="GET",status="200"} 1.0',
    ]
    base = {"method": "GET", "handler": "/astream/"}
    assert registry.get_sample_value("http_request_duration_seconds_sum", base) >= 0.15
    assert registry.get_sample_value("http_response_size_bytes_sum", base) == 15


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_wsgiref_file_response(configure):
    """Under a WSGI server using wsgi.file_wrapper, a FileResponse is recorded with its size when sent."""
    registry = configure(metrics=["requests", "response_size"])
    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}", timeout=5) as client:
            body = client.get("/download/").content
            assert client.get("/stream/").content == b"chunk" * 3
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert len(body) == os.path.getsize(testproject.views.__file__)
    assert lines(registry, "http_requests_total") == [
        'http_requests_total{handler="/download/",method="GET",status="200"} 1.0',
        'http_requests_total{handler="/stream/",method="GET",status="200"} 1.0',
    ]
    assert registry.get_sample_value(
        "http_response_size_bytes_sum", {"method": "GET", "handler": "/download/"}) == len(body)

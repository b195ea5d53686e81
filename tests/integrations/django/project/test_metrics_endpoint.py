"""/metrics served by pyrometer_django.urls: protection, negotiation, gzip, multiprocess-aware scrapes."""

import base64
import gzip

from django.test import Client
from django.urls import reverse
from pyrometer import generate_latest

GOOD = {"Authorization": "Basic " + base64.b64encode(b"prom:s3cret").decode()}
WRONG = {"Authorization": "Basic " + base64.b64encode(b"prom:nope").decode()}


def test_protected_by_settings(registry):
    """PYROMETER["protection"] guards /metrics: 401 with a Basic challenge, 200 with the right credentials."""
    client = Client()
    denied = client.get("/metrics")
    assert denied.status_code == 401
    assert denied.headers["WWW-Authenticate"] == 'Basic realm="metrics"'
    assert client.get("/metrics", headers=WRONG).status_code == 401
    client.get("/polls/1/")
    ok = client.get("/metrics", headers=GOOD)
    assert ok.status_code == 200
    assert ok.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert ok.content == generate_latest(registry)
    assert b'http_requests_total{handler="/polls/<int:question_id>/",method="GET",status="200"} 1.0\n' in ok.content


def test_openmetrics_gzip_and_head(registry):
    """/metrics negotiates OpenMetrics, gzips on request and answers HEAD without a body."""
    client = Client()
    om = client.get("/metrics", headers={**GOOD, "Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert om.content.endswith(b"# EOF\n")
    zipped = client.get("/metrics", headers={**GOOD, "Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.content) == generate_latest(registry)
    assert client.head("/metrics", headers=GOOD).content == b""


def test_open_without_protection_and_compression_off(settings, registry):
    """Without protection /metrics is open; disable_compression never gzips; the URL name is django-prometheus's."""
    settings.PYROMETER = {"registry": registry, "disable_compression": True}
    assert reverse("prometheus-django-metrics") == "/metrics"
    response = Client().get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert "Content-Encoding" not in response.headers


def test_multiprocess_scrape_reads_the_worker_files(registry, monkeypatch, tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR set, /metrics merges the workers' files (here none) instead of the registry."""
    Client().get("/polls/1/")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    response = Client().get("/metrics", headers=GOOD)
    assert response.status_code == 200
    assert response.content == b""

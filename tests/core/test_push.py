"""Pushgateway client: URL building and payloads, then round-trips through a real Pushgateway."""

from __future__ import annotations

import base64
import gzip
import ipaddress
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import pytest
from pki_helpers import make_pki
from pyrometer import _push
from pyrometer._push import (
    PushConnectionError,
    PushHTTPError,
    basic_auth_handler,
    delete_from_gateway,
    instance_ip_grouping_key,
    passthrough_redirect_handler,
    push_to_gateway,
    pushadd_to_gateway,
    tls_auth_handler,
)
from pyrometer._text_format import generate_latest
from pyrometer.metrics import Counter, Gauge, Histogram
from pyrometer.registry import CollectorRegistry

GATEWAY_BIN = shutil.which("prometheus-pushgateway") or shutil.which("pushgateway")
needs_gateway = pytest.mark.skipif(
    GATEWAY_BIN is None,
    reason="Pushgateway binary not found (install the Debian package prometheus-pushgateway)",
)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Series = Tuple[str, Dict[str, str], float]


# --- helpers ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Gateway:
    """A Pushgateway process on a free loopback port, in memory only."""

    def __init__(self, workdir: Path, *extra: str, scheme: str = "http") -> None:
        for _attempt in range(3):
            self.port = _free_port()
            self.log = workdir / f"pushgateway-{self.port}.log"
            with self.log.open("wb") as log:
                self.proc = subprocess.Popen(
                    [GATEWAY_BIN, f"--web.listen-address=127.0.0.1:{self.port}", "--persistence.file=", *extra],
                    stdout=log, stderr=subprocess.STDOUT,
                )
            if self._wait_listening(10.0):
                self.url = f"{scheme}://127.0.0.1:{self.port}"
                return
            self.stop()
        raise RuntimeError(f"Pushgateway did not start:\n{self.log.read_text()}")

    def _wait_listening(self, limit: float) -> bool:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return True
            except OSError:
                time.sleep(0.02)
        return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Gateway]:
    gw = _Gateway(tmp_path_factory.mktemp("pushgateway"))
    yield gw
    gw.stop()


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _scrape(
    url: str, headers: Optional[Dict[str, str]] = None, context: Optional[ssl.SSLContext] = None
) -> List[Series]:
    """GET the gateway's /metrics and parse its sample lines."""
    with urlopen(Request(url + "/metrics", headers=headers or {}), timeout=5, context=context) as resp:
        text = resp.read().decode()
    series = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m:
            series.append((m.group(1), dict(_LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return series


def _values(series: List[Series], job: str) -> Dict[str, float]:
    """Samples of one job (push_time_seconds and friends excluded), keyed by name."""
    return {n: v for n, lb, v in series if lb.get("job") == job and not n.startswith("push_")}


def _registry(**gauges: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    for name, value in gauges.items():
        Gauge(name, f"test gauge {name}", registry=registry).set(value)
    return registry


class _Recorder:
    """A handler that records its keyword arguments instead of sending anything."""

    def __init__(self) -> None:
        self.calls: List[Dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> Callable[[], None]:
        self.calls.append(kwargs)
        return lambda: None


# --- request building (no network) -------------------------------------------


def test_push_request_shape() -> None:
    """push, pushadd and delete use PUT, POST and DELETE on the group URL with the text content type."""
    rec, registry = _Recorder(), _registry(pyr_a=1)
    push_to_gateway("gw:9091", "j", registry, handler=rec, timeout=7)
    pushadd_to_gateway("gw:9091", "j", registry, handler=rec)
    delete_from_gateway("gw:9091", "j", handler=rec)
    assert [c["method"] for c in rec.calls] == ["PUT", "POST", "DELETE"]
    assert {c["url"] for c in rec.calls} == {"http://gw:9091/metrics/job/j"}
    assert rec.calls[0]["timeout"] == 7
    assert all(c["headers"] == [("Content-Type", CONTENT_TYPE)] for c in rec.calls)
    assert rec.calls[0]["data"] == rec.calls[1]["data"] == generate_latest(registry)
    assert rec.calls[2]["data"] == b""


@pytest.mark.parametrize(
    ("gateway_arg", "job", "key", "url"),
    [
        ("localhost:9091", "j", None, "http://localhost:9091/metrics/job/j"),
        ("https://gw.example/base/", "j", None, "https://gw.example/base/metrics/job/j"),
        ("http://gw", "a/b", {"k": "v"}, "http://gw/metrics/job@base64/YS9i/k/v"),
        ("http://gw", "j", {"b": "", "a": "x/y"}, "http://gw/metrics/job/j/a@base64/eC95/b@base64/="),
        ("http://gw", "j", {"k": "a b"}, "http://gw/metrics/job/j/k@base64/YSBi"),
        ("http://gw", "j", {"k": "ü%?#+", "n": 5}, "http://gw/metrics/job/j/k/%C3%BC%25%3F%23%2B/n/5"),
    ],
)
def test_group_url(gateway_arg: str, job: str, key: Optional[Dict[str, Any]], url: str) -> None:
    """The group URL gets a default scheme, sorted keys, base64 for '/', ' ' and empty values, quoting otherwise."""
    rec = _Recorder()
    push_to_gateway(gateway_arg, job, _registry(), grouping_key=key, handler=rec)
    assert rec.calls[0]["url"] == url


def test_matches_prometheus_client_requests() -> None:
    """For the same registry and arguments the handler receives exactly what prometheus_client 0.26 sends."""
    ref = pytest.importorskip("prometheus_client.exposition")
    registry = _registry(pyr_m=2.5)
    Counter("pyr_c", "c", ["l"], registry=registry).labels("v").inc()
    Histogram("pyr_h", "h", registry=registry, buckets=[1]).observe(0.5)
    key = {"instance": "a/b c", "empty": "", "n": 3, "odd": "x?y"}
    for name in ("push_to_gateway", "pushadd_to_gateway"):
        ours, theirs = _Recorder(), _Recorder()
        getattr(_push, name)("gw:1/", "j/x", registry, key, handler=ours)
        getattr(ref, name)("gw:1/", "j/x", registry, key, handler=theirs)
        assert ours.calls == theirs.calls


def test_gzip_payload() -> None:
    """compression='gzip' sends the gzipped text format with Content-Encoding: gzip."""
    rec, registry = _Recorder(), _registry(pyr_z=1)
    push_to_gateway("gw", "j", registry, handler=rec, compression="gzip")
    assert ("Content-Encoding", "gzip") in rec.calls[0]["headers"]
    assert gzip.decompress(rec.calls[0]["data"]) == generate_latest(registry)


def test_snappy_without_module(monkeypatch: pytest.MonkeyPatch) -> None:
    """compression='snappy' without the snappy module fails before sending, naming the package to install."""
    monkeypatch.setitem(sys.modules, "snappy", None)
    rec = _Recorder()
    with pytest.raises(RuntimeError, match="pip install python-snappy"):
        push_to_gateway("gw", "j", _registry(), handler=rec, compression="snappy")
    assert rec.calls == []


def test_unknown_compression() -> None:
    """An unknown compression name is a ValueError."""
    with pytest.raises(ValueError, match="brotli"):
        push_to_gateway("gw", "j", _registry(), handler=_Recorder(), compression="brotli")


def test_basic_auth_header(monkeypatch: pytest.MonkeyPatch) -> None:
    """basic_auth_handler adds one Basic Authorization header and leaves the caller's header list alone."""
    seen: List[Dict[str, str]] = []

    def capture(url: str, method: str, timeout: Optional[float], headers: Any, data: bytes) -> Callable[[], None]:
        seen.append(dict(headers))
        return lambda: None

    headers = [("Content-Type", CONTENT_TYPE)]
    monkeypatch.setattr(_push, "default_handler", capture)
    basic_auth_handler("http://gw", "PUT", 1, headers, b"", "al", "pw")()
    basic_auth_handler("http://gw", "PUT", 1, headers, b"", "al", None)()
    assert seen[0]["Authorization"] == "Basic " + base64.b64encode(b"al:pw").decode()
    assert "Authorization" not in seen[1]
    assert headers == [("Content-Type", CONTENT_TYPE)]


def test_instance_ip_grouping_key() -> None:
    """instance_ip_grouping_key returns {'instance': <an IP address>}."""
    key = instance_ip_grouping_key()
    assert list(key) == ["instance"]
    ipaddress.ip_address(key["instance"])


def test_unreachable_gateway() -> None:
    """A closed port raises a URLError (an OSError) whose message names the URL."""
    port = _free_port()
    with pytest.raises(URLError) as info:
        push_to_gateway(f"127.0.0.1:{port}", "j", _registry(), timeout=2)
    assert isinstance(info.value, PushConnectionError) and isinstance(info.value, OSError)
    assert f"http://127.0.0.1:{port}/metrics/job/j" in str(info.value)


# --- against a real Pushgateway ------------------------------------------------


@needs_gateway
def test_push_round_trip(gateway: _Gateway) -> None:
    """Pushed series appear on the gateway's /metrics with the job and instance labels."""
    registry = _registry(pyr_rt_gauge=4.5)
    Counter("pyr_rt", "c", ["kind"], registry=registry).labels("x").inc(3)
    push_to_gateway(gateway.url, "rt", registry, grouping_key={"instance": "host-1"})
    found = {(n, tuple(sorted(lb.items()))): v for n, lb, v in _scrape(gateway.url)}
    assert found[("pyr_rt_gauge", (("instance", "host-1"), ("job", "rt")))] == 4.5
    assert found[("pyr_rt_total", (("instance", "host-1"), ("job", "rt"), ("kind", "x")))] == 3


@needs_gateway
def test_pushadd_keeps_push_replaces(gateway: _Gateway) -> None:
    """pushadd keeps the group's other metrics; push replaces the whole group."""
    push_to_gateway(gateway.url, "grp", _registry(pyr_one=1, pyr_two=2))
    pushadd_to_gateway(gateway.url, "grp", _registry(pyr_two=22, pyr_three=3))
    assert _values(_scrape(gateway.url), "grp") == {"pyr_one": 1, "pyr_two": 22, "pyr_three": 3}
    push_to_gateway(gateway.url, "grp", _registry(pyr_three=33))
    assert _values(_scrape(gateway.url), "grp") == {"pyr_three": 33}


@needs_gateway
def test_delete_removes_group(gateway: _Gateway) -> None:
    """delete removes exactly the addressed group."""
    push_to_gateway(gateway.url, "del", _registry(pyr_d=1), grouping_key={"instance": "a"})
    push_to_gateway(gateway.url, "del", _registry(pyr_d=2), grouping_key={"instance": "b"})
    delete_from_gateway(gateway.url, "del", grouping_key={"instance": "a"})
    left = [(lb["instance"], v) for n, lb, v in _scrape(gateway.url) if n == "pyr_d"]
    assert left == [("b", 2)]


@needs_gateway
def test_awkward_grouping_values_round_trip(gateway: _Gateway) -> None:
    """Job and grouping values with '/', spaces, empty strings and non-ASCII arrive decoded."""
    key = {"path": "/var/x/", "empty": "", "spaced": "a b", "odd": "ü%+?"}
    push_to_gateway(gateway.url, "a/job", _registry(pyr_odd=7), grouping_key=key)
    labels = [lb for n, lb, _ in _scrape(gateway.url) if n == "pyr_odd"]
    assert labels == [{"job": "a/job", "instance": "", **key}]


@needs_gateway
def test_gzip_accepted(gateway: _Gateway) -> None:
    """The gateway accepts a gzip-compressed push."""
    push_to_gateway(gateway.url, "gz", _registry(pyr_gz=9), compression="gzip")
    assert _values(_scrape(gateway.url), "gz") == {"pyr_gz": 9}


@needs_gateway
def test_http_error_names_url_and_status(gateway: _Gateway) -> None:
    """A non-2xx answer raises an HTTPError whose message has the URL, status code and reason."""
    url = gateway.url + "/nowhere"
    with pytest.raises(HTTPError) as info:
        push_to_gateway(url, "j", _registry(pyr_e=1))
    err = info.value
    assert isinstance(err, PushHTTPError) and err.code == 404
    assert f"{url}/metrics/job/j" in str(err) and "404 Not Found" in str(err)
    err.close()


class _Redirector(BaseHTTPRequestHandler):
    target = ""

    def _redirect(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(301)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PUT = do_POST = do_DELETE = _redirect

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def redirector(gateway: _Gateway) -> Iterator[str]:
    handler = type("Redirector", (_Redirector,), {"target": gateway.url})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@needs_gateway
def test_passthrough_redirect(gateway: _Gateway, redirector: str) -> None:
    """passthrough_redirect_handler replays a PUT at the redirect target; the default handler refuses."""
    with pytest.raises(HTTPError) as info:
        push_to_gateway(redirector, "redir", _registry(pyr_r=1))
    assert info.value.code == 301
    info.value.close()
    push_to_gateway(redirector, "redir", _registry(pyr_r=2), handler=passthrough_redirect_handler)
    assert _values(_scrape(gateway.url), "redir") == {"pyr_r": 2}


# --- authentication ------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Gateway]:
    bcrypt = pytest.importorskip("bcrypt", reason="bcrypt (test-only) hashes the gateway's password")
    workdir = tmp_path_factory.mktemp("auth-gateway")
    hashed = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
    config = workdir / "web.yml"
    config.write_text(f"basic_auth_users:\n  alice: '{hashed}'\n")
    gw = _Gateway(workdir, f"--web.config.file={config}")
    yield gw
    gw.stop()


@needs_gateway
def test_basic_auth(auth_gateway: _Gateway) -> None:
    """basic_auth_handler gets through with the right password; a wrong one raises HTTP 401."""
    right = partial(basic_auth_handler, username="alice", password="s3cret")
    wrong = partial(basic_auth_handler, username="alice", password="wrong")
    push_to_gateway(auth_gateway.url, "auth", _registry(pyr_auth=1), handler=right)
    token = base64.b64encode(b"alice:s3cret").decode()
    assert _values(_scrape(auth_gateway.url, {"Authorization": f"Basic {token}"}), "auth") == {"pyr_auth": 1}
    with pytest.raises(HTTPError) as info:
        push_to_gateway(auth_gateway.url, "auth", _registry(pyr_auth=2), handler=wrong)
    assert info.value.code == 401 and auth_gateway.url in str(info.value)
    info.value.close()


@pytest.fixture(scope="module")
def tls_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[_Gateway, Path]]:
    pytest.importorskip("cryptography")
    d = tmp_path_factory.mktemp("tls-gateway")
    make_pki(d)
    config = d / "web.yml"
    config.write_text(
        "tls_server_config:\n"
        f"  cert_file: {d / 'server.crt'}\n  key_file: {d / 'server.key'}\n"
        f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {d / 'test-ca.crt'}\n"
    )
    gw = _Gateway(d, f"--web.config.file={config}", scheme="https")
    yield gw, d
    gw.stop()


@needs_gateway
def test_tls_client_certificate(tls_gateway: Tuple[_Gateway, Path]) -> None:
    """tls_auth_handler verifies the server against cafile and presents the client certificate."""
    gw, d = tls_gateway

    handler = partial(tls_auth_handler, certfile=str(d / "client.crt"), keyfile=str(d / "client.key"),
                      cafile=str(d / "test-ca.crt"))
    push_to_gateway(gw.url, "tls", _registry(pyr_tls=5), handler=handler)
    context = ssl.create_default_context(cafile=str(d / "test-ca.crt"))
    context.load_cert_chain(str(d / "client.crt"), str(d / "client.key"))
    assert _values(_scrape(gw.url, context=context), "tls") == {"pyr_tls": 5}
    with pytest.raises(URLError):
        push_to_gateway(gw.url, "tls", _registry(pyr_tls=6), timeout=5)  # no client certificate, unknown CA


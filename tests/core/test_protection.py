"""Tests for pyrometer.protection: the Protection object, serve()'s refusals, and every exporter over sockets."""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
import logging
import sys
from http.server import ThreadingHTTPServer
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from wsgiref.simple_server import make_server

import pytest
from pyrometer import exposition
from pyrometer._negotiation import serve
from pyrometer._text_format import generate_latest
from pyrometer._wsgi_server import ThreadingWSGIServer, _SilentHandler
from pyrometer.metrics import Counter
from pyrometer.protection import Protection
from pyrometer.registry import CollectorRegistry
from server_helpers import (
    Broken,
    Response,
    Stop,
    require_ipv6_loopback,
    serve_aiohttp,
    serve_django,
    serve_in_thread,
    serve_twisted,
    serve_uvicorn,
    stopper,
)
from server_helpers import fetch as http_fetch

Fetch = Callable[[str, Dict[str, str]], Response]

REGISTRY = CollectorRegistry()
Counter("scrapes", "Scrapes served.", registry=REGISTRY).inc(7)
BODY = generate_latest(REGISTRY)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


# -- Protection: credentials ---------------------------------------------------

def test_basic_plaintext() -> None:
    """Basic auth accepts exactly the configured user and password, and nothing malformed."""
    p = Protection(basic_auth={"alice": "s3cret", "bob": "pässwörd"})
    assert p.credentials_valid(basic("alice", "s3cret"))
    assert p.credentials_valid(basic("bob", "pässwörd"))
    assert p.credentials_valid("basic " + basic("alice", "s3cret")[6:])  # the scheme is case-insensitive
    for bad in [None, "", basic("alice", "wrong"), basic("alice", "s3cretX"), basic("mallory", "s3cret"),
                basic("bob", "s3cret"), "Basic !!notbase64!!", "Basic " + base64.b64encode(b"alice").decode(),
                "Bearer s3cret", "Basic"]:
        assert not p.credentials_valid(bad), bad


def test_bearer_tokens() -> None:
    """Bearer auth accepts any configured token and nothing else."""
    p = Protection(bearer_tokens=["tok-1", "tok-2"])
    assert p.credentials_valid("Bearer tok-1") and p.credentials_valid("bearer tok-2")
    for bad in [None, "Bearer", "Bearer tok-3", "Bearer tok-1x", basic("tok-1", "tok-1"), "Token tok-1",
                "Bearer tok-\udcff"]:
        assert not p.credentials_valid(bad), bad


def test_basic_or_bearer() -> None:
    """With both kinds configured, valid basic or valid bearer credentials are enough."""
    p = Protection(basic_auth={"alice": "s3cret"}, bearer_tokens="tok")
    assert p.credentials_valid(basic("alice", "s3cret")) and p.credentials_valid("Bearer tok")
    assert not p.credentials_valid("Bearer s3cret")
    assert p.challenge == 'Basic realm="metrics"'


def test_challenge() -> None:
    """The 401 challenge is Basic when users are configured, Bearer for tokens only, none for addresses only."""
    assert Protection(basic_auth={"a": "b"}).challenge == 'Basic realm="metrics"'
    assert Protection(bearer_tokens=["t"]).challenge == 'Bearer realm="metrics"'
    assert Protection(allow_from=["127.0.0.1"]).challenge is None


def test_comparisons_are_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Users, passwords and tokens are compared with hmac.compare_digest, against every entry."""
    calls: List[Tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    p = Protection(basic_auth={"alice": "s3cret", "bob": "hunter2"}, bearer_tokens=["tok-1", "tok-2"])
    assert p.credentials_valid(basic("alice", "s3cret"))
    assert (b"alice", b"alice") in calls and (b"bob", b"alice") in calls and (b"s3cret", b"s3cret") in calls
    calls.clear()
    assert not p.credentials_valid(basic("mallory", "x"))
    assert {a for a, _ in calls} == {b"alice", b"bob", b"s3cret", b"hunter2"}
    calls.clear()
    assert p.credentials_valid("Bearer tok-1")
    assert calls == [(b"tok-1", b"tok-1"), (b"tok-2", b"tok-1")]


# -- Protection: bcrypt ----------------------------------------------------------

def test_bcrypt_hash() -> None:
    """A bcrypt hash is verified with the bcrypt package; over-long passwords are refused, not raised."""
    bcrypt = pytest.importorskip("bcrypt")
    hashed = bcrypt.hashpw(b"hunter2", bcrypt.gensalt(rounds=4)).decode()
    p = Protection(basic_auth={"bob": hashed, "alice": "s3cret"})
    assert p.credentials_valid(basic("bob", "hunter2")) and p.credentials_valid(basic("alice", "s3cret"))
    assert not p.credentials_valid(basic("bob", "hunter3"))
    assert not p.credentials_valid(basic("bob", hashed))  # the hash itself is not a password
    assert not p.credentials_valid(basic("alice", "hunter2"))
    assert not p.credentials_valid(basic("bob", "x" * 100))


def test_bcrypt_timing_and_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown users cost a bcrypt check too; a verified login is remembered, a failed one never is."""
    bcrypt = pytest.importorskip("bcrypt")
    hashed = bcrypt.hashpw(b"hunter2", bcrypt.gensalt(rounds=4)).decode()
    p = Protection(basic_auth={"bob": hashed})
    checks: List[bytes] = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw", lambda pw, h: checks.append(pw) or real(pw, h))
    assert not p.credentials_valid(basic("mallory", "hunter2"))  # right password, unknown user
    assert not p.credentials_valid(basic("bob", "wrong")) and not p.credentials_valid(basic("bob", "wrong"))
    assert checks == [b"hunter2", b"wrong", b"wrong"]
    assert p.credentials_valid(basic("bob", "hunter2")) and p.credentials_valid(basic("bob", "hunter2"))
    assert len(checks) == 4


def test_bcrypt_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bcrypt hash without the bcrypt package fails at construction, naming pip install bcrypt."""
    monkeypatch.setitem(sys.modules, "bcrypt", None)
    fake = "$2b$04$" + "a" * 53
    with pytest.raises(ImportError, match="pip install bcrypt"):
        Protection(basic_auth={"bob": fake})
    assert Protection(basic_auth={"bob": "plain"}).credentials_valid(basic("bob", "plain"))


# -- Protection: addresses -------------------------------------------------------

def test_allow_list_v4_v6() -> None:
    """IPv4 and IPv6 addresses and CIDR networks are matched; mapped IPv6 counts as IPv4."""
    p = Protection(allow_from=["10.0.0.0/8", "2001:db8::/32", "127.0.0.1", ipaddress.ip_network("fe80::/10"),
                               "::ffff:192.168.0.0/112"])
    for ok in ["10.1.2.3", "127.0.0.1", "2001:db8::5", "[2001:db8::1]", "::ffff:10.1.2.3", "fe80::1%eth0",
               "192.168.7.7", "::ffff:192.168.7.7"]:
        assert p.address_allowed(ok), ok
    for refused in ["11.0.0.1", "127.0.0.2", "2001:db9::", "::1", "::ffff:11.0.0.1", "192.169.0.1", None, "",
                    "/run/metrics.sock", "localhost"]:
        assert not p.address_allowed(refused), refused
    assert Protection(allow_from="::1").address_allowed("::1")
    assert not Protection(allow_from=["::/0"]).address_allowed("::ffff:1.2.3.4")  # an IPv4 client


def test_address_checked_first() -> None:
    """A refused address gets 403 even with valid credentials; an allowed one still needs them."""
    p = Protection(allow_from=["10.0.0.0/8"], basic_auth={"alice": "s3cret"})
    assert p.check(basic("alice", "s3cret"), "192.0.2.1") == 403
    assert p.check(None, "10.0.0.1") == 401
    assert p.check(basic("alice", "s3cret"), "10.0.0.1") == 200
    assert Protection(allow_from=["10.0.0.0/8"]).check(None, "10.0.0.1") == 200


# -- Protection: configuration --------------------------------------------------

@pytest.mark.parametrize(("kwargs", "error"), [
    ({}, ValueError),
    ({"allow_from": ["10.0.0.0/33"]}, ValueError),
    ({"allow_from": ["10.0.0.1/8"]}, ValueError),  # host bits set: probably not what was meant
    ({"allow_from": ["not-an-ip"]}, ValueError),
    ({"allow_from": []}, ValueError),
    ({"allow_from": [167772160]}, TypeError),
    ({"allow_from": 5}, TypeError),
    ({"basic_auth": {"alice": ""}}, ValueError),
    ({"basic_auth": {"": "pw"}}, ValueError),
    ({"basic_auth": {"a:b": "pw"}}, ValueError),
    ({"basic_auth": {"alice": b"pw"}}, TypeError),
    ({"basic_auth": {1: "pw"}}, TypeError),
    ({"basic_auth": [("alice", "pw")]}, TypeError),
    ({"basic_auth": {}}, ValueError),
    ({"basic_auth": {"bob": "$2b$12$tooshort"}}, ValueError),
    ({"bearer_tokens": []}, ValueError),
    ({"bearer_tokens": [""]}, ValueError),
    ({"bearer_tokens": ["two words"]}, ValueError),
    ({"bearer_tokens": [b"tok"]}, TypeError),
    ({"bearer_tokens": 5}, TypeError),
])
def test_bad_configuration(kwargs: Dict[str, Any], error: type) -> None:
    """Configuration mistakes are refused at construction with ValueError or TypeError."""
    with pytest.raises(error):
        Protection(**kwargs)


def test_immutable_and_repr_hides_secrets() -> None:
    """A Protection cannot be changed after construction and its repr shows no password or token."""
    p = Protection(allow_from=["10.0.0.0/8"], basic_auth={"alice": "s3cret"}, bearer_tokens=["tok-xyz"])
    with pytest.raises(AttributeError):
        p._tokens = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p._users
    assert "s3cret" not in repr(p) and "tok-xyz" not in repr(p) and "10.0.0.0/8" in repr(p)


def test_secrets_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Refusals are logged at debug level without the credentials that were sent."""
    p = Protection(basic_auth={"alice": "s3cret"}, bearer_tokens=["tok-xyz"])
    with caplog.at_level(logging.DEBUG, logger="pyrometer"):
        p.check(basic("alice", "s3cretX"), "127.0.0.1")
        p.check("Bearer tok-xyzX", "127.0.0.1")
    assert "refused" in caplog.text
    assert "s3cret" not in caplog.text and "tok-xyz" not in caplog.text
    assert basic("alice", "s3cretX")[6:] not in caplog.text


# -- serve() ---------------------------------------------------------------------

def test_serve_refuses_before_rendering() -> None:
    """A refused request gets its 401/403 before any method handling or collector runs."""
    registry = CollectorRegistry()
    registry.register(Broken())
    p = Protection(basic_auth={"alice": "s3cret"})
    for method in ["GET", "POST", "OPTIONS"]:
        reply = serve(registry, method, "/metrics", None, None, {}, protection=p, client_addr="127.0.0.1")
        assert reply.status == 401 and ("WWW-Authenticate", 'Basic realm="metrics"') in reply.headers
    reply = serve(registry, "GET", "/favicon.ico", None, None, {}, protection=p)
    assert reply.status == 401
    denied = Protection(allow_from=["10.0.0.0/8"])
    assert serve(registry, "GET", "/metrics", None, None, {}, protection=denied, client_addr="127.0.0.1").status == 403
    assert serve(registry, "GET", "/metrics", None, None, {}, protection=denied).status == 403


def test_serve_head_refusal_has_no_body() -> None:
    """A refused HEAD gets the refusal's headers but no body."""
    p = Protection(bearer_tokens=["tok"])
    reply = serve(REGISTRY, "HEAD", "/metrics", None, None, {}, protection=p)
    assert (reply.status, reply.body) == (401, b"")
    assert ("WWW-Authenticate", 'Bearer realm="metrics"') in reply.headers


def test_serve_accepted_is_unchanged() -> None:
    """An accepted request gets exactly the reply an unprotected endpoint gives."""
    p = Protection(bearer_tokens=["tok"], allow_from=["127.0.0.1"])
    protected = serve(REGISTRY, "GET", "/metrics", None, "gzip", {}, protection=p, authorization="Bearer tok",
                      client_addr="127.0.0.1")
    assert protected == serve(REGISTRY, "GET", "/metrics", None, "gzip", {})


# -- every exporter over real sockets ----------------------------------------------

PROTECTIONS: Dict[str, Optional[Protection]] = {
    "open": None,
    "basic": Protection(basic_auth={"alice": "s3cret"}),
    "bearer": Protection(bearer_tokens=["tok-123"]),
    "denied": Protection(allow_from=["10.0.0.0/8", "2001:db8::/32"]),
    "allowed": Protection(allow_from=["127.0.0.0/8", "::1"]),
}


def _one_server_each(start: Callable[[Optional[Protection]], Tuple[int, Stop]]) -> Tuple[Fetch, Stop]:
    """A server per protection, for exporters that serve one registry on every path."""
    ports, stops = {}, []
    for name, protection in PROTECTIONS.items():
        ports[name], stop = start(protection)
        stops.append(stop)

    def stop_all() -> None:
        for stop in stops:
            stop()

    return lambda name, headers: http_fetch(ports[name], headers=headers), stop_all


def _start_http_server() -> Tuple[Fetch, Stop]:
    def start(protection: Optional[Protection]) -> Tuple[int, Stop]:
        server, thread = exposition.start_http_server(0, addr="127.0.0.1", registry=REGISTRY, protection=protection)
        return server.server_address[1], stopper(server, thread)

    return _one_server_each(start)


def _make_wsgi_app() -> Tuple[Fetch, Stop]:
    def start(protection: Optional[Protection]) -> Tuple[int, Stop]:
        app = exposition.make_wsgi_app(REGISTRY, protection=protection)
        return serve_in_thread(make_server("127.0.0.1", 0, app, ThreadingWSGIServer, _SilentHandler))

    return _one_server_each(start)


def _metrics_handler() -> Tuple[Fetch, Stop]:
    def start(protection: Optional[Protection]) -> Tuple[int, Stop]:
        handler = exposition.MetricsHandler.factory(REGISTRY, protection)
        return serve_in_thread(ThreadingHTTPServer(("127.0.0.1", 0), handler))

    return _one_server_each(start)


def _asgi_transport() -> Tuple[Fetch, Stop]:
    httpx = pytest.importorskip("httpx")
    from pyrometer.asgi import make_asgi_app

    apps = {name: make_asgi_app(REGISTRY, protection=p) for name, p in PROTECTIONS.items()}

    def fetch(name: str, headers: Dict[str, str]) -> Response:
        async def go() -> Response:
            transport = httpx.ASGITransport(app=apps[name], client=("127.0.0.1", 50123))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                resp = await client.get("/metrics", headers={"Accept-Encoding": "identity", **headers})
                return Response(resp.status_code, dict(resp.headers), resp.content)

        return asyncio.run(go())

    return fetch, lambda: None


def _uvicorn() -> Tuple[Fetch, Stop]:
    from pyrometer.asgi import make_asgi_app

    apps = {name: make_asgi_app(REGISTRY, protection=p) for name, p in PROTECTIONS.items()}

    async def router(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        await apps[scope["path"].strip("/")](scope, receive, send)

    port, stop = serve_uvicorn(router, lifespan="off")
    return lambda name, headers: http_fetch(port, f"/{name}", headers=headers), stop


def _aiohttp() -> Tuple[Fetch, Stop]:
    def add_routes(app: Any) -> None:
        from pyrometer.aiohttp import make_aiohttp_handler

        for name, protection in PROTECTIONS.items():
            app.router.add_get(f"/{name}", make_aiohttp_handler(REGISTRY, protection=protection))

    port, stop = serve_aiohttp(add_routes)
    return lambda name, headers: http_fetch(port, f"/{name}", headers=headers), stop


def _twisted() -> Tuple[Fetch, Stop]:
    def children(reactor: Any) -> Dict[bytes, Any]:
        from pyrometer.twisted import MetricsResource

        return {name.encode(): MetricsResource(REGISTRY, reactor=reactor, protection=protection)
                for name, protection in PROTECTIONS.items()}

    port, stop = serve_twisted(children)
    return lambda name, headers: http_fetch(port, f"/{name}", headers=headers), stop


def _django() -> Tuple[Fetch, Stop]:
    def urlpatterns() -> List[Any]:
        from django.urls import path
        from pyrometer.django import PrometheusDjangoView

        return [path(name, PrometheusDjangoView.as_view(registry=REGISTRY, protection=protection))
                for name, protection in PROTECTIONS.items()]

    port, stop = serve_django(urlpatterns)
    return lambda name, headers: http_fetch(port, f"/{name}", headers=headers), stop


@pytest.fixture(scope="module", params=[_start_http_server, _make_wsgi_app, _metrics_handler, _asgi_transport,
                                        _uvicorn, _aiohttp, _twisted, _django],
                ids=["start_http_server", "make_wsgi_app", "MetricsHandler", "asgi-ASGITransport", "asgi-uvicorn",
                     "aiohttp", "twisted", "django"])
def fetch(request: pytest.FixtureRequest) -> Iterator[Fetch]:
    fetch, stop = request.param()
    yield fetch
    stop()


def test_no_protection_serves(fetch: Fetch) -> None:
    """protection=None serves the metrics to anyone, as before."""
    resp = fetch("open", {})
    assert (resp.status, resp.body) == (200, BODY)


def test_basic_missing_is_401_with_challenge(fetch: Fetch) -> None:
    """No credentials get 401 with a Basic challenge and no metrics."""
    resp = fetch("basic", {})
    assert resp.status == 401 and resp.headers["www-authenticate"] == 'Basic realm="metrics"'
    assert b"scrapes" not in resp.body


def test_basic_wrong_password_is_401(fetch: Fetch) -> None:
    """A wrong password gets 401."""
    resp = fetch("basic", {"Authorization": basic("alice", "wrong")})
    assert resp.status == 401 and resp.headers["www-authenticate"] == 'Basic realm="metrics"'


def test_basic_right_password_serves(fetch: Fetch) -> None:
    """The right user and password get 200 with the metrics."""
    resp = fetch("basic", {"Authorization": basic("alice", "s3cret")})
    assert (resp.status, resp.body) == (200, BODY)


def test_bearer_missing_is_401_with_challenge(fetch: Fetch) -> None:
    """A missing bearer token gets 401 with a Bearer challenge."""
    resp = fetch("bearer", {})
    assert resp.status == 401 and resp.headers["www-authenticate"] == 'Bearer realm="metrics"'


def test_bearer_wrong_token_is_401(fetch: Fetch) -> None:
    """A wrong bearer token gets 401."""
    assert fetch("bearer", {"Authorization": "Bearer tok-124"}).status == 401


def test_bearer_right_token_serves(fetch: Fetch) -> None:
    """The right bearer token gets 200 with the metrics."""
    resp = fetch("bearer", {"Authorization": "Bearer tok-123"})
    assert (resp.status, resp.body) == (200, BODY)


def test_refused_address_is_403(fetch: Fetch) -> None:
    """A client outside the allow-list (127.0.0.1 vs 10/8, 2001:db8::/32) gets 403 and no metrics."""
    resp = fetch("denied", {})
    assert resp.status == 403 and b"scrapes" not in resp.body


def test_allowed_address_serves(fetch: Fetch) -> None:
    """A client inside the allow-list gets 200 with the metrics."""
    resp = fetch("allowed", {})
    assert (resp.status, resp.body) == (200, BODY)


def test_ipv6_client_allow_list() -> None:
    """An IPv6 client is judged by its IPv6 address on a server bound to ::1."""
    require_ipv6_loopback()
    for allow, status in [(["::1/128"], 200), (["127.0.0.1", "2001:db8::/32"], 403)]:
        server, thread = exposition.start_http_server(0, addr="::1", registry=REGISTRY,
                                                      protection=Protection(allow_from=allow))
        try:
            assert http_fetch(server.server_address[1], host="::1").status == status
        finally:
            stopper(server, thread)()

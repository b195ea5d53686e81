"""The WSGI metrics app, the standalone threaded metrics server, and ``MetricsHandler``."""

from __future__ import annotations

import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler
from socketserver import ThreadingMixIn
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from ._negotiation import serve
from .protection import Protection
from .registry import REGISTRY, Collector

WSGIApp = Callable[[Dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_HANDSHAKE_TIMEOUT = 10.0  # seconds a TLS client gets to finish its handshake


def make_wsgi_app(registry: Collector = REGISTRY, disable_compression: bool = False, *,
                  protection: Optional[Protection] = None) -> WSGIApp:
    """A WSGI app that serves ``registry`` on any path (mount it where you like).

    ``protection`` checks ``REMOTE_ADDR`` and the ``Authorization`` header (some
    servers drop that header unless told to pass it on, e.g. ``WSGIPassAuthorization On``).
    """

    def metrics_app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> List[bytes]:
        reply = serve(
            registry,
            environ.get("REQUEST_METHOD", "GET"),
            environ.get("PATH_INFO", ""),
            environ.get("HTTP_ACCEPT"),
            environ.get("HTTP_ACCEPT_ENCODING"),
            parse_qs(environ.get("QUERY_STRING", "")),
            disable_compression,
            protection=protection,
            authorization=environ.get("HTTP_AUTHORIZATION"),
            client_addr=environ.get("REMOTE_ADDR"),
        )
        start_response(reply.status_line, reply.headers)
        return [reply.body]

    return metrics_app


class _SilentHandler(WSGIRequestHandler):
    """Request handler that does not write an access log line per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing."""


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """WSGI server answering each request in its own daemon thread."""

    daemon_threads = True


class _TLSWSGIServer(ThreadingWSGIServer):
    """Threaded WSGI server that runs each TLS handshake in the request's thread.

    Wrapping the listening socket instead would run handshakes in the accept
    loop, where one silent client stalls every other scraper.
    """

    ssl_context: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Finish the TLS handshake, then serve; a failed handshake just drops the connection."""
        request.settimeout(_HANDSHAKE_TIMEOUT)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (OSError, ValueError):
            request.close()
            return
        try:
            tls.settimeout(None)
            super().finish_request(tls, client_address)
        finally:
            try:
                tls.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            tls.close()


def _best_family(address: str, port: int) -> Tuple[socket.AddressFamily, str]:
    """Address family and literal host for binding ``address`` (IPv6 literals and names work)."""
    infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr[0]


def _ssl_context(
    certfile: str,
    keyfile: str,
    protocol: int,
    cafile: Optional[str],
    capath: Optional[str],
    client_auth_required: bool,
    tls_min_version: Optional[ssl.TLSVersion],
    tls_max_version: Optional[ssl.TLSVersion],
) -> ssl.SSLContext:
    """Server-side TLS context; file problems are re-raised with the offending paths named."""
    context = ssl.SSLContext(protocol=protocol)
    try:
        if cafile is not None or capath is not None:
            context.load_verify_locations(cafile, capath)
        else:
            context.load_default_certs(purpose=ssl.Purpose.CLIENT_AUTH)
    except OSError as exc:
        raise type(exc)(f"Cannot load CA certificates from file {cafile!r} or directory {capath!r}: {exc}") from exc
    if client_auth_required:
        context.verify_mode = ssl.CERT_REQUIRED
    try:
        context.load_cert_chain(certfile=certfile, keyfile=keyfile)
    except OSError as exc:
        raise type(exc)(f"Cannot load server certificate {certfile!r} or its key {keyfile!r}: {exc}") from exc
    if tls_min_version is not None:
        context.minimum_version = tls_min_version
    if tls_max_version is not None:
        context.maximum_version = tls_max_version
    return context


def start_wsgi_server(
    port: int,
    addr: str = "0.0.0.0",
    registry: Collector = REGISTRY,
    certfile: Optional[str] = None,
    keyfile: Optional[str] = None,
    client_cafile: Optional[str] = None,
    client_capath: Optional[str] = None,
    protocol: int = ssl.PROTOCOL_TLS_SERVER,
    client_auth_required: bool = False,
    tls_min_version: Optional[ssl.TLSVersion] = None,
    tls_max_version: Optional[ssl.TLSVersion] = None,
    *,
    protection: Optional[Protection] = None,
) -> Tuple[WSGIServer, threading.Thread]:
    """Serve ``registry`` on ``addr:port`` from a daemon thread; returns ``(server, thread)``.

    HTTPS is on when both ``certfile`` and ``keyfile`` are given; with
    ``client_auth_required`` clients must present a certificate signed by
    ``client_cafile``/``client_capath``. ``protection`` restricts who may read the
    metrics (see :mod:`pyrometer.protection`). Stop it with ``server.shutdown()`` and
    ``server.server_close()``.
    """
    family, host = _best_family(addr, port)
    context = None
    if certfile and keyfile:
        context = _ssl_context(certfile, keyfile, protocol, client_cafile, client_capath, client_auth_required,
                               tls_min_version, tls_max_version)
    base = _TLSWSGIServer if context is not None else ThreadingWSGIServer
    # A subclass per server, so the address family (and TLS context) stay local to it.
    server_class = type("MetricsWSGIServer", (base,), {"address_family": family, "ssl_context": context})
    app = make_wsgi_app(registry, protection=protection)
    server = make_server(host, port, app, server_class, handler_class=_SilentHandler)
    thread = threading.Thread(target=server.serve_forever, name="pyrometer-metrics-server", daemon=True)
    thread.start()
    return server, thread


start_http_server = start_wsgi_server


class MetricsHandler(BaseHTTPRequestHandler):
    """``http.server`` request handler serving ``registry`` (``REGISTRY`` unless set, see :meth:`factory`)."""

    registry: Collector = REGISTRY
    protection: Optional[Protection] = None

    def _serve(self) -> None:
        url = urlsplit(self.path)
        reply = serve(
            self.registry,
            self.command,
            url.path,
            self.headers.get("Accept"),
            self.headers.get("Accept-Encoding"),
            parse_qs(url.query),
            protection=self.protection,
            authorization=self.headers.get("Authorization"),
            client_addr=self.client_address[0] if self.client_address else None,
        )
        self.send_response(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if reply.body:
            self.wfile.write(reply.body)

    do_GET = do_HEAD = do_OPTIONS = _serve

    def __getattr__(self, name: str) -> Any:
        # http.server looks up ``do_<METHOD>``; answering every method here turns
        # its 501 for unknown methods into the shared 405 with an Allow header.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing."""

    @classmethod
    def factory(cls, registry: Collector, protection: Optional[Protection] = None) -> type:
        """A subclass of this handler bound to ``registry`` and, optionally, a ``protection``."""
        return type(cls.__name__, (cls,), {"registry": registry, "protection": protection})

"""Pushgateway client: push, push-add and delete metric groups over HTTP(S).

A push is assembled in two steps. :func:`_use_gateway` turns (gateway, job,
grouping key, registry) into a URL, headers and body; a *handler* turns those
into a zero-argument callable that performs the request. Handlers are the
extension point for authentication, TLS client certificates and redirects.

Failures raise :class:`PushConnectionError` (gateway unreachable) or
:class:`PushHTTPError` (gateway answered outside 2xx). Both derive from
``urllib.error.URLError`` (and the latter from ``HTTPError``), so code that
catches those or ``OSError`` keeps working, and both messages name the URL.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import io
import socket
import ssl
import sys
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlparse
from urllib.request import BaseHandler, HTTPHandler, HTTPRedirectHandler, HTTPSHandler, Request, build_opener

from ._text_format import generate_latest
from .registry import REGISTRY, Collector

_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# How much of an error answer's body is kept, and how much of it the message quotes.
_BODY_LIMIT = 64 * 1024
_BODY_EXCERPT = 200

_Headers = List[Tuple[str, str]]
_Handler = Callable[..., Callable[[], None]]

__all__ = [
    "PushConnectionError",
    "PushHTTPError",
    "basic_auth_handler",
    "default_handler",
    "delete_from_gateway",
    "instance_ip_grouping_key",
    "passthrough_redirect_handler",
    "push_to_gateway",
    "pushadd_to_gateway",
    "tls_auth_handler",
]


class PushConnectionError(URLError):
    """The Pushgateway at ``url`` could not be reached (refused, timed out, DNS, TLS)."""

    def __init__(self, url: str, reason: Any) -> None:
        super().__init__(reason, url)
        self.url = url

    def __str__(self) -> str:
        return f"cannot reach Pushgateway at {self.url}: {self.reason}"


class PushHTTPError(HTTPError):
    """The Pushgateway at ``url`` answered with a non-2xx status; ``read()`` gives its body."""

    def __init__(self, url: str, code: int, reason: str, headers: Any, body: bytes) -> None:
        super().__init__(url, code, reason, headers, io.BytesIO(body))
        self.body = body

    def __str__(self) -> str:
        text = f"Pushgateway at {self.url} answered HTTP {self.code} {self.reason}"
        detail = self.body[:_BODY_EXCERPT].decode("utf-8", "replace").strip()
        return f"{text}: {detail}" if detail else text


class _TrustingRedirectHandler(HTTPRedirectHandler):
    """Follow every redirect with the original method, headers and body."""

    def redirect_request(self, req: Request, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Request:
        if code not in (301, 302, 303, 307, 308):
            raise HTTPError(req.full_url, code, msg, headers, fp)
        return Request(
            newurl.replace(" ", "%20"),
            data=req.data,
            headers=dict(req.headers),
            origin_req_host=req.origin_req_host,
            unverifiable=True,
            method=req.get_method(),
        )


def _sender(
    url: str,
    method: str,
    timeout: Optional[float],
    headers: Iterable[Tuple[str, str]],
    data: bytes,
    transport: Union[BaseHandler, type],
) -> Callable[[], None]:
    """Return a callable that sends one request through ``transport`` and maps failures."""
    header_list = list(headers)

    def send() -> None:
        request = Request(url, data=data, method=method)
        for name, value in header_list:
            request.add_header(name, value)
        opener = build_opener(transport)
        try:
            with opener.open(request, timeout=timeout) as response:
                response.read()
        except HTTPError as exc:
            try:
                body = exc.read(_BODY_LIMIT)
            finally:
                exc.close()
            raise PushHTTPError(url, exc.code, exc.reason, exc.headers, body) from None
        except URLError as exc:
            raise PushConnectionError(url, exc.reason) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise PushConnectionError(url, exc) from exc

    return send


def default_handler(
    url: str,
    method: str,
    timeout: Optional[float],
    headers: _Headers,
    data: bytes,
) -> Callable[[], None]:
    """Plain HTTP/HTTPS request handler; the building block of the other handlers."""
    return _sender(url, method, timeout, headers, data, HTTPHandler)


def passthrough_redirect_handler(
    url: str,
    method: str,
    timeout: Optional[float],
    headers: _Headers,
    data: bytes,
) -> Callable[[], None]:
    """Like :func:`default_handler`, but repeat the request (method, headers, body) at redirect targets.

    Only use it when every redirect you may receive is trusted.
    """
    return _sender(url, method, timeout, headers, data, _TrustingRedirectHandler)


def basic_auth_handler(
    url: str,
    method: str,
    timeout: Optional[float],
    headers: _Headers,
    data: bytes,
    username: Optional[str] = None,
    password: Optional[str] = None,
) -> Callable[[], None]:
    """HTTP Basic authentication; sends credentials only when both username and password are set."""
    auth_headers = list(headers)
    if username is not None and password is not None:
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        auth_headers.append(("Authorization", f"Basic {token}"))
    return default_handler(url, method, timeout, auth_headers, data)


def tls_auth_handler(
    url: str,
    method: str,
    timeout: Optional[float],
    headers: _Headers,
    data: bytes,
    certfile: str,
    keyfile: str,
    cafile: Optional[str] = None,
    protocol: int = ssl.PROTOCOL_TLS_CLIENT,
    insecure_skip_verify: bool = False,
) -> Callable[[], None]:
    """HTTPS with a client certificate; verifies the server against ``cafile`` or the system store.

    ``insecure_skip_verify=True`` disables hostname and certificate checks.
    """
    context = ssl.SSLContext(protocol)
    if cafile is None:
        context.load_default_certs()
    else:
        context.load_verify_locations(cafile)
    if insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(certfile=certfile, keyfile=keyfile)
    return _sender(url, method, timeout, headers, data, HTTPSHandler(context=context))


def _path_segment(name: str, value: str) -> str:
    """One ``/name/value`` pair, base64-encoded where the plain form would be ambiguous."""
    if value == "":
        return f"/{name}@base64/="
    if "/" in value or " " in value:
        encoded = base64.urlsafe_b64encode(value.encode("utf-8")).decode("ascii")
        return f"/{name}@base64/{encoded}"
    return f"/{name}/{quote(value, safe='')}"


def _group_url(gateway: str, job: str, grouping_key: Optional[Dict[str, Any]]) -> str:
    if urlparse(gateway).scheme not in ("http", "https"):
        gateway = "http://" + gateway
    parts = [gateway.rstrip("/"), "/metrics", _path_segment("job", job)]
    for key, value in sorted((grouping_key or {}).items()):
        parts.append(_path_segment(str(key), str(value)))
    return "".join(parts)


def _compress(data: bytes, compression: Optional[str]) -> Tuple[bytes, _Headers]:
    headers: _Headers = [("Content-Type", _CONTENT_TYPE)]
    if compression is None:
        return data, headers
    encoding = compression.lower()
    if encoding == "gzip":
        body = gzip.compress(data)
    elif encoding == "snappy":
        try:
            import snappy  # type: ignore[import-not-found]
        except ImportError:
            raise RuntimeError(
                "compression='snappy' needs the snappy module: pip install python-snappy"
            ) from None
        compressor = snappy.StreamCompressor()
        body = compressor.compress(data)
        flush = getattr(compressor, "flush", None)
        if callable(flush):
            body += flush()
    else:
        raise ValueError(f"unsupported compression {compression!r}; use 'gzip', 'snappy' or None")
    headers.append(("Content-Encoding", encoding))
    return body, headers


def _use_gateway(
    method: str,
    gateway: str,
    job: str,
    registry: Optional[Collector],
    grouping_key: Optional[Dict[str, Any]],
    timeout: Optional[float],
    handler: _Handler,
    compression: Optional[str] = None,
) -> None:
    url = _group_url(gateway, job, grouping_key)
    if method == "DELETE":
        data, headers = b"", [("Content-Type", _CONTENT_TYPE)]
    else:
        data, headers = _compress(generate_latest(registry if registry is not None else REGISTRY), compression)
    handler(url=url, method=method, timeout=timeout, headers=headers, data=data)()


def push_to_gateway(
    gateway: str,
    job: str,
    registry: Collector,
    grouping_key: Optional[Dict[str, Any]] = None,
    timeout: Optional[float] = 30,
    handler: _Handler = default_handler,
    compression: Optional[str] = None,
) -> None:
    """Replace the whole group (job + grouping key) on the Pushgateway with ``registry``'s metrics (PUT).

    ``gateway`` is ``host:port`` or a URL (``http://`` is assumed without a scheme).
    ``timeout=None`` waits forever. ``handler(url=, method=, timeout=, headers=, data=)``
    returns a callable doing the request. ``compression`` is None, ``'gzip'`` or ``'snappy'``.
    """
    _use_gateway("PUT", gateway, job, registry, grouping_key, timeout, handler, compression)


def pushadd_to_gateway(
    gateway: str,
    job: str,
    registry: Optional[Collector],
    grouping_key: Optional[Dict[str, Any]] = None,
    timeout: Optional[float] = 30,
    handler: _Handler = default_handler,
    compression: Optional[str] = None,
) -> None:
    """Replace only the metrics of the same names in the group, keeping the others (POST).

    Arguments as for :func:`push_to_gateway`; ``registry=None`` pushes the default registry.
    """
    _use_gateway("POST", gateway, job, registry, grouping_key, timeout, handler, compression)


def delete_from_gateway(
    gateway: str,
    job: str,
    grouping_key: Optional[Dict[str, Any]] = None,
    timeout: Optional[float] = 30,
    handler: _Handler = default_handler,
) -> None:
    """Delete the group (job + grouping key) from the Pushgateway (DELETE)."""
    _use_gateway("DELETE", gateway, job, None, grouping_key, timeout, handler)


def instance_ip_grouping_key() -> Dict[str, Any]:
    """Grouping key ``{'instance': <IP address of this host>}``."""
    # A connected UDP socket reveals the local address the kernel would use; nothing is sent.
    target = ("10.255.255.255", 1) if sys.platform == "darwin" else ("localhost", 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(target)
        return {"instance": sock.getsockname()[0]}

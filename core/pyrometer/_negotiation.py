"""Content negotiation and the one HTTP answer every metrics endpoint gives.

Every server and framework adapter (WSGI, ``http.server``, ASGI, aiohttp, Twisted,
Django) extracts the method, path, headers, query parameters and, for an optional
:class:`~pyrometer.protection.Protection`, the ``Authorization`` header and peer
address of its request and calls :func:`serve`; the adapter only translates the
:class:`Reply` back.
"""

from __future__ import annotations

import gzip
import logging
from functools import partial
from http import HTTPStatus
from typing import Any, Callable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

from . import _protobuf
from ._text_format import generate_latest
from .openmetrics import exposition as openmetrics
from .protection import Protection
from .registry import Collector
from .utils import parse_version

CONTENT_TYPE_PLAIN_0_0_4 = "text/plain; version=0.0.4; charset=utf-8"
"""Content type of the Prometheus text format 0.0.4, for scrapers that ask for no version."""
CONTENT_TYPE_PLAIN_1_0_0 = "text/plain; version=1.0.0; charset=utf-8"
"""Content type of the Prometheus text format 1.0.0 (UTF-8 names, escaping parameter)."""
CONTENT_TYPE_LATEST = CONTENT_TYPE_PLAIN_1_0_0
"""Content type of the latest Prometheus text format."""

ALLOWED_METHODS = "GET, HEAD, OPTIONS"
"""Value of the ``Allow`` header of every metrics endpoint."""

Encoder = Callable[[Collector], bytes]
Headers = List[Tuple[str, str]]

logger = logging.getLogger("pyrometer.exposition")

_ESCAPINGS = frozenset({openmetrics.ALLOWUTF8, openmetrics.UNDERSCORES, openmetrics.DOTS, openmetrics.VALUES})
_PLAIN = "text/plain; charset=utf-8"
_GZIP_LEVEL = 6  # level 9 costs several times the CPU for a few percent on metric text


# -- Accept / Accept-Encoding ----------------------------------------------

def _parameter(tokens: Sequence[str], key: str) -> str:
    """Value of the first ``key=value`` media-type parameter among ``tokens``, or ``""``."""
    for token in tokens:
        name, sep, value = token.strip().partition("=")
        if sep and name == key:
            return value
    return ""


def _escaping(tokens: Sequence[str]) -> str:
    value = _parameter(tokens, "escaping")
    return value if value in _ESCAPINGS else openmetrics.UNDERSCORES


def _at_least_1_0(version: str) -> bool:
    try:
        return parse_version(version) >= (1, 0, 0)
    except TypeError:  # a non-numeric part such as "1.x" cannot be compared
        return False


def _protobuf_preferred(accept_header: Optional[str]) -> bool:
    """Whether the most preferred entry (highest ``q``, then first) asks for delimited MetricFamily protobuf."""
    best = (0.0, False)
    for entry in (accept_header or "").split(","):
        tokens = entry.split(";")
        try:
            quality = float(_parameter(tokens[1:], "q") or 1)
        except ValueError:
            quality = 1.0
        if quality > best[0]:
            best = (quality, tokens[0].strip() == "application/vnd.google.protobuf"
                    and _parameter(tokens[1:], "proto") == "io.prometheus.client.MetricFamily"
                    and _parameter(tokens[1:], "encoding") == "delimited")
    return best[1]


def choose_encoder(accept_header: Optional[str]) -> Tuple[Encoder, str]:
    """Pick the writer and content type for a scraper's ``Accept`` header.

    Protobuf (delimited ``MetricFamily``, the only format carrying native
    histograms) when it is the most preferred entry. Otherwise the first acceptable
    entry wins: ``application/openmetrics-text`` (no version means 1.0.0 with
    underscore escaping), then ``text/plain`` with a version of at least 1.0.0;
    anything else gets the text format 0.0.4.
    """
    if "protobuf" in (accept_header or "") and _protobuf_preferred(accept_header):
        return _protobuf.generate_latest, _protobuf.CONTENT_TYPE_PROTOBUF
    for entry in (accept_header or "").split(","):
        tokens = entry.split(";")
        media_type = tokens[0].strip()
        if media_type == "application/openmetrics-text":
            version = _parameter(tokens, "version")
            if not version:
                encoder = partial(openmetrics.generate_latest, escaping=openmetrics.UNDERSCORES, version="1.0.0")
                return encoder, openmetrics.CONTENT_TYPE_LATEST
            if _at_least_1_0(version):
                escaping = _escaping(tokens)
                content_type = f"application/openmetrics-text; version={version}; charset=utf-8; escaping={escaping}"
                return partial(openmetrics.generate_latest, escaping=escaping, version=version), content_type
        elif media_type == "text/plain":
            version = _parameter(tokens, "version")
            if version and _at_least_1_0(version):
                escaping = _escaping(tokens)
                return partial(generate_latest, escaping=escaping), f"{CONTENT_TYPE_LATEST}; escaping={escaping}"
    return generate_latest, CONTENT_TYPE_PLAIN_0_0_4


def gzip_accepted(accept_encoding_header: Optional[str]) -> bool:
    """Whether an ``Accept-Encoding`` header accepts gzip (an explicit ``q=0`` refuses it)."""
    for entry in (accept_encoding_header or "").split(","):
        tokens = entry.split(";")
        if tokens[0].strip().lower() != "gzip":
            continue
        quality = _parameter(tokens[1:], "q")
        try:
            return not quality or float(quality) > 0
        except ValueError:
            return True
    return False


# -- rendering ---------------------------------------------------------------

def _names(params: Mapping[str, Any]) -> Optional[List[str]]:
    """The ``name[]`` query values, from a ``parse_qs`` dict or a multi-dict (Django, aiohttp)."""
    if "name[]" not in params:
        return None
    getlist = getattr(params, "getlist", None)
    values = getlist("name[]") if getlist is not None else params["name[]"]
    return [values] if isinstance(values, str) else list(values)


def _bake_output(
    registry: Collector,
    accept_header: Optional[str],
    accept_encoding_header: Optional[str],
    params: Mapping[str, Any],
    disable_compression: bool,
) -> Tuple[str, Headers, bytes]:
    """Render ``registry`` for a scrape: ``("200 OK", headers, body)``; a collector's error propagates."""
    encoder, content_type = choose_encoder(accept_header)
    names = _names(params)
    if names is not None:
        registry = registry.restricted_registry(names)  # type: ignore[attr-defined]
    body = encoder(registry)
    headers: Headers = [("Content-Type", content_type)]
    if not disable_compression and gzip_accepted(accept_encoding_header):
        body = gzip.compress(body, compresslevel=_GZIP_LEVEL)
        headers.append(("Content-Encoding", "gzip"))
    return "200 OK", headers, body


class Reply(NamedTuple):
    """An HTTP answer: status code, headers (``Content-Length`` included) and body."""

    status: int
    headers: Headers
    body: bytes

    @property
    def status_line(self) -> str:
        """The status as ``"200 OK"``, as WSGI wants it."""
        return f"{self.status} {HTTPStatus(self.status).phrase}"


def _plain(status: int, text: str, extra: Sequence[Tuple[str, str]] = ()) -> Reply:
    body = text.encode("utf-8")
    return Reply(status, [("Content-Type", _PLAIN), ("Content-Length", str(len(body))), *extra], body)


def _refusal(protection: Protection, method: str, authorization: Optional[str],
             client_addr: Optional[str]) -> Optional[Reply]:
    """The 401 or 403 for a request ``protection`` refuses, or ``None`` to serve it."""
    status = protection.check(authorization, client_addr)
    if status == HTTPStatus.OK:
        return None
    if status == HTTPStatus.FORBIDDEN:
        reply = _plain(403, "# HTTP 403 Forbidden: this address may not read metrics\n")
    else:
        challenge = [("WWW-Authenticate", protection.challenge or "Basic")]
        reply = _plain(401, "# HTTP 401 Unauthorized: valid credentials required\n", challenge)
    return reply._replace(body=b"") if method == "HEAD" else reply


def serve(
    registry: Collector,
    method: str,
    path: str,
    accept_header: Optional[str],
    accept_encoding_header: Optional[str],
    params: Mapping[str, Any],
    disable_compression: bool = False,
    *,
    protection: Optional[Protection] = None,
    authorization: Optional[str] = None,
    client_addr: Optional[str] = None,
) -> Reply:
    """Answer one request to a metrics endpoint.

    GET renders the registry (negotiated format, ``name[]`` filter, gzip when
    accepted); HEAD gives the same headers without the body; OPTIONS lists the
    allowed methods; other methods get 405. ``/favicon.ico`` is an empty 200 so
    browsers stop asking. A collector that raises gives a 500 with a short
    plain-text body, and the traceback goes to the ``pyrometer.exposition`` logger.
    Before all that, a request ``protection`` refuses (judged on ``authorization``,
    the ``Authorization`` header, and ``client_addr``, the peer's IP) gets 403 for
    its address or 401 with a ``WWW-Authenticate`` challenge.
    """
    method = method.upper()
    if protection is not None:
        refusal = _refusal(protection, method, authorization, client_addr)
        if refusal is not None:
            return refusal
    allow = [("Allow", ALLOWED_METHODS)]
    if method == "OPTIONS":
        return Reply(200, [*allow, ("Content-Length", "0")], b"")
    if method not in ("GET", "HEAD"):
        return _plain(405, f"# HTTP 405 Method Not Allowed: {method}; use {ALLOWED_METHODS}\n", allow)
    if path == "/favicon.ico":
        return Reply(200, [("Content-Length", "0")], b"")
    try:
        _, headers, body = _bake_output(registry, accept_header, accept_encoding_header, params, disable_compression)
    except Exception:
        logger.exception("collecting metrics for a scrape failed")
        reply = _plain(500, "# HTTP 500 Internal Server Error: collecting metrics failed; see the server log\n")
        return reply._replace(body=b"") if method == "HEAD" else reply
    headers.append(("Content-Length", str(len(body))))
    return Reply(200, headers, b"" if method == "HEAD" else body)

"""Getting metrics out of the process: text writers, content negotiation, servers, push.

This module is the public facade prometheus_client users import from; each
concern lives in its own private module.
"""

from __future__ import annotations

from . import _negotiation, _protobuf, _push, _wsgi_server
from ._negotiation import CONTENT_TYPE_LATEST, CONTENT_TYPE_PLAIN_0_0_4, CONTENT_TYPE_PLAIN_1_0_0
from ._push import delete_from_gateway, instance_ip_grouping_key, push_to_gateway, pushadd_to_gateway
from ._text_format import generate_latest
from ._textfile import write_to_textfile
from ._wsgi_server import MetricsHandler, make_wsgi_app, start_http_server, start_wsgi_server
from .asgi import make_asgi_app

# pyrometer's own: the delimited protobuf format that carries native histograms (docs/native-histograms.md).
CONTENT_TYPE_PROTOBUF = _protobuf.CONTENT_TYPE_PROTOBUF
generate_protobuf = _protobuf.generate_latest

# Public in prometheus_client.exposition as well, though outside its __all__.
choose_encoder = _negotiation.choose_encoder
gzip_accepted = _negotiation.gzip_accepted
_bake_output = _negotiation._bake_output
ThreadingWSGIServer = _wsgi_server.ThreadingWSGIServer
default_handler = _push.default_handler
basic_auth_handler = _push.basic_auth_handler
tls_auth_handler = _push.tls_auth_handler
passthrough_redirect_handler = _push.passthrough_redirect_handler

# The same names as prometheus_client.exposition.__all__.
__all__ = [
    "CONTENT_TYPE_LATEST",
    "CONTENT_TYPE_PLAIN_0_0_4",
    "CONTENT_TYPE_PLAIN_1_0_0",
    "MetricsHandler",
    "delete_from_gateway",
    "generate_latest",
    "instance_ip_grouping_key",
    "make_asgi_app",
    "make_wsgi_app",
    "push_to_gateway",
    "pushadd_to_gateway",
    "start_http_server",
    "start_wsgi_server",
    "write_to_textfile",
]

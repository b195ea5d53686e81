"""A small twisted.web service with request metrics (InstrumentedSite) and /metrics (MetricsResource).

Run it (port 8004, or give one)::

    python example_apps/twisted_app.py 8004

Then::

    curl http://127.0.0.1:8004/users/42
    curl http://127.0.0.1:8004/error            # 500, counted in http_exceptions_total
    curl http://127.0.0.1:8004/metrics
"""

from __future__ import annotations

import json
import sys

from pyrometer_twisted import InstrumentedSite, MetricsResource
from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import Request


class Index(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        return json.dumps({"service": "twisted-example"}).encode()


class User(Resource):
    isLeaf = True

    def __init__(self, user_id: bytes) -> None:
        super().__init__()
        self.user_id = user_id.decode("ascii", "replace")

    def render_GET(self, request: Request) -> bytes:
        return json.dumps({"id": self.user_id, "name": f"user{self.user_id}"}).encode()


class Users(Resource):
    def getChild(self, path: bytes, request: Request) -> Resource:
        return User(path)  # one per request, named by routes= below: handler="/users/{id}"


class Error(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        raise RuntimeError("something broke")  # twisted answers 500; the exception is counted


def make_site() -> InstrumentedSite:
    root = Resource()
    root.putChild(b"", Index())
    root.putChild(b"users", Users())
    root.putChild(b"error", Error())
    root.putChild(b"metrics", MetricsResource())
    return InstrumentedSite(root, routes={"/users/{id}": User})


if __name__ == "__main__":
    reactor.listenTCP(int(sys.argv[1]) if len(sys.argv) > 1 else 8004, make_site(), interface="127.0.0.1")
    reactor.run()

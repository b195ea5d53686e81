"""Middleware overhead per request: a bare app against the same app instrumented by pyrometer and by each peer.

Every app has the same routes (a templated ``/users/<id>`` and a URL that matches
nothing) and is driven in-process without sockets: WSGI apps by a direct call with
a prebuilt environ, ASGI apps by a direct call with a prebuilt scope, many requests
per event-loop run. Each repeat times short batches of every variant in rounds, the
order rotating, so drift of a shared machine hits every variant alike; the overhead
of a variant is ``median(variant) - median(bare)`` over the repeats.

Each peer keeps its own registry (a fresh prometheus_client ``CollectorRegistry``
where the peer takes one, otherwise prometheus_client's default registry, which
nothing else in the run uses), and pyrometer gets a fresh registry of its own, so
nothing collides. After timing, each instrumented app must have counted exactly the
routed requests it was sent: the ``exact`` column.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import io
import statistics
import sys
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

# The request mix, cycled: three hits of the templated route, one URL that matches no route (404).
PATHS = ("/users/1", "/users/2", "/users/3", "/missing")

Batch = Callable[[int], float]  # runs n requests, returns seconds per request
ROUND = 250  # requests per variant per round of a repeat


def installed(*modules: str) -> bool:
    """Whether every named module can be imported (a peer or framework that is not installed gives a note)."""
    for m in modules:
        try:
            if importlib.util.find_spec(m) is None:
                return False
        except (ImportError, ValueError):  # a parent package missing, or the module blocked in sys.modules
            return False
    return True


def dist_version(dist: str) -> str:
    """``name version`` of an installed distribution, for the table's anchor column."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return f"{dist} {version(dist)}"
    except PackageNotFoundError:
        return dist


def sent(total: int) -> Tuple[int, int]:
    """(routed requests, unmatched requests) among the first ``total`` requests of the cycle."""
    misses = total // len(PATHS)  # the unmatched URL is last in the cycle
    return total - misses, misses


def counted(registry: Any, sample: str, label_value: str) -> float:
    """Sum of the ``sample`` values that have ``label_value`` among their labels (prometheus_client or pyrometer)."""
    total = 0.0
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == sample and label_value in s.labels.values():
                total += s.value
    return total


def _timed(run: Callable[[], None]) -> float:
    # The collector off while timing, as the core workloads do; the young garbage goes before each batch
    # (a full collection, ~20 ms with the frameworks loaded, runs once per repeat).
    gc.collect(1)
    gc.disable()
    try:
        start = time.perf_counter()
        run()
        return time.perf_counter() - start
    finally:
        gc.enable()


# -- WSGI ---------------------------------------------------------------------------

def environ(path: str) -> Dict[str, Any]:
    """A GET request's WSGI environ, as a server would build it."""
    return {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "testserver", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "testserver", "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": False, "wsgi.run_once": False,
    }


class WSGIDriver:
    """Calls a WSGI app directly, cycling through ``PATHS``; remembers how many requests it sent."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.environs = [environ(p) for p in PATHS]
        self.total = 0

    def _start_response(self, status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
        return _ignore

    def check(self) -> bool:
        """One request of each path; True when the routed ones answer 200 and the unmatched one 404."""
        statuses = []

        def start_response(status: str, headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
            statuses.append(status.split()[0])
            return _ignore
        for env in self.environs:
            body = self.app(dict(env), start_response)
            b"".join(body)
            getattr(body, "close", _ignore)()
        self.total += len(PATHS)
        return statuses == ["200"] * (len(PATHS) - 1) + ["404"]

    def batch(self, n: int) -> float:
        app, environs, start_response, k = self.app, self.environs, self._start_response, len(PATHS)
        first = self.total

        def run() -> None:
            for i in range(first, first + n):
                body = app(dict(environs[i % k]), start_response)  # servers hand each request a fresh environ
                for _ in body:
                    pass
                close = getattr(body, "close", None)
                if close is not None:
                    close()
        # Every batch continues the cycle where the last one stopped, so the totals stay predictable.
        per = _timed(run) / n
        self.total += n
        return per


def _ignore(*args: Any) -> None:
    return None


# -- ASGI ---------------------------------------------------------------------------

def scope(path: str) -> Dict[str, Any]:
    """A GET request's ASGI HTTP scope, as a server would build it."""
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": [(b"host", b"testserver"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
    }


_REQUEST = {"type": "http.request", "body": b"", "more_body": False}


async def _receive() -> Dict[str, Any]:
    return _REQUEST


class ASGIDriver:
    """Calls an ASGI app directly in one event loop, cycling through ``PATHS``."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.scopes = [scope(p) for p in PATHS]
        self.total = 0

    def check(self) -> bool:
        """One request of each path; True when the routed ones answer 200 and the unmatched one 404."""
        statuses: List[int] = []

        async def send(message: Dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        async def run() -> None:
            for s in self.scopes:
                await self.app({**s, "state": {}}, _receive, send)
        self.loop.run_until_complete(run())
        self.total += len(PATHS)
        return statuses == [200] * (len(PATHS) - 1) + [404]

    def batch(self, n: int) -> float:
        app, scopes, k, first = self.app, self.scopes, len(PATHS), self.total

        async def send(message: Dict[str, Any]) -> None:
            return None

        async def run() -> float:
            gc.collect(1)
            gc.disable()
            try:
                start = time.perf_counter()
                for i in range(first, first + n):
                    await app({**scopes[i % k], "state": {}}, _receive, send)  # a fresh scope per request
                return time.perf_counter() - start
            finally:
                gc.enable()
        per = self.loop.run_until_complete(run()) / n
        self.total += n
        return per


# -- the comparison -----------------------------------------------------------------

def interleave(batches: Dict[str, Batch], n: int, repeats: int) -> Dict[str, List[float]]:
    """Seconds per request of every variant, one sample per repeat.

    A repeat sends ``n`` requests to each variant in rounds of ``ROUND``, the order
    rotating every round; its sample is the median round. On a shared machine a
    burst of someone else's work then spoils a few rounds of every variant alike,
    and the medians step over them.
    """
    names = list(batches)
    samples: Dict[str, List[float]] = {name: [] for name in names}
    for name in names:  # warm up: lazily built middleware stacks, first-use caches, label children
        batches[name](max(len(PATHS), min(n, ROUND)))
    rounds = max(1, n // ROUND)
    size = max(1, n // rounds)
    turn = 0
    for _ in range(repeats):
        gc.collect()
        times: Dict[str, List[float]] = {name: [] for name in names}
        for _ in range(rounds):
            shift = turn % len(names)
            turn += 1
            for name in names[shift:] + names[:shift]:
                times[name].append(batches[name](size))
        for name in names:
            samples[name].append(statistics.median(times[name]))
    return samples


def overhead_rows(framework: str, target: str, size: int, samples: Dict[str, List[float]],
                  exact: Dict[str, bool], peers: Sequence[Tuple[str, Optional[str]]]) -> List[Dict[str, Any]]:
    """One row per peer: the peer's and pyrometer's overhead over the bare app, in microseconds.

    ``peers`` lists (variant name in ``samples``, anchor label); a variant missing
    from ``samples`` gives the row the note ``peer absent``.
    """
    bare = statistics.median(samples["bare"]) * 1e6
    ours = statistics.median(samples["pyrometer"]) * 1e6 - bare
    rows = []
    for variant, anchor in peers:
        peer = statistics.median(samples[variant]) * 1e6 - bare if variant in samples else None
        name = f"{framework} middleware overhead" + (f" vs {variant}" if len(peers) > 1 else "")
        rows.append({
            "workload": name, "unit": "us", "anchor": anchor or variant, "anchor_value": peer, "pyrometer": ours,
            "ratio": ours / peer if peer else None, "target": target, "size": size,
            "exact": exact["pyrometer"] and exact.get(variant, True), "bare": bare,
            "note": "" if peer is not None else "peer absent"})
    return rows


def absent_rows(framework: str, target: str, size: int, peers: Sequence[str], why: str) -> List[Dict[str, Any]]:
    """Rows for a framework that is not installed: nothing measured, and the reason."""
    return [{"workload": f"{framework} middleware overhead" + (f" vs {p}" if len(peers) > 1 else ""), "unit": "us",
             "anchor": p, "anchor_value": None, "pyrometer": None, "ratio": None, "target": target, "size": size,
             "exact": True, "bare": None, "note": why} for p in peers]

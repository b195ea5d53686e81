"""Serving /metrics from inside an instrumented application."""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from .._negotiation import Reply, serve
from ..protection import Protection
from ..registry import REGISTRY, Collector, CollectorRegistry


def scrape_registry(registry: Optional[Collector] = None) -> Collector:
    """The registry a scrape should read: in multiprocess mode a fresh one merging every worker's files."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ:
        from ..multiprocess import MultiProcessCollector  # only needed, and importable, in that mode

        merged = CollectorRegistry()
        MultiProcessCollector(merged)
        return merged
    return registry if registry is not None else REGISTRY


def serve_metrics(registry: Optional[Collector], method: str, accept: Optional[str], accept_encoding: Optional[str],
                  params: Mapping[str, Any], *, disable_compression: bool = False,
                  protection: Optional[Protection] = None, authorization: Optional[str] = None,
                  client_addr: Optional[str] = None) -> Reply:
    """Answer a request to an application's /metrics path (negotiation, gzip, protection)."""
    return serve(scrape_registry(registry), method, "/metrics", accept, accept_encoding, params, disable_compression,
                 protection=protection, authorization=authorization, client_addr=client_addr)

"""Modules here that drive the engine through a real WSGI stack need Werkzeug (and OpenTelemetry's SDK for
trace exemplars); the core-only environments (tox ``core``) have neither, so those modules are not collected."""

from __future__ import annotations

import importlib.util

NEEDS = {
    "test_cardinality_http.py": ("werkzeug",),
    "test_trace_exemplars.py": ("werkzeug", "opentelemetry.sdk"),
}


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:  # the parent package is absent
        return True


collect_ignore = [name for name, modules in NEEDS.items() if any(_missing(m) for m in modules)]

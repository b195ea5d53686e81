"""Helpers shared by the metric-type test modules."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pyrometer.registry import CollectorRegistry


def raises_exactly(exc: type, message: str) -> Any:
    """``pytest.raises`` that requires the whole message to equal ``message``."""
    return pytest.raises(exc, match="^" + re.escape(message) + "$")


def value(registry: CollectorRegistry, name: str, **labels: str) -> Any:
    return registry.get_sample_value(name, labels)

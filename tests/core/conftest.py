"""Fixtures shared by the core tests (a module's own fixture of the same name takes precedence)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Iterator

import pyrometer.metrics
import pytest
from pyrometer import validation
from pyrometer.registry import CollectorRegistry


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Freeze the time that pyrometer.metrics reads; set ``clock.now`` to move it."""
    fake = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(pyrometer.metrics, "time", SimpleNamespace(time=lambda: fake.now))
    return fake


@pytest.fixture
def legacy_validation() -> Iterator[None]:
    validation.enable_legacy_validation()
    try:
        yield
    finally:
        validation.disable_legacy_validation()


@pytest.fixture
def no_created() -> Iterator[None]:
    pyrometer.metrics.disable_created_metrics()
    try:
        yield
    finally:
        pyrometer.metrics.enable_created_metrics()

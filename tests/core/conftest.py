"""Fixtures shared by the core tests (a module's own fixture of the same name takes precedence)."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any, Iterator

import pyrometer.metrics
import pytest
from pyrometer import validation, values
from pyrometer.registry import CollectorRegistry

# pyrometer's pytest fixtures, as a user's conftest imports them (test_testing.py checks them); a test module's
# pytest_plugins would re-import the already imported plugin module, which pytest 8 warns about.
from pyrometer.testing import metrics_delta, metrics_multiprocess_dir, metrics_registry  # noqa: F401


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


@pytest.fixture
def mpdir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh multiprocess directory named by PROMETHEUS_MULTIPROC_DIR for the test's duration."""
    path = str(tmp_path / "mp")
    os.mkdir(path)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", path)
    yield path
    values.close_all_multiprocess_files()

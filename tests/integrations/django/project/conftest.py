"""Fixtures of the Django test project."""

import pytest
from pyrometer import CollectorRegistry


@pytest.fixture
def registry(settings):
    """A fresh registry for the request metrics of one test (the PYROMETER setting change rebuilds the engine)."""
    reg = CollectorRegistry()
    settings.PYROMETER = {**settings.PYROMETER, "registry": reg}
    return reg


@pytest.fixture
def configure(settings):
    """Replace PYROMETER options for one test; returns the fresh registry the request metrics go to."""
    def apply(**options):
        reg = CollectorRegistry()
        settings.PYROMETER = {**settings.PYROMETER, "registry": reg, **options}
        return reg
    return apply


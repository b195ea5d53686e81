"""Sample helpers for the Django test project's tests."""

from pyrometer import generate_latest
from pyrometer.registry import REGISTRY


def lines(registry, prefix=""):
    """Exposition sample lines starting with ``prefix``, without ``_created`` series and duration sums."""
    return [line for line in generate_latest(registry).decode().splitlines()
            if line.startswith(prefix) and not line.startswith("#") and "_created" not in line
            and "_sum{" not in line]


def value(name, labels=None):
    """A sample of the default registry (database, cache, model and migration metrics), 0 when absent."""
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0

"""Helpers for testing code that uses pyrometer, and an opt-in pytest plugin.

* ``isolated_registry()``: a fresh ``CollectorRegistry`` that the global
  ``REGISTRY`` points at for the duration of a ``with`` block, so module-level
  metrics of application code can be created (or their module re-imported)
  again and again without ``DuplicateTimeseries``.
* ``sample_value(name, labels=None, registry=None)``: one sample's value.
* ``samples(name, registry=None)``: every sample of that name, with its labels.
* ``MetricsDelta(registry)``: what changed since a snapshot.
* ``assert_exposition_equal(a, b)``: compare two expositions, ignoring sample
  order and ``_created`` values, with a unified diff on failure.

How the isolation works: metric constructors bind ``registry=REGISTRY`` as a
default argument when they are defined, so rebinding the name ``REGISTRY``
would change nothing. Instead the global ``REGISTRY`` *object* takes over the
isolated registry's state: inside the block both objects share the same
collector maps and lock, so whatever registers into one is seen by the other.
On exit (also when the block raises) ``REGISTRY`` gets its own maps back and
the collectors registered inside are gone from it.

Limits: the swap is process-global, not per thread or per task. A thread that
scrapes ``REGISTRY`` during the block sees the isolated collectors; blocks must
not be nested from concurrently running threads. ``REGISTRY.set_target_info``
inside the block is restored after it, but is not seen by the isolated
registry. Metric *objects* created before the block keep their values; only
registration is isolated.

The pytest plugin is opt-in: ``pytest_plugins = ["pyrometer.testing"]`` in a
root ``conftest.py`` or a test module, ``-p pyrometer.testing`` on the command
line, or ``--pyrometer`` / the ini option ``pyrometer = true`` (the installed
``pytest11`` entry point is ``pyrometer._pytest_entry``, which only adds that
option). Fixtures: ``metrics_registry``, ``metrics_delta`` and
``metrics_multiprocess_dir``. They are plain synchronous fixtures, so
``async def`` tests (anyio's plugin, pytest-asyncio) use them unchanged.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from .registry import REGISTRY, CollectorRegistry

__all__ = ["MetricsDelta", "assert_exposition_equal", "isolated_registry", "sample_value", "samples"]

_STATE = ("_collector_to_names", "_names_to_collectors", "_collectors_without_names", "_lock",
          "_target_info", "_auto_describe", "_support_collectors_without_names", "_limits")


@contextmanager
def isolated_registry(target: CollectorRegistry = REGISTRY) -> Iterator[CollectorRegistry]:
    """A fresh registry that ``target`` (the global ``REGISTRY``) points at until the block ends.

    Yields the fresh registry; metrics constructed inside the block with the
    default ``registry=REGISTRY`` register into it. ``target`` is restored on
    exit, also when the block raises.
    """
    fresh = CollectorRegistry(auto_describe=target._auto_describe,
                              support_collectors_without_names=target._support_collectors_without_names)
    saved = {attr: getattr(target, attr) for attr in _STATE}
    for attr in _STATE:
        setattr(target, attr, getattr(fresh, attr))
    try:
        yield fresh
    finally:
        for attr, value in saved.items():
            setattr(target, attr, value)


def sample_value(name: str, labels: Optional[Dict[str, str]] = None,
                 registry: Optional[CollectorRegistry] = None) -> Optional[float]:
    """The value of sample ``name`` with exactly ``labels`` (default none) in ``registry``, or ``None``."""
    return (REGISTRY if registry is None else registry).get_sample_value(name, labels)


def samples(name: str, registry: Optional[CollectorRegistry] = None) -> List[Tuple[Dict[str, str], float]]:
    """Every sample called exactly ``name`` in ``registry`` (default ``REGISTRY``), as ``(labels, value)`` pairs.

    The pairs come in exposition order, so a test can assert which series exist
    as well as their values; ``[]`` when there is none.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, not {type(name).__name__}")
    target = REGISTRY if registry is None else registry
    return [(dict(s.labels), s.value) for metric in target.collect() for s in metric.samples if s.name == name]


_Key = Tuple[str, Tuple[Tuple[str, str], ...]]


def _snapshot(registry: Any) -> Dict[_Key, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for metric in registry.collect() for s in metric.samples}


class MetricsDelta:
    """A snapshot of a registry's samples, to assert on what changed since.

    ::

        delta = MetricsDelta(registry)
        client.get("/users/1")
        assert delta.get("http_requests_total", handler="/users/{id}", method="GET", status="200") == 1

    A sample missing from the snapshot counts as 0 before.
    """

    def __init__(self, registry: Optional[CollectorRegistry] = None) -> None:
        self.registry = REGISTRY if registry is None else registry
        self.reset()

    def reset(self) -> None:
        """Take a new snapshot; later deltas are measured from now."""
        self._before = _snapshot(self.registry)

    def get(self, name: str, labels: Optional[Dict[str, str]] = None, **label_kwargs: str) -> float:
        """The change of one sample since the snapshot; labels must match exactly.

        Labels are given as a dict, as keywords, or both. A sample absent now
        and before gives 0.
        """
        lbl = dict(labels or {}, **label_kwargs)
        key = (name, tuple(sorted(lbl.items())))
        now = _snapshot(self.registry).get(key, 0.0)
        return now - self._before.get(key, 0.0)

    def changes(self) -> Dict[_Key, float]:
        """Every sample whose value changed since the snapshot, keyed by (name, sorted label pairs)."""
        now = _snapshot(self.registry)
        out = {}
        for key, value in now.items():
            d = value - self._before.get(key, 0.0)
            if d != 0 and not (isinstance(d, float) and math.isnan(d)):
                out[key] = d
        return out


_CREATED = re.compile(r"^(\S*_created(?:\{.*\})?) \S+(.*)$")


def _normalize(exposition: Union[str, bytes]) -> List[str]:
    text = exposition.decode("utf-8") if isinstance(exposition, bytes) else exposition
    lines = []
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _CREATED.match(line)
        if m:
            line = f"{m.group(1)} <created>"
        lines.append(line)
    # Comment lines (HELP/TYPE/EOF) and samples are each sorted: order carries no meaning here.
    return sorted(lines, key=lambda s: (not s.startswith("#"), s))


def assert_exposition_equal(a: Union[str, bytes], b: Union[str, bytes]) -> None:
    """Assert two expositions (text or OpenMetrics, bytes or str) hold the same lines.

    Sample order and the values of ``_created`` samples are ignored. On a
    mismatch the ``AssertionError`` carries a unified diff of the normalized
    expositions.
    """
    left, right = _normalize(a), _normalize(b)
    if left != right:
        diff = "\n".join(difflib.unified_diff(left, right, "first", "second", lineterm=""))
        raise AssertionError("expositions differ (sorted, _created values ignored):\n" + diff)


try:
    import pytest
except ImportError:  # pragma: no cover - the helpers above work without pytest
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def metrics_registry() -> Iterator[CollectorRegistry]:
        """An isolated registry the global ``REGISTRY`` points at for the test (see ``isolated_registry``)."""
        with isolated_registry() as registry:
            yield registry

    @pytest.fixture
    def metrics_delta(metrics_registry: CollectorRegistry) -> MetricsDelta:
        """A ``MetricsDelta`` over the test's isolated registry, snapshotted at the start of the test."""
        return MetricsDelta(metrics_registry)

    @pytest.fixture
    def metrics_multiprocess_dir(tmp_path: Any, monkeypatch: Any) -> str:
        """A fresh, empty ``PROMETHEUS_MULTIPROC_DIR`` for this test, unset again afterwards.

        Metrics (and label children) created while it is set write to it;
        create them inside the test.
        """
        path = tmp_path / "prometheus_multiproc"
        path.mkdir()
        monkeypatch.delenv("prometheus_multiproc_dir", raising=False)
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", os.fspath(path))
        return os.fspath(path)

"""Helpers for the exact-bytes exposition tests: frozen clock, writers, a fixed-family collector."""

from __future__ import annotations

from types import SimpleNamespace
from typing import List

import pyrometer.metrics
import pytest
from pyrometer._text_format import generate_latest
from pyrometer.metrics_core import Metric
from pyrometer.openmetrics.exposition import generate_latest as om_generate_latest
from pyrometer.registry import CollectorRegistry

NOW = 1700000000.25  # renders as 1.70000000025e+09 in _created lines


def lines(*rows: str) -> bytes:
    """The UTF-8 bytes of ``rows``, each ending with a newline."""
    return "".join(row + "\n" for row in rows).encode("utf-8")


def text(registry: CollectorRegistry, escaping: str = "underscores") -> bytes:
    return generate_latest(registry, escaping=escaping)


def om(registry: CollectorRegistry, escaping: str = "underscores") -> bytes:
    return om_generate_latest(registry, escaping=escaping)


@pytest.fixture(autouse=True)
def frozen_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pyrometer.metrics, "time", SimpleNamespace(time=lambda: NOW))


class Families:
    """A custom collector yielding fixed families."""

    def __init__(self, *families: Metric) -> None:
        self.families = list(families)

    def collect(self) -> List[Metric]:
        return self.families

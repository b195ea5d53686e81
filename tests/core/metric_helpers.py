"""Helpers shared by the metric-type test modules."""

from __future__ import annotations

import re
import sys
import threading
from typing import Any, Callable

import pytest
from pyrometer.registry import CollectorRegistry


def raises_exactly(exc: type, message: str) -> Any:
    """``pytest.raises`` that requires the whole message to equal ``message``."""
    return pytest.raises(exc, match="^" + re.escape(message) + "$")


def value(registry: CollectorRegistry, name: str, **labels: str) -> Any:
    return registry.get_sample_value(name, labels)


def hammer(work: Callable[[int], None], threads: int = 8) -> None:
    """Run ``work(k)`` for k in ``range(threads)``, each in its own thread, all at once under a 1e-6 s switch interval.

    The tiny switch interval makes the interpreter switch threads between almost any two bytecodes, so a race
    in ``work`` shows up as a lost or doubled count instead of hiding behind the default 5 ms slices.
    """
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        workers = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
    finally:
        sys.setswitchinterval(old)

"""The optional C accelerator, ``pyrometer._speedups``: loaded once, at import, unless disabled.

It is compiled at install time when a C compiler is at hand (hatch_build.py) and
holds C versions of a few hot paths whose pure-Python equivalents always exist and
behave the same. ``PYROMETER_NO_EXTENSIONS=1`` selects the pure-Python ones.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Optional


def _load() -> Optional[ModuleType]:
    if os.environ.get("PYROMETER_NO_EXTENSIONS", "") not in ("", "0"):
        return None
    try:
        from . import _speedups
    except ImportError:  # not built: no compiler at install time, Windows, or disabled at build time
        return None
    return _speedups


speedups = _load()

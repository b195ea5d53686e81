"""twisted.web resource serving metrics (needs ``pip install pyrometer[twisted]``)."""

from __future__ import annotations

from ._exposition import MetricsResource

__all__ = ["MetricsResource"]

"""Django view serving metrics (needs ``pip install pyrometer[django]``)."""

from __future__ import annotations

from .exposition import PrometheusDjangoView

__all__ = ["PrometheusDjangoView"]

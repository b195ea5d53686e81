"""aiohttp handler serving metrics (needs ``pip install pyrometer[aiohttp]``)."""

from __future__ import annotations

from .exposition import make_aiohttp_handler

__all__ = ["make_aiohttp_handler"]

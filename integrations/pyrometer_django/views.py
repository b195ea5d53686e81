"""The /metrics view (``pyrometer_django.urls``) and ``do_not_track`` for views left out of the metrics."""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from django.http import HttpRequest
from pyrometer.django import PrometheusDjangoView
from pyrometer.http import scrape_registry
from pyrometer.registry import Collector

from ._config import get_config

__all__ = ["MetricsView", "do_not_track", "is_untracked"]

F = TypeVar("F", bound=Callable[..., Any])
_UNTRACKED = "_pyrometer_untracked"


def do_not_track(view: F) -> F:
    """Leave a view out of the request metrics (no series at all); works on functions and ``View`` classes."""
    setattr(view, _UNTRACKED, True)
    return view


def is_untracked(view: Any) -> bool:
    """Whether a resolved view (a function, or ``as_view()`` of a marked class) opted out."""
    return bool(getattr(view, _UNTRACKED, False) or getattr(getattr(view, "view_class", None), _UNTRACKED, False))


@do_not_track
class MetricsView(PrometheusDjangoView):
    """Serves ``PYROMETER["registry"]`` (in multiprocess mode every worker's files), guarded by its protection.

    ``as_view(registry=..., protection=..., disable_compression=...)`` overrides the settings.
    """

    def setup(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().setup(request, *args, **kwargs)
        config = get_config()
        if "protection" not in self.__dict__:
            self.protection = config.protection
        if "disable_compression" not in self.__dict__:
            self.disable_compression = config.disable_compression

    def _registry(self) -> Collector:
        return scrape_registry(self.registry if self.registry is not None else get_config().registry)

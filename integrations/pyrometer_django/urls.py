"""``path("", include("pyrometer_django.urls"))`` serves the metrics at ``PYROMETER["path"]`` (``/metrics``)."""

from __future__ import annotations

from typing import Any, List

from django.urls import path

from ._config import options
from .views import MetricsView

_path = options().get("path", "/metrics")

urlpatterns: List[Any] = [] if _path is None else [
    path(_path.lstrip("/"), MetricsView.as_view(), name="prometheus-django-metrics"),
]

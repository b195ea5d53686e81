"""The app config: ``"pyrometer_django"`` in ``INSTALLED_APPS``."""

from __future__ import annotations

from typing import Any, List

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.signals import request_started, setting_changed
from django.db.models.signals import post_migrate

from . import _config
from ._metrics import django_metrics
from ._migrations import FirstRequest, after_migrate
from .exporter import start_exporter

_BEFORE = "pyrometer_django.middleware.PrometheusBeforeMiddleware"
_AFTER = "pyrometer_django.middleware.PrometheusAfterMiddleware"


class PyrometerConfig(AppConfig):
    """Reads ``settings.PYROMETER`` (bad options fail at startup); migration gauges; ``PYROMETER_EXPORT_PORT``."""

    name = "pyrometer_django"
    verbose_name = "pyrometer"
    default = True

    def ready(self) -> None:
        config = _config.get_config()
        django_metrics()
        setting_changed.connect(_config.reset, dispatch_uid="pyrometer_django.reset")
        if config.export_migrations:
            post_migrate.connect(after_migrate, sender=self, dispatch_uid="pyrometer_django.post_migrate")
            request_started.connect(FirstRequest(), weak=False, dispatch_uid="pyrometer_django.first_request")
        checks.register(check_middleware)
        start_exporter()


def check_middleware(app_configs: Any = None, **kwargs: Any) -> List[checks.CheckMessage]:
    """Warn when only one of the two middleware is installed, or they are in the wrong order."""
    middleware = list(getattr(settings, "MIDDLEWARE", None) or ())
    has_before, has_after = _BEFORE in middleware, _AFTER in middleware
    if not has_before and not has_after:
        return []
    if has_before and has_after and middleware.index(_BEFORE) < middleware.index(_AFTER):
        return []
    return [checks.Warning(
        "pyrometer_django needs both middleware: PrometheusBeforeMiddleware first in MIDDLEWARE and "
        "PrometheusAfterMiddleware last.", hint=f"MIDDLEWARE = [{_BEFORE!r}, ..., {_AFTER!r}]",
        id="pyrometer_django.W001")]

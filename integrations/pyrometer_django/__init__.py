"""Request, database, cache, model and migration metrics for Django.

    INSTALLED_APPS = [..., "pyrometer_django"]
    MIDDLEWARE = [
        "pyrometer_django.middleware.PrometheusBeforeMiddleware",   # first
        ...,
        "pyrometer_django.middleware.PrometheusAfterMiddleware",    # last
    ]
    urlpatterns = [..., path("", include("pyrometer_django.urls"))]  # GET /metrics
    PYROMETER = {"excluded_paths": ["/health"]}                      # optional: engine options and more

Requests are measured by the shared engine (``pyrometer.http``) with ``handler`` =
the route template of the matched URL pattern, includes joined
(``/polls/<int:question_id>/``); unmatched URLs are ``handler="none"``. Databases:
``ENGINE = "pyrometer_django.db.backends.sqlite3"`` (``postgresql``, ``mysql``);
caches: ``pyrometer_django.cache.backends.locmem.LocMemCache`` (``filebased``,
``redis``, ``memcached``); models: ``ExportModelOperationsMixin("name")``. Those
metrics keep django-prometheus's names. Per-view control: ``exclude_from_metrics``
and the custom-metric decorators of ``pyrometer_django.decorators``; a separate
export port: ``PYROMETER_EXPORT_PORT`` (``pyrometer_django.exporter``). See
docs/integrations/django.md.
"""

from __future__ import annotations

from .views import MetricsView, do_not_track

exclude_from_metrics = do_not_track

__all__ = ["MetricsView", "do_not_track", "exclude_from_metrics"]

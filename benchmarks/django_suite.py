"""The Django middleware comparison, run by the benchmark runner as ``python -m benchmarks.django_suite SIZE REPEATS``.

Django's settings are process-wide, so this subprocess configures one project and
builds three ``WSGIHandler``s from it — bare, pyrometer_django's middleware,
django-prometheus's middleware — each loading its own ``MIDDLEWARE`` list. It prints
``{"samples": {variant: [seconds per request, ...]}, "exact": {variant: bool}}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Callable, Dict, List

from django.http import HttpRequest, JsonResponse
from django.urls import path

from .middleware import WSGIDriver, counted, installed, interleave, sent

PEER = "django-prometheus"
ROUTE = "/users/<int:user_id>"
MIDDLEWARE = {
    "bare": [],
    "pyrometer": ["pyrometer_django.middleware.PrometheusBeforeMiddleware",
                  "pyrometer_django.middleware.PrometheusAfterMiddleware"],
    PEER: ["django_prometheus.middleware.PrometheusBeforeMiddleware",
           "django_prometheus.middleware.PrometheusAfterMiddleware"],
}


def user(request: HttpRequest, user_id: int) -> JsonResponse:
    """The templated route every variant serves."""
    return JsonResponse({"id": user_id})


urlpatterns = [path("users/<int:user_id>", user, name="user")]


def main(argv: List[str]) -> int:
    size, repeats = int(argv[0]), int(argv[1])
    import django
    import prometheus_client
    import pyrometer
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    peer = installed("django_prometheus")
    ours = pyrometer.CollectorRegistry()
    settings.configure(
        DEBUG=False, SECRET_KEY="benchmarks", ALLOWED_HOSTS=["*"], USE_TZ=True, ROOT_URLCONF=__name__,
        INSTALLED_APPS=["pyrometer_django"] + (["django_prometheus"] if peer else []), DATABASES={}, MIDDLEWARE=[],
        PYROMETER={"registry": ours, "export_migrations": False},
        # Django logs every 404 at WARNING; writing that to stderr would be most of what gets timed.
        LOGGING={"version": 1, "disable_existing_loggers": False,
                 "loggers": {"django.request": {"level": "ERROR"}}})
    django.setup()

    drivers: Dict[str, WSGIDriver] = {}
    for variant, middleware in MIDDLEWARE.items():
        if variant == PEER and not peer:
            continue
        settings.MIDDLEWARE = middleware  # a WSGIHandler loads the MIDDLEWARE in force when it is built
        drivers[variant] = WSGIDriver(WSGIHandler())
    checks: Dict[str, Callable[[int, int], bool]] = {
        "bare": lambda hits, misses: True,
        "pyrometer": lambda hits, misses: (counted(ours, "http_requests_total", ROUTE) == hits
                                           and counted(ours, "http_requests_total", "none") == misses),
        PEER: lambda hits, misses: counted(
            prometheus_client.REGISTRY, "django_http_responses_total_by_status_view_method_total", "user") == hits,
    }
    answered = {name: d.check() for name, d in drivers.items()}
    samples = interleave({name: d.batch for name, d in drivers.items()}, size, repeats)
    exact = {name: answered[name] and checks[name](*sent(d.total)) for name, d in drivers.items()}
    result: Dict[str, Any] = {"samples": samples, "exact": exact}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

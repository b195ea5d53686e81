"""A minimal one-file Django project with request metrics and /metrics (pyrometer_django).

Run it (settings, URLs and views all live in this file)::

    python example_apps/django_app/manage.py runserver 127.0.0.1:8002

Then::

    curl http://127.0.0.1:8002/users/42/
    curl http://127.0.0.1:8002/error/            # 500, counted in http_exceptions_total
    curl http://127.0.0.1:8002/metrics
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.urls import include, path

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    SECRET_KEY="example-only-not-secret",  # a demo project only
    ROOT_URLCONF=__name__,
    INSTALLED_APPS=["pyrometer_django"],
    MIDDLEWARE=[
        "pyrometer_django.middleware.PrometheusBeforeMiddleware",  # first
        "django.middleware.common.CommonMiddleware",
        "pyrometer_django.middleware.PrometheusAfterMiddleware",  # last
    ],
    DATABASES={},
    PYROMETER={"excluded_paths": ["/health/"]},
)


def index(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"service": "django-example"})


def get_user(request: HttpRequest, user_id: int) -> JsonResponse:
    return JsonResponse({"id": user_id, "name": f"user{user_id}"})  # measured as /users/<int:user_id>/


def error(request: HttpRequest) -> JsonResponse:
    raise RuntimeError("something broke")  # Django answers 500; the exception is counted


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


urlpatterns = [
    path("", index),
    path("users/<int:user_id>/", get_user),
    path("error/", error),
    path("health/", health),
    path("", include("pyrometer_django.urls")),  # GET /metrics
]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)

"""Settings of the Django test project: every pyrometer_django piece switched on."""

import atexit
import os
import shutil
import tempfile

from pyrometer.protection import Protection

_TMP = tempfile.mkdtemp(prefix="pyrometer-django-tests-")
atexit.register(shutil.rmtree, _TMP, True)

SECRET_KEY = "pyrometer-tests"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1"]
USE_TZ = True
ROOT_URLCONF = "testproject.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "pyrometer_django",
    "polls",
]

MIDDLEWARE = [
    "pyrometer_django.middleware.PrometheusBeforeMiddleware",
    "django.middleware.common.CommonMiddleware",
    "testproject.middleware.TokenRequired",
    "pyrometer_django.middleware.PrometheusAfterMiddleware",
]

DATABASES = {
    "default": {
        "ENGINE": "pyrometer_django.db.backends.sqlite3",
        "NAME": os.path.join(_TMP, "db.sqlite3"),
        # A file, not the in-memory default: closing a connection and opening a new one must work.
        "TEST": {"NAME": os.path.join(_TMP, "test-db.sqlite3")},
    },
}

TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", {"hello.html": "Hello {{ name }}"})]},
}]

CACHES = {
    "default": {
        "BACKEND": "pyrometer_django.cache.backends.locmem.LocMemCache",
        "LOCATION": "pyrometer-tests",
    },
    "files": {
        "BACKEND": "pyrometer_django.cache.backends.filebased.FileBasedCache",
        "LOCATION": os.path.join(_TMP, "cache"),
    },
}

PYROMETER = {
    "excluded_paths": ["/health/"],
    "protection": Protection(basic_auth={"prom": "s3cret"}),
}

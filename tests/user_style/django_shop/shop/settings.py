"""Settings of a tiny shop: request metrics from pyrometer_django, no database."""

SECRET_KEY = "user-style-shop"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
ROOT_URLCONF = "shop.urls"
INSTALLED_APPS = ["pyrometer_django"]
MIDDLEWARE = [
    "pyrometer_django.middleware.PrometheusBeforeMiddleware",
    "pyrometer_django.middleware.PrometheusAfterMiddleware",
]
DATABASES = {}

"""Instrumented cache backends: set ``BACKEND`` to ``pyrometer_django.cache.backends.<kind>.<Class>``."""

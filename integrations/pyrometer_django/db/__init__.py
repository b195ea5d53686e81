"""Instrumented database backends: set ``ENGINE`` to ``pyrometer_django.db.backends.<vendor>``."""

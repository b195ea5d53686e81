"""``ENGINE = "pyrometer_django.db.backends.sqlite3"``: Django's sqlite3 backend, instrumented."""

from django.db.backends.sqlite3 import base

from .._common import DatabaseWrapperMixin


class DatabaseWrapper(DatabaseWrapperMixin, base.DatabaseWrapper):
    """Django's sqlite3 ``DatabaseWrapper`` counting connections, statements, errors and query time."""

"""``ENGINE = "pyrometer_django.db.backends.postgresql"``: Django's postgresql backend, instrumented."""

from django.db.backends.postgresql import base

from .._common import DatabaseWrapperMixin


class DatabaseWrapper(DatabaseWrapperMixin, base.DatabaseWrapper):
    """Django's postgresql ``DatabaseWrapper`` counting connections, statements, errors and query time."""

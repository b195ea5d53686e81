"""``ENGINE = "pyrometer_django.db.backends.mysql"``: Django's mysql backend, instrumented."""

from django.db.backends.mysql import base

from .._common import DatabaseWrapperMixin


class DatabaseWrapper(DatabaseWrapperMixin, base.DatabaseWrapper):
    """Django's mysql ``DatabaseWrapper`` counting connections, statements, errors and query time."""

"""``django_migrations_applied_total`` / ``django_migrations_unapplied_total`` per database alias."""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterable, Optional

from ._metrics import django_metrics

logger = logging.getLogger("pyrometer_django")


def export_migrations(aliases: Optional[Iterable[str]] = None) -> None:
    """Set the migration gauges of ``aliases`` (every configured database by default) from the database."""
    from django.db import connections
    from django.db.backends.dummy.base import DatabaseWrapper as DummyWrapper
    from django.db.migrations.executor import MigrationExecutor

    m = django_metrics()
    for alias in (connections if aliases is None else aliases):
        connection = connections[alias]
        if isinstance(connection, DummyWrapper):  # DATABASES = {}: Django's placeholder refuses every query
            continue
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        m.migrations_unapplied.labels(alias).set(len(plan))
        m.migrations_applied.labels(alias).set(len(executor.loader.applied_migrations))


def after_migrate(using: str = "default", **kwargs: Any) -> None:
    """``post_migrate`` receiver: the gauges of the database just migrated."""
    export_migrations([using])


class FirstRequest:
    """``request_started`` receiver exporting the gauges once per process, at its first request.

    Not in ``AppConfig.ready``: Django warns against queries while apps load, and a
    web worker never runs ``migrate`` itself. A failure (database down) is logged, not
    retried, and never breaks the request.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.done = False

    def __call__(self, **kwargs: Any) -> None:
        if self.done:
            return
        with self._lock:
            if self.done:
                return
            self.done = True
        try:
            export_migrations()
        except Exception:
            logger.warning("pyrometer_django: could not export the migration gauges", exc_info=True)

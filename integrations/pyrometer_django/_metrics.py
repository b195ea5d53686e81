"""The database, cache, model and migration metrics, with django-prometheus's names and labels.

Built once per process, on first use (at the latest in ``AppConfig.ready``), in
``PYROMETER["registry"]`` with ``PYROMETER["namespace"]`` as prefix.
"""

from __future__ import annotations

from pyrometer.metrics import Counter, Gauge, Histogram
from pyrometer.registry import REGISTRY

from ._config import options
from ._once import Once

# django-prometheus's PROMETHEUS_LATENCY_BUCKETS.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 25.0, 50.0, 75.0)


class DjangoMetrics:
    """One instance per process: see ``django_metrics()``."""

    def __init__(self) -> None:
        opts = options()
        kw = {"registry": opts.get("registry", REGISTRY), "namespace": opts.get("namespace", "")}
        db = ["alias", "vendor"]
        self.db_connections = Counter("django_db_new_connections_total",
                                      "Counter of created connections by database and by vendor.", db, **kw)
        self.db_connection_errors = Counter("django_db_new_connection_errors_total",
                                            "Counter of connection failures by database and by vendor.", db, **kw)
        self.db_execute = Counter("django_db_execute_total", "Counter of executed statements by database and by "
                                  "vendor, including bulk executions.", db, **kw)
        self.db_execute_many = Counter("django_db_execute_many_total", "Counter of executed statements in bulk "
                                       "operations by database and by vendor.", db, **kw)
        self.db_errors = Counter("django_db_errors_total",
                                 "Counter of execution errors by database, vendor and exception type.",
                                 db + ["type"], **kw)
        self.db_duration = Histogram("django_db_query_duration_seconds",
                                     "Histogram of query duration by database and vendor.", db,
                                     buckets=opts.get("db_buckets") or LATENCY_BUCKETS, **kw)
        self.cache_get = Counter("django_cache_get_total", "Total get requests on cache", ["backend"], **kw)
        self.cache_hits = Counter("django_cache_get_hits_total", "Total hits on cache", ["backend"], **kw)
        self.cache_misses = Counter("django_cache_get_misses_total", "Total misses on cache", ["backend"], **kw)
        self.cache_fails = Counter("django_cache_get_fail_total", "Total get request failures by cache",
                                   ["backend"], **kw)
        self.model_inserts = Counter("django_model_inserts_total", "Number of insert operations by model.",
                                     ["model"], **kw)
        self.model_updates = Counter("django_model_updates_total", "Number of update operations by model.",
                                     ["model"], **kw)
        self.model_deletes = Counter("django_model_deletes_total", "Number of delete operations by model.",
                                     ["model"], **kw)
        # Every worker sets these on its first request: the live workers agree, a dead one must not count.
        self.migrations_applied = Gauge("django_migrations_applied_total",
                                        "Count of applied migrations by database connection", ["connection"],
                                        multiprocess_mode="livemax", **kw)
        self.migrations_unapplied = Gauge("django_migrations_unapplied_total",
                                          "Count of unapplied migrations by database connection", ["connection"],
                                          multiprocess_mode="livemax", **kw)


_metrics: Once[DjangoMetrics] = Once(DjangoMetrics)


def django_metrics() -> DjangoMetrics:
    """The process's database, cache, model and migration metrics (created on the first call)."""
    return _metrics.get()

"""What every instrumented backend adds to Django's ``DatabaseWrapper``.

The wrapper counts connection attempts and failures; each cursor Django hands
out (plain or debug, whatever class the vendor's backend uses) gets a subclass
whose ``execute``/``executemany`` count statements, time them and count errors
by exception class. Metric names and labels are django-prometheus's.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Dict, Optional

from ..._metrics import django_metrics

__all__ = ["DatabaseWrapperMixin"]


class _Children:
    """The metric children of one (alias, vendor), resolved once per connection object."""

    __slots__ = ("alias", "duration", "errors", "execute", "execute_many", "vendor")

    def __init__(self, alias: str, vendor: str) -> None:
        m = django_metrics()
        self.alias, self.vendor = alias, vendor
        self.execute = m.db_execute.labels(alias, vendor)
        self.execute_many = m.db_execute_many.labels(alias, vendor)
        self.duration = m.db_duration.labels(alias, vendor)
        self.errors = m.db_errors

    def error(self, exc: BaseException) -> None:
        self.errors.labels(self.alias, self.vendor, type(exc).__name__).inc()


class DatabaseWrapperMixin:
    """Mixed in before the vendor's ``DatabaseWrapper``."""

    alias: str
    vendor: str

    def get_new_connection(self, conn_params: Dict[str, Any]) -> Any:
        m = django_metrics()
        m.db_connections.labels(self.alias, self.vendor).inc()
        try:
            return super().get_new_connection(conn_params)  # type: ignore[misc]
        except Exception:
            m.db_connection_errors.labels(self.alias, self.vendor).inc()
            raise

    def _pyrometer_children(self) -> _Children:
        children: Optional[_Children] = self.__dict__.get("_pyrometer")
        if children is None:
            children = self.__dict__["_pyrometer"] = _Children(self.alias, self.vendor)
        return children

    def make_cursor(self, cursor: Any) -> Any:
        return _instrument(super().make_cursor(cursor))  # type: ignore[misc]

    def make_debug_cursor(self, cursor: Any) -> Any:
        return _instrument(super().make_debug_cursor(cursor))  # type: ignore[misc]


class _InstrumentedCursor:
    """Mixed into the cursor class Django chose; ``self.db`` is the connection wrapper."""

    db: Any

    def execute(self, sql: Any, params: Any = None) -> Any:
        children = self.db._pyrometer_children()
        children.execute.inc()
        started = perf_counter()
        try:
            return super().execute(sql, params)  # type: ignore[misc]
        except Exception as exc:
            children.error(exc)
            raise
        finally:
            children.duration.observe(perf_counter() - started)

    def executemany(self, sql: Any, param_list: Any) -> Any:
        if not hasattr(param_list, "__len__"):
            param_list = list(param_list)  # an iterator: counted here, so materialised once
        children = self.db._pyrometer_children()
        children.execute.inc(len(param_list))
        children.execute_many.inc(len(param_list))
        started = perf_counter()
        try:
            return super().executemany(sql, param_list)  # type: ignore[misc]
        except Exception as exc:
            children.error(exc)
            raise
        finally:
            children.duration.observe(perf_counter() - started)


_classes: Dict[type, type] = {}


def _instrumented_class(cls: type) -> type:
    sub = _classes.get(cls)
    if sub is None:
        sub = _classes.setdefault(cls, type(f"Instrumented{cls.__name__}", (_InstrumentedCursor, cls), {
            "__module__": __name__, "__doc__": cls.__doc__}))
    return sub


def _instrument(wrapper: Any) -> Any:
    if not isinstance(wrapper, _InstrumentedCursor):
        wrapper.__class__ = _instrumented_class(type(wrapper))
    return wrapper


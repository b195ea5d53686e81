"""``ExportModelOperationsMixin``: insert/update/delete counters per model (django-prometheus's names)."""

from __future__ import annotations

from typing import Any

from ._metrics import django_metrics

__all__ = ["ExportModelOperationsMixin"]


def ExportModelOperationsMixin(model_name: str) -> type:
    """A mixin counting a model's saves and deletes with ``model=model_name``::

        class Dog(ExportModelOperationsMixin("dog"), models.Model):
            ...

    ``django_model_inserts_total`` counts rows inserted by ``save()``,
    ``django_model_updates_total`` rows updated by ``save()`` (a ``save()`` whose UPDATE
    matched no row and became an INSERT counts as one insert only), and
    ``django_model_deletes_total`` calls of ``delete()`` on an instance. Queryset
    ``update()``/``delete()``/``bulk_create()`` bypass model methods and are not counted.
    """
    m = django_metrics()
    inserts, updates, deletes = (m.model_inserts.labels(model_name), m.model_updates.labels(model_name),
                                 m.model_deletes.labels(model_name))  # created now: no gap before the first one

    class Mixin:
        def _do_insert(self, *args: Any, **kwargs: Any) -> Any:
            result = super()._do_insert(*args, **kwargs)  # type: ignore[misc]
            inserts.inc()
            return result

        def _do_update(self, *args: Any, **kwargs: Any) -> Any:
            updated = super()._do_update(*args, **kwargs)  # type: ignore[misc]
            if updated:
                updates.inc()
            return updated

        def delete(self, *args: Any, **kwargs: Any) -> Any:
            result = super().delete(*args, **kwargs)  # type: ignore[misc]
            deletes.inc()
            return result

    Mixin.__name__ = Mixin.__qualname__ = f"ExportModelOperationsMixin({model_name!r})"
    return Mixin

"""``settings.PYROMETER``: the engine options plus the Django-only ones, read once and rebuilt when changed.

Every key is optional::

    PYROMETER = {
        "preset": "default", "namespace": "", "buckets": None, "excluded_paths": [], "group_status": False,
        "metrics": None, "duration_status": False, "const_labels": {}, "extra_labels": {},
        "extra_label_limit": 100, "registry": REGISTRY,          # the engine's options (pyrometer.http)
        "max_label_sets": 10_000, "exemplars": "auto", "exemplar_interval": 0.0,
        "handler_label": "route",      # or "view" (the URL name, as django-prometheus; default of that preset)
        "path": "/metrics",            # where pyrometer_django.urls serves the metrics; None: nowhere
        "protection": None,            # pyrometer.protection.Protection for that path
        "disable_compression": False,
        "export_migrations": True,     # django_migrations_{applied,unapplied}_total
        "db_buckets": None,            # django_db_query_duration_seconds buckets
    }
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from pyrometer.http import KINDS, HttpMetrics
from pyrometer.protection import Protection
from pyrometer.registry import REGISTRY, CollectorRegistry

from ._legacy import PRESET as LEGACY_PRESET
from ._legacy import LegacySeries
from ._once import Once

SETTING = "PYROMETER"
ENGINE_OPTIONS = frozenset((
    "preset", "namespace", "buckets", "excluded_paths", "group_status", "metrics", "duration_status",
    "const_labels", "extra_labels", "extra_label_limit", "registry", "max_label_sets", "exemplars",
    "exemplar_interval"))
OWN_OPTIONS = frozenset(("handler_label", "path", "protection", "disable_compression", "export_migrations",
                         "db_buckets"))
HANDLER_LABELS = ("route", "view")


def options() -> Dict[str, Any]:
    """``settings.PYROMETER`` as a dict, its keys checked."""
    raw = getattr(settings, SETTING, None)
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ImproperlyConfigured(f"settings.{SETTING} must be a dict, not {type(raw).__name__}")
    unknown = set(raw) - ENGINE_OPTIONS - OWN_OPTIONS
    if unknown:
        raise ImproperlyConfigured(f"Unknown settings.{SETTING} keys {sorted(unknown)}; "
                                   f"known: {sorted(ENGINE_OPTIONS | OWN_OPTIONS)}")
    return dict(raw)


class Config:
    """What the middleware and the /metrics view use, built from ``settings.PYROMETER``."""

    def __init__(self, opts: Mapping[str, Any]) -> None:
        engine_opts = {k: v for k, v in opts.items() if k in ENGINE_OPTIONS}
        self.registry: Optional[CollectorRegistry] = engine_opts.setdefault("registry", REGISTRY)
        try:
            self.engine = HttpMetrics(**engine_opts)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"settings.{SETTING}: {exc}") from exc
        # Body sizes are only worked out when a size histogram is exported.
        self.sizes = bool(self.engine.metric("request_size") or self.engine.metric("response_size"))
        default_label = "view" if opts.get("preset") == "django_prometheus" else "route"
        self.handler_label: str = opts.get("handler_label") or default_label
        if self.handler_label not in HANDLER_LABELS:
            raise ImproperlyConfigured(f"settings.{SETTING}['handler_label'] must be one of {HANDLER_LABELS}, "
                                       f"not {self.handler_label!r}")
        self.protection: Optional[Protection] = opts.get("protection")
        if self.protection is not None and not isinstance(self.protection, Protection):
            raise ImproperlyConfigured(f"settings.{SETTING}['protection'] must be a pyrometer.protection.Protection")
        self.disable_compression = bool(opts.get("disable_compression", False))
        self.export_migrations = bool(opts.get("export_migrations", True))
        # django-prometheus's Django-only request series, next to the preset's engine series.
        self.legacy: Optional[LegacySeries] = None
        if opts.get("preset") == LEGACY_PRESET:
            self.legacy = LegacySeries(self.registry, opts.get("namespace", ""))

    def unregister(self) -> None:
        """Take this configuration's request metrics out of their registry (before a new one replaces it)."""
        if self.registry is None:
            return
        metrics = [metric for kind in KINDS for metric in self.engine.metric(kind)]
        if self.legacy is not None:
            metrics += self.legacy.collectors()
        for metric in metrics:
            try:
                self.registry.unregister(metric)
            except KeyError:
                pass


_current: Once[Config] = Once(lambda: Config(options()))


def get_config() -> Config:
    """The current configuration, built on first use."""
    return _current.get()


def reset(**kwargs: Any) -> None:
    """``setting_changed`` receiver: forget the configuration when ``PYROMETER`` changes (tests' override_settings)."""
    if kwargs.get("setting") != SETTING:
        return
    _current.clear(Config.unregister)

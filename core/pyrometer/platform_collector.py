"""``python_info``: the interpreter's implementation and version (and JVM on Jython)."""

from __future__ import annotations

import platform as _platform_module
from typing import Any, Dict, List, Optional

from .metrics_core import GaugeMetricFamily, Metric
from .registry import REGISTRY, Collector, CollectorRegistry


def _python_labels(pf: Any) -> Dict[str, str]:
    major, minor, patchlevel = pf.python_version_tuple()
    return {
        "version": pf.python_version(),
        "implementation": pf.python_implementation(),
        "major": major,
        "minor": minor,
        "patchlevel": patchlevel,
    }


def _jvm_labels(pf: Any) -> Dict[str, str]:
    release, _vendor, (vm_name, vm_release, vm_vendor), _os_info = pf.java_ver()
    return {
        "jvm_version": release,
        "jvm_release": vm_release,
        "jvm_vendor": vm_vendor,
        "jvm_name": vm_name,
    }


class PlatformCollector(Collector):
    """Exports ``python_info`` with value 1; labels are read once, at construction.

    ``platform`` stands in for the :mod:`platform` module (for tests).
    """

    def __init__(self, registry: Optional[CollectorRegistry] = REGISTRY, platform: Optional[Any] = None) -> None:
        pf = _platform_module if platform is None else platform
        labels = _python_labels(pf)
        if pf.system() == "Java":
            labels.update(_jvm_labels(pf))
        info = GaugeMetricFamily("python_info", "Python platform information", labels=list(labels))
        info.add_metric(list(labels.values()), 1)
        self._families: List[Metric] = [info]
        if registry is not None:
            registry.register(self)

    def describe(self) -> List[Metric]:
        """The ``python_info`` family."""
        return list(self._families)

    def collect(self) -> List[Metric]:
        """The ``python_info`` family, built at construction since it never changes."""
        return list(self._families)


PLATFORM_COLLECTOR = PlatformCollector()
"""The platform collector registered in ``REGISTRY``."""

"""The ``pytest11`` entry point: only an opt-in switch for the ``pyrometer.testing`` plugin.

pytest loads every installed entry-point plugin, so this module defines no
fixtures. ``--pyrometer`` or the ini option ``pyrometer = true`` loads
``pyrometer.testing``; so do ``-p pyrometer.testing`` and
``pytest_plugins = ["pyrometer.testing"]``, without this module's help.
"""

from __future__ import annotations

from typing import Any


def pytest_addoption(parser: Any) -> None:
    """Add ``--pyrometer`` and the ini flag ``pyrometer``."""
    parser.addoption("--pyrometer", action="store_true", default=False,
                     help="enable the pyrometer.testing fixtures (metrics_registry, metrics_delta, ...)")
    parser.addini("pyrometer", "enable the pyrometer.testing fixtures", type="bool", default=False)


def pytest_configure(config: Any) -> None:
    """Load ``pyrometer.testing`` when asked to."""
    if config.getoption("--pyrometer") or config.getini("pyrometer"):
        config.pluginmanager.import_plugin("pyrometer.testing")

"""Opt in to pyrometer's pytest fixtures the way a user's project does from a non-root conftest.

pytest refuses ``pytest_plugins`` outside the root conftest, so a sub-directory
imports the fixtures instead, which scopes them to this directory; a project's
root ``conftest.py`` would say ``pytest_plugins = ["pyrometer.testing"]``.
"""

from pyrometer.testing import metrics_delta, metrics_multiprocess_dir, metrics_registry

__all__ = ["metrics_delta", "metrics_multiprocess_dir", "metrics_registry"]

# The Django project runs with pytest-django in a process of its own (test_user_django_app.py), never in this one.
collect_ignore = ["django_shop"]

"""Runs the Django test project's pytest-django suite in a process of its own.

Django settings are process-wide and pytest-django configures them at start-up,
so the project (tests/integrations/django/project, with its own settings module and
pytest.ini) cannot share a process with the rest of the suite: there pytest-django
stays off (``-p no:django`` in pyproject.toml) and other modules configure Django
their own way. The project's output is shown when it fails.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).parent / "project"


def test_django_project_suite():
    """The Django test project's pytest-django suite passes in its own process with its own settings."""
    pytest.importorskip("django")
    pytest.importorskip("pytest_django")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "DJANGO_SETTINGS_MODULE",
                        "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(PROJECT / "pytest.ini"), "--rootdir", str(PROJECT), "-q",
         str(PROJECT)],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"Django project suite failed:\n{result.stdout}\n{result.stderr}"
    assert " passed" in result.stdout.splitlines()[-1]

"""Runs the Django test project's pytest-django suite in a process of its own.

Django settings are process-wide and pytest-django configures them at start-up,
so the project (tests/integrations/django/project, with its own settings module and
pytest.ini) cannot share a process with the rest of the suite: there pytest-django
stays off (``-p no:django`` in pyproject.toml) and other modules configure Django
their own way. The project's output is shown when it fails.
"""

from pathlib import Path

from process_helpers import run_django_project

PROJECT = Path(__file__).parent / "project"


def test_django_project_suite():
    """The Django test project's pytest-django suite passes in its own process with its own settings."""
    result = run_django_project(PROJECT, timeout=300)
    assert result.returncode == 0, f"Django project suite failed:\n{result.stdout}\n{result.stderr}"
    assert " passed" in result.stdout.splitlines()[-1]

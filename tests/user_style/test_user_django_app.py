"""Runs the user-style Django project (django_shop/) with pytest-django, in a process of its own.

pytest-django configures Django's process-wide settings at start-up, while the main suite runs with
``-p no:django``; so, like tests/integrations/django/test_django.py, this module runs the project's own
pytest (its pytest.ini and root conftest.py, which opts in to ``pyrometer.testing``) as a subprocess.
"""

from pathlib import Path

from process_helpers import run_django_project

PROJECT = Path(__file__).parent / "django_shop"


def test_django_view_with_module_level_metric_tested_twice_with_pytest_django():
    """Both tests of the project pass: the client fixture's requests are counted in each test's isolated registry."""
    result = run_django_project(PROJECT, timeout=120)
    assert result.returncode == 0, f"django_shop suite failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.splitlines()[-1].startswith("2 passed"), result.stdout

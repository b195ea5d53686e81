"""Fixtures of the Django test project."""

import copy
import importlib.util

import dbservers
import pytest
from django.db import connections
from pyrometer import CollectorRegistry


@pytest.fixture
def registry(settings):
    """A fresh registry for the request metrics of one test (the PYROMETER setting change rebuilds the engine)."""
    reg = CollectorRegistry()
    settings.PYROMETER = {**settings.PYROMETER, "registry": reg}
    return reg


@pytest.fixture
def configure(settings):
    """Replace PYROMETER options for one test; returns the fresh registry the request metrics go to."""
    def apply(**options):
        reg = CollectorRegistry()
        settings.PYROMETER = {**settings.PYROMETER, "registry": reg, **options}
        return reg
    return apply


def _add_alias(alias, settings_dict):
    """Make ``alias`` a database of ``django.db.connections`` (Django's defaults filled in)."""
    configured = connections.configure_settings({"default": copy.deepcopy(connections.settings["default"]),
                                                 alias: settings_dict})
    connections.settings[alias] = configured[alias]


def _drop_alias(alias):
    if alias in connections:
        connections[alias].close()
        del connections[alias]
    connections.settings.pop(alias, None)


@pytest.fixture(scope="module")
def postgres_alias(django_db_blocker):
    """The alias ``pg``: a throw-away PostgreSQL server through ``pyrometer_django.db.backends.postgresql``.

    The server runs for the tests of one module; the tests reach it outside Django's
    test-database machinery (the database is created by the fixture and dropped with it).
    """
    reason = dbservers.postgres_missing()
    if reason is None and importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2") is None:
        reason = "no PostgreSQL driver (pip install 'psycopg[binary]')"
    if reason:
        pytest.skip(reason)
    with dbservers.postgres_server() as params, django_db_blocker.unblock():
        _add_alias("pg", {"ENGINE": "pyrometer_django.db.backends.postgresql", **params})
        try:
            yield "pg"
        finally:
            _drop_alias("pg")


@pytest.fixture(scope="module")
def mysql_alias(django_db_blocker):
    """The alias ``my``: a throw-away MariaDB/MySQL server through ``pyrometer_django.db.backends.mysql``."""
    reason = dbservers.mysql_missing()
    if reason is None and importlib.util.find_spec("MySQLdb") is None:
        reason = "no MySQL driver (pip install mysqlclient; Debian: default-libmysqlclient-dev pkg-config)"
    if reason:
        pytest.skip(reason)
    with dbservers.mysql_server() as params, django_db_blocker.unblock():
        _add_alias("my", {"ENGINE": "pyrometer_django.db.backends.mysql", **params})
        try:
            yield "my"
        finally:
            _drop_alias("my")

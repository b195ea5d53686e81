"""Database metrics of the instrumented sqlite3 backend: connections, statements, errors, query time."""

import pytest
from django.db import OperationalError, connection, connections
from django.test.utils import CaptureQueriesContext
from helpers import value

DB = {"alias": "default", "vendor": "sqlite"}


@pytest.mark.django_db(transaction=True)
def test_new_connection_counted():
    """Closing the connection and querying again counts one new connection."""
    connection.ensure_connection()
    before = value("django_db_new_connections_total", DB)
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert value("django_db_new_connections_total", DB) == before + 1


@pytest.mark.django_db
def test_connection_failure_counted():
    """A connection that cannot be opened counts an attempt and a connection error for its alias."""
    default = connections["default"]
    broken = type(default)({**default.settings_dict, "NAME": "/nonexistent/dir/db.sqlite3"}, alias="broken")
    labels = {"alias": "broken", "vendor": "sqlite"}
    with pytest.raises(OperationalError):
        broken.ensure_connection()
    broken.close()
    assert value("django_db_new_connections_total", labels) == 1
    assert value("django_db_new_connection_errors_total", labels) == 1


@pytest.mark.django_db
def test_execute_executemany_and_duration():
    """execute counts one statement; executemany counts each parameter set (lists and iterators); each is timed."""
    before = {name: value(name, DB) for name in (
        "django_db_execute_total", "django_db_execute_many_total", "django_db_query_duration_seconds_count")}
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE t (x INTEGER)")
        cursor.executemany("INSERT INTO t VALUES (%s)", [(1,), (2,), (3,)])
        cursor.executemany("INSERT INTO t VALUES (%s)", ((i,) for i in range(4)))
        cursor.execute("SELECT COUNT(*) FROM t")
        assert cursor.fetchone() == (7,)
    assert value("django_db_execute_total", DB) == before["django_db_execute_total"] + 9
    assert value("django_db_execute_many_total", DB) == before["django_db_execute_many_total"] + 7
    assert value("django_db_query_duration_seconds_count", DB) == before["django_db_query_duration_seconds_count"] + 4


@pytest.mark.django_db
def test_failing_query_counted_as_error():
    """A failing statement is counted, timed and counted as an error by exception class."""
    labels = {**DB, "type": "OperationalError"}
    errors, executes = value("django_db_errors_total", labels), value("django_db_execute_total", DB)
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    assert value("django_db_errors_total", labels) == errors + 1
    assert value("django_db_execute_total", DB) == executes + 1


@pytest.mark.django_db
def test_debug_cursor_and_orm_counted():
    """Queries through the debug cursor (CaptureQueriesContext) and the ORM are counted and still captured."""
    from polls.models import Question

    before = value("django_db_execute_total", DB)
    with CaptureQueriesContext(connection) as captured:
        Question.objects.create(text="q")
        assert Question.objects.count() == 1
    assert len(captured) >= 2
    assert value("django_db_execute_total", DB) == before + len(captured)
    assert type(connections["default"].cursor()).__name__.startswith("Instrumented")


def test_backends_import():
    """The postgresql and mysql wrappers are Django's backends with the mixin (imported only when used)."""
    from pyrometer_django.db.backends._common import DatabaseWrapperMixin
    from pyrometer_django.db.backends.sqlite3.base import DatabaseWrapper

    assert issubclass(DatabaseWrapper, DatabaseWrapperMixin)
    for vendor in ("postgresql", "mysql"):
        try:
            module = __import__(f"pyrometer_django.db.backends.{vendor}.base", fromlist=["DatabaseWrapper"])
        except Exception as exc:  # the vendor's driver (psycopg, mysqlclient) is not installed here
            assert "psycopg" in str(exc) or "mysql" in str(exc).lower(), exc
        else:
            assert issubclass(module.DatabaseWrapper, DatabaseWrapperMixin)

"""Database metrics of the instrumented mysql backend against a real MariaDB/MySQL server.

The server is started by the ``mysql_alias`` fixture when mariadbd (or mysqld) and
mysqlclient are installed (the tests are skipped, with the reason, otherwise).
"""

import pytest
from django.db import IntegrityError, OperationalError, ProgrammingError, connections
from helpers import value

MY = {"alias": "my", "vendor": "mysql"}
NAMES = ("django_db_new_connections_total", "django_db_new_connection_errors_total", "django_db_execute_total",
         "django_db_execute_many_total", "django_db_query_duration_seconds_count")


def counts():
    return {name: value(name, MY) for name in NAMES}


def delta(before):
    return {name: value(name, MY) - before[name] for name in NAMES}


def test_connection_and_statements_counted(mysql_alias):
    """A new connection, execute, executemany (list and iterator) and the duration count are exact.

    Django runs its own statements on a new MySQL connection (the SQL mode check), so the
    connection is opened before counting statements.
    """
    connection = connections[mysql_alias]
    connection.close()
    before = value("django_db_new_connections_total", MY)
    connection.ensure_connection()
    assert value("django_db_new_connections_total", MY) == before + 1
    before = counts()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE t (x INTEGER PRIMARY KEY)")
        cursor.executemany("INSERT INTO t VALUES (%s)", [(1,), (2,), (3,)])
        cursor.executemany("INSERT INTO t VALUES (%s)", ((i,) for i in range(10, 14)))
        cursor.execute("SELECT COUNT(*) FROM t")
        assert cursor.fetchone() == (7,)
    assert type(connection.cursor()).__name__.startswith("Instrumented")
    assert connection.vendor == "mysql"
    assert delta(before) == {
        "django_db_new_connections_total": 0, "django_db_new_connection_errors_total": 0,
        "django_db_execute_total": 9, "django_db_execute_many_total": 7,
        "django_db_query_duration_seconds_count": 4}
    connection.close()


def test_errors_counted_by_exception_class(mysql_alias):
    """A statement on a missing table and a duplicate key count as errors by Django's exception class."""
    connection = connections[mysql_alias]
    connection.ensure_connection()
    before = counts()
    errors = {kind: value("django_db_errors_total", {**MY, "type": kind})
              for kind in ("ProgrammingError", "IntegrityError")}
    with pytest.raises(ProgrammingError), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMPORARY TABLE u (x INTEGER PRIMARY KEY)")
        cursor.execute("INSERT INTO u VALUES (1)")
        with pytest.raises(IntegrityError):
            cursor.executemany("INSERT INTO u VALUES (%s)", [(2,), (1,)])
    assert value("django_db_errors_total", {**MY, "type": "ProgrammingError"}) == errors["ProgrammingError"] + 1
    assert value("django_db_errors_total", {**MY, "type": "IntegrityError"}) == errors["IntegrityError"] + 1
    assert delta(before) == {
        "django_db_new_connections_total": 0, "django_db_new_connection_errors_total": 0,
        "django_db_execute_total": 5, "django_db_execute_many_total": 2,
        "django_db_query_duration_seconds_count": 4}
    connection.close()


def test_connection_failure_counted(mysql_alias):
    """A connection refused by the server (wrong password) counts an attempt and an error for its alias."""
    my = connections[mysql_alias]
    broken = type(my)({**my.settings_dict, "PASSWORD": "wrong"}, alias="my_broken")
    labels = {"alias": "my_broken", "vendor": "mysql"}
    with pytest.raises(OperationalError, match="Access denied"):
        broken.ensure_connection()
    broken.close()
    assert value("django_db_new_connections_total", labels) == 1
    assert value("django_db_new_connection_errors_total", labels) == 1

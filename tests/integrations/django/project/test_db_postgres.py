"""Database metrics of the instrumented postgresql backend against a real PostgreSQL server.

The server is started by the ``postgres_alias`` fixture when the PostgreSQL server
binaries and psycopg are installed (the tests are skipped, with the reason, otherwise).
"""

import pytest
from django.db import IntegrityError, ProgrammingError, connections
from helpers import value

PG = {"alias": "pg", "vendor": "postgresql"}
NAMES = ("django_db_new_connections_total", "django_db_new_connection_errors_total", "django_db_execute_total",
         "django_db_execute_many_total", "django_db_query_duration_seconds_count")


def counts():
    return {name: value(name, PG) for name in NAMES}


def delta(before):
    return {name: value(name, PG) - before[name] for name in NAMES}


def test_connection_and_statements_counted(postgres_alias):
    """A new connection, execute, executemany (list and iterator) and the duration count are exact."""
    connection = connections[postgres_alias]
    connection.close()
    before = counts()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE t (x INTEGER PRIMARY KEY)")
        cursor.executemany("INSERT INTO t VALUES (%s)", [(1,), (2,), (3,)])
        cursor.executemany("INSERT INTO t VALUES (%s)", ((i,) for i in range(10, 14)))
        cursor.execute("SELECT COUNT(*) FROM t")
        assert cursor.fetchone() == (7,)
    assert type(connection.cursor()).__name__.startswith("Instrumented")
    assert connection.vendor == "postgresql"
    assert delta(before) == {
        "django_db_new_connections_total": 1, "django_db_new_connection_errors_total": 0,
        "django_db_execute_total": 9, "django_db_execute_many_total": 7,
        "django_db_query_duration_seconds_count": 4}
    connection.close()


def test_errors_counted_by_exception_class(postgres_alias):
    """A statement on a missing table and a duplicate key count as errors by Django's exception class."""
    connection = connections[postgres_alias]
    connection.close()
    before = counts()
    errors = {kind: value("django_db_errors_total", {**PG, "type": kind})
              for kind in ("ProgrammingError", "IntegrityError")}
    with pytest.raises(ProgrammingError), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE u (x INTEGER PRIMARY KEY)")
        cursor.execute("INSERT INTO u VALUES (1)")
        with pytest.raises(IntegrityError):
            cursor.executemany("INSERT INTO u VALUES (%s)", [(2,), (1,)])
    assert value("django_db_errors_total", {**PG, "type": "ProgrammingError"}) == errors["ProgrammingError"] + 1
    assert value("django_db_errors_total", {**PG, "type": "IntegrityError"}) == errors["IntegrityError"] + 1
    assert delta(before) == {
        "django_db_new_connections_total": 1, "django_db_new_connection_errors_total": 0,
        "django_db_execute_total": 5, "django_db_execute_many_total": 2,
        "django_db_query_duration_seconds_count": 4}
    connection.close()


def test_connection_failure_counted(postgres_alias):
    """A connection refused by the server (unknown database) counts an attempt and an error for its alias."""
    from django.db import OperationalError

    pg = connections[postgres_alias]
    broken = type(pg)({**pg.settings_dict, "NAME": "no_such_database"}, alias="pg_broken")
    labels = {"alias": "pg_broken", "vendor": "postgresql"}
    with pytest.raises(OperationalError, match="no_such_database"):
        broken.ensure_connection()
    broken.close()
    assert value("django_db_new_connections_total", labels) == 1
    assert value("django_db_new_connection_errors_total", labels) == 1

"""Migration gauges: set after migrate (the test database) and on demand."""

import logging

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from helpers import value
from pyrometer_django._migrations import FirstRequest, export_migrations

APPLIED = 3  # contenttypes 0001, 0002 and polls 0001


@pytest.mark.django_db
def test_set_after_migrate():
    """Creating the test database ran migrate, whose post_migrate set the gauges for the default alias."""
    assert value("django_migrations_applied_total", {"connection": "default"}) == APPLIED
    assert value("django_migrations_unapplied_total", {"connection": "default"}) == 0


@pytest.mark.django_db
def test_unapplied_counted():
    """A migration recorded as unapplied shows in the unapplied gauge at the next export."""
    recorder = MigrationRecorder(connection)
    recorder.record_unapplied("polls", "0001_initial")
    try:
        export_migrations()
        assert value("django_migrations_applied_total", {"connection": "default"}) == APPLIED - 1
        assert value("django_migrations_unapplied_total", {"connection": "default"}) == 1
    finally:
        recorder.record_applied("polls", "0001_initial")
        export_migrations()
    assert value("django_migrations_unapplied_total", {"connection": "default"}) == 0


@pytest.mark.django_db
def test_first_request_exports_once(monkeypatch):
    """The request_started receiver exports the gauges at the first request only."""
    calls = []
    monkeypatch.setattr("pyrometer_django._migrations.export_migrations", lambda: calls.append(1))
    receiver = FirstRequest()
    receiver()
    receiver()
    assert calls == [1]


def test_first_request_failure_is_logged(caplog):
    """Without database access the first-request export logs a warning and never raises."""
    with caplog.at_level(logging.WARNING, logger="pyrometer_django"):
        FirstRequest()()
    assert "could not export the migration gauges" in caplog.text

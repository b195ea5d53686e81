"""The export port: PYROMETER_EXPORT_PORT / _RANGE / _ADDR, started once per process from AppConfig.ready()."""

import socket

import httpx
import pytest
from dbservers import free_port
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from pyrometer import Counter
from pyrometer_django import exporter


@pytest.fixture
def stopped():
    """No exporter runs before or after the test."""
    exporter.stop_exporter()
    yield
    exporter.stop_exporter()


def consecutive_free_ports(n):
    """``n`` consecutive free ports of 127.0.0.1."""
    for _ in range(50):
        first = free_port()
        if first + n > 65535:
            continue
        try:
            socks = []
            for port in range(first, first + n):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
        return list(range(first, first + n))
    raise AssertionError("no consecutive free ports")


def scrape(port, **kwargs):
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5, **kwargs)


def test_port_setting_started_by_ready(settings, stopped, configure):
    """With PYROMETER_EXPORT_PORT, AppConfig.ready() serves the metrics on that port (protection included)."""
    registry = configure()
    Counter("exported_things_total", "Things.", registry=registry).inc(3)
    port = free_port()
    settings.PYROMETER_EXPORT_PORT = port
    settings.PYROMETER_EXPORT_ADDR = "127.0.0.1"
    apps.get_app_config("pyrometer_django").ready()
    running = exporter.exporter()
    assert (running.addr, running.port) == ("127.0.0.1", port)
    assert scrape(port).status_code == 401
    reply = scrape(port, auth=("prom", "s3cret"))
    assert reply.status_code == 200
    assert "exported_things_total 3.0\n" in reply.text
    assert exporter.start_exporter() is running  # once per process


def test_range_takes_first_free_port(settings, stopped, configure):
    """With a range whose first port is taken, the exporter binds the next one."""
    configure()
    first, second, third = consecutive_free_ports(3)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first))
        taken.listen()
        settings.PYROMETER_EXPORT_PORT_RANGE = range(first, third + 1)
        settings.PYROMETER_EXPORT_ADDR = "127.0.0.1"
        assert exporter.start_exporter().port == second
        assert scrape(second, auth=("prom", "s3cret")).status_code == 200


def test_pair_range_and_all_taken(settings, stopped, caplog):
    """A (start, stop) pair excludes stop; when every port is taken a warning is logged and nothing runs."""
    first, second = consecutive_free_ports(2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", first))
        taken.listen()
        settings.PYROMETER_EXPORT_PORT_RANGE = (first, second)
        settings.PYROMETER_EXPORT_ADDR = "127.0.0.1"
        assert exporter.export_ports() == [first]
        assert exporter.start_exporter() is None
    assert exporter.exporter() is None
    assert caplog.messages == [f"pyrometer_django: no free port to serve the metrics on 127.0.0.1 among {first}"]


def test_nothing_without_setting(stopped):
    """Without the settings no port is opened."""
    assert exporter.export_ports() == []
    assert exporter.start_exporter() is None


def test_autoreloader_parent_skipped(settings, stopped, monkeypatch):
    """runserver's autoreloader parent opens no port; its serving child (RUN_MAIN=true) and --noreload do."""
    monkeypatch.delenv("RUN_MAIN", raising=False)
    assert exporter.autoreload_parent(["manage.py", "runserver"])
    assert not exporter.autoreload_parent(["manage.py", "runserver", "--noreload"])
    assert not exporter.autoreload_parent(["gunicorn", "app.wsgi"])
    monkeypatch.setattr("sys.argv", ["manage.py", "runserver", "8000"])
    settings.PYROMETER_EXPORT_PORT = free_port()
    assert exporter.start_exporter() is None
    monkeypatch.setenv("RUN_MAIN", "true")
    assert not exporter.autoreload_parent(["manage.py", "runserver"])


@pytest.mark.parametrize(("name", "setting", "message"), [
    ("PYROMETER_EXPORT_PORT", "8001", "settings.PYROMETER_EXPORT_PORT must be a port number (an int from 1 to "
                                      "65535), not '8001'"),
    ("PYROMETER_EXPORT_PORT", 70000, "settings.PYROMETER_EXPORT_PORT must be a port number (an int from 1 to "
                                     "65535), not 70000"),
    ("PYROMETER_EXPORT_PORT_RANGE", [8001], "settings.PYROMETER_EXPORT_PORT_RANGE must be a range or a "
                                            "(start, stop) pair, not [8001]"),
    ("PYROMETER_EXPORT_PORT_RANGE", range(9000, 9000), "settings.PYROMETER_EXPORT_PORT_RANGE is empty: "
                                                       "range(9000, 9000)"),
])
def test_bad_settings(settings, stopped, name, setting, message):
    """A bad port setting is refused with a clear message."""
    setattr(settings, name, setting)
    with pytest.raises(ImproperlyConfigured) as info:
        exporter.start_exporter()
    assert str(info.value) == message


def test_port_and_range_conflict(settings):
    """Setting both the port and the range is refused."""
    settings.PYROMETER_EXPORT_PORT = 8001
    settings.PYROMETER_EXPORT_PORT_RANGE = range(8001, 8003)
    with pytest.raises(ImproperlyConfigured) as info:
        exporter.export_ports()
    assert str(info.value) == "Set settings.PYROMETER_EXPORT_PORT or settings.PYROMETER_EXPORT_PORT_RANGE, not both"

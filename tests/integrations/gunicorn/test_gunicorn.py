"""A real Gunicorn (4 sync workers) with the pyrometer_gunicorn hooks: exact totals across a killed worker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest
from process_helpers import answers, children, free_port, request, wait
from pyrometer.parser import text_string_to_metric_families

pytest.importorskip("gunicorn")

HERE = Path(__file__).parent
WORKERS = 4
N = 120


def _get(port: int, path: str) -> str:
    status, body = request(port, "GET", path)
    assert status == 200, (path, status, body)
    return body.decode()


def _scrape(port: int) -> Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(_get(port, "/metrics")):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def gunicorn_server(tmp_path: Path) -> Iterator[Tuple[int, int, str]]:
    """Gunicorn with the hooks on 127.0.0.1; yields (port, master pid, multiprocess dir)."""
    mpdir = tmp_path / "metrics"
    mpdir.mkdir()
    (mpdir / "w-1.keys").write_text("left over by a previous run\n")  # on_starting must clear it
    port = free_port()
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(
        "from pyrometer_gunicorn import on_starting, child_exit\n"
        f"bind = '127.0.0.1:{port}'\nworkers = {WORKERS}\nworker_class = 'sync'\n"
        f"chdir = {str(HERE)!r}\n")
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(mpdir))
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    proc = subprocess.Popen([gunicorn, "-c", str(conf), "gunicorn_app:app"], env=env, cwd=str(HERE),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait(lambda: len(children(proc.pid)) == WORKERS and answers(port, "/ping"), 20, "gunicorn to start")
        yield port, proc.pid, str(mpdir)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def test_exact_totals_across_a_killed_and_respawned_worker(gunicorn_server: Tuple[int, int, str]) -> None:
    """N requests, SIGKILL a worker, Gunicorn respawns it, N more: the scrape counts exactly 2N, live gauges follow."""
    port, master, mpdir = gunicorn_server
    assert not os.path.exists(os.path.join(mpdir, "w-1.keys"))
    for _ in range(N):
        _get(port, "/work")
    before = _scrape(port)
    pings = before[("app_requests_total", (("path", "/ping"),))]  # the readiness probes
    assert before[("app_requests_total", (("path", "/work"),))] == N
    assert before[("app_latency_seconds_count", ())] == N + pings

    victim = min(children(master))
    os.kill(victim, signal.SIGKILL)
    wait(lambda: victim not in children(master) and len(children(master)) == WORKERS, 20,
         "gunicorn to respawn the worker")
    wait(lambda: not os.path.exists(os.path.join(mpdir, f"w-{victim}.keys")), 20, "child_exit to fold the worker")

    for _ in range(N):
        _get(port, "/work")
    after = _scrape(port)
    assert after[("app_requests_total", (("path", "/work"),))] == 2 * N
    assert after[("app_requests_total", (("path", "/ping"),))] == pings
    assert after[("app_latency_seconds_count", ())] == 2 * N + pings
    assert after[("app_latency_seconds_bucket", (("le", "0.1"),))] == 2 * N + pings
    assert after[("app_in_progress", ())] == 0.0
    up = {labels for (name, labels), v in after.items() if name == "app_worker_up"}
    assert {dict(labels)["pid"] for labels in up} - {str(p) for p in children(master)} == set()
    assert str(victim) not in {dict(labels)["pid"] for labels in up}
    assert os.path.exists(os.path.join(mpdir, "merged.db"))


class _Log:
    def __init__(self) -> None:
        self.errors: list = []

    def exception(self, msg: str, *args: object) -> None:
        self.errors.append(msg % args)


class _Server:
    log = _Log()


class _Worker:
    pid = 4242


def test_hooks_need_the_directory_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """on_starting without PROMETHEUS_MULTIPROC_DIR fails with a message naming the variable."""
    from pyrometer_gunicorn import on_starting

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("prometheus_multiproc_dir", raising=False)
    with pytest.raises(RuntimeError, match="PROMETHEUS_MULTIPROC_DIR"):
        on_starting(_Server())


def test_child_exit_logs_instead_of_taking_the_arbiter_down(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A failing fold in child_exit is logged through the server's logger, not raised into Gunicorn's arbiter."""
    from pyrometer_gunicorn import child_exit

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    server = _Server()
    child_exit(server, _Worker())
    assert server.log.errors == ["pyrometer_gunicorn: could not retire worker 4242"]

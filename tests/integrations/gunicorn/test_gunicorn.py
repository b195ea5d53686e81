"""A real Gunicorn (4 sync workers) with the pyrometer_gunicorn hooks: exact totals across a killed worker."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, Set, Tuple

import pytest
from pyrometer.parser import text_string_to_metric_families

pytest.importorskip("gunicorn")

HERE = Path(__file__).parent
WORKERS = 4
N = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read().decode()


def _children(pid: int) -> Set[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(p) for p in f.read().split()}
    except FileNotFoundError:  # pragma: no cover - kernels without CONFIG_PROC_CHILDREN
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return {int(p) for p in out.split()}


def _wait(predicate, timeout: float = 20.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


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
    port = _free_port()
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
        _wait(lambda: len(_children(proc.pid)) == WORKERS and _answers(port), what="gunicorn to start")
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


def _answers(port: int) -> bool:
    try:
        _get(port, "/ping")
        return True
    except OSError:
        return False


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

    victim = min(_children(master))
    os.kill(victim, signal.SIGKILL)
    _wait(lambda: victim not in _children(master) and len(_children(master)) == WORKERS,
          what="gunicorn to respawn the worker")
    _wait(lambda: not os.path.exists(os.path.join(mpdir, f"w-{victim}.keys")), what="child_exit to fold the worker")

    for _ in range(N):
        _get(port, "/work")
    after = _scrape(port)
    assert after[("app_requests_total", (("path", "/work"),))] == 2 * N
    assert after[("app_requests_total", (("path", "/ping"),))] == pings
    assert after[("app_latency_seconds_count", ())] == 2 * N + pings
    assert after[("app_latency_seconds_bucket", (("le", "0.1"),))] == 2 * N + pings
    assert after[("app_in_progress", ())] == 0.0
    up = {labels for (name, labels), v in after.items() if name == "app_worker_up"}
    assert {dict(labels)["pid"] for labels in up} - {str(p) for p in _children(master)} == set()
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

"""Plumbing for tests that drive other processes: free ports, child pids, polling, plain HTTP requests,
and running a test project's own pytest in a process of its own.

Imported by name (``from process_helpers import ...``) from any tests directory: tests/conftest.py makes
pytest put ``tests`` on ``sys.path``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Optional, Set, Tuple

import pytest

# Settings of the calling pytest that must not leak into a project's own pytest run.
_PYTEST_ENV_LEAKS = ("PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "DJANGO_SETTINGS_MODULE",
                     "PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(port: int, method: str, path: str, headers: Optional[Dict[str, str]] = None,
            body: Optional[bytes] = None) -> Tuple[int, bytes]:
    """One HTTP request to 127.0.0.1:port; the status and body, error statuses included."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def answers(port: int, path: str) -> bool:
    """Whether ``GET path`` on ``port`` answers 200 now (False while nothing listens)."""
    try:
        return request(port, "GET", path)[0] == 200
    except OSError:
        return False


def wait(predicate: Callable[[], bool], timeout: float, what: str, log: Optional[Path] = None) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds with the tail of ``log``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


def children(pid: int) -> Set[int]:
    """The pids of the direct children of ``pid``."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(p) for p in f.read().split()}
    except FileNotFoundError:  # pragma: no cover - kernels without CONFIG_PROC_CHILDREN
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return {int(p) for p in out.split()}


def run_django_project(project: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run the pytest-django suite of ``project`` (its own pytest.ini and rootdir) in a new process; output captured.

    pytest-django configures Django's process-wide settings at start-up, so such a project cannot share the
    main suite's process, where pytest-django stays off (``-p no:django``). Skips the calling test without
    Django or pytest-django.
    """
    pytest.importorskip("django")
    pytest.importorskip("pytest_django")
    env = {k: v for k, v in os.environ.items() if k not in _PYTEST_ENV_LEAKS}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(project / "pytest.ini"), "--rootdir", str(project), "-q",
         str(project)],
        cwd=project, env=env, capture_output=True, text=True, timeout=timeout, check=False)

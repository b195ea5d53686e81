"""Plumbing shared by the e2e modules: free ports, child processes, a real Prometheus and its HTTP query API.

The e2e modules import it by name (``from _prometheus import ...``): pytest puts ``tests/e2e`` on ``sys.path``
because the tests directories are not packages.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "example_apps"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def free_port() -> int:
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


def wait(predicate: Callable[[], bool], timeout: float, what: str, log: Optional[Path] = None) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds with the tail of ``log``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


class Process:
    """A child in its own process group, stopped with SIGTERM and, after a bounded wait, SIGKILL to the group."""

    def __init__(self, args: List[str], log: Path, env: Optional[Dict[str, str]] = None) -> None:
        self.log = log
        self._out: IO[bytes] = open(log, "wb")  # closed in stop()
        self.proc = subprocess.Popen(args, env=env, cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        try:
            if self.alive():
                self.proc.terminate()
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    pass
            try:  # whatever is left of the group (a worker that outlived its master): SIGKILL
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait(10)
        finally:
            self._out.close()


def children(pid: int) -> Set[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(p) for p in f.read().split()}
    except FileNotFoundError:  # pragma: no cover - kernels without CONFIG_PROC_CHILDREN
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return {int(p) for p in out.split()}


def answers(port: int, path: str) -> bool:
    try:
        return request(port, "GET", path)[0] == 200
    except OSError:
        return False


def wait_ready(server: Process, port: int, path: str, what: str, timeout: float = 40) -> None:
    """Wait until ``path`` answers 200 on ``port``; fail with the log if the server exits first."""
    wait(lambda: not server.alive() or answers(port, path), timeout, what, server.log)
    assert server.alive(), f"{what}: exited:\n{server.log.read_text(errors='replace')[-3000:]}"


@contextmanager
def prometheus(tmp: Path, scrape_configs: List[Dict[str, Any]], rule_files: Optional[List[str]] = None,
               flags: Optional[List[str]] = None) -> Iterator[int]:
    """A real Prometheus (1 s scrape and evaluation interval) with these scrape configs, ready; yields its port."""
    port = free_port()
    config: Dict[str, Any] = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}}
    if rule_files:
        config["rule_files"] = rule_files
    config["scrape_configs"] = scrape_configs
    (tmp / "prometheus.yml").write_text(json.dumps(config, indent=2))  # JSON is YAML
    server = Process([str(PROMETHEUS), f"--config.file={tmp / 'prometheus.yml'}",
                      f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                      *(flags or [])], tmp / "prometheus.log")
    try:
        wait_ready(server, port, "/-/ready", "prometheus to be ready")
        yield port
    finally:
        server.stop()


def api(port: int, endpoint: str, **params: str) -> Any:
    """The ``data`` of a successful Prometheus HTTP API call."""
    status, body = request(port, "GET", f"/api/v1/{endpoint}?{urllib.parse.urlencode(params)}")
    reply = json.loads(body)
    assert status == 200 and reply["status"] == "success", reply
    return reply["data"]


def query(port: int, promql: str) -> List[Dict[str, Any]]:
    data = api(port, "query", query=promql)
    assert data["resultType"] == "vector", data
    return data["result"]


def value(port: int, promql: str) -> Optional[float]:
    """The value of a one-element instant vector (None when empty)."""
    result = query(port, promql)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None

"""Plumbing shared by the e2e modules: free ports, child processes, a real Prometheus and its HTTP query API.

The e2e modules import it by name (``from _prometheus import ...``): pytest puts ``tests/e2e`` on ``sys.path``
because the tests directories are not packages. The process plumbing comes from ``process_helpers`` (shared
with the integration tests) and is re-exported here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.parse
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional

# Re-exported for the e2e modules, which import everything from here.
from process_helpers import answers as answers
from process_helpers import children as children
from process_helpers import free_port as free_port
from process_helpers import request as request
from process_helpers import wait as wait

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "example_apps"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


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

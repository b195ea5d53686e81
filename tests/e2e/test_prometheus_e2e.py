"""A real Prometheus scrapes the example Flask and FastAPI apps, each under Gunicorn (4 workers, multiprocess mode).

The module starts both apps (``example_apps/gunicorn.conf.py`` with its pyrometer_gunicorn hooks) and a
Prometheus (1 s scrape interval, ``example_apps/alerts.yml`` loaded, exemplar storage on), sends a known
traffic mix, waits until Prometheus has scraped all of it, then checks what PromQL sees.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "example_apps"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
GUNICORN = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or shutil.which("gunicorn")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(PROMETHEUS is None or PROMTOOL is None,
                       reason="prometheus/promtool absent (Debian package 'prometheus'; .ci/run installs it)"),
    pytest.mark.skipif(GUNICORN is None, reason="gunicorn absent (pip install 'pyrometer[gunicorn]')"),
]

for _module in ("flask", "fastapi", "uvicorn"):
    pytest.importorskip(_module)

WORKERS = 4
SLOW_DELAY = 0.3  # seconds: every /slow request lands in the (0.25, 0.5] duration bucket
SLOW_BUCKET = (0.25, 0.5)
JOBS = ("flask", "fastapi")

# (method, path, handler label, expected status) per job: 120 OK, 15 raising (500), 10 unknown URLs (404).
Request = Tuple[str, str, str, str]


def _mix(job: str) -> List[Request]:
    if job == "flask":
        ok = ([("GET", "/", "/", "200")] * 30
              + [("GET", f"/users/{i}", "/users/<int:user_id>", "200") for i in range(1, 63)]
              + [("POST", "/users", "/users", "201")] * 20)
    else:
        ok = ([("GET", "/", "/", "200")] * 30
              + [("GET", f"/items/{i}", "/items/{item_id}", "200") for i in range(1, 53)]
              + [("GET", f"/api/v1/orders/{i}", "/api/v1/orders/{order_id}", "200") for i in range(1, 11)]
              + [("POST", "/items", "/items", "201")] * 20)
    ok += [("GET", f"/slow?delay={SLOW_DELAY}", "/slow", "200")] * 8
    assert len(ok) == 120
    errors = [("GET", "/error", "/error", "500")] * 15
    unknown = [("GET", f"/no/such/page-{i}.php", "none", "404") for i in range(10)]
    return ok + errors + unknown


SENT = {job: len(_mix(job)) for job in JOBS}  # 145 each
ERRORS = {job: sum(1 for r in _mix(job) if r[3] == "500") for job in JOBS}  # 15 each


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(port: int, method: str, path: str, headers: Optional[Dict[str, str]] = None,
             body: Optional[bytes] = None) -> Tuple[int, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read()


def _wait(predicate: Callable[[], bool], timeout: float, what: str, log: Optional[Path] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


class _Process:
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


def _children(pid: int) -> Set[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(p) for p in f.read().split()}
    except FileNotFoundError:  # pragma: no cover - kernels without CONFIG_PROC_CHILDREN
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        return {int(p) for p in out.split()}


class App(NamedTuple):
    port: int
    master: int  # Gunicorn's master pid
    mpdir: Path  # PROMETHEUS_MULTIPROC_DIR


def _answers(port: int, path: str) -> bool:
    try:
        return _request(port, "GET", path)[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, App]]:
    """Both example apps under Gunicorn (4 workers, multiprocess mode, the example gunicorn.conf.py), by job name."""
    tmp = tmp_path_factory.mktemp("apps")
    servers: Dict[str, Tuple[App, _Process]] = {}
    try:
        for job, extra in (("flask", []), ("fastapi", ["-k", "uvicorn.workers.UvicornWorker"])):
            port = _free_port()
            mpdir = tmp / f"metrics-{job}"  # on_starting (the example gunicorn.conf.py's hook) creates it
            args = [str(GUNICORN), "-c", str(EXAMPLES / "gunicorn.conf.py"), "-w", str(WORKERS),
                    "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5", *extra, f"{job}_app:app"]
            server = _Process(args, tmp / f"{job}.log", dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(mpdir)))
            servers[job] = (App(port, server.proc.pid, mpdir), server)
        for job, (app, server) in servers.items():
            _wait(lambda a=app, s=server: not s.alive() or (len(_children(a.master)) == WORKERS
                                                            and _answers(a.port, "/health")),
                  40, f"{job} app to answer with {WORKERS} workers", server.log)
            assert server.alive(), f"{job} app exited:\n{server.log.read_text(errors='replace')[-3000:]}"
        yield {job: app for job, (app, _) in servers.items()}
    finally:
        for _, server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def prometheus(apps: Dict[str, App], tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real Prometheus scraping both apps every second, with the example alert rules; yields its port."""
    tmp = tmp_path_factory.mktemp("prometheus")
    port = _free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(EXAMPLES / "alerts.yml")],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{apps[job].port}"]}]}
                           for job in JOBS],
    }
    (tmp / "prometheus.yml").write_text(json.dumps(config, indent=2))  # JSON is YAML
    server = _Process([str(PROMETHEUS), f"--config.file={tmp / 'prometheus.yml'}",
                       f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                       "--enable-feature=exemplar-storage"], tmp / "prometheus.log")
    try:
        _wait(lambda: not server.alive() or _answers(port, "/-/ready"), 40, "prometheus to be ready", server.log)
        assert server.alive(), f"prometheus exited:\n{server.log.read_text(errors='replace')[-3000:]}"
        yield port
    finally:
        server.stop()


def _api(port: int, endpoint: str, **params: str) -> Any:
    status, body = _request(port, "GET", f"/api/v1/{endpoint}?{urllib.parse.urlencode(params)}")
    reply = json.loads(body)
    assert status == 200 and reply["status"] == "success", reply
    return reply["data"]


def _query(port: int, promql: str) -> List[Dict[str, Any]]:
    data = _api(port, "query", query=promql)
    assert data["resultType"] == "vector", data
    return data["result"]


def _value(port: int, promql: str) -> Optional[float]:
    """The value of a one-element instant vector (None when empty)."""
    result = _query(port, promql)
    assert len(result) <= 1, result
    return float(result[0]["value"][1]) if result else None


@pytest.fixture(scope="module")
def scraped(apps: Dict[str, App], prometheus: int) -> int:
    """Sends the traffic mix to both apps, waits (at most 20 s) until Prometheus has scraped all of it; its port."""
    work = [(job, *r) for job in JOBS for r in _mix(job)]

    def send(item: Tuple[str, str, str, str, str]) -> Tuple[str, str, str]:
        job, method, path, _, expected = item
        headers, body = {}, None
        if method == "POST":
            headers = {"Content-Type": "application/json", "X-Trace-Id": f"trace-{job}-{path}"}
            body = b'{"name": "e2e"}'
        return expected, str(_request(apps[job].port, method, path, headers, body)[0]), f"{job} {method} {path}"

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, work))
    wrong = [(where, got, expected) for expected, got, where in answers if got != expected]
    assert not wrong, wrong
    for job, app in apps.items():  # the traffic really was spread over several workers' files
        writers = {f.stem for f in app.mpdir.glob("w-*.values")}
        assert len(writers) >= 2, (job, writers)
    for _ in range(3):  # excluded: never counted
        for app in apps.values():
            assert _request(app.port, "GET", "/health")[0] == 200

    def all_scraped() -> bool:
        return all(_value(prometheus, f'sum(http_requests_total{{job="{job}"}})') == SENT[job] for job in JOBS)

    _wait(all_scraped, 20, "prometheus to scrape every request sent")
    return prometheus


@pytest.mark.parametrize("job", JOBS)
def test_request_totals_per_route_are_exact(scraped: int, job: str) -> None:
    """Prometheus sees exactly the requests sent, per handler template, method and status, merged over 4 workers."""
    assert _value(scraped, f'sum(http_requests_total{{job="{job}"}})') == SENT[job]
    got = {(s["metric"]["handler"], s["metric"]["method"], s["metric"]["status"]): float(s["value"][1])
           for s in _query(scraped, f'sum by (handler, method, status) (http_requests_total{{job="{job}"}})')}
    expected = Counter((handler, method, status) for method, _, handler, status in _mix(job))
    assert got == {key: float(n) for key, n in expected.items()}
    assert _value(scraped, f'sum(http_exceptions_total{{job="{job}",handler="/error",exception="RuntimeError"}})') \
        == ERRORS[job]
    assert _query(scraped, f'http_requests_total{{job="{job}",handler="/health"}}') == []  # excluded path


@pytest.mark.parametrize("job", JOBS)
def test_error_ratio_is_the_known_ratio(scraped: int, job: str) -> None:
    """The 5xx ratio computed by PromQL is exactly the share of raising requests sent."""
    ratio = _value(scraped, f'sum(http_requests_total{{job="{job}",status="500"}})'
                            f' / sum(http_requests_total{{job="{job}"}})')
    assert ratio == ERRORS[job] / SENT[job]


def test_unknown_urls_make_one_series(scraped: int) -> None:
    """Ten different unknown URLs on each app end up in one handler="none" series per app."""
    assert _value(scraped, 'count(count by (handler) (http_requests_total{handler="none"}))') == 1
    per_job = {s["metric"]["job"]: float(s["value"][1])
               for s in _query(scraped, 'count by (job) (http_requests_total{handler="none"})')}
    assert per_job == {job: 1.0 for job in JOBS}


@pytest.mark.parametrize("job", JOBS)
def test_p99_of_the_slow_route_lands_in_its_bucket(scraped: int, job: str) -> None:
    """histogram_quantile(0.99) over the slow route's buckets falls in the bucket its controlled delay selects."""
    p99 = _value(scraped, "histogram_quantile(0.99, sum by (le) "
                          f'(http_request_duration_seconds_bucket{{job="{job}",handler="/slow"}}))')
    assert p99 is not None and SLOW_BUCKET[0] < p99 <= SLOW_BUCKET[1], p99
    fast = _value(scraped, "histogram_quantile(0.99, sum by (le) "
                           f'(http_request_duration_seconds_bucket{{job="{job}",handler="/"}}))')
    assert fast is not None and fast <= SLOW_BUCKET[0], fast


def test_example_alert_rules_load_and_evaluate(scraped: int) -> None:
    """Prometheus loads example_apps/alerts.yml and evaluates every rule without error."""
    def evaluated() -> bool:
        rules = [r for g in _api(scraped, "rules")["groups"] for r in g["rules"]]
        return len(rules) == 5 and all(r["health"] == "ok" for r in rules)

    _wait(evaluated, 15, "every example rule to be evaluated")
    _wait(lambda: {s["metric"]["job"] for s in _query(scraped, "job:http_requests_errors:ratio_rate5m")} == set(JOBS),
          15, "the error-ratio recording rule to produce a series per job")


def test_exemplars_reach_prometheus(scraped: int) -> None:
    """The Flask app's exemplars, merged over its workers, are scraped via OpenMetrics and stored by Prometheus."""
    now = time.time()

    def found() -> List[Dict[str, Any]]:
        data = _api(scraped, "query_exemplars", query='shop_user_signups_total{job="flask"}',
                    start=str(now - 300), end=str(now + 60))
        return [e for series in data for e in series["exemplars"]]

    _wait(lambda: bool(found()), 10, "an exemplar of shop_user_signups_total")
    assert {e["labels"]["trace_id"] for e in found()} == {"trace-flask-/users"}


@pytest.mark.parametrize("job", JOBS)
def test_a_killed_worker_resets_no_counter(apps: Dict[str, App], scraped: int, job: str) -> None:
    """SIGKILL a worker: Gunicorn respawns it, child_exit folds its files, and Prometheus sees no counter reset."""
    app = apps[job]
    victim = min(_children(app.master))
    os.kill(victim, signal.SIGKILL)
    _wait(lambda: victim not in _children(app.master) and len(_children(app.master)) == WORKERS, 20,
          f"gunicorn to respawn the {job} worker")
    _wait(lambda: not (app.mpdir / f"w-{victim}.values").exists(), 20, "child_exit to fold the killed worker")
    folded = time.time()
    _wait(lambda: (_value(scraped, f'max(timestamp(http_requests_total{{job="{job}"}}))') or 0) > folded + 0.5,
          20, "a scrape after the fold")
    assert _value(scraped, f'sum(http_requests_total{{job="{job}"}})') == SENT[job]
    assert _value(scraped, f'sum(resets(http_requests_total{{job="{job}"}}[5m]))') == 0
    assert _value(scraped, f'sum(resets(http_request_duration_seconds_count{{job="{job}"}}[5m]))') == 0


@pytest.mark.parametrize("job", JOBS)
def test_promtool_accepts_the_apps_metrics(apps: Dict[str, App], scraped: int, job: str) -> None:
    """promtool check metrics finds no problem in a multiprocess text scrape of each app after the traffic mix."""
    # promtool reads the text format only; the OpenMetrics scrape is judged by Prometheus itself (exemplars test).
    status, body = _request(apps[job].port, "GET", "/metrics")
    assert status == 200 and b"http_requests_total" in body
    proc = subprocess.run([str(PROMTOOL), "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert proc.returncode == 0, (proc.stdout + proc.stderr).decode() + "\n" + body.decode()


def test_promtool_accepts_the_example_rules_and_config() -> None:
    """promtool check rules passes on example_apps/alerts.yml, and check config on example_apps/prometheus.yml."""
    for args in (["check", "rules", str(EXAMPLES / "alerts.yml")],
                 ["check", "config", str(EXAMPLES / "prometheus.yml")]):
        proc = subprocess.run([str(PROMTOOL), *args], capture_output=True, timeout=30)
        assert proc.returncode == 0, (proc.stdout + proc.stderr).decode()

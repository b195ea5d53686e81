"""A real Prometheus scrapes the example Flask and FastAPI apps, each under Gunicorn (4 workers, multiprocess mode).

The module starts both apps (``example_apps/gunicorn.conf.py`` with its pyrometer_gunicorn hooks) and a
Prometheus (1 s scrape interval, ``example_apps/alerts.yml`` loaded, exemplar storage on), sends a known
traffic mix, waits until Prometheus has scraped all of it, then checks what PromQL sees.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Tuple

import pytest
from _prometheus import (
    EXAMPLES,
    PROMETHEUS,
    PROMTOOL,
    Process,
    answers,
    api,
    children,
    free_port,
    prometheus,
    query,
    request,
    value,
    wait,
)

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


class App(NamedTuple):
    port: int
    master: int  # Gunicorn's master pid
    mpdir: Path  # PROMETHEUS_MULTIPROC_DIR


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, App]]:
    """Both example apps under Gunicorn (4 workers, multiprocess mode, the example gunicorn.conf.py), by job name."""
    tmp = tmp_path_factory.mktemp("apps")
    servers: Dict[str, Tuple[App, Process]] = {}
    try:
        for job, extra in (("flask", []), ("fastapi", ["-k", "uvicorn_worker.UvicornWorker"])):
            port = free_port()
            mpdir = tmp / f"metrics-{job}"  # on_starting (the example gunicorn.conf.py's hook) creates it
            args = [str(GUNICORN), "-c", str(EXAMPLES / "gunicorn.conf.py"), "-w", str(WORKERS),
                    "-b", f"127.0.0.1:{port}", "--graceful-timeout", "5", *extra, f"{job}_app:app"]
            server = Process(args, tmp / f"{job}.log", dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(mpdir)))
            servers[job] = (App(port, server.proc.pid, mpdir), server)
        for job, (app, server) in servers.items():
            wait(lambda a=app, s=server: not s.alive() or (len(children(a.master)) == WORKERS
                                                           and answers(a.port, "/health")),
                 40, f"{job} app to answer with {WORKERS} workers", server.log)
            assert server.alive(), f"{job} app exited:\n{server.log.read_text(errors='replace')[-3000:]}"
        yield {job: app for job, (app, _) in servers.items()}
    finally:
        for _, server in servers.values():
            server.stop()


@pytest.fixture(scope="module")
def prometheus_port(apps: Dict[str, App], tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real Prometheus scraping both apps every second, with the example alert rules; yields its port."""
    scrape_configs = [{"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{apps[job].port}"]}]}
                      for job in JOBS]
    with prometheus(tmp_path_factory.mktemp("prometheus"), scrape_configs, rule_files=[str(EXAMPLES / "alerts.yml")],
                    flags=["--enable-feature=exemplar-storage"]) as port:
        yield port


@pytest.fixture(scope="module")
def scraped(apps: Dict[str, App], prometheus_port: int) -> int:
    """Sends the traffic mix to both apps, waits (at most 20 s) until Prometheus has scraped all of it; its port."""
    work = [(job, *r) for job in JOBS for r in _mix(job)]

    def send(item: Tuple[str, str, str, str, str]) -> Tuple[str, str, str]:
        job, method, path, _, expected = item
        headers, body = {}, None
        if method == "POST":
            headers = {"Content-Type": "application/json", "X-Trace-Id": f"trace-{job}-{path}"}
            body = b'{"name": "e2e"}'
        return expected, str(request(apps[job].port, method, path, headers, body)[0]), f"{job} {method} {path}"

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, work))
    wrong = [(where, got, expected) for expected, got, where in answers if got != expected]
    assert not wrong, wrong
    for job, app in apps.items():  # the traffic really was spread over several workers' files
        writers = {f.stem for f in app.mpdir.glob("w-*.values")}
        assert len(writers) >= 2, (job, writers)
    for _ in range(3):  # excluded: never counted
        for app in apps.values():
            assert request(app.port, "GET", "/health")[0] == 200

    def all_scraped() -> bool:
        return all(value(prometheus_port, f'sum(http_requests_total{{job="{job}"}})') == SENT[job] for job in JOBS)

    wait(all_scraped, 20, "prometheus to scrape every request sent")
    return prometheus_port


@pytest.mark.parametrize("job", JOBS)
def test_request_totals_per_route_are_exact(scraped: int, job: str) -> None:
    """Prometheus sees exactly the requests sent, per handler template, method and status, merged over 4 workers."""
    assert value(scraped, f'sum(http_requests_total{{job="{job}"}})') == SENT[job]
    got = {(s["metric"]["handler"], s["metric"]["method"], s["metric"]["status"]): float(s["value"][1])
           for s in query(scraped, f'sum by (handler, method, status) (http_requests_total{{job="{job}"}})')}
    expected = Counter((handler, method, status) for method, _, handler, status in _mix(job))
    assert got == {key: float(n) for key, n in expected.items()}
    assert value(scraped, f'sum(http_exceptions_total{{job="{job}",handler="/error",exception="RuntimeError"}})') \
        == ERRORS[job]
    assert query(scraped, f'http_requests_total{{job="{job}",handler="/health"}}') == []  # excluded path


@pytest.mark.parametrize("job", JOBS)
def test_error_ratio_is_the_known_ratio(scraped: int, job: str) -> None:
    """The 5xx ratio computed by PromQL is exactly the share of raising requests sent."""
    ratio = value(scraped, f'sum(http_requests_total{{job="{job}",status="500"}})'
                            f' / sum(http_requests_total{{job="{job}"}})')
    assert ratio == ERRORS[job] / SENT[job]


def test_unknown_urls_make_one_series(scraped: int) -> None:
    """Ten different unknown URLs on each app end up in one handler="none" series per app."""
    assert value(scraped, 'count(count by (handler) (http_requests_total{handler="none"}))') == 1
    per_job = {s["metric"]["job"]: float(s["value"][1])
               for s in query(scraped, 'count by (job) (http_requests_total{handler="none"})')}
    assert per_job == {job: 1.0 for job in JOBS}


@pytest.mark.parametrize("job", JOBS)
def test_p99_of_the_slow_route_lands_in_its_bucket(scraped: int, job: str) -> None:
    """histogram_quantile(0.99) over the slow route's buckets falls in the bucket its controlled delay selects."""
    p99 = value(scraped, "histogram_quantile(0.99, sum by (le) "
                          f'(http_request_duration_seconds_bucket{{job="{job}",handler="/slow"}}))')
    assert p99 is not None and SLOW_BUCKET[0] < p99 <= SLOW_BUCKET[1], p99
    fast = value(scraped, "histogram_quantile(0.99, sum by (le) "
                           f'(http_request_duration_seconds_bucket{{job="{job}",handler="/"}}))')
    assert fast is not None and fast <= SLOW_BUCKET[0], fast


def test_example_alert_rules_load_and_evaluate(scraped: int) -> None:
    """Prometheus loads example_apps/alerts.yml and evaluates every rule without error."""
    def evaluated() -> bool:
        rules = [r for g in api(scraped, "rules")["groups"] for r in g["rules"]]
        return len(rules) == 5 and all(r["health"] == "ok" for r in rules)

    wait(evaluated, 15, "every example rule to be evaluated")
    wait(lambda: {s["metric"]["job"] for s in query(scraped, "job:http_requests_errors:ratio_rate5m")} == set(JOBS),
          15, "the error-ratio recording rule to produce a series per job")


def test_exemplars_reach_prometheus(scraped: int) -> None:
    """The Flask app's exemplars, merged over its workers, are scraped via OpenMetrics and stored by Prometheus."""
    now = time.time()

    def found() -> List[Dict[str, Any]]:
        data = api(scraped, "query_exemplars", query='shop_user_signups_total{job="flask"}',
                    start=str(now - 300), end=str(now + 60))
        return [e for series in data for e in series["exemplars"]]

    wait(lambda: bool(found()), 10, "an exemplar of shop_user_signups_total")
    assert {e["labels"]["trace_id"] for e in found()} == {"trace-flask-/users"}


@pytest.mark.parametrize("job", JOBS)
def test_a_killed_worker_resets_no_counter(apps: Dict[str, App], scraped: int, job: str) -> None:
    """SIGKILL a worker: Gunicorn respawns it, child_exit folds its files, and Prometheus sees no counter reset."""
    app = apps[job]
    victim = min(children(app.master))
    os.kill(victim, signal.SIGKILL)
    wait(lambda: victim not in children(app.master) and len(children(app.master)) == WORKERS, 20,
          f"gunicorn to respawn the {job} worker")
    wait(lambda: not (app.mpdir / f"w-{victim}.values").exists(), 20, "child_exit to fold the killed worker")
    folded = time.time()
    wait(lambda: (value(scraped, f'max(timestamp(http_requests_total{{job="{job}"}}))') or 0) > folded + 0.5,
          20, "a scrape after the fold")
    assert value(scraped, f'sum(http_requests_total{{job="{job}"}})') == SENT[job]
    assert value(scraped, f'sum(resets(http_requests_total{{job="{job}"}}[5m]))') == 0
    assert value(scraped, f'sum(resets(http_request_duration_seconds_count{{job="{job}"}}[5m]))') == 0


@pytest.mark.parametrize("job", JOBS)
def test_promtool_accepts_the_apps_metrics(apps: Dict[str, App], scraped: int, job: str) -> None:
    """promtool check metrics finds no problem in a multiprocess text scrape of each app after the traffic mix."""
    # promtool reads the text format only; the OpenMetrics scrape is judged by Prometheus itself (exemplars test).
    status, body = request(apps[job].port, "GET", "/metrics")
    assert status == 200 and b"http_requests_total" in body
    proc = subprocess.run([str(PROMTOOL), "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert proc.returncode == 0, (proc.stdout + proc.stderr).decode() + "\n" + body.decode()


def test_promtool_accepts_the_example_rules_and_config() -> None:
    """promtool check rules passes on example_apps/alerts.yml, and check config on example_apps/prometheus.yml."""
    for args in (["check", "rules", str(EXAMPLES / "alerts.yml")],
                 ["check", "config", str(EXAMPLES / "prometheus.yml")]):
        proc = subprocess.run([str(PROMTOOL), *args], capture_output=True, timeout=30)
        assert proc.returncode == 0, (proc.stdout + proc.stderr).decode()

"""The example apps under example_apps/ run, count requests with the shared schema, push, and chart it."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Sequence, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "example_apps"
PUSHGATEWAY = shutil.which("prometheus-pushgateway") or (
    "/usr/bin/prometheus-pushgateway" if os.path.exists("/usr/bin/prometheus-pushgateway") else None
)
PROMTOOL = shutil.which("promtool")
START_TIMEOUT = 15.0

SHARED_METRICS = {
    "http_requests_total",
    "http_request_duration_seconds_bucket",
    "http_request_duration_seconds_sum",
    "http_request_duration_seconds_count",
    "http_requests_in_progress",
    "http_exceptions_total",
    "http_request_size_bytes_bucket",
    "http_response_size_bytes_bucket",
}
SHARED_LABELS = {"method", "handler", "status", "exception", "le", "job", "instance"}
PROMQL_WORDS = {
    "sum", "by", "without", "rate", "irate", "increase", "histogram_quantile", "avg", "max", "min",
    "count", "topk", "bottomk", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "label_values", "clamp_min", "clamp_max",
}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> Tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read().decode(errors="replace")


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("PYTHONWARNINGS", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def _serve(argv: Sequence[str], port: int, ready_path: str = "/metrics") -> Iterator[str]:
    """Start argv, wait (bounded) until ready_path answers, yield the base URL, then stop it."""
    proc = subprocess.Popen(
        list(argv), cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{argv} exited with {proc.returncode}:\n{proc.stdout.read() if proc.stdout else ''}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"{argv} did not listen on {port} within {START_TIMEOUT}s")
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=10)


def _requests_total(metrics: str) -> List[str]:
    return sorted(line for line in metrics.splitlines() if line.startswith("http_requests_total{"))


def _line(handler: str, status: int, value: float) -> str:
    return f'http_requests_total{{handler="{handler}",method="GET",status="{status}"}} {value}'


APP_CASES = {
    "flask": (
        ["-m", "flask", "--app", "example_apps/flask_app.py", "run", "--port", "{port}"],
        ["/users/1", "/users/2", "/wp-login.php", "/error", "/health"],
        [_line("/users/<int:user_id>", 200, 2.0), _line("none", 404, 1.0), _line("/error", 500, 1.0)],
    ),
    "fastapi": (
        ["-m", "uvicorn", "--app-dir", "example_apps", "fastapi_app:app", "--port", "{port}", "--log-level", "error"],
        ["/items/1", "/items/2", "/wp-login.php", "/error", "/health"],
        [_line("/items/{item_id}", 200, 2.0), _line("none", 404, 1.0), _line("/error", 500, 1.0)],
    ),
    "django": (
        ["example_apps/django_app/manage.py", "runserver", "127.0.0.1:{port}", "--noreload"],
        ["/users/1/", "/users/2/", "/wp-login.php", "/error/", "/health/"],
        [_line("/users/<int:user_id>/", 200, 2.0), _line("none", 404, 1.0), _line("/error/", 500, 1.0)],
    ),
    "aiohttp": (
        ["example_apps/aiohttp_app.py", "{port}"],
        ["/users/1", "/users/2", "/wp-login.php", "/error", "/health"],
        [_line("/users/{id}", 200, 2.0), _line("none", 404, 1.0), _line("/error", 500, 1.0)],
    ),
    "twisted": (
        ["example_apps/twisted_app.py", "{port}"],
        ["/users/1", "/users/2", "/wp-login.php", "/error"],
        [_line("/users/{id}", 200, 2.0), _line("none", 404, 1.0), _line("/error", 500, 1.0)],
    ),
    "wsgi": (
        ["example_apps/wsgi_app.py", "{port}"],
        ["/users/1", "/users/2", "/wp-login.php", "/error"],
        [_line("/users/<int:user_id>", 200, 2.0), _line("none", 404, 1.0), _line("/error", 500, 1.0)],
    ),
}


class Scrape(NamedTuple):
    statuses: List[int]  # of the requests to the app's paths, in order
    status: int  # of GET /metrics
    body: str  # the /metrics body after that traffic


@pytest.fixture(scope="module", params=sorted(APP_CASES))
def scrape(request: pytest.FixtureRequest) -> Tuple[str, Scrape]:
    """Each example app, run as its docstring says, after a request to each of its paths: its name and scrape."""
    argv, paths, _ = APP_CASES[request.param]
    port = _free_port()
    command = [sys.executable] + [arg.format(port=port) for arg in argv]
    with _serve(command, port) as base:
        statuses = [_get(base + path)[0] for path in paths]
        status, metrics = _get(base + "/metrics")
    return request.param, Scrape(statuses, status, metrics)


def test_example_app_counts_requests_by_route_template(scrape: Tuple[str, Scrape]) -> None:
    """Each example app counts its requests under the route template, `none` for unknown URLs and 500 on a raise."""
    name, got = scrape
    assert got.statuses[:4] == [200, 200, 404, 500]
    assert got.status == 200
    assert _requests_total(got.body) == sorted(APP_CASES[name][2])
    assert 'exception="RuntimeError"' in got.body


def _promtool_check_metrics(body: str) -> None:
    proc = subprocess.run([str(PROMTOOL), "check", "metrics"], input=body, capture_output=True, text=True, timeout=20)
    assert proc.returncode == 0, proc.stdout + proc.stderr + "\n" + body


@pytest.mark.skipif(PROMTOOL is None, reason="promtool absent (Debian package prometheus)")
def test_promtool_accepts_the_example_apps_scrape(scrape: Tuple[str, Scrape]) -> None:
    """promtool check metrics finds no problem in each example app's /metrics after the traffic above."""
    name, got = scrape
    assert got.status == 200 and "http_requests_total{" in got.body, name
    _promtool_check_metrics(got.body)


def _gateway_series(base: str) -> List[str]:
    _, text = _get(base + "/metrics")
    return [line for line in text.splitlines() if line.startswith("batch_job_")]


@pytest.mark.skipif(PUSHGATEWAY is None, reason="prometheus-pushgateway absent (Debian package prometheus-pushgateway)")
def test_push_batch_job_pushes_success_and_failure_to_a_real_pushgateway() -> None:
    """The batch job pushes its timing on success, and a failure metric plus a non-zero exit on failure."""
    port = _free_port()
    argv = [str(PUSHGATEWAY), f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"]
    with _serve(argv, port) as base:
        gateway = f"127.0.0.1:{port}"
        job = [sys.executable, "example_apps/push_batch_job.py", "--job", "nightly_import", "--source", "orders"]

        ok = subprocess.run(job + ["--gateway", gateway], cwd=ROOT, env=_env(), capture_output=True, timeout=20)
        assert ok.returncode == 0, ok.stderr
        series = _gateway_series(base)
        group = 'instance="",job="nightly_import",source="orders"'
        assert f"batch_job_success{{{group}}} 1" in series
        assert any(s.startswith(f"batch_job_duration_seconds{{{group}}} ") for s in series)
        assert any(s.startswith(f"batch_job_last_success_unixtime{{{group}}} ") for s in series)
        assert not any(s.startswith("batch_job_failures_total") for s in series)

        env = _env()
        env["PUSHGATEWAY"] = gateway  # the environment variable instead of --gateway
        bad = subprocess.run(job + ["--fail"], cwd=ROOT, env=env, capture_output=True, timeout=20, text=True)
        assert bad.returncode == 1
        assert "upstream export is missing" in bad.stderr
        series = _gateway_series(base)
        assert f"batch_job_success{{{group}}} 0" in series
        assert f'batch_job_failures_total{{exception="RuntimeError",{group}}} 1' in series
        last_success = [s for s in series if s.startswith(f"batch_job_last_success_unixtime{{{group}}} ")]
        assert len(last_success) == 1 and float(last_success[0].split()[1]) > 0  # kept from the successful run


@pytest.mark.skipif(PUSHGATEWAY is None or PROMTOOL is None, reason="prometheus-pushgateway or promtool absent")
def test_promtool_accepts_the_pushgateways_view_of_the_batch_job() -> None:
    """promtool check metrics passes on the Pushgateway's /metrics after a successful and a failed push."""
    port = _free_port()
    argv = [str(PUSHGATEWAY), f"--web.listen-address=127.0.0.1:{port}", "--log.level=error"]
    with _serve(argv, port) as base:
        job = [sys.executable, "example_apps/push_batch_job.py", "--gateway", f"127.0.0.1:{port}"]
        for extra, code in (([], 0), (["--fail"], 1)):
            run = subprocess.run(job + extra, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=20)
            assert run.returncode == code, run.stderr
            status, body = _get(base + "/metrics")
            assert status == 200 and "batch_job_success{" in body
            _promtool_check_metrics(body)


def _dashboard() -> dict:
    return json.loads((APPS / "grafana-dashboard.json").read_text())


def _exprs(dashboard: dict) -> List[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_variables_and_panels() -> None:
    """The Grafana dashboard has the datasource/job/handler variables and the six panels over the shared schema."""
    dashboard = _dashboard()
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert "label_values(http_requests_total" in variables["job"]["definition"]
    assert re.fullmatch(r"label_values\(http_requests_total(\{[^}]*\})?, handler\)", variables["handler"]["definition"])
    exprs = " ".join(_exprs(dashboard))
    for quantile in ("0.5", "0.9", "0.99"):
        assert f"histogram_quantile({quantile}, " in exprs
    assert 'status=~"5.."' in exprs and "http_exceptions_total" in exprs and "http_requests_in_progress" in exprs
    assert any(p["type"] == "heatmap" for p in dashboard["panels"])
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


def test_dashboard_expressions_use_only_the_shared_schema() -> None:
    """Every panel expression has balanced brackets and names only shared-schema metrics and labels."""
    for expr in _exprs(_dashboard()):
        depth = {"(": 0, "{": 0, "[": 0}
        closing = {")": "(", "}": "{", "]": "["}
        stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values may hold anything
        for char in stripped:
            if char in depth:
                depth[char] += 1
            elif char in closing:
                depth[closing[char]] -= 1
                assert depth[closing[char]] >= 0, expr
        assert depth == {"(": 0, "{": 0, "[": 0}, expr
        stripped = re.sub(r"\[[^\]]*\]", "", stripped)  # range selectors like [$__rate_interval]
        labels = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", stripped))
        for grouping in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", stripped):
            labels.update(name.strip() for name in grouping.split(",") if name.strip())
        assert labels <= SHARED_LABELS, (expr, labels - SHARED_LABELS)
        stripped = re.sub(r"\{[^}]*\}", "", stripped)
        names = set(re.findall(r"(?<![\w$.])([a-zA-Z_:][\w:]*)", stripped))
        metrics = names - PROMQL_WORDS - labels
        assert metrics, expr
        assert metrics <= SHARED_METRICS, (expr, metrics - SHARED_METRICS)


@pytest.mark.skipif(PROMTOOL is None, reason="promtool absent (Debian package prometheus)")
def test_dashboard_expressions_parse_with_promtool(tmp_path: Path) -> None:
    """promtool parses every panel expression (Grafana variables replaced) as a recording rule."""
    rules = []
    for number, expr in enumerate(_exprs(_dashboard())):
        promql = expr.replace("$__rate_interval", "5m").replace("$job", ".*").replace("$handler", ".*")
        rules.append({"record": f"dashboard:expr{number}", "expr": promql})
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))  # JSON is YAML
    result = subprocess.run([str(PROMTOOL), "check", "rules", str(path)], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stdout + result.stderr

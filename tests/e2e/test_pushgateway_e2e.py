"""A real Prometheus scrapes a real Pushgateway that the example batch job pushes to.

The module starts ``prometheus-pushgateway`` (persistence off: no ``--persistence.file``) and a Prometheus that
scrapes it every second with ``honor_labels: true``, runs ``example_apps/push_batch_job.py`` as its README says
(a subprocess with ``--gateway``), and checks through the Prometheus HTTP API that the pushed group's series carry
the grouping labels and exactly the values the gateway received; then deletes the group and sees it go stale.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from typing import Dict, Iterator, NamedTuple

import pytest
from _prometheus import PROMETHEUS, ROOT, Process, free_port, prometheus, query, request, wait, wait_ready
from pyrometer.parser import text_string_to_metric_families

PUSHGATEWAY = shutil.which("prometheus-pushgateway")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus absent (Debian package 'prometheus')"),
    pytest.mark.skipif(PUSHGATEWAY is None, reason="prometheus-pushgateway absent (Debian package)"),
]

JOB, SOURCE = "nightly_import", "orders"
GROUP = {"job": JOB, "source": SOURCE}  # the grouping key; the gateway adds instance="" to a push without one
SELECTOR = f'{{job="{JOB}",source="{SOURCE}"}}'
PUSHED = ("batch_job_duration_seconds", "batch_job_success", "batch_job_records_processed",
          "batch_job_last_success_unixtime")


class Stack(NamedTuple):
    gateway: int  # the Pushgateway's port
    prometheus: int  # Prometheus's port


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A Pushgateway and a Prometheus scraping it every second with honor_labels: true."""
    tmp = tmp_path_factory.mktemp("pushgateway")
    port = free_port()
    gateway = Process([str(PUSHGATEWAY), f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                      tmp / "pushgateway.log")
    try:
        wait_ready(gateway, port, "/-/ready", "the pushgateway to be ready")
        scrape = [{"job_name": "pushgateway", "honor_labels": True,
                   "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}]
        with prometheus(tmp, scrape) as prometheus_port:
            yield Stack(port, prometheus_port)
    finally:
        gateway.stop()


def _run_batch_job(gateway: int, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    args = [sys.executable, "example_apps/push_batch_job.py", "--gateway", f"127.0.0.1:{gateway}",
            "--job", JOB, "--source", SOURCE, *extra]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)


def _gateway_values(gateway: int) -> Dict[str, float]:
    """The batch job's samples as the gateway exposes them, by sample name (labels checked to be the group's)."""
    status, body = request(gateway, "GET", "/metrics")
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name.startswith("batch_job_"):
                labels = {k: v for k, v in sample.labels.items() if k != "exception"}
                assert labels == {**GROUP, "instance": ""}, sample
                out[sample.name] = sample.value
    return out


def _prometheus_values(port: int) -> Dict[str, float]:
    """The batch job's series in Prometheus, by metric name; each must carry exactly the grouping labels."""
    out = {}
    for series in query(port, f'{{__name__=~"batch_job_.*",job="{JOB}"}}'):
        labels = dict(series["metric"])
        name = labels.pop("__name__")
        labels.pop("exception", None)
        assert labels == GROUP, series  # honor_labels: the pushed job wins, the empty instance is no label
        out[name] = float(series["value"][1])
    return out


def test_pushed_batch_job_series_reach_prometheus_with_the_exact_values(stack: Stack) -> None:
    """A successful run's four gauges are queryable in Prometheus under the group's labels with the pushed values."""
    started = time.time()
    run = _run_batch_job(stack.gateway)
    assert run.returncode == 0, run.stderr
    pushed = _gateway_values(stack.gateway)
    assert sorted(pushed) == sorted(PUSHED)
    assert pushed["batch_job_success"] == 1
    assert 50 <= pushed["batch_job_records_processed"] <= 100  # do_work counts 50 to 100 records
    assert pushed["batch_job_records_processed"] == int(pushed["batch_job_records_processed"])
    assert started <= pushed["batch_job_last_success_unixtime"] <= time.time()
    assert pushed["batch_job_duration_seconds"] >= 0.05  # do_work sleeps 0.05 s

    wait(lambda: _prometheus_values(stack.prometheus) == pushed, 15, "prometheus to scrape the pushed group")
    push_time = query(stack.prometheus, f"push_time_seconds{SELECTOR}")
    assert len(push_time) == 1 and started <= float(push_time[0]["value"][1]) <= time.time()


def test_a_failed_run_keeps_the_last_success_time_in_prometheus(stack: Stack) -> None:
    """A failing run (POST) sets success 0 and a failure counter; Prometheus keeps the earlier success time."""
    assert _run_batch_job(stack.gateway).returncode == 0
    before = _gateway_values(stack.gateway)
    run = _run_batch_job(stack.gateway, "--fail")
    assert run.returncode == 1 and "upstream export is missing" in run.stderr
    pushed = _gateway_values(stack.gateway)
    assert pushed["batch_job_success"] == 0
    assert pushed["batch_job_failures_total"] == 1
    assert pushed["batch_job_last_success_unixtime"] == before["batch_job_last_success_unixtime"]

    wait(lambda: _prometheus_values(stack.prometheus) == pushed, 15, "prometheus to scrape the failed run")
    failures = query(stack.prometheus, f"batch_job_failures_total{SELECTOR}")
    assert [s["metric"]["exception"] for s in failures] == ["RuntimeError"]


def test_a_deleted_group_goes_stale_in_prometheus(stack: Stack) -> None:
    """After the group is deleted from the gateway, the next scrape marks its series stale and queries return none."""
    assert _run_batch_job(stack.gateway).returncode == 0
    wait(lambda: bool(_prometheus_values(stack.prometheus)), 15, "prometheus to scrape the pushed group")
    status, _ = request(stack.gateway, "DELETE", f"/metrics/job/{JOB}/source/{SOURCE}")
    assert status == 202
    assert _gateway_values(stack.gateway) == {}
    # Prometheus writes a staleness marker for every series missing from a scrape, so one scrape (1 s) suffices.
    wait(lambda: _prometheus_values(stack.prometheus) == {}, 15, "the deleted group's series to go stale")
    assert query(stack.prometheus, f"push_time_seconds{SELECTOR}") == []

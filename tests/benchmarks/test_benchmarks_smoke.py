"""The benchmark runner's quick mode works: every row gets numbers and every checked total is exact.

No timing is asserted: benchmarks report, tests check behaviour.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the benchmarks package lives at the top of the repository, outside any install

from benchmarks import __main__ as runner  # noqa: E402
from benchmarks import middleware, web  # noqa: E402

PEER_MODULES = ("flask", "prometheus_flask_exporter", "django", "django_prometheus", "fastapi",
                "prometheus_fastapi_instrumentator", "starlette_exporter")
MIDDLEWARE_ROWS = ["Flask middleware overhead", "Django middleware overhead",
                   "FastAPI middleware overhead vs prometheus-fastapi-instrumentator",
                   "FastAPI middleware overhead vs starlette-exporter"]


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


@pytest.fixture(scope="module")
def quick_rows() -> List[Dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--repeats", "1", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout)["rows"]


def test_quick_mode_produces_a_number_and_an_exact_total_for_every_core_row(quick_rows: List[Dict[str, Any]]):
    """`python -m benchmarks --quick --json` exits 0 with finite positive numbers and exact=true on each core row."""
    core = [r for r in quick_rows if r["anchor"] == "prometheus_client"]
    assert len(core) >= 10
    for row in core:
        for key in ("anchor_value", "pyrometer"):
            assert isinstance(row[key], float) and math.isfinite(row[key]) and row[key] > 0, row
        assert row["exact"] is True, row


def test_quick_mode_leaves_out_the_full_size_scrape(quick_rows: List[Dict[str, Any]]):
    """The 100k-series scrape is a full-mode row only; the per-series text row still runs."""
    names = [r["workload"] for r in quick_rows]
    assert "generate_latest text, 100k counters, 1 scrape" not in names
    assert "generate_latest text, 100k counters, 1 scrape" in runner.WORKLOADS
    assert "generate_latest text, counters" in names


@pytest.mark.skipif(not _installed(*PEER_MODULES), reason="the frameworks and peer exporters are not installed")
def test_quick_mode_measures_every_middleware_row_against_its_peer(quick_rows: List[Dict[str, Any]]):
    """With the peers installed, each middleware row has both overheads, the bare app's time, and exact counts."""
    rows = {r["workload"]: r for r in quick_rows if "middleware" in r["workload"]}
    assert sorted(rows) == sorted(MIDDLEWARE_ROWS)
    for row in rows.values():
        assert row["note"] == "", row
        assert row["unit"] == "us"
        for key in ("anchor_value", "pyrometer", "bare"):
            assert isinstance(row[key], float) and math.isfinite(row[key]), row
        assert row["bare"] > 0
        assert row["exact"] is True, row
    assert rows["Flask middleware overhead"]["anchor"].startswith("prometheus-flask-exporter ")
    assert rows["Django middleware overhead"]["anchor"].startswith("django-prometheus ")


def test_request_cycle_totals():
    """Three routed requests then one unmatched, cycled: the totals the exact column compares with."""
    assert middleware.PATHS[-1] == "/missing"
    assert middleware.sent(0) == (0, 0)
    assert middleware.sent(3) == (3, 0)
    assert middleware.sent(4) == (3, 1)
    assert middleware.sent(4 + 250 * 3 + 2) == (567, 189)


@pytest.mark.skipif(not _installed("flask"), reason="flask is not installed")
def test_a_missing_peer_gives_a_peer_absent_row_that_still_measures_pyrometer(monkeypatch: pytest.MonkeyPatch):
    """Without prometheus-flask-exporter the Flask row says "peer absent", has no anchor, and pyrometer is exact."""
    real = web.installed
    monkeypatch.setattr(web, "installed", lambda *m: "prometheus_flask_exporter" not in m and real(*m))
    [row] = web.flask_rows(8, 1, "20 us")
    assert row["note"] == "peer absent"
    assert row["anchor_value"] is None and row["ratio"] is None
    assert isinstance(row["pyrometer"], float) and row["exact"] is True
    line = runner._table([row]).splitlines()[2]
    assert re.search(r"  prometheus-flask-exporter\b.* \(peer absent\); bare app \d+\.\d us/request$", line), line


def test_an_absent_framework_gives_rows_with_the_reason():
    """A framework that is not installed yields one row per peer with nothing measured and the reason."""
    rows = middleware.absent_rows("FastAPI", "38 us", 10, list(web.FASTAPI_PEERS), "fastapi not installed")
    assert [r["workload"] for r in rows] == MIDDLEWARE_ROWS[2:]
    assert all(r["pyrometer"] is None and r["anchor_value"] is None and r["exact"] is True for r in rows)
    assert runner._table(rows).splitlines()[2].endswith("prometheus-fastapi-instrumentator (fastapi not installed)")


def test_a_driver_reports_an_app_that_does_not_answer_as_expected():
    """The status check before timing fails when the routed requests do not answer 200 and the unmatched one 404."""
    def always_ok(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
        start_response("200 OK", [])
        return [b"ok"]

    def routed(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
        start_response("404 Not Found" if environ["PATH_INFO"] == "/missing" else "200 OK", [])
        return [b""]
    assert middleware.WSGIDriver(always_ok).check() is False
    good = middleware.WSGIDriver(routed)
    assert good.check() is True
    good.batch(6)
    assert good.total == 10 and middleware.sent(good.total) == (8, 2)


def test_counted_sums_the_samples_carrying_the_label_value():
    """`counted` adds up one sample name across children whose labels include the value, in either library."""
    import prometheus_client
    import pyrometer
    for lib in (prometheus_client, pyrometer):
        reg = lib.CollectorRegistry()
        c = lib.Counter("reqs", "d", ["handler", "status"], registry=reg)
        c.labels("/users/{id}", "200").inc(3)
        c.labels("/users/{id}", "500").inc(2)
        c.labels("none", "404").inc()
        assert middleware.counted(reg, "reqs_total", "/users/{id}") == 5
        assert middleware.counted(reg, "reqs_total", "none") == 1


def test_interleave_rotates_the_variants_in_rounds_and_keeps_one_median_per_repeat():
    """Warm-up once each, then rounds of ROUND requests with the order rotating; one sample per repeat."""
    calls: List[Any] = []

    def fake(name: str, seconds: float) -> Any:
        def batch(n: int) -> float:
            calls.append((name, n))
            return seconds
        return batch
    samples = middleware.interleave({"bare": fake("bare", 1.0), "x": fake("x", 3.0)}, 2 * middleware.ROUND, 2)
    assert samples == {"bare": [1.0, 1.0], "x": [3.0, 3.0]}
    r = middleware.ROUND
    assert calls == [("bare", r), ("x", r),                         # warm-up
                     ("bare", r), ("x", r), ("x", r), ("bare", r),  # repeat 1: two rounds
                     ("bare", r), ("x", r), ("x", r), ("bare", r)]  # repeat 2


def test_overhead_rows_subtract_the_bare_median():
    """A row's numbers are the medians minus the bare app's median, in microseconds, with their ratio."""
    samples = {"bare": [10e-6, 11e-6, 50e-6], "pyrometer": [20e-6, 21e-6, 22e-6], "peer": [40e-6, 41e-6, 90e-6]}
    [row] = middleware.overhead_rows("Flask", "20 us", 100, samples, {"bare": True, "pyrometer": True, "peer": False},
                                     [("peer", "peer 1.0")])
    assert row["workload"] == "Flask middleware overhead" and row["anchor"] == "peer 1.0"
    assert round(row["bare"], 6) == 11.0
    assert round(row["pyrometer"], 6) == 10.0 and round(row["anchor_value"], 6) == 30.0
    assert round(row["ratio"], 6) == round(10 / 30, 6)
    assert row["exact"] is False and row["note"] == ""


def test_quick_mode_measures_what_prometheus_client_cannot_do(quick_rows: List[Dict[str, Any]]):
    """Native observe() is measured against pyrometer's classic observe() (a ratio target), quantiles without one."""
    rows = {r["workload"]: r for r in quick_rows}
    native = rows["native Histogram.observe() vs classic"]
    assert native["anchor"] == "pyrometer classic observe()" and native["target"] == "1.5x"
    assert runner._met(native) == ("yes" if native["ratio"] <= 1.5 else "NO")
    quantiles = rows["Summary.observe() with 3 quantile objectives"]
    assert runner._met(quantiles) == "-"
    for row in (native, quantiles):
        assert row["anchor_value"] > 0 and row["pyrometer"] > 0 and row["exact"] is True, row

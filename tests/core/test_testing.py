"""pyrometer.testing: isolated registries, sample values, deltas, exposition comparison and the fixtures."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
from pyrometer import REGISTRY, CollectorRegistry, Counter, Gauge, generate_latest
from pyrometer.openmetrics.exposition import generate_latest as generate_openmetrics
from pyrometer.registry import DuplicateTimeseries
from pyrometer.testing import MetricsDelta, assert_exposition_equal, isolated_registry, sample_value

APP_MODULE = '''
from pyrometer import Counter
jobs = Counter("testing_app_jobs", "Jobs done.", ["kind"])
'''


def test_isolated_registry_routes_default_registrations():
    """A metric built with the default registry inside the block lands in the isolated registry, not after it."""
    with isolated_registry() as reg:
        c = Counter("iso_routed", "Doc.")
        c.inc(2)
        assert sample_value("iso_routed_total", registry=reg) == 2
        assert sample_value("iso_routed_total") == 2
    assert sample_value("iso_routed_total") is None
    assert sample_value("iso_routed_total", registry=reg) == 2


def test_isolated_registry_restores_on_error():
    """REGISTRY gets its own collectors back when the block raises."""
    before = dict(REGISTRY._names_to_collectors)
    with pytest.raises(RuntimeError):
        with isolated_registry():
            Counter("iso_error", "Doc.")
            raise RuntimeError("boom")
    assert REGISTRY._names_to_collectors == before
    with isolated_registry():
        Counter("iso_error", "Doc.")


def test_isolated_registry_keeps_cardinality_state_inside_the_block():
    """A default limit and the overflow counter set inside the block are gone after it."""
    with isolated_registry() as registry:
        REGISTRY.set_default_max_label_sets(1)
        c = Counter("isolated_limited_total", "Limited.", ["user"])
        c.labels("a").inc()
        c.labels("b").inc()  # folded into the overflow child
        assert sample_value("isolated_limited_total", {"user": "_OTHER"}, registry=registry) == 1
        assert sample_value("pyrometer_cardinality_overflow_total", {"metric": "isolated_limited"},
                            registry=registry) == 1
    assert REGISTRY.default_max_label_sets is None
    assert REGISTRY.get_sample_value("pyrometer_cardinality_overflow_total", {"metric": "isolated_limited"}) is None
    assert REGISTRY.get_sample_value("isolated_limited_total", {"user": "a"}) is None


def test_same_names_twice_without_isolation_still_collide():
    """Outside isolation the usual DuplicateTimeseries still protects the registry."""
    reg = CollectorRegistry()
    Counter("iso_dup", "Doc.", registry=reg)
    with pytest.raises(DuplicateTimeseries):
        Counter("iso_dup", "Doc.", registry=reg)


def test_module_imported_and_reloaded_twice(tmp_path, monkeypatch):
    """An application module with module-level metrics imports again in a second isolated block."""
    (tmp_path / "testing_app_mod.py").write_text(APP_MODULE)
    monkeypatch.syspath_prepend(os.fspath(tmp_path))
    try:
        with isolated_registry() as first:
            mod = importlib.import_module("testing_app_mod")
            mod.jobs.labels("a").inc()
            assert sample_value("testing_app_jobs_total", {"kind": "a"}, first) == 1
        with isolated_registry() as second:
            mod = importlib.reload(mod)
            assert sample_value("testing_app_jobs_total", {"kind": "a"}, second) is None
            mod.jobs.labels("a").inc(5)
            assert sample_value("testing_app_jobs_total", {"kind": "a"}, second) == 5
    finally:
        sys.modules.pop("testing_app_mod", None)


def test_sample_value_default_and_missing():
    """sample_value reads REGISTRY by default and gives None for an absent sample."""
    with isolated_registry():
        g = Gauge("iso_gauge", "Doc.", ["x"])
        g.labels("1").set(4)
        assert sample_value("iso_gauge", {"x": "1"}) == 4
        assert sample_value("iso_gauge", {"x": "2"}) is None


def test_metrics_delta():
    """MetricsDelta reports differences since the snapshot, counting samples missing before as 0."""
    reg = CollectorRegistry()
    c = Counter("http_requests", "Doc.", ["handler"], registry=reg)
    c.labels("/a").inc(10)
    delta = MetricsDelta(reg)
    c.labels("/a").inc(3)
    c.labels("/users/{id}").inc(3)
    assert delta.get("http_requests_total", handler="/users/{id}") == 3
    assert delta.get("http_requests_total", {"handler": "/a"}) == 3
    assert delta.get("http_requests_total", handler="/never") == 0
    assert delta.changes()[("http_requests_total", (("handler", "/a"),))] == 3
    delta.reset()
    assert delta.get("http_requests_total", handler="/a") == 0


def test_assert_exposition_equal_ignores_order_and_created():
    """Expositions equal up to sample order and _created values pass, in bytes or str, text or OpenMetrics."""
    reg1, reg2 = CollectorRegistry(), CollectorRegistry()
    for reg, order in ((reg1, ("a", "b")), (reg2, ("b", "a"))):
        c = Counter("exp_total", "Doc.", ["k"], registry=reg)
        for k in order:
            c.labels(k).inc()
    assert_exposition_equal(generate_latest(reg1), generate_latest(reg2).decode())
    assert_exposition_equal(generate_openmetrics(reg1), generate_openmetrics(reg2))


def test_assert_exposition_equal_diff_message():
    """A mismatch raises AssertionError with a unified diff naming the differing lines."""
    with pytest.raises(AssertionError) as info:
        assert_exposition_equal("# TYPE x gauge\nx 1.0\n", b"# TYPE x gauge\nx 2.0\n")
    message = str(info.value)
    assert "--- first" in message and "+++ second" in message
    assert "-x 1.0" in message and "+x 2.0" in message


def test_metrics_registry_fixture(metrics_registry):
    """The metrics_registry fixture is the registry default-registered metrics land in."""
    Counter("fixture_counter", "Doc.").inc()
    assert metrics_registry.get_sample_value("fixture_counter_total") == 1


def test_metrics_registry_fixture_again(metrics_registry):
    """A second test re-creating the same metric name does not collide."""
    Counter("fixture_counter", "Doc.").inc(2)
    assert metrics_registry.get_sample_value("fixture_counter_total") == 2


def test_metrics_delta_fixture(metrics_delta):
    """metrics_delta watches the test's isolated registry."""
    Counter("fixture_delta", "Doc.").inc(4)
    assert metrics_delta.get("fixture_delta_total") == 4


def test_multiprocess_dir_fixture(metrics_multiprocess_dir, metrics_registry):
    """Metrics created with metrics_multiprocess_dir write files there that MultiProcessCollector merges."""
    from pyrometer import multiprocess

    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == metrics_multiprocess_dir
    Counter("mp_fixture", "Doc.").inc(3)
    assert os.listdir(metrics_multiprocess_dir)
    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg)
    assert sample_value("mp_fixture_total", registry=reg) == 3


PLUGIN_USER_TEST = '''
def test_uses_fixture(metrics_registry):
    from pyrometer import Counter
    Counter("opt_in", "Doc.").inc()
    assert metrics_registry.get_sample_value("opt_in_total") == 1
'''


@pytest.mark.parametrize(("args", "passes"), [
    ((), False),
    (("--pyrometer",), True),
    (("-p", "pyrometer.testing"), True),
])
def test_plugin_is_opt_in(tmp_path, args, passes):
    """The installed entry point provides the fixtures only with --pyrometer or -p pyrometer.testing."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_user.py").write_text(PLUGIN_USER_TEST)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert (proc.returncode == 0) is passes, proc.stdout + proc.stderr
    if not passes:
        assert "fixture 'metrics_registry' not found" in proc.stdout


def test_plugin_ini_opt_in(tmp_path):
    """The ini flag ``pyrometer = true`` turns the fixtures on as well."""
    (tmp_path / "pytest.ini").write_text("[pytest]\npyrometer = true\n")
    (tmp_path / "test_user.py").write_text(PLUGIN_USER_TEST)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

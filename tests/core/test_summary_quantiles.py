"""Summary quantiles: objectives, the CKMS estimator, the sliding window, exposition, errors, multiprocess."""

from __future__ import annotations

import math
import random
import shutil
import subprocess
from bisect import bisect_left, bisect_right
from types import SimpleNamespace
from typing import Any, Dict, Iterable, Iterator, List, Tuple

import prometheus_client
import prometheus_client.exposition as pc_exposition
import prometheus_client.metrics as pc_metrics
import prometheus_client.openmetrics.exposition as pc_om
import pyrometer
import pyrometer.metrics as py_metrics
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from metric_helpers import hammer
from pyrometer import _quantiles, values
from pyrometer.exposition import generate_latest
from pyrometer.metrics import Summary
from pyrometer.openmetrics.exposition import generate_latest as om_latest
from pyrometer.openmetrics.parser import text_string_to_metric_families as om_parse
from pyrometer.parser import text_string_to_metric_families as text_parse
from pyrometer.registry import CollectorRegistry

OBJECTIVES = {0.5: 0.05, 0.9: 0.01, 0.99: 0.001}
NAN = float("nan")


@pytest.fixture
def qclock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """Freeze the clock of quantile windows created from now on at 1000.0; set ``qclock.now`` to move it."""
    fake = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(_quantiles, "_clock", lambda: fake.now)
    return fake


def rank_error_ok(data_sorted: List[float], phi: float, eps: float, value: float) -> bool:
    """Whether one of the ranks ``value`` holds in the data is within eps*n of phi*n (rounded out to whole ranks)."""
    n = len(data_sorted)
    first, last = bisect_left(data_sorted, value) + 1, bisect_right(data_sorted, value)
    fuzz = 1e-9 * n  # float rounding of the bounds themselves, far below one rank
    low, high = math.floor((phi - eps) * n - fuzz), max(1, math.ceil((phi + eps) * n + fuzz))
    return first <= last and last >= low and first <= high


def quantiles(summary: Any) -> Dict[str, float]:
    """{quantile label: value} of an unlabelled summary, read through collect()."""
    return {s.labels["quantile"]: s.value for m in summary.collect() for s in m.samples if "quantile" in s.labels}


def window_of(summary: Any) -> Any:
    return summary._window


# -- the estimator's error bound ----------------------------------------------

def _streams(n: int) -> Iterator[Tuple[str, List[float]]]:
    rng = random.Random(20261124)
    yield "uniform", [rng.random() for _ in range(n)]
    yield "exponential", [rng.expovariate(3.0) for _ in range(n)]
    yield "heavy-tailed", [rng.paretovariate(0.7) for _ in range(n)]
    yield "lognormal", [rng.lognormvariate(0.0, 2.0) for _ in range(n)]
    yield "ascending", [float(i) for i in range(n)]
    yield "descending", [float(n - i) for i in range(n)]
    yield "few distinct values", [float(rng.randint(0, 7)) for _ in range(n)]
    yield "one value", [42.0] * n
    yield "bimodal", [rng.gauss(0, 1) if rng.random() < 0.9 else rng.gauss(1e6, 1) for _ in range(n)]


STREAMS = list(_streams(30_000))


@pytest.mark.parametrize("label,data", STREAMS, ids=[s[0] for s in STREAMS])
def test_error_within_objectives_on_fixed_streams(label: str, data: List[float], qclock: SimpleNamespace) -> None:
    """On 30k values of each distribution, every quantile's rank is within eps*n of phi*n, from a compressed summary."""
    objectives = {0.0: 0.0, 0.25: 0.02, 0.5: 0.05, 0.9: 0.01, 0.99: 0.001, 0.999: 0.0001, 1.0: 0.0}
    s = Summary("s", "S.", registry=None, objectives=objectives)
    for v in data:
        s.observe(v)
    got = quantiles(s)
    srt = sorted(data)
    for phi, eps in objectives.items():
        v = got[str(phi)]
        assert rank_error_ok(srt, phi, eps, v), (label, phi, eps, v)
    assert got["0.0"] == srt[0] and got["1.0"] == srt[-1]
    head = window_of(s)._streams[window_of(s)._head]
    assert head.count == len(data)
    assert len(head) < 400  # it does summarize: tuples, not observations


@pytest.mark.parametrize("buffer_size", [1, 2, 7, 500, 5000])
def test_error_within_objectives_for_every_buffer_size(buffer_size: int, qclock: SimpleNamespace) -> None:
    """Batches of any size merge correctly into the summary (100k exponential values)."""
    rng = random.Random(buffer_size)
    data = [rng.expovariate(1.0) for _ in range(100_000 if buffer_size >= 500 else 10_000)]
    s = Summary("s", "S.", registry=None, objectives=OBJECTIVES, buffer_size=buffer_size, age_buckets=1)
    for v in data:
        s.observe(v)
    got = quantiles(s)
    srt = sorted(data)
    for phi, eps in OBJECTIVES.items():
        assert rank_error_ok(srt, phi, eps, got[str(phi)]), (phi, got)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.lists(st.one_of(st.floats(-1e9, 1e9, allow_nan=False), st.integers(-3, 3),
                               st.sampled_from([math.inf, -math.inf])), min_size=1, max_size=800),
       objectives=st.dictionaries(st.floats(0, 1), st.floats(0, 0.3), min_size=1, max_size=4),
       buffer_size=st.integers(1, 64))
def test_error_within_objectives_hypothesis(data: List[float], objectives: Dict[float, float],
                                            buffer_size: int) -> None:
    """Any stream, any objectives and buffer size: each rank is within eps*n of phi*n (rounded to whole ranks)."""
    spec = _quantiles.QuantileSpec(objectives, 600.0, 1, buffer_size)
    window = spec.new_window()
    for v in data:
        window.observe(v)
    srt = sorted(data)
    for (phi, eps), v in zip(spec.objectives, window.query()):
        assert rank_error_ok(srt, phi, eps, v), (phi, eps, v)


def test_zero_error_gives_exact_order_statistics(qclock: SimpleNamespace) -> None:
    """With error 0 the answer is the value of rank ceil(phi*n) (the minimum for phi = 0), as in the Go client."""
    s = Summary("s", "S.", registry=None, objectives={0.0: 0.0, 0.05: 0.0, 0.5: 0.0, 0.9: 0.0, 0.95: 0.0, 1.0: 0.0},
                buffer_size=3)
    for v in [7, 3, 9, 1, 10, 2, 8, 6, 4, 5]:
        s.observe(v)
    assert quantiles(s) == {"0.0": 1, "0.05": 1, "0.5": 5, "0.9": 9, "0.95": 10, "1.0": 10}


def test_nan_observations_count_but_have_no_rank(qclock: SimpleNamespace) -> None:
    """NaN goes into _count and _sum as before, and is left out of the quantiles."""
    s = Summary("s", "S.", registry=None, objectives={0.5: 0.0})
    for v in (1.0, NAN, 3.0, NAN, 2.0):
        s.observe(v)
    samples = {x.name: x.value for m in s.collect() for x in m.samples if x.name != "s_created"}
    assert samples["s"] == 2.0
    assert samples["s_count"] == 5.0
    assert math.isnan(samples["s_sum"])


# -- the sliding window ----------------------------------------------------------

def test_observations_leave_the_window_at_exact_rotation_boundaries(qclock: SimpleNamespace) -> None:
    """max_age=10, 5 buckets: a value observed in period p (2 s each) is reported until the start of period p+5."""
    s = Summary("s", "S.", registry=None, objectives={0.0: 0.0, 1.0: 0.0}, max_age=10, age_buckets=5)
    s.observe(1.0)  # period 0
    qclock.now = 1001.999
    s.observe(2.0)  # period 0
    qclock.now = 1002.0
    s.observe(3.0)  # period 1: exactly on the boundary
    qclock.now = 1009.999
    assert quantiles(s) == {"0.0": 1.0, "1.0": 3.0}
    qclock.now = 1010.0  # period 5: period 0 is gone
    assert quantiles(s) == {"0.0": 3.0, "1.0": 3.0}
    qclock.now = 1011.999
    assert quantiles(s) == {"0.0": 3.0, "1.0": 3.0}
    qclock.now = 1012.0
    got = quantiles(s)
    assert math.isnan(got["0.0"]) and math.isnan(got["1.0"])
    samples = {x.name: x.value for m in s.collect() for x in m.samples}
    assert samples["s_count"] == 3.0 and samples["s_sum"] == 6.0  # count and sum never forget


def test_buffered_values_rotate_with_their_own_period(qclock: SimpleNamespace) -> None:
    """Values still in the buffer when a period ends expire with that period, not with the next one."""
    s = Summary("s", "S.", registry=None, objectives={1.0: 0.0}, max_age=10, age_buckets=5, buffer_size=1000)
    s.observe(5.0)  # period 0, stays buffered
    qclock.now = 1009.0
    s.observe(1.0)  # period 4, after the rotations due
    assert quantiles(s) == {"1.0": 5.0}
    qclock.now = 1010.0
    assert quantiles(s) == {"1.0": 1.0}


def test_idle_longer_than_max_age_empties_the_window(qclock: SimpleNamespace) -> None:
    """After a silence of many windows, old values are gone and new ones land in a consistent rotation."""
    s = Summary("s", "S.", registry=None, objectives={0.5: 0.0}, max_age=10, age_buckets=5)
    s.observe(1.0)
    qclock.now = 1000.0 + 1000 * 10 + 3.0  # period 5001
    assert math.isnan(quantiles(s)["0.5"])
    s.observe(2.0)
    qclock.now = 1000.0 + 1000 * 10 + 11.999  # period 5005: still within 5 periods
    assert quantiles(s) == {"0.5": 2.0}
    qclock.now = 1000.0 + 1000 * 10 + 12.0  # period 5006
    assert math.isnan(quantiles(s)["0.5"])


def test_quantiles_follow_the_window_not_the_past(qclock: SimpleNamespace) -> None:
    """Once a first stream of values ages out, the quantiles are within objectives of the later values alone."""
    rng = random.Random(7)
    early = [rng.random() for _ in range(20_000)]
    late = [10 + rng.expovariate(1.0) for _ in range(20_000)]
    s = Summary("s", "S.", registry=None, objectives=OBJECTIVES, max_age=10, age_buckets=5)
    for v in early:
        s.observe(v)
    qclock.now = 1006.0
    for v in late:
        s.observe(v)
    mixed = sorted(early + late)
    got = quantiles(s)
    assert all(rank_error_ok(mixed, phi, eps, got[str(phi)]) for phi, eps in OBJECTIVES.items())
    qclock.now = 1010.0
    got = quantiles(s)
    late.sort()
    assert all(rank_error_ok(late, phi, eps, got[str(phi)]) for phi, eps in OBJECTIVES.items()), got


def test_one_age_bucket_resets_the_whole_window(qclock: SimpleNamespace) -> None:
    """age_buckets=1: the window is emptied every max_age seconds."""
    s = Summary("s", "S.", registry=None, objectives={0.5: 0.0}, max_age=60, age_buckets=1)
    s.observe(4.0)
    qclock.now = 1059.5
    assert quantiles(s) == {"0.5": 4.0}
    qclock.now = 1060.0
    assert math.isnan(quantiles(s)["0.5"])


def test_each_child_has_its_own_window(qclock: SimpleNamespace) -> None:
    """Label children created at different times rotate from their own creation time."""
    s = Summary("s", "S.", ["k"], registry=None, objectives={0.5: 0.0}, max_age=10, age_buckets=5)
    s.labels("a").observe(1.0)
    qclock.now = 1005.0
    s.labels("b").observe(2.0)
    qclock.now = 1010.0
    assert math.isnan(quantiles(s.labels("a"))["0.5"])
    assert quantiles(s.labels("b")) == {"0.5": 2.0}


# -- exposition ------------------------------------------------------------------

def _collector_of(metric: Any) -> CollectorRegistry:
    """A registry that renders ``metric`` through collect() (the writers' generic path)."""
    class Via:
        def collect(self) -> Iterable[Any]:
            return metric.collect()

    reg = CollectorRegistry()
    reg.register(Via())
    return reg


@pytest.fixture
def labelled(registry: CollectorRegistry, clock: SimpleNamespace, qclock: SimpleNamespace) -> Summary:
    s = Summary("lat_seconds", "Request latency.", ["z", "a"], registry=registry,
                objectives={0.5: 0.05, 0.9: 0.01, 0.99: 0.001})
    for v in range(1, 11):
        s.labels(z="y", a="x").observe(v)
    s.labels(z="w", a="v")  # created, nothing observed
    return s


TEXT_BYTES = (
    b"# HELP lat_seconds Request latency.\n"
    b"# TYPE lat_seconds summary\n"
    b'lat_seconds{a="x",quantile="0.5",z="y"} 5.0\n'
    b'lat_seconds{a="x",quantile="0.9",z="y"} 9.0\n'
    b'lat_seconds{a="x",quantile="0.99",z="y"} 10.0\n'
    b'lat_seconds_count{a="x",z="y"} 10.0\n'
    b'lat_seconds_sum{a="x",z="y"} 55.0\n'
    b'lat_seconds{a="v",quantile="0.5",z="w"} NaN\n'
    b'lat_seconds{a="v",quantile="0.9",z="w"} NaN\n'
    b'lat_seconds{a="v",quantile="0.99",z="w"} NaN\n'
    b'lat_seconds_count{a="v",z="w"} 0.0\n'
    b'lat_seconds_sum{a="v",z="w"} 0.0\n'
    b"# HELP lat_seconds_created Request latency.\n"
    b"# TYPE lat_seconds_created gauge\n"
    b'lat_seconds_created{a="x",z="y"} 1000.0\n'
    b'lat_seconds_created{a="v",z="w"} 1000.0\n'
)

OM_BYTES = (
    b"# HELP lat_seconds Request latency.\n"
    b"# TYPE lat_seconds summary\n"
    b'lat_seconds{a="x",quantile="0.5",z="y"} 5.0\n'
    b'lat_seconds{a="x",quantile="0.9",z="y"} 9.0\n'
    b'lat_seconds{a="x",quantile="0.99",z="y"} 10.0\n'
    b'lat_seconds_count{a="x",z="y"} 10.0\n'
    b'lat_seconds_sum{a="x",z="y"} 55.0\n'
    b'lat_seconds_created{a="x",z="y"} 1000.0\n'
    b'lat_seconds{a="v",quantile="0.5",z="w"} NaN\n'
    b'lat_seconds{a="v",quantile="0.9",z="w"} NaN\n'
    b'lat_seconds{a="v",quantile="0.99",z="w"} NaN\n'
    b'lat_seconds_count{a="v",z="w"} 0.0\n'
    b'lat_seconds_sum{a="v",z="w"} 0.0\n'
    b'lat_seconds_created{a="v",z="w"} 1000.0\n'
    b"# EOF\n"
)


def test_text_exposition_bytes(registry: CollectorRegistry, labelled: Summary) -> None:
    """Text 0.0.4: quantiles (label in sorted place), then _count and _sum per child; NaN for an empty window."""
    assert generate_latest(registry) == TEXT_BYTES
    assert generate_latest(registry) == TEXT_BYTES  # a scrape does not change the answer
    assert generate_latest(_collector_of(labelled)) == TEXT_BYTES


def test_openmetrics_exposition_bytes(registry: CollectorRegistry, labelled: Summary) -> None:
    """OpenMetrics: quantiles, _count, _sum, _created per child."""
    assert om_latest(registry) == OM_BYTES
    assert om_latest(_collector_of(labelled)) == OM_BYTES


def test_unlabelled_exposition_bytes(registry: CollectorRegistry, clock: SimpleNamespace, qclock: SimpleNamespace,
                                     no_created: None) -> None:
    """Without labels the quantile label stands alone; quantile 1 is written as 1.0."""
    s = Summary("q", "Q.", registry=registry, objectives={1: 0, 0.25: 0.0})
    s.observe(2)
    s.observe(8)
    assert generate_latest(registry) == (
        b'# HELP q Q.\n# TYPE q summary\nq{quantile="0.25"} 2.0\nq{quantile="1.0"} 8.0\nq_count 2.0\nq_sum 10.0\n')


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool absent (Debian package 'prometheus')")
def test_promtool_accepts_quantile_output(registry: CollectorRegistry, labelled: Summary) -> None:
    """The real ``promtool check metrics`` accepts the text output with quantiles and NaN quantiles."""
    proc = subprocess.run([str(shutil.which("promtool")), "check", "metrics"], input=generate_latest(registry),
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert b"quantile" in generate_latest(registry)


def _samples(families: Iterable[Any], name: str) -> List[Tuple[str, Dict[str, str], Any]]:
    return [(s.name, s.labels, "NaN" if s.value != s.value else s.value)
            for f in families if f.name == name for s in f.samples]


def test_parsers_round_trip(registry: CollectorRegistry, labelled: Summary) -> None:
    """Both parsers read back the quantile samples, in order, with the values collect() gives."""
    expected = _samples(registry.collect(), "lat_seconds")
    assert len([s for s in expected if "quantile" in s[1]]) == 6
    assert _samples(om_parse(om_latest(registry).decode()), "lat_seconds") == expected
    text = [s for s in expected if s[0] != "lat_seconds_created"]
    assert _samples(text_parse(generate_latest(registry).decode()), "lat_seconds") == text


# -- the plain Summary is unchanged --------------------------------------------------

def test_plain_summary_keeps_the_plain_observe(registry: CollectorRegistry) -> None:
    """Without objectives, observe() is the unchanged method; with them the choice is made once per metric."""
    from pyrometer.metrics import _InlineSummary

    plain_observes = (Summary.observe, _InlineSummary.observe)  # the value in cells, or inline
    plain = Summary("p", "P.", ["a"], registry=registry)
    assert type(plain.labels("x")).observe in plain_observes
    assert Summary("p2", "P.", registry=registry).observe.__func__ in plain_observes
    assert Summary("p3", "P.", registry=registry, objectives={})._quantile_spec is None
    child = Summary("q", "Q.", ["a"], registry=registry, objectives={0.5: 0.1}).labels("x")
    assert type(child).observe is Summary._observe_with_quantiles
    unlabelled = Summary("q2", "Q.", registry=registry, objectives={0.5: 0.1})
    assert unlabelled.observe.__func__ is Summary._observe_with_quantiles


def _program(lib: Any, registry: Any) -> None:
    s = lib.Summary("req_size_bytes", "Request size.", ["method", "path"], registry=registry)
    s.labels("get", "/a").observe(10)
    s.labels(method="post", path="/b\n\"q\"").observe(2.5)
    s.labels("get", "/a").observe(0.125)
    u = lib.Summary("job", "Job.", namespace="ns", unit="seconds", registry=registry)
    u.observe(3)
    s.remove("post", '/b\n"q"')
    s.labels("put", "/c")


def test_without_objectives_exposition_matches_prometheus_client() -> None:
    """Differential: without objectives, text and OpenMetrics bytes equal prometheus_client 0.26.0's."""
    py_metrics.disable_created_metrics()
    pc_metrics.disable_created_metrics()
    try:
        py_reg, pc_reg = CollectorRegistry(), prometheus_client.CollectorRegistry()
        _program(pyrometer, py_reg)
        _program(prometheus_client, pc_reg)
        assert generate_latest(py_reg) == pc_exposition.generate_latest(pc_reg)
        assert om_latest(py_reg) == pc_om.generate_latest(pc_reg)
    finally:
        py_metrics.enable_created_metrics()
        pc_metrics.enable_created_metrics()


# -- API behaviour ------------------------------------------------------------------

def test_labelled_parent_refuses_observe(registry: CollectorRegistry) -> None:
    """A labelled Summary with objectives still needs labels() before observe()."""
    s = Summary("s", "S.", ["a"], registry=registry, objectives=OBJECTIVES)
    with pytest.raises(ValueError, match=r"^summary metric is missing label values$"):
        s.observe(1)


def test_time_remove_and_clear_work_with_objectives(registry: CollectorRegistry, qclock: SimpleNamespace) -> None:
    """time() observes through the quantile path; remove() and clear() drop children as before."""
    s = Summary("s", "S.", ["a"], registry=registry, objectives={0.5: 0.0})
    with s.labels("x").time():
        pass
    assert len(quantiles(s.labels("x"))) == 1 and quantiles(s.labels("x"))["0.5"] >= 0
    assert registry.get_sample_value("s_count", {"a": "x"}) == 1.0
    s.remove("x")
    assert registry.get_sample_value("s_count", {"a": "x"}) is None
    s.labels("y").observe(1)
    s.clear()
    assert registry.get_sample_value("s_count", {"a": "y"}) is None


def test_threads_lose_no_observation(qclock: SimpleNamespace) -> None:
    """Eight threads observing at once with a tiny switch interval: every value reaches the window."""
    s = Summary("s", "S.", registry=None, objectives=OBJECTIVES, buffer_size=7)

    def work(k: int) -> None:
        for i in range(2000):
            s.observe(float(k * 2000 + i))

    hammer(work)
    got = quantiles(s)
    w = window_of(s)
    assert [st.count for st in w._streams] == [16000] * 5
    srt = [float(i) for i in range(16000)]
    for phi, eps in OBJECTIVES.items():
        assert rank_error_ok(srt, phi, eps, got[str(phi)])


# -- errors -------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,exc,message", [
    ({"objectives": {1.5: 0.01}}, ValueError, "Summary objective quantile 1.5 is not in [0, 1]"),
    ({"objectives": {-0.1: 0.01}}, ValueError, "Summary objective quantile -0.1 is not in [0, 1]"),
    ({"objectives": {NAN: 0.01}}, ValueError, "Summary objective quantile nan is not in [0, 1]"),
    ({"objectives": {0.5: 1.0}}, ValueError, "Summary objective error 1.0 for quantile 0.5 is not in [0, 1)"),
    ({"objectives": {0.5: -0.01}}, ValueError, "Summary objective error -0.01 for quantile 0.5 is not in [0, 1)"),
    ({"objectives": {"0.5": 0.01}}, TypeError, "Summary objective quantile must be a number, not str"),
    ({"objectives": {0.5: None}}, TypeError, "Summary objective error must be a number, not NoneType"),
    ({"objectives": [0.5, 0.9]}, TypeError,
     "Summary objectives must be a dict of {quantile: allowed rank error}, not list"),
    ({"max_age": 0}, ValueError, "Summary max_age must be a positive number of seconds, got 0"),
    ({"max_age": math.inf}, ValueError, "Summary max_age must be a positive number of seconds, got inf"),
    ({"age_buckets": 0}, ValueError, "Summary age_buckets must be at least 1, got 0"),
    ({"age_buckets": 2.0}, TypeError, "Summary age_buckets must be an int, not float"),
    ({"buffer_size": 0}, ValueError, "Summary buffer_size must be at least 1, got 0"),
    ({"buffer_size": True}, TypeError, "Summary buffer_size must be an int, not bool"),
])
def test_bad_options_are_refused_at_construction(registry: CollectorRegistry, kwargs: Dict[str, Any], exc: type,
                                                 message: str) -> None:
    """Each bad option is a clear error naming the option and the value, before anything is registered."""
    with pytest.raises(exc) as info:
        Summary("s", "S.", registry=registry, **kwargs)
    assert str(info.value) == message
    assert list(registry.collect()) == []


def test_quantile_label_stays_reserved(registry: CollectorRegistry) -> None:
    """``quantile`` cannot be a label name of a Summary, with or without objectives."""
    with pytest.raises(ValueError, match=r"^Reserved label metric name: quantile$"):
        Summary("s", "S.", ["quantile"], registry=registry, objectives=OBJECTIVES)


MP_REFUSAL = (
    "Summary objectives are not supported in multiprocess mode (PROMETHEUS_MULTIPROC_DIR is set): each worker "
    "could only estimate quantiles of its own observations, and such estimates cannot be merged into correct "
    "quantiles of all workers. Use a Histogram and histogram_quantile() instead.")



@pytest.mark.parametrize("labelnames", [(), ("a",)])
def test_multiprocess_mode_refuses_objectives(mpdir: str, registry: CollectorRegistry,
                                              labelnames: Tuple[str, ...]) -> None:
    """With PROMETHEUS_MULTIPROC_DIR set, objectives are refused at construction; a plain Summary still works."""
    with pytest.raises(ValueError) as info:
        Summary("s", "S.", labelnames, registry=registry, objectives=OBJECTIVES)
    assert str(info.value) == MP_REFUSAL
    Summary("plain", "P.", registry=registry).observe(1)


def test_multiprocess_value_class_seam_refuses_objectives(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                                          registry: CollectorRegistry) -> None:
    """values.ValueClass = MultiProcessValue() (prometheus_client's switch) is multiprocess mode too."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    try:
        with pytest.raises(ValueError) as info:
            Summary("s", "S.", registry=registry, objectives=OBJECTIVES)
        assert str(info.value) == MP_REFUSAL
    finally:
        values.close_all_multiprocess_files()


def test_multiprocess_switched_on_later_refuses_new_children(tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                                             registry: CollectorRegistry) -> None:
    """A child created after PROMETHEUS_MULTIPROC_DIR appears is refused instead of silently per-process."""
    s = Summary("s", "S.", ["a"], registry=registry, objectives=OBJECTIVES)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    try:
        with pytest.raises(ValueError) as info:
            s.labels("x")
        assert str(info.value) == MP_REFUSAL
    finally:
        values.close_all_multiprocess_files()

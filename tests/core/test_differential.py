"""Differential tests: random programs and custom collectors render identically in pyrometer and prometheus_client.

Names are drawn from the legacy set and from UTF-8, without ``:`` because the OpenMetrics writer
deliberately escapes sample names with the metric-name rules (prometheus_client
turns ``:`` into ``_`` on sample lines only); observations are finite because
pyrometer deliberately counts NaN into ``+Inf``.
"""

from __future__ import annotations

import itertools
import math
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Dict, Iterator, List, Tuple

import prometheus_client
import prometheus_client.exposition as pc_exposition
import prometheus_client.metrics as pc_metrics
import prometheus_client.metrics_core as pc_core
import prometheus_client.openmetrics.exposition as pc_om
import prometheus_client.registry as pc_registry
import prometheus_client.samples as pc_samples
import pyrometer._text_format as py_text
import pyrometer.metrics as py_metrics
import pyrometer.metrics_core as py_core
import pyrometer.openmetrics.exposition as py_om
import pyrometer.registry as py_registry
import pyrometer.samples as py_samples
import pytest
from exposition_helpers import Families
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PY = SimpleNamespace(metrics=py_metrics, core=py_core, samples=py_samples, registry=py_registry,
                     text=py_text.generate_latest, om=py_om.generate_latest)
PC = SimpleNamespace(metrics=pc_metrics, core=pc_core, samples=pc_samples, registry=pc_registry,
                     text=pc_exposition.generate_latest, om=pc_om.generate_latest)

ESCAPINGS = ("underscores", "allow-utf-8")
KINDS = ("counter", "gauge", "summary", "histogram", "info", "enum")

# Legacy names (pyrometer's fast writer path) or UTF-8 ones (its generic path); never ``:`` (see above).
UTF8_NAME_CHARS = "ab_Z0.é- "
NAME = st.one_of(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,6}", fullmatch=True),
                 st.text(alphabet=UTF8_NAME_CHARS, min_size=1, max_size=6))
LABEL_NAME = st.one_of(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,4}", fullmatch=True),
                       st.text(alphabet=UTF8_NAME_CHARS, min_size=1, max_size=5))
LABEL_NAME = LABEL_NAME.filter(lambda s: not s.startswith("__"))  # reserved
TEXT = st.text(alphabet=st.sampled_from('ab Z_:"\\\n\t{}=,#é€😀'), max_size=6)
LABEL_VALUE = st.one_of(TEXT, st.integers(-3, 3))
AMOUNT = st.one_of(st.integers(0, 100), st.floats(0, 1e12, allow_nan=False, allow_infinity=False))
REAL = st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False)
GAUGE_VALUE = st.one_of(REAL, st.integers(-10, 10), st.sampled_from([math.inf, -math.inf, math.nan, 1e6, 123456789.0]))
EXEMPLAR = st.one_of(st.none(), st.dictionaries(LABEL_NAME, TEXT, max_size=2))


class Clock:
    """A deterministic ``time`` module stand-in: each call to ``time()`` advances by a quarter second."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def time(self) -> float:
        return 1_700_000_000.0 + next(self._ticks) * 0.25


@contextmanager
def frozen_time(lib: SimpleNamespace) -> Iterator[None]:
    """Replace the ``time`` module that a library's metrics module reads with a fresh ``Clock``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lib.metrics, "time", Clock())
        yield


@contextmanager
def created_series(enabled: bool) -> Iterator[None]:
    """Switch ``_created`` series on or off in both libraries, restoring the default after."""
    for lib in (PY, PC):
        (lib.metrics.enable_created_metrics if enabled else lib.metrics.disable_created_metrics)()
    try:
        yield
    finally:
        for lib in (PY, PC):
            lib.metrics.enable_created_metrics()


# -- random programs --------------------------------------------------------

@st.composite
def metric_specs(draw: st.DrawFn, index: int) -> Dict[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    name = f"m{index}_" + draw(NAME)
    reserved = {"histogram": {"le"}, "summary": {"quantile"}, "enum": {name}}.get(kind, set())
    labelnames = draw(st.lists(LABEL_NAME.filter(lambda n: n not in reserved), max_size=3, unique=True))
    spec: Dict[str, Any] = {
        "kind": kind, "name": name, "labelnames": labelnames, "doc": draw(TEXT),
        "namespace": draw(st.sampled_from(["", "ns"])), "subsystem": draw(st.sampled_from(["", "sub"])),
        "unit": "" if kind in ("info", "enum") else draw(st.sampled_from(["", "seconds", "bytes"])),
    }
    if kind == "counter" and draw(st.booleans()):
        spec["name"] += "_total"
    if kind == "histogram":
        bounds = draw(st.lists(st.floats(-1e3, 1e8, allow_nan=False), min_size=1, max_size=5, unique=True))
        spec["buckets"] = sorted(bounds) + ([math.inf] if draw(st.booleans()) else [])
    if kind == "enum":
        spec["states"] = draw(st.lists(TEXT, min_size=1, max_size=4, unique=True))
    if kind == "gauge":
        spec["mode"] = draw(st.sampled_from(["all", "livesum", "mostrecent"]))
    return spec


def value_op(draw: st.DrawFn, spec: Dict[str, Any]) -> Tuple[Any, ...]:
    kind = spec["kind"]
    if kind == "counter":
        return draw(st.one_of(st.tuples(st.just("inc"), AMOUNT, EXEMPLAR), st.just(("reset",))))
    if kind == "gauge":
        names = ["set", "set_function"] if spec["mode"] == "mostrecent" else ["inc", "dec", "set", "set_function"]
        return draw(st.one_of(st.tuples(st.sampled_from(names), GAUGE_VALUE), st.just(("set_to_current_time",))))
    if kind == "summary":
        return ("observe", draw(REAL), None)
    if kind == "histogram":
        on_a_bound = st.sampled_from(spec["buckets"]).filter(math.isfinite)
        return ("observe", draw(st.one_of(REAL, on_a_bound)), draw(EXEMPLAR))
    if kind == "info":
        keys = LABEL_NAME.filter(lambda k: k not in spec["labelnames"])
        return ("info", draw(st.dictionaries(keys, TEXT, max_size=3)))
    return ("state", draw(st.sampled_from(spec["states"])))


@st.composite
def programs(draw: st.DrawFn) -> Tuple[List[Dict[str, Any]], List[Tuple[Any, ...]], Any]:
    specs = [draw(metric_specs(i)) for i in range(draw(st.integers(1, 4)))]
    pools = {i: draw(st.lists(LABEL_VALUE, min_size=1, max_size=3)) for i in range(len(specs))}
    ops: List[Tuple[Any, ...]] = []
    for _ in range(draw(st.integers(0, 14))):
        i = draw(st.integers(0, len(specs) - 1))
        spec = specs[i]
        names = spec["labelnames"]
        values = tuple(draw(st.sampled_from(pools[i])) for _ in names)
        if not names:
            ops.append((i, None, value_op(draw, spec)))
            continue
        which = draw(st.sampled_from(["args", "kwargs", "args", "kwargs", "remove", "remove_by_labels", "clear"]))
        if which in ("args", "kwargs"):
            ops.append((i, (which, values), value_op(draw, spec)))
        elif which == "remove_by_labels":
            subset = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
            ops.append((i, None, ("remove_by_labels", {n: values[names.index(n)] for n in subset})))
        elif which == "remove":
            ops.append((i, None, ("remove", values)))
        else:
            ops.append((i, None, ("clear",)))
    target_info = draw(st.one_of(st.none(), st.dictionaries(LABEL_NAME, TEXT, min_size=1, max_size=2)))
    return specs, ops, target_info


def build(lib: SimpleNamespace, specs: List[Dict[str, Any]], ops: List[Tuple[Any, ...]], target_info: Any) -> Any:
    """Run one program against one library and return its registry."""
    registry = lib.registry.CollectorRegistry(target_info=target_info)
    with frozen_time(lib):
        metrics = []
        for spec in specs:
            common = dict(labelnames=spec["labelnames"], namespace=spec["namespace"], subsystem=spec["subsystem"],
                          unit=spec["unit"], registry=registry)
            kind = spec["kind"]
            if kind == "histogram":
                common["buckets"] = spec["buckets"]
            elif kind == "enum":
                common["states"] = spec["states"]
            elif kind == "gauge":
                common["multiprocess_mode"] = spec["mode"]
            cls = getattr(lib.metrics, kind.capitalize())
            metrics.append(cls(spec["name"], spec["doc"], **common))
        for i, selector, op in ops:
            metric = metrics[i]
            if selector is not None:
                how, values = selector
                if how == "args":
                    metric = metric.labels(*values)
                else:
                    metric = metric.labels(**dict(zip(specs[i]["labelnames"], values)))
            name, *args = op
            if name == "set_function":
                metric.set_function(lambda v=args[0]: v)
            elif name == "remove":
                metric.remove(*args[0])
            elif name in ("observe", "inc") and len(args) == 2:
                amount, exemplar = args
                if exemplar is None:
                    getattr(metric, name)(amount)
                else:
                    getattr(metric, name)(amount, exemplar=exemplar)
            else:
                getattr(metric, name)(*args)
    return registry


class Delegate:
    """A collector that is not a CollectorRegistry, so pyrometer's writers take the generic ``Metric`` path."""

    def __init__(self, registry: Any) -> None:
        self.collect = registry.collect


def assert_same_exposition(py_registry_: Any, pc_registry_: Any) -> None:
    """Text and OpenMetrics output match prometheus_client's, on pyrometer's fast path and its generic path."""
    for escaping in ESCAPINGS:
        expected_text = PC.text(pc_registry_, escaping=escaping).decode()
        expected_om = PC.om(pc_registry_, escaping=escaping).decode()
        assert PY.text(py_registry_, escaping=escaping).decode() == expected_text
        assert PY.om(py_registry_, escaping=escaping).decode() == expected_om
        assert PY.text(Delegate(py_registry_), escaping=escaping).decode() == expected_text
        assert PY.om(Delegate(py_registry_), escaping=escaping).decode() == expected_om


def families(registry: Any) -> List[Tuple[Any, ...]]:
    """What ``collect()`` yields, as plain comparable data (``repr`` so that NaN equals NaN)."""
    return [(m.name, m.documentation, m.type, m.unit, [repr(tuple(s)) for s in m.samples]) for m in registry.collect()]


@SETTINGS
@given(program=programs(), created=st.booleans())
def test_random_programs_render_identically(program: Any, created: bool) -> None:
    """Any program of metric creations and updates yields the same families and bytes as prometheus_client."""
    specs, ops, target_info = program
    with created_series(created):
        ours, theirs = build(PY, specs, ops, target_info), build(PC, specs, ops, target_info)
        assert families(ours) == families(theirs)
        assert_same_exposition(ours, theirs)


# -- custom collectors ------------------------------------------------------

# A float, or (sec, nsec) for a Timestamp made with the library under test.
TIMESTAMP = st.one_of(st.none(), st.floats(0, 2e9, allow_nan=False),
                      st.tuples(st.integers(0, 2_000_000_000), st.integers(0, 999_999_999)))
SAMPLE_VALUE = st.one_of(st.integers(0, 1000), st.floats(allow_nan=True, allow_infinity=True, width=64))


def _timestamp(lib: SimpleNamespace, ts: Any) -> Any:
    return lib.samples.Timestamp(*ts) if isinstance(ts, tuple) else ts


def _exemplar(lib: SimpleNamespace, ex: Any) -> Any:
    if ex is None:
        return None
    labels, value, ts = ex
    return lib.samples.Exemplar(labels, value, _timestamp(lib, ts))


EXEMPLAR_SPEC = st.one_of(st.none(), st.tuples(st.dictionaries(LABEL_NAME, TEXT, min_size=1, max_size=2),
                                               REAL, TIMESTAMP))
FAMILY_KINDS = ("counter", "gauge", "summary", "histogram", "gaugehistogram", "info", "stateset", "unknown")


@st.composite
def bucket_lists(draw: st.DrawFn, with_exemplars: bool) -> List[Tuple[Any, ...]]:
    bounds = sorted(draw(st.lists(st.floats(-100, 1e7, allow_nan=False), max_size=3, unique=True)))
    les = [py_metrics.floatToGoString(b) for b in bounds] + ["+Inf"]
    counts = sorted(draw(st.lists(st.integers(0, 50), min_size=len(les), max_size=len(les))))
    out: List[Tuple[Any, ...]] = []
    for le, c in zip(les, counts):
        ex = draw(EXEMPLAR_SPEC) if with_exemplars else None
        out.append((le, c, ex) if ex is not None else (le, c))
    return out


@st.composite
def family_specs(draw: st.DrawFn, index: int) -> Dict[str, Any]:
    kind = draw(st.sampled_from(FAMILY_KINDS))
    name = f"f{index}_" + draw(NAME)
    labelnames = draw(st.lists(LABEL_NAME.filter(lambda n: n not in ("le", name)), max_size=2, unique=True))
    unit = "" if kind in ("info", "stateset") else draw(st.sampled_from(["", "bytes"]))
    series = []
    for _ in range(draw(st.integers(0, 3)) if labelnames else 1):
        values = [draw(TEXT) for _ in labelnames]
        ts = draw(TIMESTAMP)
        if kind == "counter":
            payload: Any = (draw(SAMPLE_VALUE), draw(st.one_of(st.none(), REAL)), draw(EXEMPLAR_SPEC))
        elif kind in ("gauge", "unknown"):
            payload = draw(SAMPLE_VALUE)
        elif kind == "summary":
            payload = (draw(st.integers(0, 100)), draw(REAL))
        elif kind in ("histogram", "gaugehistogram"):
            payload = (draw(bucket_lists(kind == "histogram")), draw(st.one_of(st.none(), REAL))
                       if kind == "histogram" else draw(REAL))
        elif kind == "info":
            payload = draw(st.dictionaries(LABEL_NAME.filter(lambda k: k not in labelnames), TEXT, max_size=2))
        else:
            payload = draw(st.dictionaries(TEXT, st.booleans(), min_size=1, max_size=3))
        series.append((values, payload, ts))
    return {"kind": kind, "name": name, "doc": draw(TEXT), "labelnames": labelnames, "unit": unit, "series": series}


def build_family(lib: SimpleNamespace, spec: Dict[str, Any]) -> Any:
    """Make one *MetricFamily of ``spec`` with one library's classes."""
    core, kind = lib.core, spec["kind"]
    cls = {"counter": core.CounterMetricFamily, "gauge": core.GaugeMetricFamily, "summary": core.SummaryMetricFamily,
           "histogram": core.HistogramMetricFamily, "gaugehistogram": core.GaugeHistogramMetricFamily,
           "info": core.InfoMetricFamily, "stateset": core.StateSetMetricFamily, "unknown": core.UnknownMetricFamily,
           }[kind]
    kwargs: Dict[str, Any] = {"labels": spec["labelnames"]}
    if spec["unit"]:
        kwargs["unit"] = spec["unit"]
    family = cls(spec["name"], spec["doc"], **kwargs)
    for values, payload, ts in spec["series"]:
        ts = _timestamp(lib, ts)
        if kind == "counter":
            value, created, ex = payload
            family.add_metric(values, value, created=created, timestamp=ts, exemplar=_exemplar(lib, ex))
        elif kind == "summary":
            family.add_metric(values, payload[0], payload[1], timestamp=ts)
        elif kind in ("histogram", "gaugehistogram"):
            buckets = [b if len(b) == 2 else (b[0], b[1], _exemplar(lib, b[2])) for b in payload[0]]
            family.add_metric(values, buckets, payload[1], timestamp=ts)
        else:
            family.add_metric(values, payload, timestamp=ts)
    return family


@SETTINGS
@given(specs=st.integers(1, 4).flatmap(lambda n: st.tuples(*[family_specs(i) for i in range(n)])))
def test_custom_collector_families_render_identically(specs: Tuple[Dict[str, Any], ...]) -> None:
    """Every *MetricFamily type, with labels, units, timestamps and exemplars, renders as prometheus_client does."""
    registries = []
    for lib in (PY, PC):
        registry = lib.registry.CollectorRegistry()
        registry.register(Families(*[build_family(lib, spec) for spec in specs]))
        registries.append(registry)
    assert_same_exposition(*registries)


def test_reference_is_prometheus_client_0_26_0() -> None:
    """The differential reference is the prometheus_client release pyrometer mirrors."""
    from importlib.metadata import version

    assert version("prometheus_client") == "0.26.0"
    assert prometheus_client.Counter is pc_metrics.Counter

"""The request-instrumentation engine every framework adapter drives.

An adapter reports what it knows about a request — method, path, route
template, status, sizes, exception — and the engine does the rest: exclusion,
label normalisation, the cardinality rules of the schema, and updating the
metrics of the chosen preset. No web framework is imported here.

Per request the engine does one dict lookup for the (method, handler, status)
label set; the metric children for a label set are resolved once and cached.

Cardinality is capped twice: each extra label keeps ``extra_label_limit``
values, and every metric keeps ``max_label_sets`` label sets (new ones then go
to the metric's overflow series, all labels ``_OTHER``). The cache of resolved
label sets stops growing at the same cap, so a flood of distinct label sets
costs CPU on the slow path but no memory.
"""

from __future__ import annotations

import os
import re
import threading
from time import perf_counter
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .._wrapper import OVERFLOW
from ..metrics import Counter, Gauge, Histogram, Summary
from ..registry import REGISTRY, CollectorRegistry, check_label_set_limit
from ._exemplars import ExemplarSource, resolve_source
from ._schema import (
    DEFAULT_ENABLED,
    DURATION,
    EXCEPTIONS,
    IN_PROGRESS,
    KINDS,
    PRESET_DEFAULTS,
    PRESETS,
    REQUEST_SIZE,
    REQUESTS,
    RESPONSE_SIZE,
    TTFB,
    Series,
)

STANDARD_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"))
OTHER_METHOD = "_OTHER"
UNMATCHED = "none"
# Label sets per metric before new ones fold into the overflow series. A real application stays far below:
# its series are bounded by methods (10) x route templates x the status codes it actually returns, a few
# hundred to a few thousand; only an unbounded input (an adapter reporting raw paths, a wide extra label)
# gets near this, and the cap then bounds memory and scrape size instead of growing with the traffic.
DEFAULT_MAX_LABEL_SETS = 10_000

_TYPES = {"counter": Counter, "histogram": Histogram, "gauge": Gauge, "summary": Summary}


def normalize_method(method: str) -> str:
    """The method as a label value: one of the standard methods, or ``_OTHER``."""
    if method in STANDARD_METHODS:
        return method
    upper = method.upper()
    return upper if upper in STANDARD_METHODS else OTHER_METHOD


class _Metric:
    """One exported metric of the preset, with how to build its label values."""

    __slots__ = ("const_values", "logical", "metric", "series")

    def __init__(self, series: Series, metric: Any, logical: Tuple[str, ...], const_values: Tuple[str, ...]) -> None:
        self.series = series
        self.metric = metric
        self.logical = logical
        self.const_values = const_values

    def child(self, facts: Mapping[str, str], extra: Tuple[str, ...]) -> Any:
        if not self.metric._labelnames:
            return self.metric
        values = self.const_values + tuple(facts[name] for name in self.logical) + extra
        return self.metric.labels(*values)


class _LabelSet:
    """The bound update methods for one (method, handler, status, extra) label set."""

    __slots__ = ("durations", "next_exemplar", "request_sizes", "requests", "response_sizes", "ttfbs")

    def __init__(self) -> None:
        self.next_exemplar = 0.0  # perf_counter time from which this label set takes an exemplar again
        self.requests: List[Callable[[], None]] = []
        self.durations: List[Callable[[float], None]] = []
        self.request_sizes: List[Callable[[float], None]] = []
        self.response_sizes: List[Callable[[float], None]] = []
        self.ttfbs: List[Callable[[float], None]] = []


class HttpMetrics:
    """Request metrics for one application, with the options every integration spells the same way.

    Args:
        preset: naming scheme: ``default`` (the shared schema), ``opentelemetry``, ``instrumentator``,
            ``flask_exporter``, ``starlette_exporter`` or ``django_prometheus``.
        namespace: prefix joined to every metric name with ``_``.
        buckets: duration histogram buckets (the preset's by default).
        excluded_paths: regular expressions; a request whose path fully matches one is not measured.
        group_status: report ``2xx``/``4xx``... instead of the exact code (default: off, except for the
            ``instrumentator`` preset, which groups like the instrumentator does).
        metrics: which kinds to export (``requests``, ``duration``, ``in_progress``, ``exceptions``,
            ``request_size``, ``response_size``, ``ttfb``); default: the first four.
        duration_status: add the ``status`` label to the duration histogram (``default`` preset).
        const_labels: labels with fixed values on every series (they also override a preset's own
            constant labels, e.g. starlette_exporter's ``app_name``).
        extra_labels: ``{label: function(request) -> str}`` computed from the framework's request object;
            each label keeps at most ``extra_label_limit`` distinct values, later ones fold into ``_OTHER``.
        max_label_sets: label sets kept per metric (default 10,000); later new ones are counted in the
            metric's overflow series, whose labels are all ``_OTHER``. ``None``: no cap of the engine's (the
            registry's ``default_max_label_sets`` still applies).
        exemplars: ``auto`` (default) links the request counter and the duration histogram to the current
            OpenTelemetry span when ``opentelemetry-api`` is installed and the span is sampled; ``off``; or a
            function of no arguments returning the exemplar labels (or ``None``) for other tracers.
        exemplar_interval: seconds a label set waits after taking an exemplar before it looks for the next
            one (default 0: every traced request); spares the trace lookup on busy series.
        registry: where the metrics are registered.
    """

    def __init__(self, *, preset: str = "default", namespace: str = "", buckets: Optional[Sequence[float]] = None,
                 excluded_paths: Iterable[str] = (), group_status: Optional[bool] = None,
                 metrics: Optional[Iterable[str]] = None, duration_status: bool = False,
                 const_labels: Optional[Mapping[str, str]] = None,
                 extra_labels: Optional[Mapping[str, Callable[[Any], Any]]] = None,
                 extra_label_limit: int = 100, registry: Optional[CollectorRegistry] = REGISTRY,
                 max_label_sets: Optional[int] = DEFAULT_MAX_LABEL_SETS,
                 exemplars: Union[str, ExemplarSource] = "auto", exemplar_interval: float = 0.0) -> None:
        if preset not in PRESETS:
            raise ValueError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        if isinstance(metrics, str):
            metrics = [metrics]
        enabled = frozenset(metrics) if metrics is not None else (
            DEFAULT_ENABLED if preset == "default" else frozenset(KINDS))
        unknown = enabled - set(KINDS)
        if unknown:
            raise ValueError(f"Unknown metric kinds {sorted(unknown)}; choose from {list(KINDS)}")
        if extra_label_limit < 1:
            raise ValueError("extra_label_limit must be at least 1")
        if isinstance(exemplar_interval, bool) or not isinstance(exemplar_interval, (int, float)):
            raise TypeError(f"exemplar_interval must be a number of seconds, not {type(exemplar_interval).__name__}")
        if not exemplar_interval >= 0:
            raise ValueError(f"exemplar_interval must be at least 0, got {exemplar_interval}")
        self._exemplar_source, self._exemplar_render = resolve_source(exemplars)
        self._exemplar_interval = float(exemplar_interval)
        self._max_label_sets = check_label_set_limit(max_label_sets)
        if isinstance(excluded_paths, str):
            excluded_paths = [excluded_paths]
        self._excluded = [_compile_excluded(p) for p in excluded_paths]
        if group_status is None:
            group_status = bool(PRESET_DEFAULTS.get(preset, {}).get("group_status", False))
        self.group_status = group_status
        self.registry = registry
        self._const = dict(const_labels or {})
        self._extra = dict(extra_labels or {})
        self._extra_names = tuple(self._extra)
        self._extra_limit = extra_label_limit
        self._extra_seen: Dict[str, set] = {name: set() for name in self._extra_names}
        self._extra_lock = threading.Lock()
        multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ
        self._metrics: Dict[str, List[_Metric]] = {kind: [] for kind in KINDS}
        for series in PRESETS[preset]:
            if series.kind not in enabled:
                continue
            labels = list(series.labels)
            if duration_status and series.kind == DURATION and preset == "default":
                labels.append(("status", "status"))
            self._metrics[series.kind].append(
                self._build(series, labels, namespace, buckets, multiprocess))
        self._label_sets: Dict[Tuple[Any, ...], _LabelSet] = {}
        self._in_progress: Dict[Tuple[Any, ...], List[Any]] = {}
        self._exceptions: Dict[Tuple[Any, ...], List[Any]] = {}

    def _build(self, series: Series, labels: List[Tuple[str, str]], namespace: str,
               buckets: Optional[Sequence[float]], multiprocess: bool) -> _Metric:
        name = f"{namespace}_{series.name}" if namespace else series.name
        const = {**dict(series.const), **self._const}
        labelnames = [*const, *(exported for exported, _ in labels), *self._extra_names]
        kwargs: Dict[str, Any] = {"registry": self.registry}
        if series.type == "histogram":
            kwargs["buckets"] = buckets if (buckets is not None and series.kind in (DURATION, TTFB)) \
                else series.buckets
        if series.type == "gauge" and multiprocess:
            kwargs["multiprocess_mode"] = "livesum"
        metric = _TYPES[series.type](name, series.help, labelnames, **kwargs).limit_label_sets(self._max_label_sets)
        return _Metric(series, metric, tuple(logical for _, logical in labels), tuple(const.values()))

    def metric(self, kind: str) -> List[Any]:
        """The exported metric objects of one kind (e.g. to inspect them in tests)."""
        return [m.metric for m in self._metrics[kind]]

    @property
    def needs_request(self) -> bool:
        """Whether ``start`` wants the framework's request object (``extra_labels`` are configured)."""
        return bool(self._extra_names)

    # -- per request ----------------------------------------------------------

    def excluded(self, path: str) -> bool:
        """Whether requests to ``path`` are left unmeasured (some pattern matches the whole path)."""
        for pattern in self._excluded:
            if pattern.fullmatch(path) is not None:
                return True
        return False

    def start(self, method: str, path: str = "", handler: Optional[str] = None, request: Any = None,
              request_factory: Optional[Callable[[Any], Any]] = None) -> Optional[RequestTimer]:
        """Begin measuring a request; ``None`` when the path is excluded.

        ``handler`` is the route template when the adapter knows it already (it can
        also be given later with ``RequestTimer.set_handler``); ``request`` is what
        the ``extra_labels`` functions receive — or ``request_factory(request)`` when
        given, built only when extra labels are configured.
        """
        if self._excluded and path and self.excluded(path):
            return None
        if self._extra_names:
            if request_factory is not None:
                try:
                    request = request_factory(request)
                except Exception:  # measuring must never break the request: the label functions get None
                    request = None
            extra = self._extra_values(request)
        else:
            extra = ()
        timer = RequestTimer(self, normalize_method(method), extra)
        if handler is not None:
            timer.set_handler(handler)
        return timer

    def _extra_values(self, request: Any) -> Tuple[str, ...]:
        values = []
        for name in self._extra_names:
            try:
                value = str(self._extra[name](request))
            except Exception:  # a label function must never break the request it measures
                value = OVERFLOW
            seen = self._extra_seen[name]
            if value not in seen:
                with self._extra_lock:  # only for a value not seen yet: the limit holds under concurrency
                    if value not in seen:
                        if len(seen) >= self._extra_limit:
                            value = OVERFLOW
                        else:
                            seen.add(value)
            values.append(value)
        return tuple(values)

    def _in_progress_children(self, method: str, handler: str, extra: Tuple[str, ...]) -> List[Any]:
        key = (method, handler, extra)
        children = self._in_progress.get(key)
        if children is None:
            facts = {"method": method, "handler": handler}
            children = [m.child(facts, extra) for m in self._metrics[IN_PROGRESS]]
            if self._may_cache(self._in_progress):
                self._in_progress[key] = children
        return children

    def _may_cache(self, cache: Dict[Any, Any]) -> bool:
        # Past the cap a new key resolves to overflow children anyway; not keeping it bounds the memory.
        return self._max_label_sets is None or len(cache) < self._max_label_sets

    def _label_set(self, method: str, handler: str, status: str, extra: Tuple[str, ...]) -> _LabelSet:
        key = (method, handler, status, extra)
        ls = self._label_sets.get(key)
        if ls is None:
            ls = _LabelSet()
            facts = {"method": method, "handler": handler, "status": status}
            m = self._metrics
            ls.requests = [x.child(facts, extra).inc for x in m[REQUESTS]]
            ls.durations = [x.child(facts, extra).observe for x in m[DURATION]]
            ls.request_sizes = [x.child(facts, extra).observe for x in m[REQUEST_SIZE]]
            ls.response_sizes = [x.child(facts, extra).observe for x in m[RESPONSE_SIZE]]
            ls.ttfbs = [x.child(facts, extra).observe for x in m[TTFB]]
            if self._may_cache(self._label_sets):
                self._label_sets[key] = ls
        return ls

    def _exception_children(self, method: str, handler: str, status: str, exception: str,
                            extra: Tuple[str, ...]) -> List[Any]:
        key = (method, handler, status, exception, extra)
        children = self._exceptions.get(key)
        if children is None:
            facts = {"method": method, "handler": handler, "status": status, "exception": exception}
            children = [m.child(facts, extra) for m in self._metrics[EXCEPTIONS]]
            if self._may_cache(self._exceptions):
                self._exceptions[key] = children
        return children

    def status_label(self, status: int) -> str:
        """The status as a label value (grouped to ``2xx`` when ``group_status`` is on)."""
        return f"{status // 100}xx" if self.group_status else str(status)


def _compile_excluded(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"Invalid excluded path pattern {pattern!r}: {exc}") from None


_NOT_LOOKED_UP: Any = object()


class RequestTimer:
    """The measurement of one request, from ``HttpMetrics.start`` to ``finish``."""

    __slots__ = ("_engine", "_first_byte", "_in_progress", "_trace", "done", "extra", "handler", "method",
                 "started")

    def __init__(self, engine: HttpMetrics, method: str, extra: Tuple[str, ...]) -> None:
        self._engine = engine
        self.method = method
        self.handler: Optional[str] = None
        self.extra = extra
        self.started = perf_counter()
        self._first_byte: Optional[float] = None
        self._in_progress: Optional[List[Any]] = None
        self._trace: Any = _NOT_LOOKED_UP
        self.done = False  # finished or cancelled: later calls of either do nothing

    def set_handler(self, handler: Optional[str]) -> None:
        """Record the route template (``None``: the request matched no route); counts it as in progress."""
        if self.handler is not None:
            return
        self.handler = handler if handler else UNMATCHED
        source = self._engine._exemplar_source
        if source is not None and not self.done:
            # Routing runs inside the framework, so inside a tracing middleware that may wrap the app more
            # tightly than this one does: its span can be over by the time the request finishes here.
            self._trace = source()
        gauges = self._engine._in_progress_children(self.method, self.handler, self.extra)
        for g in gauges:
            g.inc()
        self._in_progress = gauges

    def first_byte(self) -> None:
        """Mark the moment the first body byte is sent (for the time-to-first-byte histogram)."""
        if self._first_byte is None:
            self._first_byte = perf_counter() - self.started

    def cancel(self) -> None:
        """Forget this request (a view opted out of tracking): undo in-progress, record nothing."""
        if self.done:
            return
        self.done = True
        for g in self._in_progress or ():
            g.dec()

    def finish(self, status: int, *, request_size: Optional[float] = None, response_size: Optional[float] = None,
               exception: Optional[BaseException] = None) -> None:
        """Record the outcome; later calls are ignored, so adapters may call it from several exit paths."""
        if self.done:
            return
        self.done = True
        now = perf_counter()
        duration = now - self.started
        if self.handler is None:
            self.set_handler(None)
        engine = self._engine
        status_label = engine.status_label(status)
        ls = engine._label_set(self.method, self.handler, status_label, self.extra)  # type: ignore[arg-type]
        source = engine._exemplar_source
        exemplar = None
        if source is not None and now >= ls.next_exemplar:
            captured = self._trace if self._trace is not _NOT_LOOKED_UP else source()
            if captured is not None:
                exemplar = engine._exemplar_render(captured)
                ls.next_exemplar = now + engine._exemplar_interval
        if exemplar is None:
            for inc in ls.requests:
                inc()
            for observe in ls.durations:
                observe(duration)
        else:
            # Request series are counters and duration series histograms in every preset: both take exemplars.
            for inc in ls.requests:
                inc(1, exemplar)
            for observe in ls.durations:
                observe(duration, exemplar)
        if request_size is not None:
            for observe in ls.request_sizes:
                observe(request_size)
        if response_size is not None:
            for observe in ls.response_sizes:
                observe(response_size)
        if self._first_byte is not None:
            for observe in ls.ttfbs:
                observe(self._first_byte)
        if exception is not None:
            for c in engine._exception_children(self.method, self.handler, status_label,  # type: ignore[arg-type]
                                                type(exception).__name__, self.extra):
                c.inc()
        for g in self._in_progress or ():
            g.dec()

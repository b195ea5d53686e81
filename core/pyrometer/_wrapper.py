"""The part every metric type shares: naming, registration and label children.

A labelled metric is a *parent*: it holds its children in a dict keyed by the
tuple of label values, so ``labels()`` is one dict lookup when the values are
already strings. Each type is two classes: a slotted one with its methods
(``_CounterMethods``) and the public one (``Counter``) adding construction and an
instance dict. Children are instances of a class made once per parent from the
slotted one, holding what all children share (name, help, buckets) as class
attributes; a child itself is only slots: its label values, its numbers (in
slots of its own where the lock-free local cell would be used, else in cells) and
the label string rendered at its first export. ``isinstance(child, Counter)``
still holds (virtual subclass).

Cardinality limits live in the slow path only: a parent with a limit (its own
``max_label_sets`` or its registry's default) that already holds that many label
sets sends a new one to a single overflow child whose every label value is
``OVERFLOW``. Lookups of existing children never pay for it.
"""

from __future__ import annotations

import logging
from operator import itemgetter
from threading import Lock
from types import FunctionType, MethodType
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar

from .metrics_core import Metric
from .registry import REGISTRY, Collector, CollectorRegistry, check_label_set_limit
from .samples import Sample
from .validation import (
    _is_valid_legacy_labelname,
    _is_valid_legacy_metric_name,
    _validate_labelnames,
    _validate_metric_name,
)
from .values import inline_values

T = TypeVar("T", bound="_MetricMethods")

OVERFLOW = "_OTHER"
"""The label value of every label of the overflow child (the HTTP engine folds values into the same marker)."""

_log = logging.getLogger("pyrometer.cardinality")


def _build_full_name(metric_type: Optional[str], name: str, namespace: str, subsystem: str, unit: str) -> str:
    if not name:
        raise ValueError("Metric name should not be empty")
    full_name = "_".join(part for part in (namespace, subsystem, name) if part)
    if metric_type == "counter" and full_name.endswith("_total"):
        full_name = full_name[:-6]  # the type adds it back; the family name is the OpenMetrics one
    if unit and not full_name.endswith("_" + unit):
        full_name += "_" + unit
    if unit and metric_type in ("info", "stateset"):
        raise ValueError("Metric name is of a type that cannot have a unit: " + full_name)
    return full_name


def _escape_label_value(value: str) -> str:
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def _hide_multiprocess(child: Any) -> None:
    """Tombstone a removed child's slots in this process's multiprocess files (no-op for local cells)."""
    for attr in (*child._value_attrs, "_cell"):
        tombstone = getattr(getattr(child, attr, None), "tombstone", None)
        if tombstone is not None:
            tombstone()


class _MissingLabels:
    """Stands in for a parent's value cell so that mutating a parent fails clearly at no cost to children."""

    __slots__ = ("_type",)

    def __init__(self, typ: str) -> None:
        self._type = typ

    def __getattr__(self, _name: str) -> Any:
        raise ValueError(f"{self._type} metric is missing label values")


class _MetricMethods:
    """What every metric and its label children share: all but construction.

    Slotted, so that a child (a subclass of this adding only slots) has no
    instance dict; see ``MetricWrapperBase._make_child_cls``.
    """

    __slots__ = ()
    _type: Optional[str] = None
    _reserved_labelnames: Sequence[str] = ()
    # Children and unlabelled metrics have no child dict; labels() then explains why.
    _metrics: Optional[Dict[Tuple[str, ...], Any]] = None
    _labelvalues: Tuple[str, ...] = ()
    _lbl: Any = None  # str, or (full, head, tail) for histograms
    _child_cls: Optional[type] = None
    # Names of the value cells a child owns; a parent gets stand-ins that raise.
    _value_attrs: Tuple[str, ...] = ("_value",)
    _child_slots: Tuple[str, ...] = ("_value", "_created")
    # Where the lock-free local cell is what a value would get (values.inline_values), a child keeps its
    # numbers in slots of its own instead: the type's methods for that, and the slots they use.
    _inline_mixin: Optional[type] = None
    _inline_slots: Tuple[str, ...] = ()
    _inline_child_cls: Optional[type] = None
    # Cardinality limit (None: the registry's default); the registry whose default and overflow counter apply.
    _max_label_sets: Optional[int] = None
    _limit_registry: Optional[CollectorRegistry] = None
    _overflow_warned = False
    _overflow_count: Any = None

    # -- children -----------------------------------------------------------

    def labels(self: T, *labelvalues: Any, **labelkwargs: Any) -> T:
        """Return the child for a label set, creating it on first use.

        Values are given positionally in ``labelnames`` order, or by keyword::

            c = Counter('requests_total', 'Requests.', ['method', 'status'])
            c.labels('get', '200').inc()
            c.labels(method='get', status='200').inc()
        """
        metrics = self._metrics
        if metrics is not None:
            if labelkwargs:
                if labelvalues:
                    raise ValueError("Can't pass both *args and **kwargs")
                try:
                    labelvalues = self._from_kwargs(labelkwargs)
                except KeyError:
                    raise ValueError("Incorrect label names") from None
                if len(labelkwargs) != len(labelvalues):
                    raise ValueError("Incorrect label names")
            try:
                return metrics[labelvalues]
            except (KeyError, TypeError):
                pass
        return self._labels_slow(labelvalues)

    def _labels_slow(self: T, labelvalues: Tuple[Any, ...]) -> T:
        if not self._labelnames:
            raise ValueError(f"No label names were set when constructing {self}")
        if self._metrics is None:
            raise ValueError(
                f"{self} already has labels set ({dict(zip(self._labelnames, self._labelvalues))}); "
                "can not chain calls to .labels()")
        if len(labelvalues) != len(self._labelnames):
            raise ValueError("Incorrect label count")
        # A plain loop, not a comprehension (a function call in 3.11): label values are nearly always str already.
        key = labelvalues
        for v in labelvalues:
            if type(v) is not str:
                key = tuple([v if type(v) is str else str(v) for v in labelvalues])
                break
        folded = warn = False
        with self._lock:
            metrics = self._metrics
            child = metrics.get(key)
            if child is None:
                limit = self._label_set_limit()[0]
                over = self._overflow_key
                # The overflow child does not count against the limit: `limit` real label sets plus it.
                if limit is not None and len(metrics) - (over in metrics) >= limit:
                    folded = True
                    warn, self._overflow_warned = not self._overflow_warned, True
                    key = over
                    child = metrics.get(over)
                if child is None:
                    child = self._new_child(key)
                    metrics[key] = child
        if folded:
            self._record_overflow(warn)
        return child

    def _label_set_limit(self) -> Tuple[Optional[int], str]:
        """The limit in force and where it comes from: the metric's own, else its registry's default."""
        if self._max_label_sets is None and self._limit_registry is not None:
            return self._limit_registry.default_max_label_sets, "the registry's default_max_label_sets"
        return self._max_label_sets, "max_label_sets"

    def _record_overflow(self, warn: bool) -> None:
        if warn:
            limit, source = self._label_set_limit()
            _log.warning("%s reached its limit of %s label sets (%s); new label sets are counted in the series "
                         "whose labels are all %r", self._name, limit, source, OVERFLOW)
        count = self._overflow_count
        if count is None:
            registry = self._limit_registry
            if registry is None:
                return
            count = self._overflow_count = registry._overflow_counter(self._name)
        count.inc()

    def limit_label_sets(self: T, limit: Optional[int]) -> T:
        """Keep at most ``limit`` label sets; later new ones share one overflow child. Returns the metric.

        ``None`` falls back to the registry's ``default_max_label_sets``. Label sets that
        exist already are kept; ``remove()`` and ``clear()`` make room again.
        """
        if self._metrics is None and self._labelvalues:
            raise ValueError(f"{self} is a labelled child; set the limit on its parent metric")
        self._max_label_sets = check_label_set_limit(limit)
        return self

    def _new_child(self: T, labelvalues: Tuple[str, ...]) -> T:
        mixin = self._inline_now()
        if mixin is not None:
            cls = self._inline_child_cls
            if cls is None:
                cls = self._inline_child_cls = self._make_child_cls(mixin, self._inline_slots)
        else:
            cls = self._child_cls
            if cls is None:
                cls = self._child_cls = self._make_child_cls(None, self._child_slots)
        child = object.__new__(cls)  # type: ignore[call-overload]
        child._labelvalues = labelvalues
        child._lbl = None
        child._metric_init()
        return child

    def _inline_now(self) -> Optional[type]:
        """The inline methods for a value made now, or ``None`` (cells: multiprocess, locked, a user's subclass)."""
        mixin = self._inline_mixin
        if mixin is None or "_methods" not in type(self).__dict__ or not inline_values():
            return None
        return mixin

    def _raise_if_not_observable(self) -> None:
        if self._metrics is not None:
            raise ValueError(f"{self._type} metric is missing label values")

    def remove(self, *labelvalues: Any) -> None:
        """Drop the child with these label values (no error if absent)."""
        if not self._labelnames:
            raise ValueError(f"No label names were set when constructing {self}")
        if len(labelvalues) != len(self._labelnames):
            raise ValueError(
                f"Incorrect label count (expected {len(self._labelnames)}, got {labelvalues})")
        key = tuple(str(v) for v in labelvalues)
        with self._lock:
            child = self._metrics.pop(key, None)  # type: ignore[union-attr]
        if child is not None:
            _hide_multiprocess(child)

    def remove_by_labels(self, labels: Dict[str, str]) -> None:
        """Drop every child whose labels include all of ``labels``."""
        if not self._labelnames:
            raise ValueError(f"No label names were set when constructing {self}")
        if not isinstance(labels, dict):
            raise TypeError("labels must be a dict of {label_name: label_value}")
        if not labels:
            return
        unknown = [k for k in labels if k not in self._labelnames]
        if unknown:
            raise ValueError(f"Unknown label names: {unknown}; expected {self._labelnames}")
        want = [(self._labelnames.index(k), str(v)) for k, v in labels.items()]
        with self._lock:
            removed = [self._metrics.pop(k) for k in [k for k in self._metrics  # type: ignore[union-attr]
                                                      if all(k[i] == v for i, v in want)]]
        for child in removed:
            _hide_multiprocess(child)

    def clear(self) -> None:
        """Drop every child."""
        if not self._labelnames or self._metrics is None:
            return
        with self._lock:
            removed = list(self._metrics.values())
            self._metrics = {}
        for child in removed:
            _hide_multiprocess(child)

    def _children(self) -> List[Any]:
        """The children to export: self when unlabelled, else a snapshot of the dict."""
        if self._metrics is None:
            return [self]
        with self._lock:
            return list(self._metrics.values())

    def _label_string(self, child: Any) -> str:
        """``{a="x",b="y"}`` for a child (empty without labels), rendered on first export and kept.

        Exposition then only formats values. A child keeps this one string; only
        histograms also keep the parts around their ``le`` label.
        """
        cached = child._lbl
        if cached is None:
            cached = child._lbl = self._render_labels(child)
        return cached if cached.__class__ is str else cached[0]

    def _bucket_label_parts(self, child: Any) -> Tuple[str, str, str]:
        """The full label string, and the text before and after where ``le`` sorts in."""
        cached = child._lbl
        if cached is None or cached.__class__ is str:
            cached = child._lbl = self._render_labels(child, self._extra_label_name())
        return cached

    def _render_labels(self, child: Any, extra: str = "") -> Any:
        names, values = self._labelnames, child._labelvalues
        pairs = [f'{names[i]}="{_escape_label_value(values[i])}"' for i in self._label_order]
        full = "{" + ",".join(pairs) + "}" if pairs else ""
        if not extra:
            return full
        cut = sum(1 for i in self._label_order if names[i] < extra)
        head = "".join(p + "," for p in pairs[:cut])
        tail = "".join("," + p for p in pairs[cut:])
        return (full, "{" + head, tail + "}")

    def _extra_label_name(self) -> str:
        return ""

    # -- collection ---------------------------------------------------------

    def _get_metric(self) -> Metric:
        return Metric(self._name, self._documentation, self._type or "unknown", self._unit)

    def describe(self) -> Iterable[Metric]:
        """The family without samples, for duplicate detection at registration."""
        return [self._get_metric()]

    def collect(self) -> Iterable[Metric]:
        """The family with one sample per series."""
        metric = self._get_metric()
        name = self._name
        labelnames = self._labelnames
        for child in self._children():
            base = list(zip(labelnames, child._labelvalues))
            for suffix, labels, value, timestamp, exemplar in child._child_samples():
                lbl = dict(base + list(labels.items())) if labels else dict(base)
                metric.samples.append(Sample(name + suffix, lbl, value, timestamp, exemplar))
        return [metric]

    def _child_samples(self) -> Iterable[Tuple[str, Dict[str, str], float, Any, Any]]:  # pragma: no cover
        raise NotImplementedError(f"_child_samples() must be implemented by {self!r}")

    def _metric_init(self) -> None:  # pragma: no cover
        raise NotImplementedError(f"_metric_init() must be implemented by {self!r}")

    def __str__(self) -> str:
        return f"{self._type}:{self._name}"

    def __repr__(self) -> str:
        cls = type(self)
        return f"{cls.__module__}.{cls.__name__}({self._name})"


class MetricWrapperBase(_MetricMethods, Collector):
    """Base of Counter, Gauge, Summary, Histogram, Info and Enum: construction and the classes of children."""

    # The slotted class holding a type's methods; children are made from it (a user's subclass has none).
    _methods: Optional[type] = None

    def __init__(self: T, name: str, documentation: str, labelnames: Iterable[str] = (), namespace: str = "",
                 subsystem: str = "", unit: str = "", registry: Optional[CollectorRegistry] = REGISTRY,
                 _labelvalues: Optional[Sequence[str]] = None, *, max_label_sets: Optional[int] = None) -> None:
        if not isinstance(documentation, str):
            raise TypeError(f"documentation must be str, not {type(documentation).__name__}")
        self._original_name = name
        self._namespace = namespace
        self._subsystem = subsystem
        self._name = _build_full_name(self._type, name, namespace, subsystem, unit)
        self._labelnames = _validate_labelnames(self, labelnames)
        self._documentation = documentation
        self._unit = unit
        self._kwargs: Dict[str, Any] = {}
        _validate_metric_name(self._name)
        # Sorted label order is the exposition order; remember the permutation once.
        self._label_order = tuple(sorted(range(len(self._labelnames)), key=self._labelnames.__getitem__))
        self._fast_names = _is_valid_legacy_metric_name(self._name) and all(
            _is_valid_legacy_labelname(n) for n in self._labelnames)

        if _labelvalues:
            # Constructed as a child the way prometheus_client does it internally.
            self._labelvalues = tuple(_labelvalues)
            self._init_own_value()
            return
        if self._labelnames:
            names = self._labelnames
            # itemgetter builds the key tuple in C; with one name it returns a bare value.
            self._from_kwargs = itemgetter(*names) if len(names) > 1 else lambda kw, n=names[0]: (kw[n],)
            self._lock = Lock()
            self._metrics = {}
            self._max_label_sets = check_label_set_limit(max_label_sets)
            self._limit_registry = registry
            self._overflow_key = (OVERFLOW,) * len(names)
            for attr in self._value_attrs:
                setattr(self, attr, _MissingLabels(self._type or ""))
        else:
            self._init_own_value()
        if registry is not None:
            registry.register(self)

    def _init_own_value(self) -> None:
        """Set up the value of a metric without label names, inline when its children's would be.

        The metric's class keeps the cell-based methods (for multiprocess mode, locked
        cells and users' subclasses), so the inline ones are bound in the instance: the
        same speed as a method, one attribute lookup.
        """
        mixin = self._inline_now()
        if mixin is None:
            self._metric_init()
            return
        mixin._metric_init(self)  # type: ignore[attr-defined]
        for name, attr in vars(mixin).items():
            if isinstance(attr, FunctionType) and name != "_metric_init":
                setattr(self, name, MethodType(attr, self))
            elif isinstance(attr, property):
                setattr(self, name, attr.fget(self))  # a view serving the cell interface (``_value``, ...)

    def _make_child_cls(self, mixin: Optional[type], slots: Tuple[str, ...]) -> type:
        """The class of this parent's children: its type's slotted methods plus ``slots``.

        Built from the methods class rather than from the metric class, a child has
        no instance dict or weakref slot (40 bytes a child on CPython 3.11). It derives
        from one class per metric type that is registered as a virtual subclass of the
        type, so ``isinstance(child, Counter)`` holds. A user's subclass of a metric
        type has methods of its own: its children subclass it instead, and keep their
        value in a cell (``mixin`` is not used).
        """
        base = type(self)
        attrs = dict(self._child_fields(), __slots__=("_labelvalues", "_lbl", *slots),
                     __module__=base.__module__, __qualname__=base.__qualname__)
        child_base = _child_base(base)
        if child_base is None:
            return type(base.__name__, (base,), attrs)
        return type(base.__name__, (child_base,) if mixin is None else (mixin, child_base), attrs)

    def _child_fields(self) -> Dict[str, Any]:
        """What every child of this parent shares; subclasses add their own."""
        return {"_name": self._name, "_labelnames": self._labelnames, "_documentation": self._documentation,
                "_unit": self._unit, "_label_order": self._label_order, "_fast_names": self._fast_names,
                "_metrics": None, "_lock": None}


_child_bases: Dict[type, type] = {}
_child_bases_lock = Lock()


def _child_base(metric_type: type) -> Optional[type]:
    """The slotted base of all children of one of pyrometer's metric types (``None`` for a user's subclass).

    Registered once per type rather than once per parent: every ABC registration
    empties the negative isinstance caches of all ABCs in the process.
    """
    found = _child_bases.get(metric_type)
    if found is not None:
        return found
    methods = metric_type.__dict__.get("_methods")
    if methods is None:
        return None
    with _child_bases_lock:
        found = _child_bases.get(metric_type)
        if found is None:
            found = type(metric_type.__name__, (methods,), {
                "__slots__": (), "__module__": metric_type.__module__, "__qualname__": metric_type.__qualname__})
            metric_type.register(found)  # type: ignore[attr-defined]
            _child_bases[metric_type] = found
    return found

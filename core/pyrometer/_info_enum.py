"""Info and Enum: metrics whose value is a set of labels or one of a set of states."""

from __future__ import annotations

import time
from threading import Lock
from typing import Any, Dict, Iterable, Optional, Sequence, Tuple

from . import values
from ._wrapper import MetricWrapperBase, _MetricMethods
from .registry import REGISTRY, CollectorRegistry

_SampleTuple = Tuple[str, Dict[str, str], float, Any, Any]


class _InfoMethods(_MetricMethods):
    """What an Info and its label children share."""

    __slots__ = ()
    _type = "info"
    _child_slots = ("_value", "_info_lock", "_labelname_set", "_cell")

    def _metric_init(self) -> None:
        self._labelname_set = set(self._labelnames)
        self._info_lock = Lock()
        self._value: Dict[str, str] = {}
        # Multiprocess: one slot per distinct dict (the dict is part of its key), timestamped at info(); the
        # scrape shows the most recent dict of any process.
        self._cell = self._info_cell(self._value)
        if self._cell is not None:
            self._cell.set(1.0)

    def _info_cell(self, val: Dict[str, str]) -> Any:
        return values.multiprocess_cell("info", self._name, self._name + "_info", self._labelnames,
                                        self._labelvalues, self._documentation, val)

    def info(self, val: Dict[str, str]) -> None:
        """Replace the key-value pairs."""
        self._raise_if_not_observable()
        if self._labelname_set.intersection(val.keys()):
            raise ValueError(f"Overlapping labels for Info metric, metric: {self._labelnames} child: {val}")
        if any(v is None for v in val.values()):
            raise ValueError("Label value cannot be None")
        with self._info_lock:
            self._value = dict(val)
            old = self._cell
            if old is not None:
                self._cell = self._info_cell(self._value)
                self._cell.set(1.0, timestamp=time.time())
                if old._b.key != self._cell._b.key:
                    old.tombstone()

    def _child_samples(self) -> Iterable[_SampleTuple]:
        with self._info_lock:
            return (("_info", self._value, 1.0, None, None),)


class Info(_InfoMethods, MetricWrapperBase):
    """Constant key-value facts about the process, exported as ``<name>_info{...} 1``.

        i = Info('build', 'Build information.')
        i.info({'version': '1.2.3', 'commit': 'abc123'})
    """

    __module__ = "pyrometer.metrics"
    _methods = _InfoMethods


class _EnumMethods(_MetricMethods):
    """What an Enum and its label children share."""

    __slots__ = ()
    _type = "stateset"
    _child_slots = ("_value", "_state_lock", "_cell")

    def _metric_init(self) -> None:
        self._value = 0
        self._state_lock = Lock()
        # Multiprocess: one slot holding the state's index, timestamped at state(); the scrape shows the most
        # recent state of any process.
        self._cell = values.multiprocess_cell("stateset", self._name, self._name, self._labelnames,
                                              self._labelvalues, self._documentation, self._states)

    def state(self, state: str) -> None:
        """Switch to ``state`` (``ValueError`` if it is not one of the states)."""
        self._raise_if_not_observable()
        try:
            index = self._states.index(state)
        except ValueError:
            raise ValueError(f"{state!r} is not a state of {self._name}: {self._states}") from None
        with self._state_lock:
            self._value = index
            if self._cell is not None:
                self._cell.set(float(index), timestamp=time.time())

    def _child_samples(self) -> Iterable[_SampleTuple]:
        with self._state_lock:
            current = self._value
        return [("", {self._name: s}, 1 if i == current else 0, None, None) for i, s in enumerate(self._states)]


class Enum(_EnumMethods, MetricWrapperBase):
    """Which one of a fixed set of states holds, exported as a state set.

        e = Enum('task_state', 'State.', states=['starting', 'running', 'stopped'])
        e.state('running')

    The first state is the initial one.
    """

    __module__ = "pyrometer.metrics"
    _methods = _EnumMethods

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (), namespace: str = "",
                 subsystem: str = "", unit: str = "", registry: Optional[CollectorRegistry] = REGISTRY,
                 _labelvalues: Optional[Sequence[str]] = None, states: Optional[Sequence[str]] = None, *,
                 max_label_sets: Optional[int] = None) -> None:
        if name in labelnames:
            raise ValueError(f"Overlapping labels for Enum metric: {name}")
        if not states:
            raise ValueError(f"No states provided for Enum metric: {name}")
        self._states = list(states)
        super().__init__(name, documentation, labelnames, namespace, subsystem, unit, registry, _labelvalues,
                         max_label_sets=max_label_sets)
        self._kwargs["states"] = self._states

    def _child_fields(self) -> Dict[str, Any]:
        return dict(super()._child_fields(), _states=self._states)

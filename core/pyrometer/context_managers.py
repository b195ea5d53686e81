"""Timers, in-progress trackers and exception counters: context managers that double as decorators."""

from __future__ import annotations

import functools
import inspect
from time import perf_counter as default_timer
from types import TracebackType
from typing import Any, Callable, Optional, Tuple, Type, TypeVar, Union

from ._accel import speedups

F = TypeVar("F", bound=Callable[..., Any])


def _wrap(make_cm: Callable[[], Any], func: F) -> F:
    """Run ``func`` (sync or async) inside a fresh context manager per call, keeping its signature."""
    if inspect.iscoroutinefunction(func):
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with make_cm():
                return await func(*args, **kwargs)
        return functools.wraps(func)(async_wrapper)  # type: ignore[return-value]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with make_cm():
            return func(*args, **kwargs)
    return functools.wraps(func)(wrapper)  # type: ignore[return-value]


class ExceptionCounter:
    """Increments a counter when a matching exception leaves the block or function."""

    __slots__ = ("_counter", "_exception")

    def __init__(self, counter: Any, exception: Union[Type[BaseException], Tuple[Type[BaseException], ...]]) -> None:
        self._counter = counter
        self._exception = exception

    def __enter__(self) -> None:
        pass

    def __exit__(self, typ: Optional[Type[BaseException]], value: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> bool:
        if isinstance(value, self._exception):
            self._counter.inc()
        return False

    def __call__(self, f: F) -> F:
        return _wrap(lambda: self, f)


class InprogressTracker:
    """Raises a gauge while a block or function runs and lowers it after."""

    __slots__ = ("_gauge",)

    def __init__(self, gauge: Any) -> None:
        self._gauge = gauge

    def __enter__(self) -> None:
        self._gauge.inc()

    def __exit__(self, typ: Optional[Type[BaseException]], value: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self._gauge.dec()

    def __call__(self, f: F) -> F:
        return _wrap(lambda: self, f)


class Timer:
    """Measures a block or function and reports the seconds to ``metric.<callback_name>``.

    ``labels()`` inside the block picks the child to report to, for label values
    known only once the work is done.
    """

    # The pure-Python Timer (also as _PyTimer), and the reference for the C one in _speedups.c, which
    # replaces it below when built and must behave the same (tests/core/test_speedups.py runs both).
    __slots__ = ("_callback_name", "_metric", "_start", "duration")

    def __init__(self, metric: Any, callback_name: str) -> None:
        # The callback is looked up once, at exit (labels() may have moved it by then), not here too:
        # `with h.time():` builds a Timer per use, so construction is on the hot path.
        self._metric = metric
        self._callback_name = callback_name
        self.duration: Optional[float] = None

    def _new_timer(self) -> Timer:
        return type(self)(self._metric, self._callback_name)

    def __enter__(self) -> Timer:
        self._start = default_timer()
        return self

    def __exit__(self, typ: Optional[Type[BaseException]], value: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        duration = default_timer() - self._start
        if duration < 0:  # the clock is monotonic, but keep the contract explicit
            duration = 0.0
        self.duration = duration
        getattr(self._metric, self._callback_name)(duration)

    def labels(self, *args: Any, **kw: Any) -> None:
        """Report to the child with these label values."""
        self._metric = self._metric.labels(*args, **kw)

    def __call__(self, f: F) -> F:
        # A decorated function may run concurrently, so each call gets its own timer.
        return _wrap(self._new_timer, f)


_PyTimer = Timer


_CTimer: Optional[type] = None if speedups is None else speedups.Timer
#: True when ``Timer`` is the C implementation from ``pyrometer._speedups`` (same behaviour, faster).
SPEEDUPS = _CTimer is not None
if _CTimer is not None:
    Timer = _CTimer  # type: ignore[misc]  # its __module__ and __name__ are this module's and "Timer" too

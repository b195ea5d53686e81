"""A value built on first use, once per process, safely across threads."""

from __future__ import annotations

import threading
from typing import Callable, Generic, Optional, TypeVar

T = TypeVar("T")


class Once(Generic[T]):
    """Holds ``factory()``'s result, built by the first ``get()``; ``clear()`` forgets it."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: Optional[T] = None
        self._lock = threading.Lock()

    def get(self) -> T:
        """The value, building it on the first call (later calls take no lock)."""
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._factory()
                value = self._value
        return value

    def clear(self, on_drop: Optional[Callable[[T], None]] = None) -> None:
        """Forget the value (calling ``on_drop`` with it first), so the next ``get()`` builds anew."""
        with self._lock:
            if self._value is not None and on_drop is not None:
                on_drop(self._value)
            self._value = None

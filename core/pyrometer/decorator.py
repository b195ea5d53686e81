"""Signature-preserving decorator helpers.

prometheus_client ships a copy of the third-party ``decorator`` package under
this name. pyrometer keeps the parts code is known to import (``decorate``,
``decorator``, ``getargspec``, ``contextmanager``) on top of ``functools.wraps``,
which ``inspect.signature`` follows, instead of compiling a wrapper per function.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from typing import Any, Callable, NamedTuple, Optional, Tuple, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class ArgSpec(NamedTuple):
    """The legacy four-field argument spec."""

    args: list
    varargs: Optional[str]
    varkw: Optional[str]
    defaults: Optional[Tuple[Any, ...]]


def getargspec(f: Callable[..., Any]) -> ArgSpec:
    """The positional argument spec of ``f`` (``ValueError`` if it has keyword-only arguments)."""
    spec = inspect.getfullargspec(f)
    if spec.kwonlyargs:
        raise ValueError("function has keyword-only arguments or annotations, use inspect.getfullargspec")
    return ArgSpec(spec.args, spec.varargs, spec.varkw, spec.defaults)


def decorate(func: F, caller: Callable[..., Any], extras: Tuple[Any, ...] = ()) -> F:
    """Wrap ``func`` so each call runs ``caller(func, *extras, *args, **kwargs)``, keeping its signature."""
    if inspect.iscoroutinefunction(caller) or inspect.iscoroutinefunction(func):
        async def async_fun(*args: Any, **kwargs: Any) -> Any:
            result = caller(func, *extras, *args, **kwargs)
            return await result if inspect.isawaitable(result) else result
        return functools.wraps(func)(async_fun)  # type: ignore[return-value]

    def fun(*args: Any, **kwargs: Any) -> Any:
        return caller(func, *extras, *args, **kwargs)
    return functools.wraps(func)(fun)  # type: ignore[return-value]


def decorator(caller: Callable[..., Any], _func: Optional[Callable[..., Any]] = None) -> Callable[..., Any]:
    """Turn ``caller(func, *args, **kwargs)`` into a decorator (or apply it at once to ``_func``)."""
    if _func is not None:
        return decorate(_func, caller)

    def make(func: F) -> F:
        return decorate(func, caller)
    return functools.wraps(caller)(make)


contextmanager = contextlib.contextmanager
ContextManager = contextlib.AbstractContextManager

"""Root conftest of the suite.

Its presence makes pytest (``prepend`` import mode, no ``__init__.py`` in ``tests``) put ``tests`` on
``sys.path``, so that modules in any tests directory can import the helpers shared across directories,
such as ``process_helpers``, by name.
"""

from __future__ import annotations

import sys
from typing import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _release_twisted_fd_reservation() -> Iterator[None]:
    """Close the /dev/null file Twisted holds open once any test has listened on TCP.

    Twisted keeps one spare file descriptor for the process's lifetime (so that it can still accept and
    close connections when out of descriptors) and never closes it, which shows up as an "unclosed file
    /dev/null" ResourceWarning when the suite's interpreter exits. Twisted has no public way to let it go.
    """
    yield
    tcp = sys.modules.get("twisted.internet.tcp")
    reservation = getattr(tcp, "_reservedFD", None)
    spare = getattr(reservation, "_fileDescriptor", None)
    if spare is not None:
        spare.close()
        reservation._fileDescriptor = None  # type: ignore[union-attr]

"""Servers run in a daemon thread of the test process, shared across tests directories.

Imported by name (``from thread_servers import ...``): tests/conftest.py makes pytest put ``tests`` on
``sys.path``. Framework imports happen inside the functions, after their ``pytest.importorskip``.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Tuple

import pytest

Stop = Callable[[], None]


def serve_uvicorn(app: Any, lifespan: str = "on") -> Tuple[int, Stop]:
    """Serve an ASGI app with uvicorn (h11, asyncio) in a daemon thread; its port and how to stop it.

    Stopping fails the test if the server thread has not ended within 10 seconds.
    """
    uvicorn = pytest.importorskip("uvicorn")
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan, ws="none",
                            http="h11", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        assert not thread.is_alive(), "uvicorn did not stop"

    return server.servers[0].sockets[0].getsockname()[1], stop

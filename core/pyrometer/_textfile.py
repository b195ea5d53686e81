"""Atomic metrics files for the node_exporter textfile collector."""

from __future__ import annotations

import os
import secrets
from typing import Optional

from ._text_format import generate_latest
from .openmetrics.exposition import ALLOWUTF8
from .registry import Collector


def _fsync_directory(directory: str) -> None:
    """Make a rename in ``directory`` durable (POSIX only; best effort)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_to_textfile(path: str, registry: Collector, escaping: str = ALLOWUTF8, tmpdir: Optional[str] = None) -> None:
    """Write ``registry`` in the text format to ``path``, atomically.

    The whole output is rendered before any file is touched, written to a
    temporary file (in ``tmpdir`` or next to ``path``; it must be on the same
    filesystem), flushed to disk and renamed over ``path``. Readers see the old
    file or the new one, never a part; if rendering or writing fails, ``path``
    is unchanged and the temporary file is removed. The temporary name does not
    end in ``.prom``, so the textfile collector never picks it up.
    """
    data = generate_latest(registry, escaping)
    target = os.path.abspath(path)
    directory = tmpdir if tmpdir is not None else os.path.dirname(target)
    tmp_path = os.path.join(directory, f".{os.path.basename(target)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # 0o666 minus the umask, like open(): the exporter often runs as another user.
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, target)
    except BaseException:
        try:
            os.remove(tmp_path)
        except OSError:
            pass
        raise
    _fsync_directory(os.path.dirname(target))

"""Tests for write_to_textfile: exact content, atomic replacement, no stray temporary files."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import List

import pytest
from pyrometer import exposition
from pyrometer._text_format import generate_latest
from pyrometer.metrics_core import GaugeMetricFamily, Metric
from pyrometer.openmetrics.exposition import ALLOWUTF8, UNDERSCORES
from pyrometer.registry import CollectorRegistry
from server_helpers import (
    Broken,
    populated_registry,  # noqa: F401 - the module's registry fixture
)


class Dotted:
    """A collector exposing a UTF-8 metric name, which only allow-utf-8 keeps as is."""

    def describe(self) -> List[Metric]:
        return []

    def collect(self) -> List[Metric]:
        return [GaugeMetricFamily("my.dotted.gauge", "A dotted name.", value=1)]


def test_content_equals_writer_output(tmp_path: Path, registry: CollectorRegistry) -> None:
    """The file holds exactly generate_latest(registry, 'allow-utf-8') and nothing else is left."""
    target = tmp_path / "metrics.prom"
    exposition.write_to_textfile(str(target), registry)
    assert target.read_bytes() == generate_latest(registry, ALLOWUTF8)
    assert os.listdir(tmp_path) == ["metrics.prom"]


def test_escaping_is_passed_to_the_writer(tmp_path: Path) -> None:
    """The escaping argument selects how UTF-8 metric names are written (allow-utf-8 by default)."""
    reg = CollectorRegistry()
    reg.register(Dotted())
    target = tmp_path / "metrics.prom"
    exposition.write_to_textfile(str(target), reg)
    assert b'{"my.dotted.gauge"} 1.0' in target.read_bytes()
    exposition.write_to_textfile(str(target), reg, escaping=UNDERSCORES)
    assert target.read_bytes() == generate_latest(reg, UNDERSCORES)
    assert b"my_dotted_gauge 1.0" in target.read_bytes()


def test_replaces_existing_file(tmp_path: Path, registry: CollectorRegistry) -> None:
    """An existing file is replaced by the new content."""
    target = tmp_path / "metrics.prom"
    target.write_bytes(b"old\n")
    exposition.write_to_textfile(str(target), registry)
    assert target.read_bytes() == generate_latest(registry, ALLOWUTF8)


def test_raising_collector_leaves_old_file_and_no_temp(tmp_path: Path, registry: CollectorRegistry) -> None:
    """When a collector raises, the old file is untouched and no temporary file remains."""
    target = tmp_path / "metrics.prom"
    target.write_bytes(b"old\n")
    registry.register(Broken())
    with pytest.raises(RuntimeError, match="collector exploded"):
        exposition.write_to_textfile(str(target), registry)
    assert target.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["metrics.prom"]


def test_tmpdir_is_used_and_left_clean(tmp_path: Path, registry: CollectorRegistry) -> None:
    """With tmpdir the temporary file goes there and is gone after the rename."""
    out, scratch = tmp_path / "out", tmp_path / "scratch"
    out.mkdir()
    scratch.mkdir()
    exposition.write_to_textfile(str(out / "metrics.prom"), registry, tmpdir=str(scratch))
    assert (out / "metrics.prom").read_bytes() == generate_latest(registry, ALLOWUTF8)
    assert os.listdir(scratch) == []


def test_write_failure_removes_temp(tmp_path: Path, registry: CollectorRegistry,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """If the final rename fails, the temporary file is removed and the error propagates."""
    target = tmp_path / "metrics.prom"
    target.write_bytes(b"old\n")

    def refuse(src: str, dst: str) -> None:
        raise OSError("rename refused")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="rename refused"):
        exposition.write_to_textfile(str(target), registry)
    assert target.read_bytes() == b"old\n"
    assert os.listdir(tmp_path) == ["metrics.prom"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_file_is_readable_by_others_per_umask(tmp_path: Path, registry: CollectorRegistry) -> None:
    """The file gets the usual 0o666-minus-umask mode, so an exporter running as another user can read it."""
    old = os.umask(0o022)
    try:
        exposition.write_to_textfile(str(tmp_path / "metrics.prom"), registry)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "metrics.prom").stat().st_mode) == 0o644

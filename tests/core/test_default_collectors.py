"""Tests for the default collectors: process, platform and GC."""

from __future__ import annotations

import gc
import os
import platform
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List, Tuple

import prometheus_client
import pytest
from pyrometer.gc_collector import GC_COLLECTOR, GCCollector
from pyrometer.metrics_core import Metric
from pyrometer.platform_collector import PLATFORM_COLLECTOR, PlatformCollector
from pyrometer.process_collector import PROCESS_COLLECTOR, ProcessCollector
from pyrometer.registry import REGISTRY, CollectorRegistry

HAVE_PROC = os.path.exists("/proc/self/stat") and os.path.exists("/proc/stat")
needs_proc = pytest.mark.skipif(not HAVE_PROC, reason="needs Linux /proc")

TICKS = 100
PAGESIZE = 4096
BTIME = 1_700_000_000
PROCESS_NAMES = [
    "virtual_memory_bytes", "resident_memory_bytes", "start_time_seconds",
    "cpu_seconds", "open_fds", "max_fds",
]


def _stat_line(pid: int, utime: int, stime: int, starttime: int, vsize: int, rss: int) -> str:
    """A /proc/<pid>/stat line; the command name holds ') ' to check the parser splits at the last ')'."""
    after = ["S"] + ["0"] * 49  # fields 3.. of proc(5), numbered from 0 after the command name
    after[11], after[12], after[19], after[20], after[21] = map(str, (utime, stime, starttime, vsize, rss))
    return f"{pid} (odd) name) {' '.join(after)}\n"


def _make_proc(root: Path, pid: str = "self", *, utime: int = 250, stime: int = 150, starttime: int = 12345,
               vsize: int = 123456789, rss: int = 1000, max_files: str = "1024", fds: int = 5,
               btime: bool = True) -> Path:
    """Write a fake procfs tree with one process and return its root."""
    root.mkdir(parents=True, exist_ok=True)
    btime_line = f"btime {BTIME}\n" if btime else ""
    (root / "stat").write_text(f"cpu  1 2 3 4\nintr 5\nctxt 6\n{btime_line}processes 7\n")
    proc = root / pid
    proc.mkdir()
    (proc / "stat").write_text(_stat_line(4242, utime, stime, starttime, vsize, rss))
    (proc / "limits").write_text(
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max cpu time              unlimited            unlimited            seconds   \n"
        "Max processes             96365                96365                processes \n"
        f"Max open files            {max_files:<20} 4096                 files     \n"
        "Max locked memory         8388608              8388608              bytes     \n"
    )
    (proc / "fd").mkdir()
    for i in range(fds):
        (proc / "fd" / str(i)).write_text("")
    return root


@pytest.fixture
def fixed_sysconf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make clock ticks and page size fixed so expected values are exact."""
    values = {"SC_CLK_TCK": TICKS, "SC_PAGE_SIZE": PAGESIZE}
    monkeypatch.setattr(os, "sysconf", lambda name: values[name], raising=False)


def _values(metrics: List[Metric]) -> Dict[str, float]:
    return {s.name: s.value for m in metrics for s in m.samples}


def _shape(metrics: Any) -> List[Tuple[str, str, str, List[Tuple[str, Tuple[str, ...]]]]]:
    """Family names, types, help and per-sample (name, label names): everything but the values."""
    return [
        (m.name, m.type, m.documentation, [(s.name, tuple(s.labels)) for s in m.samples])
        for m in metrics
    ]


# --- process collector against a fake /proc ---------------------------------------------------


def test_process_fake_proc_exact_values(tmp_path: Path, fixed_sysconf: None) -> None:
    """Every process series is computed from the fake /proc files with the documented formulas."""
    proc = _make_proc(tmp_path / "proc")
    metrics = ProcessCollector(proc=str(proc), registry=None).collect()
    assert [(m.name, m.type) for m in metrics] == [
        ("process_virtual_memory_bytes", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_start_time_seconds", "gauge"),
        ("process_cpu_seconds", "counter"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
    ]
    assert _values(metrics) == {
        "process_virtual_memory_bytes": 123456789.0,
        "process_resident_memory_bytes": 1000 * PAGESIZE,
        "process_start_time_seconds": BTIME + 12345 / TICKS,
        "process_cpu_seconds_total": (250 + 150) / TICKS,
        "process_open_fds": 5,
        "process_max_fds": 1024.0,
    }


def test_process_matches_prometheus_client_on_fake_proc(tmp_path: Path, fixed_sysconf: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """On the same fake /proc, the families and values equal prometheus_client's, bit for bit."""
    import prometheus_client.process_collector as pc_process

    monkeypatch.setattr(pc_process, "_PAGESIZE", PAGESIZE)
    proc = _make_proc(tmp_path / "proc", utime=1, stime=5, starttime=777)  # 0.01 + 0.05 != 0.06 in floats
    ours = ProcessCollector(proc=str(proc), registry=None).collect()
    theirs = prometheus_client.ProcessCollector(proc=str(proc), registry=None).collect()
    assert _shape(ours) == _shape(theirs)
    assert _values(ours) == _values(theirs)


def test_process_namespace_prefixes_names(tmp_path: Path, fixed_sysconf: None) -> None:
    """A namespace puts '<namespace>_process_' in front of every family name."""
    proc = _make_proc(tmp_path / "proc")
    metrics = ProcessCollector(namespace="app", proc=str(proc), registry=None).collect()
    assert [m.name for m in metrics] == ["app_process_" + n for n in PROCESS_NAMES]


def test_process_pid_callable_is_called_on_every_collect(tmp_path: Path, fixed_sysconf: None) -> None:
    """The pid callable is consulted per scrape, so the collector follows a changing pid."""
    proc = _make_proc(tmp_path / "proc", pid="4242", utime=100, stime=0)
    (proc / "99").mkdir()
    for name in ("stat", "limits"):
        (proc / "99" / name).write_text((proc / "4242" / name).read_text().replace(" 100 0 ", " 300 0 "))
    (proc / "99" / "fd").mkdir()
    current = [4242]
    collector = ProcessCollector(pid=lambda: current[0], proc=str(proc), registry=None)
    assert _values(collector.collect())["process_cpu_seconds_total"] == 1.0
    current[0] = 99
    values = _values(collector.collect())
    assert values["process_cpu_seconds_total"] == 3.0
    assert values["process_open_fds"] == 0


def test_process_pid_string_is_stripped(tmp_path: Path, fixed_sysconf: None) -> None:
    """A pid read from a pid file (with its trailing newline) still finds the process."""
    proc = _make_proc(tmp_path / "proc", pid="4242")
    metrics = ProcessCollector(pid=lambda: "4242\n", proc=str(proc), registry=None).collect()
    assert len(metrics) == 6


def test_process_missing_proc_yields_nothing(tmp_path: Path) -> None:
    """Without a procfs (as on macOS or Windows) collect and describe are empty instead of failing."""
    collector = ProcessCollector(proc=str(tmp_path / "nope"), registry=None)
    assert collector.collect() == []
    assert collector.describe() == []


def test_process_without_btime_yields_nothing(tmp_path: Path) -> None:
    """A /proc/stat lacking the btime line counts as no usable procfs."""
    proc = _make_proc(tmp_path / "proc", btime=False)
    assert ProcessCollector(proc=str(proc), registry=None).collect() == []


def test_process_vanished_pid_yields_nothing(tmp_path: Path) -> None:
    """A pid whose /proc entry is gone gives no families rather than an error."""
    proc = _make_proc(tmp_path / "proc")
    assert ProcessCollector(pid=lambda: 31337, proc=str(proc), registry=None).collect() == []


def test_process_unreadable_fd_dir_drops_only_fd_series(tmp_path: Path, fixed_sysconf: None) -> None:
    """When the fd directory cannot be listed, both fd series are dropped and the rest stays."""
    proc = _make_proc(tmp_path / "proc")
    for f in (proc / "self" / "fd").iterdir():
        f.unlink()
    (proc / "self" / "fd").rmdir()
    metrics = ProcessCollector(proc=str(proc), registry=None).collect()
    assert [m.name for m in metrics] == ["process_" + n for n in PROCESS_NAMES[:4]]


def test_process_unparsable_limit_keeps_open_fds(tmp_path: Path, fixed_sysconf: None) -> None:
    """A max-open-files limit that is not a number drops process_max_fds only."""
    proc = _make_proc(tmp_path / "proc", max_files="bogus")
    metrics = ProcessCollector(proc=str(proc), registry=None).collect()
    assert [m.name for m in metrics] == ["process_" + n for n in PROCESS_NAMES[:5]]


def test_process_boot_time_read_once(tmp_path: Path, fixed_sysconf: None) -> None:
    """Boot time is read at construction, not on each collect."""
    proc = _make_proc(tmp_path / "proc")
    collector = ProcessCollector(proc=str(proc), registry=None)
    (proc / "stat").write_text("btime 5\n")
    assert _values(collector.collect())["process_start_time_seconds"] == BTIME + 12345 / TICKS


def test_process_describe_lists_static_names(tmp_path: Path) -> None:
    """describe() names all six families without reading the process."""
    proc = _make_proc(tmp_path / "proc")
    described = ProcessCollector(namespace="ns", pid=lambda: 1 / 0, proc=str(proc), registry=None).describe()
    assert [(m.name, m.type, m.samples) for m in described] == [
        ("ns_process_" + n, "counter" if n == "cpu_seconds" else "gauge", []) for n in PROCESS_NAMES
    ]


# --- process collector against the real /proc ----------------------------------------------------


@needs_proc
def test_process_real_proc_is_sane() -> None:
    """For this very process the real /proc gives plausible figures."""
    import resource

    values = _values(ProcessCollector(registry=None).collect())
    assert set(values) == {
        "process_virtual_memory_bytes", "process_resident_memory_bytes", "process_start_time_seconds",
        "process_cpu_seconds_total", "process_open_fds", "process_max_fds",
    }
    assert values["process_resident_memory_bytes"] > 0
    assert values["process_virtual_memory_bytes"] >= values["process_resident_memory_bytes"]
    assert values["process_open_fds"] >= 3
    assert values["process_max_fds"] == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert 0 < values["process_cpu_seconds_total"] <= time.process_time() + 1
    assert time.time() - 86400 * 365 < values["process_start_time_seconds"] <= time.time() + 1


@needs_proc
def test_process_real_pid_callable() -> None:
    """A numeric pid of this process reads the same start time as 'self'."""
    by_pid = _values(ProcessCollector(pid=os.getpid, registry=None).collect())
    by_self = _values(ProcessCollector(registry=None).collect())
    assert by_pid["process_start_time_seconds"] == by_self["process_start_time_seconds"]


@needs_proc
def test_process_real_proc_matches_prometheus_client() -> None:
    """On the real /proc the families equal prometheus_client's, and the steady values match exactly."""
    ours = ProcessCollector(registry=None).collect()
    theirs = list(prometheus_client.ProcessCollector(registry=prometheus_client.CollectorRegistry()).collect())
    assert _shape(ours) == _shape(theirs)
    for name in ("process_start_time_seconds", "process_max_fds"):
        assert _values(ours)[name] == _values(theirs)[name]


# --- platform collector -------------------------------------------------------------------------


def _fake_platform(system: str = "Linux", counter: Dict[str, int] | None = None) -> SimpleNamespace:
    def counted(name: str, value: Any) -> Callable[[], Any]:
        def call() -> Any:
            if counter is not None:
                counter[name] = counter.get(name, 0) + 1
            return value
        return call

    return SimpleNamespace(
        python_version_tuple=counted("python_version_tuple", ("3", "12", "1")),
        python_version=counted("python_version", "3.12.1"),
        python_implementation=counted("python_implementation", "FakePython"),
        system=counted("system", system),
        java_ver=counted("java_ver", ("1.8.0_412", "Oracle", ("OpenJDK 64-Bit Server VM", "25.412", "Azul"),
                                      ("Linux", "6.1", "amd64"))),
    )


def test_platform_python_info_from_fake_platform() -> None:
    """python_info carries the implementation and version parts as labels with value 1."""
    (info,) = PlatformCollector(registry=None, platform=_fake_platform()).collect()
    assert (info.name, info.type, info.documentation) == ("python_info", "gauge", "Python platform information")
    assert [(s.name, s.labels, s.value) for s in info.samples] == [
        ("python_info", {"version": "3.12.1", "implementation": "FakePython",
                         "major": "3", "minor": "12", "patchlevel": "1"}, 1),
    ]


def test_platform_java_adds_jvm_labels() -> None:
    """On Jython (system 'Java') python_info also gets the JVM version, release, vendor and name."""
    (info,) = PlatformCollector(registry=None, platform=_fake_platform("Java")).collect()
    assert info.samples[0].labels == {
        "version": "3.12.1", "implementation": "FakePython", "major": "3", "minor": "12", "patchlevel": "1",
        "jvm_version": "1.8.0_412", "jvm_release": "25.412", "jvm_vendor": "Azul",
        "jvm_name": "OpenJDK 64-Bit Server VM",
    }


def test_platform_matches_prometheus_client_for_fake_platforms() -> None:
    """For the same platform object the output equals prometheus_client's, label order included."""
    for system in ("Linux", "Java"):
        ours = PlatformCollector(registry=None, platform=_fake_platform(system)).collect()
        theirs = prometheus_client.PlatformCollector(registry=None, platform=_fake_platform(system)).collect()
        assert _shape(ours) == _shape(theirs)
        assert [s.labels for s in ours[0].samples] == [s.labels for s in theirs[0].samples]


def test_platform_default_matches_prometheus_client() -> None:
    """With the real platform module the python_info sample equals prometheus_client's."""
    ours = PlatformCollector(registry=None).collect()
    theirs = list(prometheus_client.PlatformCollector(registry=None).collect())
    assert _shape(ours) == _shape(theirs)
    assert [(s.labels, s.value) for s in ours[0].samples] == [(s.labels, s.value) for s in theirs[0].samples]
    assert ours[0].samples[0].labels["implementation"] == platform.python_implementation()


def test_platform_info_computed_once() -> None:
    """The platform is queried at construction only; collects reuse the result."""
    counter: Dict[str, int] = {}
    collector = PlatformCollector(registry=None, platform=_fake_platform(counter=counter))
    before = dict(counter)
    first = collector.collect()
    first.clear()
    assert collector.collect()[0].samples[0].value == 1
    assert counter == before


# --- GC collector ---------------------------------------------------------------------------------


def _gc_table(metrics: List[Metric]) -> Dict[str, List[Tuple[str, float]]]:
    return {m.name: [(s.labels["generation"], s.value) for s in m.samples] for m in metrics}


@pytest.mark.skipif(platform.python_implementation() != "CPython", reason="CPython only")
def test_gc_values_track_get_stats() -> None:
    """Each counter equals the matching gc.get_stats() field per generation, and follows a collection."""
    collector = GCCollector(registry=None)
    was_enabled = gc.isenabled()
    gc.disable()  # no automatic collection between the two readings
    try:
        table = _gc_table(collector.collect())
        stats = gc.get_stats()
        for name, key in (("python_gc_objects_collected", "collected"),
                          ("python_gc_objects_uncollectable", "uncollectable"),
                          ("python_gc_collections", "collections")):
            assert table[name] == [(str(i), st[key]) for i, st in enumerate(stats)]
        full_runs = table["python_gc_collections"][-1][1]
        gc.collect()
        assert _gc_table(collector.collect())["python_gc_collections"][-1][1] == full_runs + 1
    finally:
        if was_enabled:
            gc.enable()


@pytest.mark.skipif(platform.python_implementation() != "CPython", reason="CPython only")
def test_gc_matches_prometheus_client() -> None:
    """Family names, types, help and the generation label equal prometheus_client's GC collector."""
    ours = GCCollector(registry=None).collect()
    theirs = list(prometheus_client.GCCollector(registry=prometheus_client.CollectorRegistry()).collect())
    assert _shape(ours) == _shape(theirs)
    assert _shape(GCCollector(registry=None).describe()) == [(n, t, d, []) for n, t, d, _ in _shape(theirs)]


def test_gc_disabled_off_cpython(monkeypatch: pytest.MonkeyPatch) -> None:
    """On another interpreter the GC collector neither registers nor exports anything."""
    monkeypatch.setattr(platform, "python_implementation", lambda: "PyPy")
    registry = CollectorRegistry(auto_describe=True)
    collector = GCCollector(registry=registry)
    assert collector.collect() == []
    assert collector.describe() == []
    assert list(registry.collect()) == []


# --- registration ---------------------------------------------------------------------------------


def _process(registry: CollectorRegistry) -> Any:
    return ProcessCollector(registry=registry)


def _platform(registry: CollectorRegistry) -> Any:
    return PlatformCollector(registry=registry)


def _gc(registry: CollectorRegistry) -> Any:
    return GCCollector(registry=registry)


FACTORIES = [
    pytest.param(_process, marks=needs_proc, id="process"),
    pytest.param(_platform, id="platform"),
    pytest.param(_gc, marks=pytest.mark.skipif(platform.python_implementation() != "CPython",
                                               reason="CPython only"), id="gc"),
]


@pytest.mark.parametrize("factory", FACTORIES)
def test_register_twice_raises(factory: Callable[[CollectorRegistry], Any]) -> None:
    """A second registration of the same series into one registry is refused as a duplicate."""
    registry = CollectorRegistry()
    collector = factory(registry)
    with pytest.raises(ValueError, match=r"^Duplicated timeseries in CollectorRegistry"):
        registry.register(collector)
    with pytest.raises(ValueError, match=r"^Duplicated timeseries in CollectorRegistry"):
        factory(registry)


@pytest.mark.parametrize("factory", FACTORIES)
def test_registered_collector_is_scraped_and_unregisterable(factory: Callable[[CollectorRegistry], Any]) -> None:
    """A collector registers itself, is collected by the registry, and can be unregistered again."""
    registry = CollectorRegistry()
    collector = factory(registry)
    assert [m.name for m in registry.collect()] == [m.name for m in collector.collect()] != []
    registry.unregister(collector)
    assert list(registry.collect()) == []
    factory(registry)  # the names are free again


def test_registry_none_does_not_register() -> None:
    """With registry=None nothing is registered anywhere, so constructing twice is fine."""
    for _ in range(2):
        ProcessCollector(registry=None)
        PlatformCollector(registry=None)
        GCCollector(registry=None)


@needs_proc
def test_describe_enables_name_filtering() -> None:
    """Because the names are described, a restricted registry can select a single process series."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    selected = list(registry.restricted_registry(["process_open_fds"]).collect())
    assert [(m.name, [s.name for s in m.samples]) for m in selected] == [("process_open_fds", ["process_open_fds"])]


def test_defaults_are_in_global_registry_and_unregisterable() -> None:
    """The module-level collectors live in REGISTRY and can be unregistered (and put back)."""
    defaults = [PLATFORM_COLLECTOR]
    if HAVE_PROC:
        defaults.append(PROCESS_COLLECTOR)
    if platform.python_implementation() == "CPython":
        defaults.append(GC_COLLECTOR)
    assert REGISTRY.get_sample_value("python_info", PLATFORM_COLLECTOR.collect()[0].samples[0].labels) == 1
    for collector in defaults:
        REGISTRY.unregister(collector)
    try:
        assert REGISTRY.get_sample_value("python_info", PLATFORM_COLLECTOR.collect()[0].samples[0].labels) is None
        assert REGISTRY.get_sample_value("process_max_fds") is None
    finally:
        for collector in defaults:
            REGISTRY.register(collector)
    if HAVE_PROC:
        assert REGISTRY.get_sample_value("process_max_fds") is not None

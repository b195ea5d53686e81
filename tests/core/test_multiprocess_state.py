"""Multiprocess Info, Enum, remove/clear and exemplars, written by real worker processes."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any, Dict, List

import pyrometer
from pyrometer import multiprocess
from pyrometer.openmetrics.exposition import generate_latest as om_generate_latest
from pyrometer.registry import CollectorRegistry
from test_multiprocess import run, scrape


def _info(version: str, then: str = "") -> None:
    i = pyrometer.Info("build", "Build.", ["svc"], registry=None)
    i.labels("api").info({"version": version})
    if then:
        time.sleep(0.002)
        i.labels("api").info({"version": then})


def test_info_shows_the_most_recent_dict_of_any_process(mpdir: str) -> None:
    """Info merges by most recent write: a later info() of another worker wins, a replaced dict disappears."""
    first = run(_info, [("1.0", "1.1")])
    assert scrape(mpdir) == {("build_info", (("svc", "api"), ("version", "1.1"))): 1.0}
    time.sleep(0.002)
    second = run(_info, [("2.0",)])
    assert scrape(mpdir) == {("build_info", (("svc", "api"), ("version", "2.0"))): 1.0}
    multiprocess.mark_process_dead(second[0], mpdir)
    multiprocess.mark_process_dead(first[0], mpdir)
    assert scrape(mpdir) == {("build_info", (("svc", "api"), ("version", "2.0"))): 1.0}


def test_info_never_set_shows_empty_labels(mpdir: str) -> None:
    """An unlabelled Info nobody has set exports ``<name>_info 1`` as in single-process mode."""
    pyrometer.Info("plain", "P.", registry=None)
    assert scrape(mpdir) == {("plain_info", ()): 1.0}


def _enum(state: str) -> None:
    e = pyrometer.Enum("phase", "Phase.", ["job"], states=["idle", "busy", "done"], registry=None)
    e.labels("x").state(state)


def test_enum_shows_the_most_recent_state_of_any_process(mpdir: str) -> None:
    """Enum merges by most recent state() across workers, also after the workers are folded."""
    pids = []
    for state in ("busy", "done", "idle"):
        pids += run(_enum, [(state,)])
        time.sleep(0.002)
    expected = {("phase", (("job", "x"), ("phase", s))): 1.0 if s == "idle" else 0.0
                for s in ("idle", "busy", "done")}
    assert scrape(mpdir) == expected
    for pid in pids:
        multiprocess.mark_process_dead(pid, mpdir)
    assert scrape(mpdir) == expected


def _remove_some() -> None:
    c = pyrometer.Counter("req", "R.", ["path"], registry=None)
    h = pyrometer.Histogram("lat", "L.", ["path"], buckets=(1,), registry=None)
    g = pyrometer.Gauge("temp", "T.", ["room"], multiprocess_mode="max", registry=None)
    s = pyrometer.Summary("sz", "S.", ["path"], registry=None)
    for p in ("/a", "/b", "/c"):
        c.labels(p).inc(10)
        h.labels(p).observe(0.5)
        s.labels(p).observe(1)
    g.labels("x").set(5)
    c.remove("/a")
    h.remove("/a")
    s.remove_by_labels({"path": "/a"})
    g.clear()
    c.labels("/b").inc(1)
    c.remove("/c")
    c.labels("/c").inc(2)  # re-created after removal: starts again from zero


def test_remove_and_clear_hide_series_in_every_process(mpdir: str) -> None:
    """remove/remove_by_labels/clear hide a worker's series; re-creating one starts it from zero."""
    pids = run(_remove_some, [()] * 2)
    expected = {
        ("req_total", (("path", "/b"),)): 22.0, ("req_total", (("path", "/c"),)): 4.0,
        ("lat_sum", (("path", "/b"),)): 1.0, ("lat_count", (("path", "/b"),)): 2.0,
        ("lat_bucket", (("le", "1.0"), ("path", "/b"))): 2.0, ("lat_bucket", (("le", "+Inf"), ("path", "/b"))): 2.0,
        ("lat_sum", (("path", "/c"),)): 1.0, ("lat_count", (("path", "/c"),)): 2.0,
        ("lat_bucket", (("le", "1.0"), ("path", "/c"))): 2.0, ("lat_bucket", (("le", "+Inf"), ("path", "/c"))): 2.0,
        ("sz_count", (("path", "/b"),)): 2.0, ("sz_sum", (("path", "/b"),)): 2.0,
        ("sz_count", (("path", "/c"),)): 2.0, ("sz_sum", (("path", "/c"),)): 2.0,
    }
    assert scrape(mpdir) == expected
    for pid in pids:
        multiprocess.mark_process_dead(pid, mpdir)
    assert scrape(mpdir) == expected


def _exemplars(trace: str, value: float) -> None:
    c = pyrometer.Counter("ex_req", "R.", registry=None)
    h = pyrometer.Histogram("ex_lat", "L.", buckets=(1, 2), registry=None)
    c.inc(1, exemplar={"trace_id": trace})
    h.observe(value, exemplar={"trace_id": trace})
    h.observe(0.5, exemplar={"trace_id": trace + "-small", "span": "ü" * 60})  # a bigger record


def _om(path: str) -> str:
    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg, path=path)
    return om_generate_latest(reg).decode()


def test_exemplars_latest_per_series_across_processes(mpdir: str) -> None:
    """The latest exemplar of each counter and bucket, from any worker, shows in the OpenMetrics scrape."""
    pids = []
    for trace, v in (("aaa", 1.5), ("bbb", 1.7)):
        pids += run(_exemplars, [(trace, v)])
        time.sleep(0.002)
    text = _om(mpdir)
    assert 'ex_req_total 2.0 # {trace_id="bbb"} 1.0' in text
    assert 'ex_lat_bucket{le="2.0"} 4.0 # {trace_id="bbb"} 1.7' in text
    assert 'ex_lat_bucket{le="1.0"} 2.0 # {span="' + "ü" * 60 + '",trace_id="bbb-small"} 0.5' in text
    multiprocess.mark_process_dead(pids[1], mpdir)
    assert _om(mpdir) == text  # folded records keep their exemplar
    multiprocess.mark_process_dead(pids[0], mpdir)
    assert _om(mpdir) == text


def test_exemplar_in_this_process_is_visible_locally_too(mpdir: str) -> None:
    """A multiprocess cell still returns its own latest exemplar to the in-process registry."""
    c = pyrometer.Counter("own", "O.", registry=None)
    c.inc(exemplar={"a": "b"})
    assert c._value.get_exemplar().labels == {"a": "b"}
    assert 'own_total 1.0 # {a="b"} 1.0' in _om(mpdir)


def _set_loop(n: int, q: Any) -> None:
    c = pyrometer.Counter("torn", "T.", registry=None)
    for i in range(n):
        c.inc(exemplar={"i": str(i) * (1 + i % 25)})
    q.put("done")


def test_exemplars_read_while_written_are_never_torn(mpdir: str) -> None:
    """Scrapes racing a worker that rewrites its exemplar only ever see a complete exemplar."""
    ctx = multiprocessing.get_context("fork")
    q = ctx.SimpleQueue()
    p = ctx.Process(target=_set_loop, args=(50000, q))
    p.start()
    seen: List[Dict[str, str]] = []
    while p.is_alive():
        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg, path=mpdir)
        for fam in reg.collect():
            for s in fam.samples:
                if s.exemplar is not None:
                    seen.append(s.exemplar.labels)
    p.join()
    assert p.exitcode == 0 and q.get() == "done"
    assert seen
    for labels in seen:
        assert _whole(labels["i"]), f"torn exemplar {labels!r}"


def _whole(v: str) -> bool:
    """``v`` is ``str(i)`` repeated ``1 + i % 25`` times for some ``i``."""
    for k in range(1, len(v) + 1):
        unit = v[:k]
        if unit * (len(v) // k) == v and len(v) // k == 1 + int(unit) % 25:
            return True
    return False

"""Multiprocess mode with real worker processes (fork, spawn): exact totals, gauge modes, prometheus_client parity."""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any, Callable, Dict, List, Tuple

import pyrometer
import pytest
from metric_helpers import hammer
from pyrometer import _mp_read, multiprocess, values
from pyrometer.exposition import generate_latest, make_wsgi_app
from pyrometer.registry import CollectorRegistry

K = 4  # workers
M = 2000  # operations per worker

MODES = ["all", "liveall", "min", "livemin", "max", "livemax", "sum", "livesum", "mostrecent", "livemostrecent"]



def scrape(path: str) -> Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} of a fresh registry with a MultiProcessCollector on ``path``."""
    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg, path=path)
    out = {}
    for fam in reg.collect():
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def run(target: Callable[..., Any], args_list: List[Tuple[Any, ...]], method: str = "fork") -> List[int]:
    """Run one process per args tuple concurrently; return their pids after they all exited cleanly."""
    ctx = multiprocessing.get_context(method)
    procs = [ctx.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return [p.pid for p in procs]  # type: ignore[misc]


def count_parses(monkeypatch: pytest.MonkeyPatch) -> List[int]:
    """From now on, append to the returned list how many key lines each scrape's ``parse_lines`` call decodes."""
    parsed: List[int] = []
    real = _mp_read.parse_lines

    def counting(data: bytes, start: int, name: str) -> Any:
        lines, end = real(data, start, name)
        parsed.append(len(lines))
        return lines, end

    monkeypatch.setattr(_mp_read, "parse_lines", counting)
    return parsed


def _traffic(n: int) -> None:
    c = pyrometer.Counter("jobs", "Jobs.", ["kind"], registry=None)
    h = pyrometer.Histogram("lat_seconds", "Latency.", ["route"], buckets=(0.1, 1.0), registry=None)
    s = pyrometer.Summary("size_bytes", "Size.", registry=None)
    for i in range(n):
        c.labels("a").inc()
        c.labels("b").inc(0.5)
        h.labels("/x").observe((0.05, 0.5, 5.0)[i % 3])
        s.observe(2)


def _expect_traffic(k: int, n: int) -> Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]:
    per = [sum(1 for i in range(n) if i % 3 == j) for j in range(3)]
    r = (("route", "/x"),)
    return {
        ("jobs_total", (("kind", "a"),)): k * n, ("jobs_total", (("kind", "b"),)): k * n * 0.5,
        ("lat_seconds_bucket", (("le", "0.1"), *r)): k * per[0],
        ("lat_seconds_bucket", (("le", "1.0"), *r)): k * (per[0] + per[1]),
        ("lat_seconds_bucket", (("le", "+Inf"), *r)): k * n,
        ("lat_seconds_count", r): k * n,
        ("lat_seconds_sum", r): k * (per[0] * 0.05 + per[1] * 0.5 + per[2] * 5.0),
        ("size_bytes_count", ()): k * n, ("size_bytes_sum", ()): k * n * 2.0,
    }


def _close(actual: Dict[Any, float], expected: Dict[Any, float]) -> None:
    assert set(actual) == set(expected)
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, rel=1e-12), key


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_k_workers_times_m_ops_is_exact(mpdir: str, method: str) -> None:
    """K worker processes x M increments/observations scrape as exactly KxM, for fork and spawn."""
    k = K if method == "fork" else 2
    run(_traffic, [(M,)] * k, method)
    _close(scrape(mpdir), _expect_traffic(k, M))


def _child_of_parent(c: Any, q: Any) -> None:
    c.inc(7)
    q.put((os.getpid(), c._value.get()))


def test_forked_child_writes_its_own_files(mpdir: str) -> None:
    """A child forked after the parent created a metric counts in its own files, starting from zero."""
    c = pyrometer.Counter("forked", "F.", registry=None)
    c.inc(5)
    q = multiprocessing.get_context("fork").SimpleQueue()
    (pid,) = run(_child_of_parent, [(c, q)])
    child_pid, child_value = q.get()
    assert child_pid == pid and child_value == 7.0
    assert os.path.exists(os.path.join(mpdir, f"w-{pid}.keys"))
    assert c._value.get() == 5.0
    assert scrape(mpdir) == {("forked_total", ()): 12.0}
    c.inc()  # the parent's cell still writes to the parent's file after the fork
    assert scrape(mpdir) == {("forked_total", ()): 13.0}


def _gauges(index: int, value: float) -> None:
    for mode in MODES:
        g = pyrometer.Gauge(f"g_{mode}", "G.", ["l"], multiprocess_mode=mode, registry=None)  # type: ignore[arg-type]
        g.labels("x").set(value)


GAUGE_VALUES = [3.0, 1.0, 2.0]  # set in this order, so the last writer (index 2) is the most recent


def _expected_gauges(pids: List[int], alive: List[bool]) -> Dict[Any, float]:
    out: Dict[Any, float] = {}
    for mode in MODES:
        name = f"g_{mode}"
        live = mode.startswith("live")
        idx = [i for i in range(len(pids)) if alive[i] or not live]
        vals = [GAUGE_VALUES[i] for i in idx]
        if not idx:
            continue
        if mode in ("all", "liveall"):
            for i in idx:
                out[(name, (("l", "x"), ("pid", str(pids[i]))))] = GAUGE_VALUES[i]
        else:
            agg = {"min": min, "max": max, "sum": sum, "mostrecent": lambda v: v[-1]}[mode.replace("live", "")]
            out[(name, (("l", "x"),))] = agg(vals)
    return out


def test_every_gauge_mode_on_live_and_dead_workers(mpdir: str) -> None:
    """Each multiprocess_mode merges live workers as documented; once a worker is dead, live modes forget it."""
    pids = []
    for i, v in enumerate(GAUGE_VALUES):  # one after the other: mostrecent timestamps are ordered
        pids += run(_gauges, [(i, v)])
        time.sleep(0.002)
    assert scrape(mpdir) == _expected_gauges(pids, [True, True, True])
    multiprocess.mark_process_dead(pids[2], mpdir)
    assert scrape(mpdir) == _expected_gauges(pids, [True, True, False])
    multiprocess.mark_process_dead(pids[0], mpdir)
    assert scrape(mpdir) == _expected_gauges(pids, [False, True, False])
    assert not os.path.exists(os.path.join(mpdir, f"w-{pids[0]}.keys"))


def test_mostrecent_gauge_never_set_is_absent(mpdir: str) -> None:
    """A mostrecent gauge that no process has set yet exports no sample (as in prometheus_client)."""
    g = pyrometer.Gauge("mr", "M.", multiprocess_mode="mostrecent", registry=None)
    assert scrape(mpdir) == {}
    g.set(4)
    assert scrape(mpdir) == {("mr", ()): 4.0}


# -- parity with prometheus_client ---------------------------------------------


def _parity_worker(lib_name: str, path: str, index: int) -> None:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    if lib_name == "prometheus_client":
        import prometheus_client as lib
        from prometheus_client import values as lib_values

        lib_values.ValueClass = lib_values.MultiProcessValue()
    else:
        lib = pyrometer  # type: ignore[assignment]
    c = lib.Counter("p_requests", "Requests.", ["method", "code"], registry=None)
    h = lib.Histogram("p_latency_seconds", "Latency.", ["b", "a"], buckets=(0.5, 1, 2.5), registry=None)
    s = lib.Summary("p_size", "Size.", ["z"], registry=None)
    for i in range(50 + index):
        c.labels("get", str(200 + i % 3)).inc(i % 4)
        h.labels("x", str(i % 2)).observe(i / 20)
        s.labels("q").observe(i)
    for mode in MODES:
        g = lib.Gauge(f"p_g_{mode}", "G.", ["w"], multiprocess_mode=mode, registry=None)
        g.labels("v").set(index * 1.5 - 1)
    time.sleep(0.002)


def _normalized(path: str, collector_cls: Any, pids: List[int]) -> List[Any]:
    ids = {str(p): str(i) for i, p in enumerate(pids)}
    out = []
    for fam in collector_cls(None, path=path).collect():
        samples = sorted((s.name, tuple(sorted((k, ids.get(v, v) if k == "pid" else v) for k, v in s.labels.items())),
                          s.value) for s in fam.samples)
        out.append((fam.name, fam.type, fam.documentation, samples))
    return sorted(out)


def test_same_output_as_prometheus_client(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same operations merge to prometheus_client's MultiProcessCollector families, also after a death."""
    pytest.importorskip("prometheus_client")
    from prometheus_client.multiprocess import MultiProcessCollector as PCCollector
    from prometheus_client.multiprocess import mark_process_dead as pc_mark_dead

    results = {}
    for lib_name, collector, mark in [("prometheus_client", PCCollector, pc_mark_dead),
                                      ("pyrometer", multiprocess.MultiProcessCollector,
                                       multiprocess.mark_process_dead)]:
        path = str(tmp_path / lib_name)
        os.mkdir(path)
        pids = []
        for i in range(3):
            pids += run(_parity_worker, [(lib_name, path, i)])
        before = _normalized(path, collector, pids)
        mark(pids[1], path)
        results[lib_name] = (before, _normalized(path, collector, pids))
    assert results["pyrometer"][0] == results["prometheus_client"][0]
    assert results["pyrometer"][1] == results["prometheus_client"][1]


def test_text_exposition_matches_prometheus_client_for_one_worker(tmp_path: Any) -> None:
    """For a single worker's data, the text exposition is the same bytes up to family order."""
    pytest.importorskip("prometheus_client")
    import prometheus_client

    texts = {}
    for lib_name, lib in [("prometheus_client", prometheus_client), ("pyrometer", pyrometer)]:
        path = str(tmp_path / lib_name)
        os.mkdir(path)
        (pid,) = run(_parity_worker, [(lib_name, path, 0)])
        reg = lib.CollectorRegistry()
        lib.multiprocess.MultiProcessCollector(reg, path=path)
        text = lib.generate_latest(reg).decode().replace(f'pid="{pid}"', 'pid="P"')
        texts[lib_name] = sorted(text.split("# HELP"))
    assert texts["pyrometer"] == texts["prometheus_client"]


# -- cells --------------------------------------------------------------------


@pytest.mark.parametrize("locked", [False, True])
def test_threads_in_one_worker_lose_no_increment(mpdir: str, monkeypatch: pytest.MonkeyPatch, locked: bool) -> None:
    """8 threads x 4000 inc/observe on multiprocess cells end exactly at 32000, lock-free and locked."""
    from pyrometer import _mp_store

    if locked:
        monkeypatch.setattr(values, "_GIL_ATOMIC", False)
        monkeypatch.setattr(values, "_default_mp", None)
    c = pyrometer.Counter("t", "T.", registry=None)
    h = pyrometer.Histogram("th", "T.", buckets=(1,), registry=None)
    if locked:
        assert isinstance(c._value, _mp_store.LockedMultiProcessCell)
        assert isinstance(h._value, _mp_store.LockedMultiProcessHistogramCounts)

    def work(_k: int) -> None:
        for _ in range(4000):
            c.inc()
            h.observe(0.5)

    hammer(work)
    got = scrape(mpdir)
    assert got[("t_total", ())] == 32000.0
    assert got[("th_count", ())] == 32000.0 and got[("th_sum", ())] == 16000.0


def test_values_file_grows_and_old_cells_keep_writing(mpdir: str) -> None:
    """Creating thousands of series grows the values file; cells made before the growth still count."""
    c = pyrometer.Counter("grow", "G.", ["i"], registry=None)
    first = c.labels("0")
    for i in range(5000):
        c.labels(str(i)).inc(i)
    first.inc(1)
    got = scrape(mpdir)
    assert len(got) == 5000
    assert sum(got.values()) == sum(range(5000)) + 1


def test_custom_process_identifier_reopens_its_files(mpdir: str) -> None:
    """A value class with a fixed identifier reopens its files after close and continues without new key lines."""
    cls = values.MultiProcessValue(process_identifier=lambda: "fixed")
    cell = cls("counter", "reopen", "reopen_total", (), (), "R.")
    cell.inc(3)
    values.close_all_multiprocess_files()
    again = cls("counter", "reopen", "reopen_total", (), (), "R.")
    assert again.get() == 3.0
    again.inc(1)
    cell.inc(1)  # a closed cell resolves its slot again
    with open(os.path.join(mpdir, "w-fixed.keys"), "rb") as f:
        assert len(f.read().splitlines()) == 2  # header + one series
    assert scrape(mpdir) == {("reopen_total", ()): 5.0}


def test_value_class_seam_and_get_value_class(mpdir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """values.ValueClass = values.MultiProcessValue() works as in prometheus_client; get_value_class follows the env."""
    assert values.get_value_class()._multiprocess
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    c = pyrometer.Counter("seam", "S.", registry=None)
    c.inc()
    assert c._value._multiprocess
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    monkeypatch.setattr(values, "ValueClass", values._DEFAULT_VALUE_CLASS)
    assert values.get_value_class() is values._LocalValue
    assert not pyrometer.Counter("local", "L.", registry=None)._value._multiprocess
    assert values.ValueClass("counter", "x", "x_total", (), (), "h").get() == 0.0


def test_missing_directory_is_a_clear_error_at_first_use(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PROMETHEUS_MULTIPROC_DIR that does not exist fails when the first metric is created, naming the path."""
    missing = str(tmp_path / "nope")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", missing)
    with pytest.raises(ValueError, match="nope"):
        pyrometer.Counter("c", "C.", registry=None)
    with pytest.raises(ValueError, match="not set or not a directory"):
        multiprocess.MultiProcessCollector(None)


def test_unwritable_directory_is_a_clear_error(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only directory fails at the first metric with an error that says it is not writable."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    # root ignores permission bits; /proc refuses new files to everyone
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/proc" if os.geteuid() == 0 else str(ro))
    with pytest.raises(ValueError, match="not writable"):
        pyrometer.Counter("c", "C.", registry=None)


def test_lowercase_variable_still_works_with_a_deprecation_warning(tmp_path: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """prometheus_multiproc_dir (lower case) is honoured with prometheus_client's DeprecationWarning."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "-")  # so that undo removes what the fallback sets
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    monkeypatch.setenv("prometheus_multiproc_dir", str(tmp_path))
    with pytest.warns(DeprecationWarning):
        c = pyrometer.Counter("low", "L.", registry=None)
    c.inc()
    assert scrape(str(tmp_path)) == {("low_total", ()): 1.0}
    values.close_all_multiprocess_files()


def test_set_function_is_refused(mpdir: str) -> None:
    """Gauge.set_function raises a clear error in multiprocess mode."""
    with pytest.raises(ValueError, match="multiprocess"):
        pyrometer.Gauge("sf", "S.", registry=None).set_function(lambda: 1.0)


# -- serving --------------------------------------------------------------------


def _metrics_app(environ: Dict[str, Any], start_response: Any) -> Any:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return make_wsgi_app(registry)(environ, start_response)


def test_per_request_registry_served_by_make_wsgi_app(mpdir: str) -> None:
    """The seeds' pattern (fresh registry + MultiProcessCollector per scrape, make_wsgi_app) serves exact totals."""
    run(_traffic, [(100,)] * 2)
    status = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": "", "SERVER_NAME": "x",
               "SERVER_PORT": "80", "wsgi.url_scheme": "http", "HTTP_ACCEPT": "text/plain"}
    body = b"".join(_metrics_app(environ, lambda s, h, exc_info=None: status.append(s)))
    assert status == ["200 OK"]
    assert b'jobs_total{kind="a"} 200.0' in body
    assert b"size_bytes_count 200.0" in body
    assert body.count(b"# TYPE jobs_total counter") == 1
    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg)
    assert generate_latest(reg) == body


def test_mmap_dict_keeps_prometheus_client_file_format(tmp_path: Any) -> None:
    """pyrometer.mmap_dict writes files prometheus_client's MmapedDict reads back, and the other way round."""
    pytest.importorskip("prometheus_client")
    from prometheus_client import mmap_dict as theirs
    from pyrometer import mmap_dict as ours

    assert ours.mmap_key("m", "m_total", ["b", "a"], ["2", "1"], "h") == theirs.mmap_key(
        "m", "m_total", ["b", "a"], ["2", "1"], "h")
    for writer, reader in ((ours, theirs), (theirs, ours)):
        path = str(tmp_path / f"{writer.__name__}.db")
        d = writer.MmapedDict(path)
        for i in range(3000):  # grows past the initial 64 KiB
            d.write_value(f"key-{i}-ü", float(i), 0.5)
        d.close()
        got = list(reader.MmapedDict.read_all_values_from_file(path))
        assert [(k, v, t) for k, v, t, _ in got] == [(f"key-{i}-ü", float(i), 0.5) for i in range(3000)]
        again = reader.MmapedDict(path)
        assert again.read_value("key-7-ü") == (7.0, 0.5)
        assert len(list(again.read_all_values())) == 3000
        again.close()


def test_per_request_registry_served_by_make_asgi_app(mpdir: str) -> None:
    """The same pattern mounted as an ASGI app (make_asgi_app per scrape) serves exact totals."""
    import asyncio

    from pyrometer.asgi import make_asgi_app

    run(_traffic, [(50,)] * 3)

    async def metrics(scope: Dict[str, Any], receive: Any, send: Any) -> None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        await make_asgi_app(registry)(scope, receive, send)

    async def call() -> List[Dict[str, Any]]:
        sent: List[Dict[str, Any]] = []

        async def receive() -> Dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/metrics", "root_path": "", "query_string": b"",
                 "headers": [(b"accept", b"text/plain")], "client": ("127.0.0.1", 1)}
        await metrics(scope, receive, send)
        return sent

    sent = asyncio.run(call())
    assert sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert b'jobs_total{kind="a"} 150.0' in body and b"size_bytes_count 150.0" in body

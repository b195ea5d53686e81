"""Multiprocess crash safety: killed workers, folds under a concurrent scrape, killed folds, corrupt files."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from typing import Any, Callable, List

import pyrometer
import pytest
from pyrometer import _mp_read, multiprocess, values
from test_multiprocess import count_parses, run, scrape


def _total(path: str, name: str = "work_total") -> float:
    return sum(v for (n, _), v in scrape(path).items() if n == name)


def _count(n: int, labels: int = 3) -> None:
    c = pyrometer.Counter("work", "W.", ["l"], registry=None)
    h = pyrometer.Histogram("work_seconds", "W.", buckets=(1,), registry=None)
    g = pyrometer.Gauge("work_live", "W.", multiprocess_mode="livesum", registry=None)
    g.inc()
    for i in range(n):
        c.labels(str(i % labels)).inc()
        h.observe(0.5)


def _endless(done: Any) -> None:
    c = pyrometer.Counter("work", "W.", ["l"], registry=None)
    i = 0
    while True:
        c.labels(str(i % 700)).inc()  # new series keep appending key lines while the kill lands
        i += 1
        done.value = i


def test_sigkilled_worker_loses_at_most_its_inflight_op(mpdir: str) -> None:
    """A worker SIGKILLed mid-traffic (while appending key lines) scrapes as its completed ops, at most one more."""
    ctx = multiprocessing.get_context("fork")
    base = 0.0
    for delay in (0.05, 0.2):
        done = ctx.RawValue("q", 0)
        p = ctx.Process(target=_endless, args=(done,))
        p.start()
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)  # type: ignore[arg-type]
        p.join()
        before = _total(mpdir)
        assert before - base in (done.value, done.value + 1)
        multiprocess.mark_process_dead(p.pid, mpdir)  # type: ignore[arg-type]
        assert _total(mpdir) == before
        base = before


def test_mark_process_dead_folds_and_keeps_totals(mpdir: str) -> None:
    """Folding dead workers one by one keeps every total, drops their livesum gauge and deletes their files."""
    pids = run(_count, [(100,)] * 4)
    assert _total(mpdir) == 400 and scrape(mpdir)[("work_live", ())] == 4
    for i, pid in enumerate(pids):
        multiprocess.mark_process_dead(pid, mpdir)
        got = scrape(mpdir)
        assert _total(mpdir) == 400 and got[("work_seconds_count", ())] == 400
        assert got.get(("work_live", ())) == (3 - i or None)
    assert sorted(os.listdir(mpdir)) == ["merged.db", "merged.lock"]
    multiprocess.mark_process_dead(pids[0], mpdir)  # twice: nothing left to do
    assert _total(mpdir) == 400


def _fold_all(path: str, pids: List[int]) -> None:
    for pid in pids:
        multiprocess.mark_process_dead(pid, path)


def test_compaction_racing_a_scraper_never_changes_totals(mpdir: str) -> None:
    """While another process folds 12 dead workers, every scrape in a loop sees exactly the same totals."""
    pids = run(_count, [(200, 300)] * 16)
    expected = scrape(mpdir)
    expected.pop(("work_live", ()))
    ctx = multiprocessing.get_context("fork")
    folder = ctx.Process(target=_fold_all, args=(mpdir, pids))
    folder.start()
    scrapes = 0
    while folder.is_alive() or scrapes < 5:
        got = scrape(mpdir)
        got.pop(("work_live", ()), None)
        assert got == expected
        scrapes += 1
    folder.join()
    assert folder.exitcode == 0
    assert scrapes >= 5
    assert len([n for n in os.listdir(mpdir) if n.startswith("w-")]) == 0
    got = scrape(mpdir)
    assert got == expected


def _crashing_fold(path: str, pid: int, where: str) -> None:
    real_unlink = os.unlink
    real_replace = os.replace

    def crash(*_: Any) -> None:
        os._exit(3)

    if where == "fsync":
        os.fsync = crash  # type: ignore[assignment]
    elif where == "replace":
        os.replace = crash  # type: ignore[assignment]
    elif where == "after-replace":
        def replace_then_crash(a: str, b: str) -> None:
            real_replace(a, b)
            os._exit(3)
        os.replace = replace_then_crash  # type: ignore[assignment]
    elif where == "between-unlinks":
        def unlink_once(name: str) -> None:
            if name.endswith(".keys"):
                real_unlink(name)
                os._exit(3)
            real_unlink(name)
        os.unlink = unlink_once  # type: ignore[assignment]
    multiprocess.mark_process_dead(pid, path)


@pytest.mark.parametrize("where", ["fsync", "replace", "after-replace", "between-unlinks"])
def test_fold_killed_half_way_neither_loses_nor_doubles(mpdir: str, where: str) -> None:
    """A fold that dies at any step leaves the totals unchanged, and a later fold finishes the job."""
    pids = run(_count, [(100,)] * 3)
    multiprocess.mark_process_dead(pids[0], mpdir)  # a merged.db already exists
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=_crashing_fold, args=(mpdir, pids[1], where))
    p.start()
    p.join()
    assert p.exitcode == 3
    assert _total(mpdir) == 300
    assert scrape(mpdir)[("work_seconds_count", ())] == 300
    multiprocess.mark_process_dead(pids[1], mpdir)
    multiprocess.mark_process_dead(pids[2], mpdir)
    assert _total(mpdir) == 300
    assert sorted(os.listdir(mpdir)) == ["merged.db", "merged.lock"]


def test_reused_pid_of_an_absorbed_worker_starts_fresh(mpdir: str) -> None:
    """A process reusing the identifier of a folded worker whose files survived a crash counts from zero, once."""
    cls = values.MultiProcessValue(process_identifier=lambda: "7")
    cls("counter", "work", "work_total", ("l",), ("a",), "W.").inc(10)
    values.close_all_multiprocess_files()
    p = multiprocessing.get_context("fork").Process(target=_crashing_fold, args=(mpdir, "7", "after-replace"))
    p.start()
    p.join()
    assert _total(mpdir) == 10  # absorbed: the surviving files are ignored
    again = cls("counter", "work", "work_total", ("l",), ("a",), "W.")
    assert again.get() == 0.0
    again.inc(5)
    assert _total(mpdir) == 15
    multiprocess.mark_process_dead("7", mpdir)
    assert _total(mpdir) == 15


def test_two_hundred_dead_workers_leave_one_file(mpdir: str) -> None:
    """After 200 workers came and went (each folded), the directory holds merged.db only and totals are exact."""
    for _ in range(10):
        pids = run(_count, [(5, 2)] * 20)
        for pid in pids:
            multiprocess.mark_process_dead(pid, mpdir)
    assert sorted(os.listdir(mpdir)) == ["merged.db", "merged.lock"]
    assert _total(mpdir) == 1000
    assert scrape(mpdir).get(("work_live", ())) is None


# -- corrupt files ------------------------------------------------------------------


def _two_workers(path: str) -> List[int]:
    return run(_count, [(10,)] * 2)


def _corrupt(path: str, pid: int, how: Callable[[str, str], None]) -> None:
    how(os.path.join(path, f"w-{pid}.keys"), os.path.join(path, f"w-{pid}.values"))


def _truncate_values(keys: str, vals: str) -> None:
    os.truncate(vals, 16)


def _garbage_line(keys: str, vals: str) -> None:
    with open(keys, "ab") as f:
        f.write(b"{not json\n")


def _bad_header(keys: str, vals: str) -> None:
    with open(keys, "rb") as f:
        data = f.read()
    with open(keys + ".new", "wb") as f:  # a new file (new inode) in place of the old one
        f.write(b"XXXX" + data[4:])
    os.replace(keys + ".new", keys)


@pytest.mark.parametrize("how", [_truncate_values, _garbage_line, _bad_header], ids=["truncated-values",
                                                                                     "garbage-key-line", "bad-header"])
def test_corrupt_worker_file_is_skipped_with_one_warning(mpdir: str, caplog: pytest.LogCaptureFixture,
                                                          how: Callable[[str, str], None]) -> None:
    """A corrupt worker file is skipped with one warning naming it, and the other workers are still served."""
    pids = _two_workers(mpdir)
    scrape(mpdir)  # the good version is cached first: corruption appearing later is still noticed
    _corrupt(mpdir, pids[0], how)
    with caplog.at_level(logging.WARNING, logger="pyrometer.multiprocess"):
        assert _total(mpdir) == 10
        assert _total(mpdir) == 10
    warnings = [r for r in caplog.records if r.name == "pyrometer.multiprocess"]
    assert len(warnings) == 1
    assert f"w-{pids[0]}" in warnings[0].getMessage()
    multiprocess.mark_process_dead(pids[0], mpdir)  # the fold drops what it cannot read and goes on
    multiprocess.mark_process_dead(pids[1], mpdir)
    assert _total(mpdir) == 10


def test_partial_last_key_line_is_ignored_silently(mpdir: str, caplog: pytest.LogCaptureFixture) -> None:
    """A key line cut short (worker killed mid-write) is ignored without a warning; complete lines count."""
    pids = _two_workers(mpdir)
    with open(os.path.join(mpdir, f"w-{pids[0]}.keys"), "ab") as f:
        f.write(b'[99, 1, "counter", "", "work"')
    with caplog.at_level(logging.WARNING, logger="pyrometer.multiprocess"):
        assert _total(mpdir) == 20
        multiprocess.mark_process_dead(pids[0], mpdir)
        assert _total(mpdir) == 20
    assert [r for r in caplog.records if r.name == "pyrometer.multiprocess"] == []


def test_partial_key_line_is_cut_when_the_pid_is_reused(mpdir: str) -> None:
    """A process reopening files that end in a cut-short line truncates it before appending its own lines."""
    cls = values.MultiProcessValue(process_identifier=lambda: "9")
    cls("counter", "work", "work_total", ("l",), ("a",), "W.").inc(2)
    values.close_all_multiprocess_files()
    with open(os.path.join(mpdir, "w-9.keys"), "ab") as f:
        f.write(b'[5, 1, "coun')
    cls("counter", "work", "work_total", ("l",), ("b",), "W.").inc(3)
    assert _total(mpdir) == 5


def test_corrupt_merged_db_is_skipped_and_workers_served(mpdir: str, caplog: pytest.LogCaptureFixture) -> None:
    """A corrupt merged.db is skipped with a warning naming it; live workers are still served."""
    pids = _two_workers(mpdir)
    multiprocess.mark_process_dead(pids[0], mpdir)
    with open(os.path.join(mpdir, "merged.db"), "r+b") as f:
        f.write(b"garbage!")
    with caplog.at_level(logging.WARNING, logger="pyrometer.multiprocess"):
        assert _total(mpdir) == 10
    assert any("merged.db" in r.getMessage() for r in caplog.records)


def test_scrape_decodes_each_key_line_once(mpdir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second scrape decodes no key line again: only lines appended since are parsed."""
    _two_workers(mpdir)
    c = pyrometer.Counter("mine", "M.", ["l"], registry=None)
    c.labels("a").inc()
    scrape(mpdir)
    parsed = count_parses(monkeypatch)
    scrape(mpdir)
    assert sum(parsed) == 0
    c.labels("b").inc()
    assert scrape(mpdir)[("mine_total", (("l", "b"),))] == 1.0
    assert sum(parsed) == 1


def _grow(n: int) -> None:
    c = pyrometer.Counter("work", "W.", ["l"], registry=None)
    h = pyrometer.Histogram("work_seconds", "W.", ["l"], buckets=(1,), registry=None)
    for i in range(n):
        c.labels(str(i)).inc()  # every op a new series: key lines and file growth while scrapes run
        h.labels(str(i % 50)).observe(0.5)


def test_scrapes_during_growth_are_monotonic_and_clean(mpdir: str, caplog: pytest.LogCaptureFixture) -> None:
    """Scraping two workers that keep adding series (growing their files) never warns and never goes backwards."""
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_grow, args=(6000,)) for _ in range(2)]
    for p in procs:
        p.start()
    last = 0.0
    with caplog.at_level(logging.WARNING, logger="pyrometer.multiprocess"):
        while any(p.is_alive() for p in procs):
            got = scrape(mpdir)
            total = sum(v for (n, _), v in got.items() if n == "work_total")
            assert total >= last
            last = total
            hist = sum(v for (n, _), v in got.items() if n == "work_seconds_count")
            assert hist <= 12000
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert _total(mpdir) == 12000
    assert [r for r in caplog.records if r.name == "pyrometer.multiprocess"] == []


def test_scraper_caches_stay_bounded_under_label_churn(mpdir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Series that no file holds any more are eventually forgotten by the scraping process, and totals stay right."""
    monkeypatch.setattr(_mp_read, "SPEC_SLACK", 50)
    for round_ in range(10):
        path = os.path.join(mpdir, str(round_))  # each round a directory of its own: old series vanish
        os.mkdir(path)
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", path)
        cls = values.MultiProcessValue(process_identifier=lambda: "1")
        for i in range(40):
            cls("counter", "churn", "churn_total", ("id",), (f"{round_}-{i}",), "C.").inc(1)
        assert len(scrape(path)) == 40
        values.close_all_multiprocess_files()
        assert len(_mp_read._specs) <= 50 + 4 * 40
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", mpdir)
    c = pyrometer.Counter("churn", "C.", ["id"], registry=None)
    c.labels("last").inc(3)
    assert scrape(mpdir) == {("churn_total", (("id", "last"),)): 3.0}


def test_reusing_a_corrupt_file_starts_afresh(mpdir: str) -> None:
    """A process whose identifier names a corrupt keys file replaces it instead of failing to create metrics."""
    cls = values.MultiProcessValue(process_identifier=lambda: "5")
    cls("counter", "work", "work_total", ("l",), ("a",), "W.").inc(2)
    values.close_all_multiprocess_files()
    with open(os.path.join(mpdir, "w-5.keys"), "ab") as f:
        f.write(b"{garbage}\n")
    cls("counter", "work", "work_total", ("l",), ("a",), "W.").inc(3)
    assert _total(mpdir) == 3

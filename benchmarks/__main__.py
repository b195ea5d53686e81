"""Run every workload on its anchor and on pyrometer, interleaved, and print the ratio.

    python -m benchmarks            # full run
    python -m benchmarks --quick    # under a minute
    python -m benchmarks --json     # machine-readable

The anchor is prometheus_client for the core workloads, and for the middleware
rows the framework's peer exporter (each measured as overhead over a bare app).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import beyond, web
from .workloads import WORKLOADS

SCALE = {"ns": 1e9, "us": 1e6, "us/series": 1e6, "bytes": 1.0, "ms": 1e3}
ANCHOR = "prometheus_client"

# name -> (rows function(size, repeats, target), full size, quick size, target); size = requests per batch
SUITES: Dict[str, Tuple[Callable[[int, int, str], List[Dict[str, Any]]], int, int, str]] = {
    "Flask middleware overhead": (web.flask_rows, 20_000, 2_000, "20 us"),
    "Django middleware overhead": (web.django_rows, 20_000, 2_000, "45 us"),
    "FastAPI middleware overhead": (web.fastapi_rows, 20_000, 2_000, "38 us"),
    # what prometheus_client cannot do; a target ending in "x" bounds the ratio, not the time
    "native Histogram.observe() vs classic": (beyond.native_rows, 200_000, 30_000, "1.5x"),
    "Summary.observe() with 3 quantile objectives": (beyond.summary_quantile_rows, 200_000, 30_000, "-"),
}


def run(quick: bool, repeats: int, only: str = "") -> List[Dict[str, Any]]:
    libs = {name: importlib.import_module(name) for name in (ANCHOR, "pyrometer")}
    rows = []
    for label, (fn, full, small, unit, target) in WORKLOADS.items():
        size = small if quick else full
        if not size or (only and only.lower() not in label.lower()):
            continue
        samples: Dict[str, List[float]] = {name: [] for name in libs}
        exact = True
        # Interleaved repeats, so drift of the machine hits both libraries alike.
        for _ in range(repeats):
            for name, lib in libs.items():
                per, ok = fn(lib, size)
                samples[name].append(per * SCALE[unit])
                exact = exact and ok
        anchor = statistics.median(samples[ANCHOR])
        ours = statistics.median(samples["pyrometer"])
        rows.append({"workload": label, "unit": unit, "anchor": ANCHOR, "anchor_value": anchor, "pyrometer": ours,
                     "ratio": ours / anchor if anchor else None, "target": target, "exact": exact, "size": size,
                     "note": ""})
    for label, (suite, full, small, target) in SUITES.items():
        if only and only.lower() not in label.lower():
            continue
        rows += suite(small if quick else full, repeats, target)
    return rows


def _met(row: Dict[str, Any]) -> str:
    """``yes``/``NO`` against the row's target (same unit as the row, or a ratio like ``1.5x``), ``-`` if none."""
    if str(row["target"]).endswith("x"):
        ratio = row["ratio"]
        return "-" if ratio is None else ("yes" if ratio <= float(row["target"][:-1]) else "NO")
    try:
        target = float(str(row["target"]).split()[0])
    except ValueError:
        return "-"
    if row["pyrometer"] is None:
        return "-"
    return "yes" if row["pyrometer"] <= target else "NO"


def _value(value: Optional[float], unit: str, overhead: bool) -> str:
    if value is None:
        return ""
    return f"{'+' if overhead and value >= 0 else ''}{value:.1f} {unit}"


def _table(rows: List[Dict[str, Any]]) -> str:
    width = max([len("workload")] + [len(r["workload"]) for r in rows])
    head = (f"{'workload':{width}} {'anchor':>14} {'pyrometer':>14} {'ratio':>6}  {'target':>9}  met  exact  "
            "anchor / note")
    lines = [head, "-" * len(head)]
    for r in rows:
        overhead = "bare" in r
        ratio = f"{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
        note = r["anchor"] + (f" ({r['note']})" if r["note"] else "")
        if overhead and r.get("bare") is not None:
            note += f"; bare app {r['bare']:.1f} us/request"
        lines.append(f"{r['workload']:{width}} {_value(r['anchor_value'], r['unit'], overhead):>14} "
                     f"{_value(r['pyrometer'], r['unit'], overhead):>14} {ratio:>6}  <= {r['target']:>6}  "
                     f"{_met(r):>3}  {'yes' if r['exact'] else 'NO':>5}  {note}")
    return "\n".join(lines)


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and 3 repeats: under a minute")
    ap.add_argument("--repeats", type=int, help="interleaved repeats per workload (default 5, quick 3)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--only", default="", help="run workloads whose name contains this text")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    rows = run(args.quick, args.repeats or (3 if args.quick else 5), args.only)
    elapsed = time.perf_counter() - start
    if args.json:
        print(json.dumps({"python": platform.python_version(), "seconds": round(elapsed, 1), "rows": rows},
                         indent=2))
    else:
        print(f"CPython {platform.python_version()} on {platform.machine()}, medians of interleaved repeats; "
              f"middleware rows: extra microseconds per request over a bare app")
        print(_table(rows))
        print(f"({elapsed:.0f} s)")
    return 0 if all(r["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run every workload on prometheus_client and pyrometer, interleaved, and print the ratio.

    python -m benchmarks            # full run
    python -m benchmarks --quick    # under a minute
    python -m benchmarks --json     # machine-readable
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import statistics
import sys
from typing import Any, Dict, List

from .workloads import WORKLOADS

SCALE = {"ns": 1e9, "us": 1e6, "us/series": 1e6, "bytes": 1.0, "ms": 1e3}


def run(quick: bool, repeats: int, only: str = "") -> List[Dict[str, Any]]:
    libs = {name: importlib.import_module(name) for name in ("prometheus_client", "pyrometer")}
    rows = []
    for label, (fn, full, small, unit, target) in WORKLOADS.items():
        if only and only.lower() not in label.lower():
            continue
        size = small if quick else full
        samples: Dict[str, List[float]] = {name: [] for name in libs}
        exact = True
        # Interleaved repeats, so drift of the machine hits both libraries alike.
        for _ in range(repeats):
            for name, lib in libs.items():
                per, ok = fn(lib, size)
                samples[name].append(per * SCALE[unit])
                exact = exact and ok
        anchor = statistics.median(samples["prometheus_client"])
        ours = statistics.median(samples["pyrometer"])
        rows.append({"workload": label, "unit": unit, "prometheus_client": anchor, "pyrometer": ours,
                     "ratio": ours / anchor if anchor else None, "target": target, "exact": exact, "size": size})
    return rows


def _met(row: Dict[str, Any]) -> str:
    """``yes``/``NO`` against the row's absolute target (same unit as the row), ``-`` where there is none."""
    try:
        target = float(str(row["target"]).split()[0])
    except ValueError:
        return "-"
    return "yes" if row["pyrometer"] <= target else "NO"


def _table(rows: List[Dict[str, Any]]) -> str:
    head = (f"{'workload':40} {'prometheus_client':>18} {'pyrometer':>12} {'ratio':>7}  {'target':>10}  met  "
            "exact")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['workload']:40} {r['prometheus_client']:>14.1f} {r['unit']:<3} {r['pyrometer']:>8.1f} "
                     f"{r['unit']:<3} {r['ratio']:>6.2f}x  <= {r['target']:>8}  {_met(r):>3}  "
                     f"{'yes' if r['exact'] else 'NO'}")
    return "\n".join(lines)


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes and 3 repeats: under a minute")
    ap.add_argument("--repeats", type=int, help="interleaved repeats per workload (default 5, quick 3)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--only", default="", help="run workloads whose name contains this text")
    args = ap.parse_args(argv)
    rows = run(args.quick, args.repeats or (3 if args.quick else 5), args.only)
    if args.json:
        print(json.dumps({"python": platform.python_version(), "rows": rows}, indent=2))
    else:
        print(f"CPython {platform.python_version()} on {platform.machine()}, medians of interleaved repeats")
        print(_table(rows))
    return 0 if all(r["exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

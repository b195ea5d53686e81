"""The benchmark runner's quick mode works: every row gets numbers and every checked total is exact.

No timing is asserted: benchmarks report, tests check behaviour.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_mode_produces_a_number_and_an_exact_total_for_every_row():
    """`python -m benchmarks --quick --json` exits 0 with finite numbers and exact=true on each row."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--repeats", "1", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rows = json.loads(proc.stdout)["rows"]
    assert len(rows) >= 10
    for row in rows:
        for lib in ("prometheus_client", "pyrometer"):
            assert isinstance(row[lib], float) and math.isfinite(row[lib]) and row[lib] > 0, row
        assert row["exact"] is True, row

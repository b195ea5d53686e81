"""Where the C accelerator is built, the pure-Python code it replaces still passes the tests that exercise it.

A machine without a C compiler installs pyrometer as pure Python; this keeps that package tested on every run
that has the extension (the suites below run again in a subprocess with ``PYROMETER_NO_EXTENSIONS=1``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyrometer import context_managers

ROOT = Path(__file__).resolve().parents[2]
SUITES = ["tests/core/native", "tests/core/test_multiprocess_native.py", "tests/core/test_speedups.py",
          "tests/core/test_metric_types.py", "tests/core/test_summary_quantiles.py"]


@pytest.mark.skipif(not context_managers.SPEEDUPS, reason="no extension in use: this run is pure Python already")
def test_the_pure_python_twins_pass_the_timer_and_native_histogram_suites() -> None:
    """Timer and the native-histogram states, with the pure-Python Timer and bucket_key."""
    env = dict(os.environ, PYROMETER_NO_EXTENSIONS="1")
    probe = subprocess.run([sys.executable, "-c", "import pyrometer._native_histogram as n, "
                            "pyrometer.context_managers as c; print(c.SPEEDUPS, n.bucket_key is n._py_bucket_key)"],
                           env=env, capture_output=True, text=True, check=True)
    assert probe.stdout.split() == ["False", "True"]
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUITES], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout.splitlines()[-1]

"""The user guide builds, and its examples run.

* ``mkdocs build --strict`` must succeed: broken links, pages missing from the nav and
  docstrings mkdocstrings cannot render fail the suite.
* Every ```python block in ``docs/*.md`` runs, each in a fresh interpreter (so a fresh
  default ``REGISTRY``) and a fresh working directory, and must exit 0. A block that
  cannot run here (it serves forever, needs a framework app, certificates or a remote
  service) is marked by an HTML comment on the line before its fence::

      <!-- no-run: needs certificate files -->
      ```python

  The reason is required. The framework guides in ``docs/integrations/`` show
  fragments of applications and are not run.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import List, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
NO_RUN = re.compile(r"<!--\s*no-run:\s*\S.*-->")
# Frameworks of the optional extras: an example using one is skipped where it is not installed
# (`pip install -e '.[all,dev]'`, what `scripts/dev.py test` installs, has them all).
OPTIONAL = ("flask", "django", "fastapi", "starlette", "aiohttp", "twisted", "werkzeug", "opentelemetry")
IMPORT = re.compile(r"^(?:from|import)\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


class Block(NamedTuple):
    page: str
    line: int  # 1-based line of the code's first line
    code: str
    runnable: bool
    marker: str


def _blocks() -> List[Block]:
    blocks = []
    for page in sorted(DOCS.glob("*.md")):
        lines = page.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            if lines[i].strip() == "```python":
                before = lines[i - 1].strip() if i else ""
                end = i + 1
                while end < len(lines) and lines[end].strip() != "```":
                    end += 1
                code = "\n".join(lines[i + 1:end]) + "\n"
                blocks.append(Block(page.name, i + 2, code, not before.startswith("<!-- no-run"), before))
                i = end
            i += 1
    return blocks


BLOCKS = _blocks()
RUNNABLE = [b for b in BLOCKS if b.runnable]


def _clean_env() -> dict:
    env = dict(os.environ)
    for name in ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir", "PROMETHEUS_DISABLE_CREATED_SERIES",
                 "PROMETHEUS_LEGACY_NAME_VALIDATION"):
        env.pop(name, None)
    return env


def test_mkdocs_build_is_strict_clean(tmp_path):
    """`mkdocs build --strict` exits 0 (no broken link, no page outside the nav, API reference renders)."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]' installs it)")
    env = _clean_env()
    env["NO_MKDOCS_2_WARNING"] = "1"  # mkdocs-material's banner about its successor, not a build problem
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8").count("HttpMetrics") > 0


def test_docs_have_runnable_examples_and_every_skip_gives_a_reason():
    """The convention is used: most blocks run, and each `no-run` marker says why."""
    assert len(RUNNABLE) >= 20, [f"{b.page}:{b.line}" for b in RUNNABLE]
    for b in BLOCKS:
        if not b.runnable:
            assert NO_RUN.fullmatch(b.marker), f"{b.page}:{b.line}: write <!-- no-run: REASON -->, not {b.marker!r}"


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"{b.page}:{b.line}" for b in RUNNABLE])
def test_docs_example_runs(block, tmp_path):
    """The example exits 0 in a fresh interpreter (fresh default registry) and an empty directory."""
    for module in IMPORT.findall(block.code):
        if module in OPTIONAL and importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {module}, an optional extra that is not installed")
    proc = subprocess.run([sys.executable, "-c", block.code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=_clean_env())
    assert proc.returncode == 0, f"docs/{block.page}:{block.line} failed:\n{proc.stderr[-3000:]}"

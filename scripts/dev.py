#!/usr/bin/env python3
"""The two commands a new machine needs: ``demo`` and ``test``.

Each creates ``.venv`` beside the repository on first use, installs pyrometer
with every extra into it, and then runs. Only a Python 3.9+ with ``venv`` is
assumed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".installed"
# mysqlclient ships no Linux wheels: it is built only where its C headers are (.ci/run installs them);
# elsewhere the MySQL tests skip and say what is missing.
MYSQL_DRIVER = "mysqlclient>=2.2.1"


def _mysql_headers() -> bool:
    if shutil.which("mysql_config") or shutil.which("mariadb_config"):
        return True
    if shutil.which("pkg-config") is None:
        return False
    return any(subprocess.call(["pkg-config", "--exists", name]) == 0 for name in ("mysqlclient", "mariadb"))


def ensure_env() -> None:
    """Create the venv and (re)install when pyproject.toml, the C accelerator or its build hook changed."""
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    mysql = _mysql_headers()
    pyproject = (ROOT / "pyproject.toml").read_bytes() + (b"\n# +mysqlclient" if mysql else b"")
    # The C accelerator is compiled at install time: a changed source or build hook needs a reinstall too.
    for built_from in ("hatch_build.py", "core/pyrometer/_speedups.c"):
        pyproject += b"\n# " + hashlib.sha256((ROOT / built_from).read_bytes()).hexdigest().encode()
    if STAMP.exists() and STAMP.read_bytes() == pyproject:
        return
    print("installing pyrometer[all,dev] into .venv", flush=True)
    subprocess.check_call([str(PY), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    subprocess.check_call([str(PY), "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[all,dev]"])
    if mysql:
        subprocess.check_call([str(PY), "-m", "pip", "install", "--quiet", MYSQL_DRIVER])
    STAMP.write_bytes(pyproject)


def main(argv: list) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print("usage: python3 scripts/dev.py demo [PORT] | test [PYTEST ARGS...]", file=sys.stderr)
        return 2
    ensure_env()
    if argv[0] == "demo":
        cmd = [str(PY), str(ROOT / "example_apps" / "demo.py"), *argv[1:]]
    else:
        cmd = [str(PY), "-m", "pytest", *argv[1:]]
    try:
        return subprocess.call(cmd, cwd=ROOT)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

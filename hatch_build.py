"""Hatchling build hook: compile the optional C accelerator ``pyrometer._speedups``.

The extension is optional. Without a compiler, on a compile error, on Windows or
with ``PYROMETER_NO_EXTENSIONS=1`` the build prints one warning line and makes a
pure-Python package; pyrometer then uses its pure-Python Timer.

The shared object is built next to its source (core/pyrometer/), so an editable
install imports it in place; a regular wheel includes it and gets a platform tag.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any, Dict, List, Optional

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("core") / "pyrometer" / "_speedups.c"
WHEEL_PATH = "pyrometer/"


def _warn(message: str) -> None:
    print(f"pyrometer: C speedups not built ({message}); installing the pure-Python version", file=sys.stderr)


def _command(source: Path, output: Path) -> Optional[List[str]]:
    """One compile-and-link command from the interpreter's own build settings, or None without a compiler."""
    config = sysconfig.get_config_vars()
    cc = config.get("CC") or "cc"
    ldshared = os.environ.get("LDSHARED") or config.get("LDSHARED") or f"{cc} -shared"
    # The environment adjusts the interpreter's settings the way distutils did: CC replaces the compiler
    # (also at the head of LDSHARED), CFLAGS adds flags.
    if os.environ.get("CC") and not os.environ.get("LDSHARED") and ldshared.startswith(cc):
        ldshared = os.environ["CC"] + ldshared[len(cc):]
    linker = shlex.split(ldshared)
    if not linker or shutil.which(linker[0]) is None:
        return None
    flags = shlex.split(" ".join([config.get("CFLAGS") or "", config.get("CCSHARED") or "",
                                  os.environ.get("CFLAGS", "")]))
    include = sysconfig.get_paths()["include"]
    return [*linker, *flags, f"-I{include}", str(source), "-o", str(output)]


def build_speedups(root: Path) -> Optional[Path]:
    """Compile the extension in place unless it is up to date; its path, or None (with a warning)."""
    if os.environ.get("PYROMETER_NO_EXTENSIONS", "") not in ("", "0"):
        _warn("PYROMETER_NO_EXTENSIONS is set")
        return None
    if os.name == "nt":
        _warn("not supported on Windows")
        return None
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        # A single-phase module would switch the GIL back on, with a warning, when imported.
        _warn("free-threaded Python")
        return None
    source = root / SOURCE
    output = source.with_name("_speedups" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so"))
    if output.exists() and output.stat().st_mtime >= source.stat().st_mtime:
        return output
    # Compiled under a temporary name, then renamed: an interpreter that already mapped the old file keeps it.
    scratch = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    command = _command(source, scratch)
    if command is None:
        _warn("no C compiler found")
        return None
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            errors = [line for line in lines if "error" in line.lower()]
            _warn(f"compiler failed: {(errors or lines or [f'exit status {done.returncode}'])[0].strip()}")
            return None
        os.replace(scratch, output)
    except OSError as exc:
        _warn(f"{command[0]}: {exc}")
        return None
    finally:
        if scratch.exists():
            scratch.unlink()
    return output


class CustomBuildHook(BuildHookInterface):
    """Builds ``pyrometer._speedups`` for the wheel and editable targets."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: Dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        built = build_speedups(Path(self.root))
        if built is None or version == "editable":
            # Editable installs import the .so from the source tree; nothing to add to the wheel.
            return
        build_data["force_include"][str(built)] = WHEEL_PATH + built.name
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

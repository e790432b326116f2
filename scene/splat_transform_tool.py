"""PlayCanvas's ``splat-transform`` command-line tool (npm ``@playcanvas/splat-transform``), pinned.

Used to write the viewer formats this project does not encode itself (SPZ, SOG, compressed PLY)
and, by the benchmarks and the test fixtures, as the reference decoder of those formats. It is
installed on first use with ``npm install --prefix TOOL_DIR`` (Node.js and npm must be on the
``PATH``; the npm registry must be reachable once). ``TOOL_DIR``: the argument, else the
environment variable ``SPLATPRESS_TOOL_DIR``, else ``$XDG_CACHE_HOME/splatpress/tools``
(``~/.cache/splatpress/tools``).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional, Sequence

logger = logging.getLogger(__name__)

__all__ = ["PACKAGE", "VERSION", "TOOL_SPEC", "ToolUnavailable", "default_tool_dir", "splat_transform_path",
           "run_splat_transform"]

PACKAGE = "@playcanvas/splat-transform"
VERSION = "3.7.0"
TOOL_SPEC = f"{PACKAGE}@{VERSION}"
INSTALL_TIMEOUT_S = 600


class ToolUnavailable(ValueError):
    """splat-transform cannot be found or installed; the message says why and what to do."""


def default_tool_dir() -> str:
    """``$SPLATPRESS_TOOL_DIR``, else ``$XDG_CACHE_HOME/splatpress/tools`` (``~/.cache/...``)."""
    env = os.environ.get("SPLATPRESS_TOOL_DIR")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "splatpress", "tools")


def _installed_version(tool_dir: str) -> Optional[str]:
    try:
        with open(os.path.join(tool_dir, "node_modules", *PACKAGE.split("/"), "package.json")) as fh:
            return json.load(fh).get("version")
    except (OSError, ValueError):
        return None


def splat_transform_path(tool_dir: Optional[str] = None, install: bool = True) -> str:
    """Path of the pinned splat-transform CLI in ``tool_dir`` (default :func:`default_tool_dir`),
    installed there with npm when missing (``install``). :class:`ToolUnavailable` (a ValueError)
    when Node.js / npm are missing or the install fails."""
    tool_dir = os.path.abspath(tool_dir or default_tool_dir())
    exe = os.path.join(tool_dir, "node_modules", ".bin", "splat-transform")
    if shutil.which("node") is None:
        raise ToolUnavailable(f"writing this format needs {TOOL_SPEC}, which runs on Node.js: node is "
                              "not on the PATH; install Node.js (>= 20) and npm, or write .ply instead")
    if os.path.isfile(exe) and _installed_version(tool_dir) == VERSION:
        return exe
    if not install:
        raise ToolUnavailable(f"{TOOL_SPEC} is not installed in {tool_dir}")
    if shutil.which("npm") is None:
        raise ToolUnavailable(f"writing this format needs {TOOL_SPEC} and npm is not on the PATH to "
                              "install it; install Node.js with npm, or write .ply instead")
    os.makedirs(tool_dir, exist_ok=True)
    logger.info("installing %s into %s (once)", TOOL_SPEC, tool_dir)
    try:
        res = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", tool_dir, TOOL_SPEC],
                             capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolUnavailable(f"npm install {TOOL_SPEC} into {tool_dir} failed ({exc}); install it by "
                              "hand there, or write .ply instead") from None
    if res.returncode != 0 or not os.path.isfile(exe):
        last = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ToolUnavailable(f"npm install {TOOL_SPEC} into {tool_dir} failed (exit {res.returncode}: "
                              f"{last[0]}); check the network / npm registry, or write .ply instead")
    return exe


def run_splat_transform(args: Sequence[str], tool_dir: Optional[str] = None,
                        timeout: Optional[float] = None) -> None:
    """Run ``splat-transform -q -w ARGS`` (install it first if needed). A failure (non-zero exit,
    timeout) is a ValueError with the tool's last error line."""
    exe = splat_transform_path(tool_dir)
    cmd = [exe, "-q", "-w", *map(str, args)]
    logger.debug("running %s", " ".join(cmd))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ValueError(f"splat-transform {' '.join(map(str, args))} did not finish in {timeout} s") from None
    except OSError as exc:
        raise ValueError(f"splat-transform could not start ({exc}); reinstall it (remove "
                         f"{Path(exe).parents[2]})") from None
    if res.returncode != 0:
        lines = [ln.strip() for ln in (res.stderr + "\n" + res.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower() or ln.startswith("✗")]
        detail = (errors or lines or ["no output"])[0]
        raise ValueError(f"splat-transform {' '.join(map(str, args))} failed (exit {res.returncode}): {detail}")

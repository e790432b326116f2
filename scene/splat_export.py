"""Write Gaussians (the ``ply_io`` dict) in the formats viewers open.

| ``fmt`` (default: from the file name) | written by | notes |
|---|---|---|
| ``ply`` (``*.ply``) | ``scene.ply_io.write_gaussian_ply`` | INRIA 3DGS layout, float32, lossless |
| ``splat`` (``*.splat``) | ``scene.dot_splat.encode_splat`` | 32 bytes per Gaussian, SH degree 0 only (higher bands dropped, with a warning) |
| ``spz`` (``*.spz``) | splat-transform | SPZ version ``spz_version`` (4: Zstandard streams, default; 3: gzip) |
| ``sog`` (``*.sog``) | splat-transform | PlayCanvas SOG v2 zip; its SH k-means runs on the CPU unless ``sog_gpu`` (slow above ~100k Gaussians with SH) |
| ``compressed_ply`` (``*.compressed.ply``) | splat-transform | SuperSplat compressed PLY |

splat-transform formats go through a temporary INRIA PLY and ``splat-transform -w tmp.ply OUT``
(``scene.splat_transform_tool``; needs Node.js). Every format is written to a temporary file in
the output's folder and renamed over ``path`` at the end, so ``path`` never holds a half-written
file, and holds its old content when anything fails.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Optional

from scene import dot_splat
from scene.ply_io import write_gaussian_ply
from scene.splat_files import format_for_path
from scene.splat_transform_tool import run_splat_transform, splat_transform_path
from utils.files import write_bytes_atomic

logger = logging.getLogger(__name__)

__all__ = ["WRITABLE_FORMATS", "write_splat", "output_format", "check_writable"]

WRITABLE_FORMATS = {"ply": ".ply", "splat": ".splat", "spz": ".spz", "sog": ".sog",
                    "compressed_ply": ".compressed.ply"}
_TOOL_FORMATS = ("spz", "sog", "compressed_ply")


def output_format(path: str | os.PathLike, fmt: Optional[str] = None) -> str:
    """The format to write ``path`` in: ``fmt`` when given, else from the name; ValueError for
    anything that is not one of :data:`WRITABLE_FORMATS`."""
    fmt = fmt or format_for_path(path)
    if fmt not in WRITABLE_FORMATS:
        raise ValueError(f"cannot write {os.fspath(path)!r}: unknown output format "
                         f"{fmt or Path(path).suffix or '(no extension)'}; use one of "
                         f"{', '.join(WRITABLE_FORMATS.values())}")
    return fmt


def check_writable(path: str | os.PathLike, fmt: Optional[str] = None, tool_dir: Optional[str] = None) -> str:
    """The format :func:`write_splat` would write ``path`` in, after checking (cheaply, before any
    heavy work) that it can: a known format, and splat-transform present (installed on first use)
    for the formats it writes. ValueError otherwise."""
    fmt = output_format(path, fmt)
    if fmt in _TOOL_FORMATS:
        splat_transform_path(tool_dir)
    return fmt


def write_splat(arrays: dict, path: str | os.PathLike, fmt: Optional[str] = None, *,
                tool_dir: Optional[str] = None, spz_version: int = 4, sog_gpu: bool = False,
                timeout: Optional[float] = None) -> str:
    """Write ``arrays`` (the ``ply_io`` dict; numpy or torch) to ``path`` in ``fmt`` (see the
    module table; default from the name). Atomic. Returns the format written.

    ``tool_dir``: splat-transform's install folder; ``spz_version``: 3 or 4; ``sog_gpu``: let
    splat-transform use a GPU for SOG; ``timeout``: seconds for the splat-transform run."""
    path = Path(path)
    fmt = output_format(path, fmt)
    if fmt == "ply":
        write_gaussian_ply(path, arrays)
        return fmt
    if spz_version not in (3, 4):
        raise ValueError(f"spz_version must be 3 or 4, got {spz_version!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "splat":
        arrays = {k: (v.detach().cpu().numpy() if hasattr(v, "detach") else v) for k, v in arrays.items()}
        if getattr(arrays["shN"], "shape", (0, 0))[1]:
            logger.warning("%s: .splat holds SH degree 0 only; the %d higher SH coefficients per colour "
                           "are dropped", path, arrays["shN"].shape[1])
        _write_atomic(path, dot_splat.encode_splat(arrays))
        return fmt
    check_writable(path, fmt, tool_dir)
    ext = WRITABLE_FORMATS[fmt]
    with tempfile.TemporaryDirectory(prefix=".splat-export-", dir=path.parent) as work:
        src = os.path.join(work, "input.ply")
        write_gaussian_ply(src, arrays)
        tmp_out = os.path.join(work, "output" + ext)  # same folder as path: os.replace is atomic
        extra = []
        if fmt == "spz":
            extra = ["--spz-version", str(spz_version)]
        elif fmt == "sog" and not sog_gpu:
            extra = ["-g", "cpu"]
        run_splat_transform([*extra, src, tmp_out], tool_dir=tool_dir, timeout=timeout)
        if not os.path.isfile(tmp_out) or os.path.getsize(tmp_out) == 0:
            raise ValueError(f"splat-transform wrote no {ext} file for {path}")
        os.replace(tmp_out, path)
    logger.debug("wrote %s (%s, %d bytes)", path, fmt, path.stat().st_size)
    return fmt


def _write_atomic(path: Path, data: bytes) -> None:
    write_bytes_atomic(path, data)

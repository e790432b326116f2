"""Read every common Gaussian-splat file into the ``scene.ply_io`` arrays.

:func:`read_splat` returns exactly what :func:`scene.ply_io.read_gaussian_ply` returns — float32
``means [N,3]``, ``quats [N,4]`` (raw w x y z), ``scales [N,3]`` (log), ``opacities [N]`` (logit),
``sh0 [N,1,3]``, ``shN [N,K−1,3]`` (coefficient-major) — so that
``GaussianModel.from_arrays(read_splat(p))`` works whatever the file.

| format (``detect_format``) | recognised by | decoder | SH |
|---|---|---|---|
| ``ply`` | ``ply`` magic, INRIA 3DGS properties (any order) | ``scene.ply_io`` | 0–3 |
| ``compressed_ply`` | ``ply`` magic, ``chunk`` element / ``packed_*`` properties | ``scene.compressed_ply`` | 0–3 |
| ``spz`` | gzip magic holding ``NGSP`` (v2, v3), or ``NGSP`` (v4) | ``scene.spz_format`` | 0–3 |
| ``sog`` | zip magic (``PK``), ``meta.json`` inside | ``scene.sog_format`` | 0–3 |
| ``sog_meta`` | a ``meta.json`` (or a folder holding one) with the WebP textures beside it | ``scene.sog_format`` | 0–3 |
| ``splat`` | extension ``.splat`` (the format has no magic), size a multiple of 32 | ``scene.dot_splat`` | 0 |

Magic bytes decide first, the extension second. Every problem is one ``ValueError`` naming the
file, what is wrong and what to do (``FileNotFoundError`` when nothing is there): an empty file, an
unknown format (or a compressed bundle of this project: decode it with ``decompress.py``), a
truncated SPZ / SOG / .splat, a PLY without Gaussian properties. Values are checked as the PLY
reader checks them (``ply_io.finalize_gaussians``): ±inf logit opacities (8-bit α = 0 or 1) are
clamped to ±20 with a warning; NaN anywhere and ±inf elsewhere are an error, or dropped with
``sanitize=True``. :func:`check_splat_file` is the cheap check (header only) before heavy work.
"""
from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scene import compressed_ply, dot_splat, sog_format, spz_format
from scene.ply_header import read_ply_header
from scene.ply_io import check_gaussian_ply, finalize_gaussians, read_gaussian_ply

logger = logging.getLogger(__name__)

__all__ = ["FORMATS", "SplatInfo", "detect_format", "check_splat_file", "read_splat", "format_for_path"]

FORMATS = ("ply", "compressed_ply", "spz", "sog", "sog_meta", "splat")
#: file name endings → format (longest first, so ``.compressed.ply`` wins over ``.ply``)
EXTENSIONS = ((".compressed.ply", "compressed_ply"), (".ply", "ply"), (".spz", "spz"), (".sog", "sog"),
              (".splat", "splat"), (".json", "sog_meta"))
_ZIP_MAGIC = b"PK\x03\x04"
_BUNDLE_FIRST_MEMBER = b"manifest.json"
_WHAT = ("a Gaussian splat file: INRIA 3DGS .ply, SuperSplat .compressed.ply, Niantic .spz, PlayCanvas "
         ".sog (or its meta.json), antimatter15 .splat")


@dataclass(frozen=True)
class SplatInfo:
    """What a cheap look at a splat file says: its format, Gaussian count and SH degree."""

    format: str
    n_gaussians: int
    sh_degree: int


def format_for_path(path: str | os.PathLike) -> str | None:
    """The format a file name's ending stands for (``None`` for an unknown ending)."""
    name = os.path.basename(os.fspath(path)).lower()
    return next((fmt for ext, fmt in EXTENSIONS if name.endswith(ext)), None)


def _existing(path) -> Path:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; pass {_WHAT}")
    return path


def detect_format(path: str | os.PathLike) -> str:
    """The format of the splat file ``path`` (one of :data:`FORMATS`), by magic bytes first and
    the extension second. ``FileNotFoundError`` when absent; ``ValueError`` naming the file for an
    empty file, a folder without ``meta.json`` or an unknown format."""
    path = _existing(path)
    if path.is_dir():
        if (path / sog_format.SOG_META).is_file():
            return "sog_meta"
        raise ValueError(f"{path} is a folder without {sog_format.SOG_META}; pass {_WHAT}")
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path}: empty file (0 bytes); copy or export the splat again")
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    by_name = format_for_path(path)
    if head.startswith(b"ply\n") or head.startswith(b"ply\r\n"):
        header = read_ply_header(path)
        return "compressed_ply" if compressed_ply.looks_compressed(list(header.elements)) else "ply"
    if head[:2] == spz_format.GZIP_MAGIC:
        try:
            inner = spz_format.gunzip_prefix(head, path, 4)
        except ValueError:
            inner = b""
        if inner[:4] == b"NGSP" or by_name == "spz":
            return "spz"  # a truncated one is reported by the reader
    if head[:4] == b"NGSP":
        return "spz"
    if head[:4] == _ZIP_MAGIC:
        if head[30:30 + len(_BUNDLE_FIRST_MEMBER)] == _BUNDLE_FIRST_MEMBER:
            raise ValueError(f"{path} is a compressed bundle of this project, not a splat file; decode "
                             "it first: python decompress.py BUNDLE -o out.ply")
        return "sog"
    if head.lstrip()[:1] == b"{" and by_name == "sog_meta":
        return "sog_meta"
    if by_name == "splat":
        return "splat"
    if by_name is not None:
        raise ValueError(f"{path}: the name says {by_name} but the content does not (it starts with "
                         f"{head[:8]!r}); the file is damaged or misnamed")
    raise ValueError(f"{path}: unknown file format (starts with {head[:8]!r}); pass {_WHAT}")


def _spz_info(path: Path) -> SplatInfo:
    with open(path, "rb") as fh:
        data = fh.read(1 << 16)
    header = spz_format.read_spz_header(data, path)
    if header.version >= 4:  # the table of contents says how long the file must be
        sizes = header.block_sizes()
        toc_end = header.toc_offset + 16 * len(sizes)
        need = toc_end
        if len(data) >= toc_end:
            need += sum(struct.unpack_from("<Q", data, header.toc_offset + 16 * i)[0] for i in range(len(sizes)))
        size = path.stat().st_size
        if size < need:
            raise ValueError(f"{path}: truncated SPZ file: {size} bytes, its table of contents needs "
                             f"{need}; copy or export the file again")
    return SplatInfo("spz", header.n_gaussians, header.sh_degree)


def check_splat_file(path: str | os.PathLike) -> SplatInfo:
    """Cheap check that ``path`` is a splat file :func:`read_splat` can load: exists, non-empty,
    known format, a readable header (PLY header, SPZ header, SOG ``meta.json`` and the textures it
    names, a .splat size that is a multiple of 32), at least one Gaussian. Decodes no Gaussian."""
    fmt = detect_format(path)
    path = Path(path)
    if fmt in ("ply", "compressed_ply"):
        info = check_gaussian_ply(path)
        return SplatInfo(fmt, info.n_gaussians, info.sh_degree)
    if fmt == "spz":
        return _spz_info(path)
    if fmt in ("sog", "sog_meta"):
        sog = sog_format.open_sog(path)
        missing = sog.missing_textures()
        if missing:
            raise ValueError(f"{path}: the SOG textures {missing} named in meta.json are missing; "
                             "copy the whole SOG file or folder")
        return SplatInfo(fmt, sog.n_gaussians, sog.sh_degree)
    size = path.stat().st_size
    if size % dot_splat.RECORD_BYTES:
        raise ValueError(f"{path}: truncated .splat file: {size} bytes is not a multiple of the "
                         f"{dot_splat.RECORD_BYTES}-byte record; copy or export the file again")
    return SplatInfo(fmt, size // dot_splat.RECORD_BYTES, 0)


def read_splat(path: str | os.PathLike, sanitize: bool = False) -> dict[str, np.ndarray]:
    """Read any supported splat file (see the module table) into the ``ply_io`` dict of float32
    arrays. ``sanitize`` drops rows with NaN/Inf values instead of refusing the file."""
    fmt = detect_format(path)
    path = Path(path)
    if fmt in ("ply", "compressed_ply"):
        return read_gaussian_ply(path, sanitize=sanitize)
    if fmt == "spz":
        out = spz_format.decode_spz(path.read_bytes(), path)
    elif fmt in ("sog", "sog_meta"):
        out = sog_format.decode_sog(sog_format.open_sog(path))
    else:
        out = dot_splat.decode_splat(path.read_bytes(), path)
    out = finalize_gaussians(out, path, sanitize)
    logger.debug("%s: read %d Gaussians (%s), SH degree %d", path, len(out["opacities"]), fmt,
                 {0: 0, 3: 1, 8: 2, 15: 3}[out["shN"].shape[1]])
    return out

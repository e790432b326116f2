"""Decode PlayCanvas SOG (version 2) into the ``ply_io`` arrays: the zipped ``*.sog`` bundle, or an
unzipped folder whose ``meta.json`` sits beside its WebP textures.

``meta.json`` (``version`` 2, ``count`` N) names lossless WebP textures (RGBA, 8 bits per channel);
Gaussian i is the texel i in row-major order (textures can hold more texels than N).

| meta key | texture(s) | decoding of texel i (u = byte value) |
|---|---|---|
| ``means`` {``mins``, ``maxs``} [3] | ``means_l``, ``means_u`` | v = l + 256·u per R, G, B (x, y, z); n = min + (max − min)·v / 65535; ``means = sign(n)·(exp|n| − 1)`` (inverse of sign(x)·log(1 + |x|)) |
| ``quats`` | ``quats`` | A = 252 + L, L = index of the largest of (w, x, y, z); R, G, B: the other three in index order, each (u / 255·2 − 1)/√2; the largest √max(0, 1 − Σ); A outside 252–255 decodes as the identity |
| ``scales`` {``codebook`` [256]} | ``scales`` | ``scales (log) = codebook[R], codebook[G], codebook[B]`` |
| ``sh0`` {``codebook`` [256]} | ``sh0`` | ``sh0 = codebook[R], codebook[G], codebook[B]``; ``opacities = logit(A / 255)`` (A = 255 gives +inf: clamped to +20 by the reader) |
| ``shN`` {``count`` P, ``bands`` d, ``codebook`` [256]} (optional) | ``centroids`` (width 64·K, K = (d+1)² − 1), ``labels`` | label = R + 256·G of ``labels``; palette entry ``label`` is row label // 64, columns (label mod 64)·K + j for coefficient j; ``shN[i, j, c] = codebook[centroid texel (R, G, B)[c]]``; a label ≥ P gives zeros |

The legacy SOG version 1 (no ``version`` key) is not read (convert it with splat-transform).
"""
from __future__ import annotations

import io
import json
import logging
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["SOG_META", "SogInfo", "open_sog", "decode_sog"]

SOG_META = "meta.json"
_SH_COEFFS = (0, 3, 8, 15)


class SogInfo:
    """What ``meta.json`` says: count, SH degree, and a loader of the named texture files."""

    def __init__(self, meta: dict, load: Callable[[str], bytes], path, has: Callable[[str], bool]):
        self.meta = meta
        self.has = has
        self.load = load
        self.path = path
        self.n_gaussians = int(meta["count"])
        sh_n = meta.get("shN")
        self.sh_degree = int(sh_n.get("bands", 0)) if isinstance(sh_n, dict) else 0

    def texture_names(self) -> list[str]:
        """The files ``meta.json`` names (the SH ones only when SH bands are present)."""
        keys = ("means", "quats", "scales", "sh0") + (("shN",) if self.sh_degree else ())
        return [f for key in keys for f in self.meta[key]["files"][: 2 if key in ("means", "shN") else 1]]

    def missing_textures(self) -> list[str]:
        return [name for name in self.texture_names() if not self.has(name)]


def _require(cond: bool, path, what: str) -> None:
    if not cond:
        raise ValueError(f"{path}: not a valid SOG file: {what}; re-export it (e.g. with splat-transform)")


def _check_meta(meta, path) -> None:
    _require(isinstance(meta, dict), path, "meta.json is not a JSON object")
    if "version" not in meta:
        raise ValueError(f"{path}: legacy SOG version 1 (meta.json without 'version') is not supported; "
                         "convert it to version 2 with splat-transform (splat-transform IN OUT.sog)")
    if meta["version"] != 2:
        raise ValueError(f"{path}: SOG version {meta['version']!r} is not supported (version 2 is); "
                         "update this reader or convert the file with splat-transform")
    count = meta.get("count")
    _require(isinstance(count, int) and not isinstance(count, bool) and count >= 0, path,
             f"'count' is {count!r}")
    if count == 0:
        raise ValueError(f"{path}: the SOG file holds zero Gaussians; nothing to load")
    for key, n_files in (("means", 2), ("quats", 1), ("scales", 1), ("sh0", 1)):
        entry = meta.get(key)
        _require(isinstance(entry, dict) and isinstance(entry.get("files"), list)
                 and len(entry["files"]) >= n_files, path, f"meta.json lacks '{key}' with {n_files} file(s)")
    for key in ("mins", "maxs"):
        v = meta["means"].get(key)
        _require(isinstance(v, list) and len(v) == 3, path, f"means.{key} must be 3 numbers")
    for key in ("scales", "sh0"):
        cb = meta[key].get("codebook")
        _require(isinstance(cb, list) and len(cb) == 256, path, f"{key}.codebook must hold 256 values")
    sh_n = meta.get("shN")
    if sh_n is not None:
        _require(isinstance(sh_n, dict) and sh_n.get("bands") in (0, 1, 2, 3)
                 and isinstance(sh_n.get("codebook"), list) and len(sh_n["codebook"]) == 256
                 and isinstance(sh_n.get("files"), list) and len(sh_n["files"]) >= 2
                 and isinstance(sh_n.get("count"), int), path,
                 "shN must have bands 0–3, count, a 256-value codebook and 2 files")


def open_sog(path) -> SogInfo:
    """Parse ``meta.json`` of a zipped ``.sog``, a ``meta.json`` path or a folder holding one
    (cheap: no texture is decoded). ValueError naming the file for anything unreadable."""
    path = Path(path)
    if path.is_dir():
        path = path / SOG_META
    if path.suffix.lower() == ".json":
        base = path.parent
        try:
            meta_raw = path.read_bytes()
        except OSError as exc:
            raise ValueError(f"{path}: cannot read the SOG meta.json ({exc})") from None

        def has(name: str) -> bool:
            return (base / name).is_file()

        def load(name: str) -> bytes:
            fp = base / name
            try:
                return fp.read_bytes()
            except OSError:
                raise ValueError(f"{path}: the texture {name!r} named in meta.json is missing from "
                                 f"{base}; copy the whole SOG folder") from None
    else:
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
                # a SOG zip may keep its files in one folder: meta.json anywhere, textures beside it
                metas = sorted((n for n in names if n == SOG_META or n.endswith("/" + SOG_META)), key=len)
                if not metas:
                    raise ValueError(f"{path}: a zip without {SOG_META}: not a SOG file (members: "
                                     f"{sorted(names)[:8]})")
                meta_raw = zf.read(metas[0])
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise ValueError(f"{path}: truncated or corrupted SOG file (the zip does not read: {exc}); "
                             "copy or export the file again") from None
        prefix = metas[0][: -len(SOG_META)]

        def has(name: str) -> bool:
            return prefix + name in names

        def load(name: str) -> bytes:
            if prefix + name not in names:
                raise ValueError(f"{path}: the texture {name!r} named in meta.json is missing from "
                                 "the zip; copy or export the file again")
            try:
                with zipfile.ZipFile(path) as zf:
                    return zf.read(prefix + name)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise ValueError(f"{path}: truncated or corrupted SOG file (member {name!r} does not "
                                 f"read: {exc}); copy or export the file again") from None
    try:
        meta = json.loads(meta_raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: the SOG meta.json is not valid JSON ({exc}); copy or export the "
                         "file again") from None
    _check_meta(meta, path)
    return SogInfo(meta, load, path, has)


def _texels(info: SogInfo, name: str, count: int) -> np.ndarray:
    """[count, 4] uint8 RGBA of the first ``count`` texels of WebP ``name``."""
    from PIL import Image, UnidentifiedImageError

    data = info.load(name)
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ValueError(f"{info.path}: the SOG texture {name!r} does not decode as WebP ({exc}); "
                         "copy or export the file again") from None
    flat = rgba.reshape(-1, 4)
    if flat.shape[0] < count:
        raise ValueError(f"{info.path}: the SOG texture {name!r} has {flat.shape[0]} texels, "
                         f"meta.json's count needs {count}; corrupted file")
    return flat[:count]


def _codebook(values: list, where: str, path) -> np.ndarray:
    """float64 [256]; JSON nulls (non-finite values the writer could not store) become NaN."""
    try:
        return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{path}: not a valid SOG file: {where} holds a non-number") from None


def _quats(t: np.ndarray) -> np.ndarray:
    tag = t[:, 3].astype(np.int64)
    valid = (tag >= 252) & (tag <= 255)
    largest = np.where(valid, tag - 252, 0)
    abc = (t[:, :3].astype(np.float64) / 255.0 * 2.0 - 1.0) / np.sqrt(2.0)
    n = t.shape[0]
    q = np.zeros((n, 4), np.float64)
    others = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[largest]  # [N, 3]
    rows = np.arange(n)[:, None]
    q[rows, others] = abc
    q[np.arange(n), largest] = np.sqrt(np.maximum(0.0, 1.0 - (abc * abc).sum(axis=1)))
    q[~valid] = (1.0, 0.0, 0.0, 0.0)
    return q


def decode_sog(info: SogInfo) -> dict[str, np.ndarray]:
    """The ``ply_io`` dict (float32; opacities may hold ±inf for α = 0 / 1) of an opened SOG."""
    meta, n, path = info.meta, info.n_gaussians, info.path
    lo = _texels(info, meta["means"]["files"][0], n)[:, :3].astype(np.int64)
    hi = _texels(info, meta["means"]["files"][1], n)[:, :3].astype(np.int64)
    mins = np.asarray(meta["means"]["mins"], dtype=np.float64)
    span = np.asarray(meta["means"]["maxs"], dtype=np.float64) - mins
    span = np.where(span == 0, 1.0, span)
    logv = mins + span * ((lo | (hi << 8)) / 65535.0)
    means = np.sign(logv) * np.expm1(np.abs(logv))

    quats = _quats(_texels(info, meta["quats"]["files"][0], n))
    scales = _codebook(meta["scales"]["codebook"], "scales.codebook", path)[
        _texels(info, meta["scales"]["files"][0], n)[:, :3]]
    c0 = _texels(info, meta["sh0"]["files"][0], n)
    sh0 = _codebook(meta["sh0"]["codebook"], "sh0.codebook", path)[c0[:, :3]].reshape(n, 1, 3)
    with np.errstate(divide="ignore"):
        a = c0[:, 3].astype(np.float64) / 255.0
        opacities = np.log(a) - np.log1p(-a)

    sh_n = np.zeros((n, 0, 3))
    meta_n = meta.get("shN")
    if info.sh_degree > 0:
        k = _SH_COEFFS[info.sh_degree]
        codebook = _codebook(meta_n["codebook"], "shN.codebook", path)
        cen_name, lab_name = meta_n["files"][0], meta_n["files"][1]
        labels_t = _texels(info, lab_name, n)
        labels = labels_t[:, 0].astype(np.int64) | (labels_t[:, 1].astype(np.int64) << 8)
        from PIL import Image  # the palette texture is read whole (its size is not N)

        try:
            with Image.open(io.BytesIO(info.load(cen_name))) as im:
                im.load()
                centroids = np.asarray(im.convert("RGBA"), dtype=np.uint8)
        except (OSError, ValueError, SyntaxError) as exc:
            raise ValueError(f"{path}: the SOG texture {cen_name!r} does not decode as WebP ({exc}); "
                             "copy or export the file again") from None
        height, width = centroids.shape[:2]
        if width != 64 * k:
            raise ValueError(f"{path}: not a valid SOG file: the shN centroids texture is {width} "
                             f"texels wide, {info.sh_degree} SH bands need {64 * k}")
        palette = int(meta_n["count"])
        cy = labels // 64
        cx = (labels % 64)[:, None] * k + np.arange(k)[None, :]  # [N, K]
        ok = (labels < palette) & (cy < height)
        texel = centroids[np.where(ok, cy, 0)[:, None], cx]  # [N, K, 4]
        sh_n = codebook[texel[..., :3]]  # [N, K, 3]
        sh_n[~ok] = 0.0
    model = meta.get("model", "default")
    if model not in (None, "default"):
        logger.info("%s: SOG splat model %r (rendered here as a standard 3DGS)", path, model)
    return {"means": means, "quats": quats, "scales": scales, "opacities": opacities, "sh0": sh0,
            "shN": sh_n}


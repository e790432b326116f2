"""A test-only encoder of SuperSplat / PlayCanvas compressed PLY, written from the format's description
(PlayCanvas splat-transform, ``write-compressed-ply.ts``), independent of ``scene/compressed_ply.py``.

Per chunk of 256 Gaussians: min/max of position, log scale (clamped to [-20, 20]) and colour
c = f_dc·C0 + 0.5; each value is normalised to [0, 1] in its chunk range and rounded to
round(u·(2^bits − 1)); rotations are "smallest three" (2-bit index of the largest |component| of the
unit quaternion made positive, then the other three as u = q·(1/√2) + 0.5 on 10 bits); opacity is
sigmoid(logit) on 8 bits; SH are trunc((v/8 + 0.5)·256) clamped to 0..255.
"""

from __future__ import annotations

import math

import numpy as np

C0 = 0.28209479177387814
CHUNK = 256


def _normalise(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    span = hi - lo
    u = np.where(span < 1e-5, 0.0, (x - lo) / np.where(span < 1e-5, 1.0, span))
    return np.where(x <= lo, 0.0, np.where(x >= hi, 1.0, u))


def _unorm(u: np.ndarray, bits: int) -> np.ndarray:
    top = (1 << bits) - 1
    return np.clip(np.floor(u * top + 0.5), 0, top).astype(np.uint64)


def _pack_11_10_11(u: np.ndarray) -> np.ndarray:
    return (_unorm(u[:, 0], 11) << 21) | (_unorm(u[:, 1], 10) << 11) | _unorm(u[:, 2], 11)


def _pack_rotation(quats: np.ndarray) -> np.ndarray:
    q = quats / np.linalg.norm(quats, axis=1, keepdims=True)
    largest = np.argmax(np.abs(q), axis=1)  # first of equal magnitudes, as the reference
    q = np.where(q[np.arange(len(q)), largest][:, None] < 0, -q, q)
    codes = largest.astype(np.uint64)
    for i in range(4):  # the three others in index order, 10 bits each
        keep = largest != i
        small = _unorm(q[:, i] * math.sqrt(0.5) + 0.5, 10)
        codes = np.where(keep, (codes << np.uint64(10)) | small, codes)
    return codes


def encode(arrays: dict, chunk_colors: bool = True) -> dict:
    """Gaussian arrays (the ``ply_io`` dict) → ``{"chunk", "vertex", "sh"}`` structured arrays
    (``"sh"`` is None at SH degree 0) and the per-Gaussian quantisation ranges used."""
    means = np.asarray(arrays["means"], np.float64)
    n = len(means)
    scales = np.asarray(arrays["scales"], np.float64)
    colors = np.asarray(arrays["sh0"], np.float64).reshape(n, 3) * C0 + 0.5
    alpha = 1.0 / (1.0 + np.exp(-np.asarray(arrays["opacities"], np.float64)))
    n_chunks = math.ceil(n / CHUNK)
    names = ["min_x", "min_y", "min_z", "max_x", "max_y", "max_z",
             "min_scale_x", "min_scale_y", "min_scale_z", "max_scale_x", "max_scale_y", "max_scale_z"]
    if chunk_colors:
        names += ["min_r", "min_g", "min_b", "max_r", "max_g", "max_b"]
    chunk = np.zeros(n_chunks, dtype=[(name, "<f4") for name in names])
    ranges = {key: np.zeros((n, 2, 3)) for key in ("means", "scales", "colors")}
    u_pos, u_scale, u_col = np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 3))
    for c in range(n_chunks):
        rows = slice(c * CHUNK, min(n, (c + 1) * CHUNK))
        p_lo, p_hi = means[rows].min(0), means[rows].max(0)
        s_lo = np.clip(scales[rows].min(0), -20, 20)
        s_hi = np.clip(scales[rows].max(0), -20, 20)
        c_lo, c_hi = colors[rows].min(0), colors[rows].max(0)
        # the file stores float32: quantise against the stored bounds
        p_lo, p_hi, s_lo, s_hi, c_lo, c_hi = (v.astype(np.float32).astype(np.float64)
                                              for v in (p_lo, p_hi, s_lo, s_hi, c_lo, c_hi))
        values = list(p_lo) + list(p_hi) + list(s_lo) + list(s_hi)
        if chunk_colors:
            values += list(c_lo) + list(c_hi)
        chunk[c] = tuple(values)
        u_pos[rows] = _normalise(means[rows], p_lo, p_hi)
        u_scale[rows] = _normalise(scales[rows], s_lo, s_hi)
        u_col[rows] = _normalise(colors[rows], c_lo, c_hi) if chunk_colors else np.clip(colors[rows], 0, 1)
        ranges["means"][rows] = np.stack([p_lo, p_hi])
        ranges["scales"][rows] = np.stack([s_lo, s_hi])
        ranges["colors"][rows] = np.stack([c_lo, c_hi]) if chunk_colors else np.array([[0.0] * 3, [1.0] * 3])
    vertex = np.zeros(n, dtype=[(name, "<u4") for name in
                                ("packed_position", "packed_rotation", "packed_scale", "packed_color")])
    vertex["packed_position"] = _pack_11_10_11(u_pos)
    vertex["packed_scale"] = _pack_11_10_11(u_scale)
    vertex["packed_rotation"] = _pack_rotation(np.asarray(arrays["quats"], np.float64))
    vertex["packed_color"] = ((_unorm(u_col[:, 0], 8) << 24) | (_unorm(u_col[:, 1], 8) << 16)
                              | (_unorm(u_col[:, 2], 8) << 8) | _unorm(alpha, 8))
    shn = np.asarray(arrays["shN"], np.float64)
    sh = None
    if shn.shape[1]:
        rest = shn.transpose(0, 2, 1).reshape(n, -1)  # channel-major, as f_rest in INRIA files
        sh = np.zeros(n, dtype=[(f"f_rest_{i}", "u1") for i in range(rest.shape[1])])
        codes = np.clip(np.trunc((rest / 8.0 + 0.5) * 256.0), 0, 255).astype(np.uint8)
        for i in range(rest.shape[1]):
            sh[f"f_rest_{i}"] = codes[:, i]
    return {"chunk": chunk, "vertex": vertex, "sh": sh, "ranges": ranges}


def write_compressed_ply(path, arrays: dict | None = None, chunk_colors: bool = True,
                         elements: dict | None = None) -> dict:
    """Write a compressed PLY (chunk, vertex[, sh]) of ``arrays``, or of ready ``elements``."""
    from plyfile import PlyData, PlyElement

    enc = elements if elements is not None else encode(arrays, chunk_colors)
    els = [PlyElement.describe(enc["chunk"], "chunk"), PlyElement.describe(enc["vertex"], "vertex")]
    if enc.get("sh") is not None:
        els.append(PlyElement.describe(enc["sh"], "sh"))
    PlyData(els, byte_order="<").write(str(path))
    return enc

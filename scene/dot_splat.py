"""The antimatter15 ``.splat`` format (WebGL splat viewer): a header-less array of 32-byte records.

| bytes | type | field | to / from the ``ply_io`` arrays |
|---|---|---|---|
| 0–11 | float32 × 3 | position | ``means`` |
| 12–23 | float32 × 3 | scale, **linear** | ``scales = log(s)``; written ``exp(scales)`` |
| 24–26 | uint8 × 3 | colour | ``sh0 = (u / 255 − 0.5) / SH_C0``; written ``round(255·(0.5 + SH_C0·sh0))`` |
| 27 | uint8 | alpha | ``opacities = logit(u / 255)`` (u = 255 gives +inf: clamped to +20 by the reader); written ``round(255·sigmoid(opacity))`` |
| 28–31 | uint8 × 4 | rotation w x y z | ``quats = (u − 128) / 128``; written ``round(128·q/|q| + 128)`` clipped to 0–255 |

Little endian; N = file size / 32. There are no SH bands above 0 (``shN`` is [N, 0, 3]). The
writer keeps the Gaussians' order (antimatter15's converter sorts by size × opacity; viewers
sort for rendering anyway).
"""
from __future__ import annotations

import numpy as np

from utils.sh import SH_C0

__all__ = ["RECORD_BYTES", "SPLAT_DTYPE", "decode_splat", "encode_splat"]

RECORD_BYTES = 32
SPLAT_DTYPE = np.dtype([("position", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rot", "u1", 4)])
assert SPLAT_DTYPE.itemsize == RECORD_BYTES


def decode_splat(data: bytes, path) -> dict[str, np.ndarray]:
    """The ``ply_io`` dict (float32; ±inf opacities and non-finite log scales left for the caller)."""
    if len(data) == 0:
        raise ValueError(f"{path}: empty .splat file; nothing to load")
    if len(data) % RECORD_BYTES:
        raise ValueError(f"{path}: truncated .splat file: {len(data)} bytes is not a multiple of the "
                         f"{RECORD_BYTES}-byte record; copy or export the file again")
    rec = np.frombuffer(data, SPLAT_DTYPE)
    n = rec.shape[0]
    rgba = rec["rgba"].astype(np.float64) / 255.0
    with np.errstate(divide="ignore", invalid="ignore"):
        scales = np.log(rec["scale"].astype(np.float64))
        opacities = np.log(rgba[:, 3]) - np.log1p(-rgba[:, 3])
    return {
        "means": rec["position"].astype(np.float32),
        "quats": (rec["rot"].astype(np.float64) - 128.0) / 128.0,
        "scales": scales,
        "opacities": opacities,
        "sh0": ((rgba[:, :3] - 0.5) / SH_C0).reshape(n, 1, 3),
        "shN": np.zeros((n, 0, 3)),
    }


def encode_splat(arrays: dict) -> bytes:
    """The bytes of a ``.splat`` file of ``arrays`` (the ``ply_io`` dict; SH bands above 0 are dropped)."""
    means = np.asarray(arrays["means"], np.float64)
    n = means.shape[0]
    rec = np.zeros(n, SPLAT_DTYPE)
    rec["position"] = means
    rec["scale"] = np.exp(np.asarray(arrays["scales"], np.float64))
    sh0 = np.asarray(arrays["sh0"], np.float64).reshape(n, 3)
    opacity = np.asarray(arrays["opacities"], np.float64).reshape(n)
    with np.errstate(over="ignore"):
        alpha = 1.0 / (1.0 + np.exp(-opacity))
    rgba = np.concatenate([0.5 + SH_C0 * sh0, alpha[:, None]], axis=1)
    rec["rgba"] = np.clip(np.rint(rgba * 255.0), 0, 255).astype(np.uint8)
    q = np.asarray(arrays["quats"], np.float64).reshape(n, 4)
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    q = np.where(norm > 0, q / np.where(norm > 0, norm, 1.0), np.array([1.0, 0.0, 0.0, 0.0]))
    rec["rot"] = np.clip(np.rint(q * 128.0 + 128.0), 0, 255).astype(np.uint8)
    return rec.tobytes()

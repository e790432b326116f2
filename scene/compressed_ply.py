"""Decode SuperSplat / PlayCanvas compressed PLY (``*.compressed.ply``) into the ``ply_io`` arrays.

The layout, as PlayCanvas's splat-transform writes and reads it (``write-compressed-ply.ts``,
``decompress-ply.ts``); Gaussians come in chunks of 256 (chunk ``i // 256`` holds Gaussian i):

| element | properties | meaning |
|---|---|---|
| ``chunk`` [ceil(N/256)] | float ``min_x min_y min_z max_x max_y max_z`` | position range of the chunk |
| | float ``min_scale_x..z max_scale_x..z`` | log-scale range |
| | float ``min_r min_g min_b max_r max_g max_b`` (optional; older files lack them) | colour range |
| ``vertex`` [N] | uint ``packed_position`` | x 11 bits (31..21), y 10 bits (20..11), z 11 bits (10..0) |
| | uint ``packed_rotation`` | 2 bits (31..30): index of the largest of rot_0..rot_3, then the other three in order, 10 bits each |
| | uint ``packed_scale`` | 11-10-11 bits as ``packed_position`` |
| | uint ``packed_color`` | r g b opacity, 8 bits each from bit 31 down |
| ``sh`` [N] (optional) | uchar ``f_rest_0..`` (9, 24 or 45, channel-major as INRIA) | SH bands 1..d |

Decoding (u = code / (2^bits − 1), ``lerp(a, b, u) = a·(1 − u) + b·u``):
- position and log scale: ``lerp(chunk min, chunk max, u)``;
- rotation: the three small components are ``(u − 0.5)·√2`` (the range [−1/√2, 1/√2]), the largest
  is ``√max(0, 1 − a² − b² − c²)`` (the writer makes it positive);
- colour: ``c = lerp(min, max, u)`` (or ``u`` without the chunk colours), ``f_dc = (c − 0.5) / C0``;
- opacity: ``α = u``, logit ``−log(1/α − 1)``: α = 1 gives +inf and α = 0 gives −inf, which the
  PLY reader clamps (``ply_io``);
- SH: v = 0 → n = 0, v = 255 → n = 1, else n = (v + 0.5)/256; ``f_rest = (n − 0.5)·8``.
"""

from __future__ import annotations

import math
import os

import numpy as np

from scene.ply_header import PlyElementInfo
from utils.sh import SH_C0

CHUNK_SIZE = 256
CHUNK_POSITION = ("min_x", "min_y", "min_z", "max_x", "max_y", "max_z")
CHUNK_SCALE = ("min_scale_x", "min_scale_y", "min_scale_z",
               "max_scale_x", "max_scale_y", "max_scale_z")
CHUNK_COLOR = ("min_r", "min_g", "min_b", "max_r", "max_g", "max_b")
PACKED = ("packed_position", "packed_rotation", "packed_scale", "packed_color")
ELEMENTS = ("chunk", "vertex", "sh")


def layout_description() -> str:
    """The expected compressed-PLY layout in one line (for error messages)."""
    return (f"element chunk with {' '.join(CHUNK_POSITION + CHUNK_SCALE)} "
            f"[+ {' '.join(CHUNK_COLOR)}] (float), element vertex with {' '.join(PACKED)} (uint), "
            "optional element sh with f_rest_0.. (uchar, 9, 24 or 45)")


def looks_compressed(elements: list[PlyElementInfo]) -> bool:
    """True when the file means to be a compressed PLY: a ``chunk`` element or ``packed_*`` vertex
    properties (then :func:`check_layout` says what is wrong if it is not a valid one)."""
    by_name = {e.name: e for e in elements}
    vertex = by_name.get("vertex")
    return "chunk" in by_name or (vertex is not None
                                  and any(p.startswith("packed_") for p in vertex.names))


def _fail(path, problem: str) -> ValueError:
    return ValueError(f"{path}: not a valid SuperSplat/PlayCanvas compressed PLY: {problem}; "
                      f"expected {layout_description()}")


def check_layout(elements: list[PlyElementInfo], path: str | os.PathLike) -> tuple[int, int]:
    """Validate a compressed-PLY header by property names and types; returns ``(N, SH degree)``.

    Raises ValueError naming the file, the properties found and those expected."""
    by_name = {e.name: e for e in elements}
    unknown = [e.name for e in elements if e.name not in ELEMENTS]
    if unknown or "chunk" not in by_name or "vertex" not in by_name:
        raise _fail(path, f"elements {[e.name for e in elements]}")
    chunk, vertex = by_name["chunk"], by_name["vertex"]
    found = set(chunk.names)
    with_color = CHUNK_POSITION + CHUNK_SCALE + CHUNK_COLOR
    if found != set(CHUNK_POSITION + CHUNK_SCALE) and found != set(with_color):
        missing = sorted(set(CHUNK_POSITION + CHUNK_SCALE) - found) or sorted(set(with_color) - found)
        raise _fail(path, f"chunk properties {chunk.names} (missing {missing}, "
                          f"unexpected {sorted(found - set(with_color))})")
    not_float = [p for p, code in chunk.properties if not code.startswith("f")]
    if not_float:
        raise _fail(path, f"chunk properties {not_float} are not float")
    if sorted(vertex.names) != sorted(PACKED):
        raise _fail(path, f"vertex properties {vertex.names}")
    not_uint = [p for p, code in vertex.properties if code != "u4"]
    if not_uint:
        raise _fail(path, f"vertex properties {not_uint} are not uint32")
    n = vertex.count
    if chunk.count != math.ceil(n / CHUNK_SIZE):
        raise _fail(path, f"{chunk.count} chunks for {n} Gaussians "
                          f"(need ceil({n}/{CHUNK_SIZE}) = {math.ceil(n / CHUNK_SIZE)})")
    degree = 0
    if "sh" in by_name:
        sh = by_name["sh"]
        k = len(sh.names)
        degree = {9: 1, 24: 2, 45: 3}.get(k, -1)
        if degree < 0 or set(sh.names) != {f"f_rest_{i}" for i in range(k)}:
            raise _fail(path, f"sh properties {sh.names} (expected f_rest_0..f_rest_8, _23 or _44)")
        not_u8 = [p for p, code in sh.properties if code != "u1"]
        if not_u8:
            raise _fail(path, f"sh properties {not_u8[:3]}... are not uchar")
        if sh.count != n:
            raise _fail(path, f"{sh.count} sh rows for {n} vertices")
    return n, degree


def _unorm(packed: np.ndarray, shift: int, bits: int) -> np.ndarray:
    """``((packed >> shift) & (2^bits − 1)) / (2^bits − 1)`` as float64."""
    mask = (1 << bits) - 1
    return ((packed >> np.uint32(shift)) & np.uint32(mask)).astype(np.float64) / mask


def _unpack_11_10_11(packed: np.ndarray) -> np.ndarray:
    """[N] uint32 → [N, 3] float64 in [0, 1] (x from bits 31..21, y 20..11, z 10..0)."""
    return np.stack([_unorm(packed, 21, 11), _unorm(packed, 11, 10), _unorm(packed, 0, 11)], axis=1)


def _lerp_chunks(chunk: np.ndarray, lo: tuple[str, ...], hi: tuple[str, ...],
                 u: np.ndarray, chunk_index: np.ndarray) -> np.ndarray:
    """Per-Gaussian ``lo·(1 − u) + hi·u`` with lo/hi the chunk columns named, [N, len(lo)]."""
    a = np.stack([np.asarray(chunk[name], np.float64) for name in lo], axis=1)[chunk_index]
    b = np.stack([np.asarray(chunk[name], np.float64) for name in hi], axis=1)[chunk_index]
    return a * (1.0 - u) + b * u


def unpack_rotation(packed: np.ndarray) -> np.ndarray:
    """[N] uint32 smallest-three codes → [N, 4] unit quaternions in file order rot_0..rot_3."""
    largest = (packed >> np.uint32(30)).astype(np.int64)
    small = np.stack([_unorm(packed, 20, 10), _unorm(packed, 10, 10), _unorm(packed, 0, 10)],
                     axis=1)
    small = (small - 0.5) * math.sqrt(2.0)
    big = np.sqrt(np.maximum(0.0, 1.0 - (small ** 2).sum(axis=1)))
    quats = np.empty((len(packed), 4), np.float64)
    for index in range(4):
        rows = np.flatnonzero(largest == index)
        others = [i for i in range(4) if i != index]
        quats[rows, index] = big[rows]
        quats[rows[:, None], others] = small[rows]
    return quats


def decode_sh(codes: np.ndarray) -> np.ndarray:
    """uint8 SH codes → float: v = 0 → −4, v = 255 → +4, else ((v + 0.5)/256 − 0.5)·8."""
    n = (codes.astype(np.float64) + 0.5) / 256.0
    n[codes == 0] = 0.0
    n[codes == 255] = 1.0
    return (n - 0.5) * 8.0


def decode(chunk: np.ndarray, vertex: np.ndarray, sh: np.ndarray | None) -> dict[str, np.ndarray]:
    """Decode the three elements' structured arrays (as plyfile gives them; layout already checked
    with :func:`check_layout`) into the ``ply_io`` dict of float32 arrays: ``means [N,3]``,
    ``quats [N,4]`` (unit, wxyz = rot_0..3), ``scales [N,3]`` (log), ``opacities [N]`` (logit,
    ±inf for α = 1 / 0), ``sh0 [N,1,3]``, ``shN [N,K−1,3]``."""
    n = len(vertex)
    chunk_index = np.arange(n) // CHUNK_SIZE
    packed = {name: np.asarray(vertex[name]).astype(np.uint32) for name in PACKED}
    means = _lerp_chunks(chunk, CHUNK_POSITION[:3], CHUNK_POSITION[3:],
                         _unpack_11_10_11(packed["packed_position"]), chunk_index)
    scales = _lerp_chunks(chunk, CHUNK_SCALE[:3], CHUNK_SCALE[3:],
                          _unpack_11_10_11(packed["packed_scale"]), chunk_index)
    color = packed["packed_color"]
    rgb = np.stack([_unorm(color, 24, 8), _unorm(color, 16, 8), _unorm(color, 8, 8)], axis=1)
    if "min_r" in (chunk.dtype.names or ()):
        rgb = _lerp_chunks(chunk, CHUNK_COLOR[:3], CHUNK_COLOR[3:], rgb, chunk_index)
    alpha = _unorm(color, 0, 8)
    with np.errstate(divide="ignore"):
        opacities = -np.log(1.0 / alpha - 1.0)
    if sh is not None:
        k3 = len(sh.dtype.names)
        rest = np.stack([decode_sh(np.asarray(sh[f"f_rest_{i}"])) for i in range(k3)], axis=1)
        shn = rest.reshape(n, 3, k3 // 3).transpose(0, 2, 1)  # channel-major in the file
    else:
        shn = np.zeros((n, 0, 3))
    out = {
        "means": means,
        "quats": unpack_rotation(packed["packed_rotation"]),
        "scales": scales,
        "opacities": opacities,
        "sh0": ((rgb - 0.5) / SH_C0).reshape(n, 1, 3),
        "shN": shn,
    }
    return {key: np.ascontiguousarray(value, dtype=np.float32) for key, value in out.items()}

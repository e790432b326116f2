"""Morton (Z-order) codes of integer voxel coordinates.

Bit layout (63-bit codes, int64, always >= 0): bit i of the z coordinate goes to code bit 3i,
bit i of y to 3i+1, bit i of x to 3i+2, for i = 0..20. So z is the least significant axis and a
depth-d octree uses the lowest 3d bits. Only integer shifts and masks are used, never float
division, so the codes are exact at every depth 1..21 (MesonGS decoded keys through float64
division and lost bits above 2^53, see reference notes §3).
"""
from __future__ import annotations

import torch

MAX_BITS_PER_AXIS = 21
"""Largest per-axis bit count (3 · 21 = 63 code bits fit a non-negative int64)."""

_CHUNK_BITS = 7  # coordinates are spread 7 bits at a time through a 128-entry table

# Masks of the "compact by three" sequence (keep every third bit, then gather them).
_COMPACT_STEPS = (
    (2, 0x10C30C30C30C30C3),
    (4, 0x100F00F00F00F00F),
    (8, 0x001F0000FF0000FF),
    (16, 0x001F00000000FFFF),
    (32, 0x00000000001FFFFF),
)
_EVERY_THIRD_BIT = 0x1249249249249249


def _spread_table(device: torch.device) -> torch.Tensor:
    """[128] int64: value v with its bit i moved to bit 3i (i = 0..6)."""
    v = torch.arange(1 << _CHUNK_BITS, dtype=torch.int64, device=device)
    out = torch.zeros_like(v)
    for i in range(_CHUNK_BITS):
        out |= ((v >> i) & 1) << (3 * i)
    return out


def _check_coords(coords: torch.Tensor) -> torch.Tensor:
    coords = torch.as_tensor(coords)
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise ValueError(f"coords must have shape [M, 3], got {tuple(coords.shape)}")
    if coords.dtype.is_floating_point or coords.dtype == torch.bool or coords.is_complex():
        raise ValueError(f"coords must be an integer tensor, got dtype {coords.dtype}; round them first")
    coords = coords.to(torch.int64)
    if coords.numel() > 0:
        lo, hi = int(coords.min()), int(coords.max())
        if lo < 0 or hi >= (1 << MAX_BITS_PER_AXIS):
            raise ValueError(
                f"coords must lie in [0, 2^{MAX_BITS_PER_AXIS}) for 63-bit Morton codes, got range [{lo}, {hi}]"
            )
    return coords


def morton_encode(coords: torch.Tensor) -> torch.Tensor:
    """Interleave voxel coordinates into Morton codes.

    Args:
        coords: [M, 3] integer (x, y, z), each in [0, 2^21).

    Returns:
        [M] int64 codes, code = Σ_i z_i·2^(3i) + y_i·2^(3i+1) + x_i·2^(3i+2)
        (z in bit 0, y in bit 1, x in bit 2). Sorting by code is a depth-first octree order.
    """
    coords = _check_coords(coords)
    table = _spread_table(coords.device)
    code = torch.zeros(coords.shape[0], dtype=torch.int64, device=coords.device)
    mask = (1 << _CHUNK_BITS) - 1
    for axis, axis_shift in ((0, 2), (1, 1), (2, 0)):  # x -> bit 2, y -> bit 1, z -> bit 0
        c = coords[:, axis]
        for chunk in range(MAX_BITS_PER_AXIS // _CHUNK_BITS):
            part = table[(c >> (chunk * _CHUNK_BITS)) & mask]
            code |= part << (3 * chunk * _CHUNK_BITS + axis_shift)
    return code


def _compact_by_three(v: torch.Tensor) -> torch.Tensor:
    """Inverse of spreading: keep bits 0, 3, 6, ... of non-negative v and pack them densely."""
    v = v & _EVERY_THIRD_BIT
    for shift, mask in _COMPACT_STEPS:
        v = (v ^ (v >> shift)) & mask
    return v


def morton_decode(codes: torch.Tensor) -> torch.Tensor:
    """Split Morton codes back into coordinates.

    Args:
        codes: [M] int64, 0 <= code < 2^63.

    Returns:
        [M, 3] int64 (x, y, z) with morton_encode(morton_decode(c)) == c.
    """
    codes = torch.as_tensor(codes)
    if codes.ndim != 1:
        raise ValueError(f"codes must have shape [M], got {tuple(codes.shape)}")
    if codes.dtype.is_floating_point or codes.dtype == torch.bool:
        raise ValueError(f"codes must be an integer tensor, got dtype {codes.dtype}")
    codes = codes.to(torch.int64)
    if codes.numel() > 0 and int(codes.min()) < 0:
        raise ValueError(f"Morton codes must be >= 0, got minimum {int(codes.min())}")
    x = _compact_by_three(codes >> 2)
    y = _compact_by_three(codes >> 1)
    z = _compact_by_three(codes)
    return torch.stack((x, y, z), dim=1)

"""The per-scene channel transform of format version 3: an orthonormal basis B [C, C] across the
attribute channels, fitted at setup (compression/channel_basis.py) and stored in the file.

    coded = X · B          (before the forward RAHT; the quantizers see the coded channels)
    X̂     = coded̂ · Bᵀ     (after the inverse RAHT; B is orthonormal, so Bᵀ is its inverse)

B is block diagonal over the channel groups: identity for opacity, Euler angles and log-scales, a
KLT (principal axes, largest variance first) of f_dc's three channels and of all f_rest channels
together. Colour channels are strongly correlated (the RGB of one SH coefficient, and one colour
across the SH bands), and a KLT concentrates that energy in fewer channels, so the others quantize
to fewer bits. The encoder and the decoder use the same float32 matrix (the stored one) with the
same operation, so the training forward and ``load_npz`` still agree bit for bit on one device.
``None`` stands for the identity (versions 1 and 2, and version 3 files without a transform).
"""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["to_coded", "from_coded"]


def to_coded(x: torch.Tensor, basis: Optional[torch.Tensor]) -> torch.Tensor:
    """[N, C] attributes → coded channels X·B (``basis`` None: unchanged)."""
    return x if basis is None else x @ basis.to(device=x.device, dtype=x.dtype)


def from_coded(y: torch.Tensor, basis: Optional[torch.Tensor]) -> torch.Tensor:
    """[N, C] coded channels → attributes Y·Bᵀ (``basis`` None: unchanged)."""
    return y if basis is None else y @ basis.to(device=y.device, dtype=y.dtype).T

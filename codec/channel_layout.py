"""The attribute channel layout of the compressed model (one row per voxel / Gaussian).

Columns, in this order (C = 10 + 3·(K − 1), K = (sh_degree + 1)²; C = 55 at SH degree 3):

| columns            | name(s)                        | content                                          |
|--------------------|--------------------------------|--------------------------------------------------|
| 0                  | ``opacity``                    | logit opacity (pre-sigmoid)                      |
| 1, 2, 3            | ``euler_phi/theta/psi``        | Euler ZYX angles [φ, θ, ψ] in radians (utils/rotations.py) |
| 4, 5, 6            | ``f_dc_0..2``                  | SH degree-0 coefficient, R, G, B                 |
| 7 … 7+3(K−1)−1     | ``f_rest_0..f_rest_{3(K−1)−1}``| higher SH bands in the INRIA PLY order: column ``f_rest_j`` with j = c·(K−1) + k holds colour c ∈ {R,G,B} of SH coefficient k+1 (colour-major, "channel-major" in the notes) |
| C−3, C−2, C−1      | ``scale_0..2``                 | log-scales x, y, z                               |

So ``f_rest_j`` here is exactly the PLY property ``f_rest_j``; in memory ``shN [N, K−1, 3]`` is
coefficient-major, so ``f_rest[:, c·(K−1) + k] = shN[:, k, c]``.

Channel groups (used for per-component sizes and logging): opacity, euler, f_dc, f_rest, scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["ChannelLayout", "GROUP_NAMES", "layout_for_sh_degree", "pack_attributes", "unpack_attributes"]

GROUP_NAMES = ("opacity", "euler", "f_dc", "f_rest", "scale")


@dataclass(frozen=True)
class ChannelLayout:
    """Column slices of the [N, C] attribute matrix for one SH degree."""

    sh_degree: int

    @property
    def n_rest_coeffs(self) -> int:
        """K − 1: number of SH coefficients above degree 0."""
        return (self.sh_degree + 1) ** 2 - 1

    @property
    def n_channels(self) -> int:
        """C = 10 + 3·(K − 1)."""
        return 10 + 3 * self.n_rest_coeffs

    @property
    def opacity(self) -> slice:
        return slice(0, 1)

    @property
    def euler(self) -> slice:
        return slice(1, 4)

    @property
    def f_dc(self) -> slice:
        return slice(4, 7)

    @property
    def f_rest(self) -> slice:
        return slice(7, 7 + 3 * self.n_rest_coeffs)

    @property
    def scale(self) -> slice:
        c = self.n_channels
        return slice(c - 3, c)

    def group_slices(self) -> dict[str, slice]:
        """``{group name: column slice}`` in column order (f_rest is an empty slice at degree 0)."""
        return {name: getattr(self, name) for name in GROUP_NAMES}

    def channel_names(self) -> list[str]:
        """The C column names, e.g. ``["opacity", "euler_phi", ..., "scale_2"]``."""
        names = ["opacity", "euler_phi", "euler_theta", "euler_psi", "f_dc_0", "f_dc_1", "f_dc_2"]
        names += [f"f_rest_{j}" for j in range(3 * self.n_rest_coeffs)]
        names += ["scale_0", "scale_1", "scale_2"]
        return names


def layout_for_sh_degree(sh_degree: int) -> ChannelLayout:
    """The layout for SH degree 0..3 (``ValueError`` otherwise)."""
    if isinstance(sh_degree, bool) or int(sh_degree) != sh_degree or not 0 <= int(sh_degree) <= 3:
        raise ValueError(f"sh_degree must be an integer in 0..3, got {sh_degree!r}")
    return ChannelLayout(int(sh_degree))


def pack_attributes(
    logit_opacities: torch.Tensor,
    euler: torch.Tensor,
    sh0: torch.Tensor,
    shN: torch.Tensor,
    log_scales: torch.Tensor,
) -> torch.Tensor:
    """[N, C] attribute matrix from per-Gaussian tensors (differentiable; a new tensor).

    Args:
        logit_opacities: [N] or [N, 1]; euler: [N, 3]; sh0: [N, 1, 3]; shN: [N, K−1, 3]
        (K − 1 = 0, 3, 8 or 15); log_scales: [N, 3].
    """
    n = euler.shape[0]
    if shN.ndim != 3 or shN.shape[2] != 3 or shN.shape[0] != n:
        raise ValueError(f"shN must have shape [N, K-1, 3] with N = {n}, got {tuple(shN.shape)}")
    if sh0.shape != (n, 1, 3):
        raise ValueError(f"sh0 must have shape [{n}, 1, 3], got {tuple(sh0.shape)}")
    rest = shN.transpose(1, 2).reshape(n, -1)  # colour-major: j = c·(K−1) + k
    return torch.cat(
        [logit_opacities.reshape(n, 1), euler.reshape(n, 3), sh0.reshape(n, 3), rest, log_scales.reshape(n, 3)],
        dim=1,
    )


def unpack_attributes(attrs: torch.Tensor, layout: ChannelLayout) -> dict[str, torch.Tensor]:
    """Inverse of :func:`pack_attributes`.

    Returns ``{"logit_opacities" [N], "euler" [N,3], "sh0" [N,1,3], "shN" [N,K−1,3],
    "log_scales" [N,3]}`` (views/copies of ``attrs``; differentiable).
    """
    if attrs.ndim != 2 or attrs.shape[1] != layout.n_channels:
        raise ValueError(
            f"attributes must have shape [N, {layout.n_channels}] for SH degree {layout.sh_degree}, "
            f"got {tuple(attrs.shape)}"
        )
    n = attrs.shape[0]
    k1 = layout.n_rest_coeffs
    return {
        "logit_opacities": attrs[:, 0],
        "euler": attrs[:, layout.euler],
        "sh0": attrs[:, layout.f_dc].reshape(n, 1, 3),
        "shN": attrs[:, layout.f_rest].reshape(n, 3, k1).transpose(1, 2),
        "log_scales": attrs[:, layout.scale],
    }

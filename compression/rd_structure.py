"""Which Gaussians to keep and how fine the octree: chosen by rate–distortion, not fixed.

The price of a bit (``quant.rate_distortion.bit_price``). The rd quantizer gives every coefficient
the same s·Δ² = s̄·κ². At high rate a uniform quantizer costs distortion D = s·Δ²/12 for rate
R = h − log2 Δ, so the quantization trades bits for distortion at the slope

    λ = −dD/dR = ln 2 · s·Δ²/6 = ln 2 · s̄·κ²/6        (distortion per bit)

in the units of the Hutchinson diagonals (diag JᵀJ, J = ∂image/∂·, mean over the fitting views;
compression/sensitivity.py). Any other choice is worth making when it saves bits for less
distortion than λ per bit; κ = 2^(−Q/8) falls with the quality, so everything below keeps more
detail as the quality rises.

Pruning. Gaussian i's α is linear in its opacity o (α = o·e^(−σ) below the 0.999 clamp), and every
pixel is linear in α_i (front-to-back compositing). Removing it therefore changes the image by
exactly ΔI = −o·∂I/∂o = −(∂I/∂ℓ)/(1 − o) (ℓ = logit o), whose squared norm is

    D_i = diag_ℓ[i] / (1 − o_i)²

— from the Hutchinson pass the setup runs anyway. Above the α clamp (o > 0.999) the gradient
vanishes where α is clamped and says nothing about removal: such Gaussians are kept. Removing one
saves about b̄ bits (the file's bits per Gaussian at this quality: its coefficients and its
octree leaf). Prune i iff D_i < γ·λ·b̄. Each Gaussian is judged alone, in one pass: two Gaussians that hide each other both
look cheap to remove, so the price is discounted (γ = ``JOINT_REMOVAL_FACTOR``, measured) and at
most ``MAX_PRUNE_SHARE`` of the Gaussians go.

Depth. Positions are the centres of a 2^d grid over the bounding box: an error uniform in the
cell, of variance Δ_a²/12 per axis (Δ_a = extent_a/2^d), i.e. a distortion
Σ_i Σ_a diag_μ[i, a]·Δ_a²/12. Each level costs octree bits R_geo(d) (measured: the octree is
coded at every candidate depth). The depth is the one in [d_max − ``DEPTH_RANGE``, d_max] that
minimises Σ_i Σ_a diag_μ·Δ²/12 + λ·R_geo(d) among those that merge almost no Gaussians (at most
``MAX_MERGE_SHARE`` fewer voxels than at d_max: merging two Gaussians into one is a distortion
this does not model).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from codec.geometry import encode_geometry
from compression.sensitivity import HutchinsonDiagonals, block_sensitivity
from gaussian_renderer.torch_backend import ALPHA_MAX
from quant.rate_distortion import bit_price

__all__ = ["StructureChoice", "removal_distortion", "choose_structure", "JOINT_REMOVAL_FACTOR", "MAX_PRUNE_SHARE",
           "DEPTH_RANGE", "MAX_MERGE_SHARE", "POSITION_DISTORTION_FACTOR"]

#: the prune price is this share of λ·b̄: judged alone, a Gaussian that another one hides (or that
#: hides another) looks cheaper to remove than it is once its neighbours go too. Measured on the five
#: captures of ../shared/data (scripts/bench_rd.py sweeps, qualities 32-56, no fine-tuning), the bytes
#: at equal PSNR against no pruning were best between 0.25 and 0.4 (0.71-0.98x), and 1.0 lost again
#: at quality 40 on four of them (docs/compression.md)
JOINT_REMOVAL_FACTOR = 0.3
#: at most this share of the Gaussians is pruned in one decision (each is judged alone)
MAX_PRUNE_SHARE = 0.5
#: depths tried below the finest one
DEPTH_RANGE = 6
#: the position distortion of a depth is Σ s·Δ²/12 times this factor. The Hutchinson diagonal is a local
#: model: it prices a position error well only while the error is small against the Gaussian. Factor 4
#: (one level finer) gave 1-4 % fewer bytes at equal PSNR above 60 dB on donut and massa and nothing at
#: Q40 (the sweep script is in commit 13f0b9b: scripts/sweep_prune_factor.py; docs/compression.md).
POSITION_DISTORTION_FACTOR = 4.0
#: a depth may merge at most this share of the voxels of the finest depth
MAX_MERGE_SHARE = 0.001


@dataclass
class StructureChoice:
    """The rate–distortion choice: ``keep`` [N] bool over the model's voxel rows, the octree
    ``depth``, the bit price ``lam`` and what it was compared with."""

    keep: torch.Tensor
    depth: int
    lam: float
    bits_per_gaussian: float
    depths: list = field(default_factory=list)
    kappa: float = float("nan")  # the step scale it was chosen at

    @property
    def n_pruned(self) -> int:
        return int((~self.keep).sum())

    @property
    def pruned_share(self) -> float:
        return self.n_pruned / max(1, self.keep.numel())

    def as_dict(self) -> dict:
        return {"pruned": self.n_pruned, "kept": int(self.keep.sum()), "depth": self.depth,
                "bit_price": self.lam, "bits_per_gaussian": self.bits_per_gaussian, "kappa": self.kappa,
                "depths": self.depths}


def removal_distortion(diagonals: HutchinsonDiagonals, logit_opacity: torch.Tensor, opacity_column: int = 0) -> torch.Tensor:
    """D [N] float64: squared image change when each Gaussian alone is removed (module docstring);
    +inf for opacities above the renderer's α clamp (0.999), where ∂I/∂ℓ vanishes in the clamped
    pixels and says nothing about removal: those are never pruned."""
    o = torch.sigmoid(logit_opacity.detach().reshape(-1).to(torch.float64))
    linear = o <= ALPHA_MAX
    d = diagonals.attributes[:, opacity_column] / (1.0 - torch.where(linear, o, torch.zeros_like(o))).square()
    return torch.where(linear, d, torch.full_like(d, math.inf))


def _geometry_bits(coords: torch.Tensor, depth: int) -> int:
    return 32 * int(encode_geometry(coords.cpu().numpy(), depth).size)


def choose_structure(model, diagonals: HutchinsonDiagonals, kappa: float, bits_per_gaussian: float) -> StructureChoice:
    """The prune mask and octree depth for ``model`` (a QuantizedGaussians at its finest depth)
    at step scale ``kappa``, given the file's ``bits_per_gaussian`` at that scale."""
    lam = bit_price(block_sensitivity(diagonals.coefficients, model.n_block).to(torch.float64), kappa)
    n = model.n_gaussians
    removal = removal_distortion(diagonals, model.opacity)
    keep = torch.ones(n, dtype=torch.bool, device=removal.device)
    cheap = removal < JOINT_REMOVAL_FACTOR * lam * float(bits_per_gaussian)
    cap = int(MAX_PRUNE_SHARE * n)
    if int(cheap.sum()) > cap:  # keep the most costly ones beyond the cap
        order = torch.sort(removal, stable=True).indices
        cheap = torch.zeros_like(cheap)
        cheap[order[:cap]] = True
    keep &= ~cheap
    if int(keep.sum()) < 2:  # the codec needs two voxels (a DC and an AC coefficient): prune nothing
        keep[:] = True

    d_max = int(model.depth)
    coords = model.coords[keep]
    extent = (model.bbox_max - model.bbox_min).to(torch.float64).to(coords.device)
    pos_sens = diagonals.positions[keep].sum(dim=0)  # [3]
    rows = []
    n_fine = int(coords.shape[0])
    for depth in range(d_max, max(1, d_max - DEPTH_RANGE) - 1, -1):
        shifted = torch.unique(coords >> (d_max - depth), dim=0)
        merged = n_fine - int(shifted.shape[0])
        cell = extent / float(1 << depth)
        distortion = POSITION_DISTORTION_FACTOR * float((pos_sens * cell.square()).sum() / 12.0)
        row = {"depth": depth, "voxels": int(shifted.shape[0]), "position_distortion": distortion}
        if merged > MAX_MERGE_SHARE * n_fine:
            row["merges_too_many"] = merged
            rows.append(row)
            break  # coarser grids merge even more
        row["geometry_bits"] = _geometry_bits(shifted, depth)
        row["cost"] = distortion + lam * row["geometry_bits"]
        rows.append(row)
    best = min((r for r in rows if "cost" in r), key=lambda r: r["cost"])
    return StructureChoice(keep=keep, depth=int(best["depth"]), lam=lam, bits_per_gaussian=float(bits_per_gaussian),
                           depths=rows, kappa=float(kappa))

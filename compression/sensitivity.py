"""How much each attribute matters to the image: the diagonal Fisher estimate behind the RD steps.

F[i, c] = mean over training views v of (∂L_v/∂X[i, c])², with L_v the fine-tuning loss
0.8·L1 + 0.2·(1 − SSIM) of view v rendered from the unquantized attributes X [N, C] (one forward
and backward per view). To second order the loss increase caused by a small perturbation δX is
½·Σ F·δX² (the Fisher / Gauss–Newton approximation of the Hessian's diagonal), so F weighs the
squared quantization error of every attribute.

The quantizer of (channel c, block j) covers the AC slots of block j (``quant.split_length``); since
slot s of a RAHT plan is the Morton index of the first voxel of the subtree it describes, block j
covers about the voxel rows of the same index range, and its sensitivity is the mean of F over
those rows: s[c, j] = mean_{i ∈ rows of block j} F[i, c]. Voxels no training view sees have F = 0,
so their blocks get the largest step (``quant.rate_distortion.rd_steps``) and cost almost nothing.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from compression.attributes import QuantizedGaussians, render_attributes
from quant.granularity import split_length
from utils.image_metrics import l1_loss, ssim

__all__ = ["attribute_sensitivity", "block_sensitivity"]


def attribute_sensitivity(model: QuantizedGaussians, cameras: Sequence[Any], *, background: torch.Tensor,
                          backend: str, lambda_dssim: float = 0.2) -> torch.Tensor:
    """F [N, C] float64 (see the module docstring), from the model's unquantized attributes."""
    if not cameras:
        raise ValueError("the sensitivity needs training views; the scene has none")
    background = background.to(model.device, torch.float32)
    fisher = torch.zeros(model.n_gaussians, model.layout.n_channels, dtype=torch.float64, device=model.device)
    base = model.attributes().detach()
    for cam in cameras:
        x = base.clone().requires_grad_(True)
        image = render_attributes(model.gaussians(x), cam, background, backend, model.sh_degree)["image"]
        gt = cam.image(device=model.device)
        loss = (1.0 - lambda_dssim) * l1_loss(image, gt)
        if lambda_dssim > 0:
            loss = loss + lambda_dssim * (1.0 - ssim(image, gt, mode="train"))
        (grad,) = torch.autograd.grad(loss, x)
        fisher += grad.to(torch.float64).square()
    return fisher / len(cameras)


def block_sensitivity(fisher: torch.Tensor, n_block: int) -> torch.Tensor:
    """[C, B] float32: mean of F over the voxel rows 1..N−1 of each quantizer block."""
    n = fisher.shape[0]
    rows = fisher[1:]
    sizes = split_length(n - 1, n_block)
    out = torch.stack([part.mean(dim=0) for part in torch.split(rows, sizes, dim=0)], dim=1)
    return out.to(torch.float32)

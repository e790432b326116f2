"""Quantization-aware fine-tuning (``ft_render``, MesonGS §9 without its defects).

Iteration k (1-based): view ``training.sampling.camera_index(seed, k, n)`` (the plain trainer's
order: a fresh permutation per epoch) → ``model.quantized_attributes()`` (RAHT forward → fake
quantization of the AC coefficients, DC float → RAHT inverse; once per iteration) → activated
Gaussians at the frozen voxel centres → render (all SH bands) → loss = 0.8·L1 + 0.2·(1 − SSIM)
→ backward → Adam step on the attribute groups (+ the LSQ steps in their own optimizer).

Learning rates (arguments/compression.py), each × ``lr_multiplier``: opacity, euler, f_dc, f_rest,
log-scale; Adam ε = 1e-15 as 3DGS. LSQ steps are positive scale parameters spanning orders of
magnitude, so plain Adam with one absolute learning rate would either freeze the large steps or
drive the small ones negative; they are updated by :class:`LogAdam` (Adam on log s, i.e. a
multiplicative update s ← s·exp(−lr·m̂/(√v̂+ε))), which keeps them > 0 and makes ``lsq_lr`` a
relative rate. The VanillaQuan envelope is updated by every training forward (bank in training
mode) and frozen during evaluation.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import torch

from compression.attributes import QuantizedGaussians, render_attributes
from training.sampling import camera_index
from utils.image_metrics import l1_loss, psnr, ssim

logger = logging.getLogger(__name__)

__all__ = ["LogAdam", "build_finetune_optimizers", "FinetuneStats", "FineTuner"]


class LogAdam(torch.optim.Optimizer):
    """Adam on the logarithm of positive parameters: p ← p·exp(−lr·m̂/(√v̂ + ε)).

    The moments are those of g_log = ∂L/∂log p = p·∂L/∂p (bias-corrected as in Adam), so the
    relative change per step is about ``lr`` whatever the parameter's magnitude, and p stays > 0.
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, min_value: float = 1e-12):
        if lr < 0:
            raise ValueError(f"LogAdam lr must be >= 0, got {lr}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "min_value": min_value})

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.clamp_(min=group["min_value"])
                g = p.grad * p
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                state["m"].mul_(b1).add_(g, alpha=1 - b1)
                state["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
                m_hat = state["m"] / (1 - b1 ** t)
                v_hat = state["v"] / (1 - b2 ** t)
                p.mul_(torch.exp(-group["lr"] * m_hat / (v_hat.sqrt() + group["eps"])))
                p.clamp_(min=group["min_value"])
        return loss


def build_finetune_optimizers(model: QuantizedGaussians, params: Any) -> dict[str, torch.optim.Optimizer]:
    """``{"attributes": Adam(groups), ["quantizer": LogAdam(step)]}`` from resolved CompressionParams."""
    m = float(params.lr_multiplier)
    lrs = {"opacity": params.ft_opacity_lr, "euler": params.ft_euler_lr, "f_dc": params.ft_f_dc_lr,
           "f_rest": params.ft_f_rest_lr, "log_scale": params.ft_scaling_lr}
    groups = []
    for name, p in model.attribute_parameters():
        if p.numel() == 0:
            continue
        groups.append({"params": [p], "lr": float(lrs[name]) * m, "name": name})
    optimizers: dict[str, torch.optim.Optimizer] = {"attributes": torch.optim.Adam(groups, lr=0.0, eps=1e-15)}
    if model.quantizer == "lsq":
        qparams = [p for p in model.bank.parameters() if p.requires_grad]
        optimizers["quantizer"] = LogAdam(qparams, lr=float(params.lsq_lr))
    return optimizers


@dataclass
class FinetuneStats:
    """Scalars of one fine-tuning iteration."""

    iteration: int
    loss: float
    l1: float
    psnr: float
    seconds: float
    num_gaussians: int = 0


class FineTuner:
    """Runs fine-tuning iterations on a :class:`QuantizedGaussians`.

    Args:
        model: the QAT model (on the training device); params: resolved CompressionParams
            (learning rates); cameras: training views; background [3]; backend: resolved renderer
            backend; seed: camera order seed; lambda_dssim: D-SSIM weight (0.2).
    """

    def __init__(self, model: QuantizedGaussians, params: Any, cameras: Sequence[Any], *, background: torch.Tensor,
                 backend: str, seed: int = 0, lambda_dssim: float = 0.2):
        if not cameras:
            raise ValueError("fine-tuning needs training views; the scene has none")
        self.model = model
        self.cameras = list(cameras)
        self.background = background.to(model.device, torch.float32)
        self.backend = backend
        self.seed = int(seed)
        self.lambda_dssim = float(lambda_dssim)
        self.optimizers = build_finetune_optimizers(model, params)

    def step(self, iteration: int) -> FinetuneStats:
        """One iteration (1-based ``iteration``): forward, loss, backward, optimizer steps."""
        t0 = time.perf_counter()
        model = self.model
        model.train()
        cam = self.cameras[camera_index(self.seed, iteration, len(self.cameras))]
        attrs_hat = model.quantized_attributes()
        out = render_attributes(model.gaussians(attrs_hat), cam, self.background, self.backend, model.sh_degree)
        image = out["image"]
        gt = cam.image(device=model.device)
        l1 = l1_loss(image, gt)
        lam = self.lambda_dssim
        loss = (1.0 - lam) * l1 + lam * (1.0 - ssim(image, gt, mode="train")) if lam > 0 else l1
        loss.backward()
        for opt in self.optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            p = float(psnr(image.detach().clamp(0, 1), gt))
        loss_v = float(loss.detach())
        if not math.isfinite(loss_v):
            raise ValueError(f"fine-tuning loss became {loss_v} at iteration {iteration}; lower the learning rates "
                             "(--lr_multiplier) or check the input model")
        return FinetuneStats(iteration, loss_v, float(l1.detach()), p, time.perf_counter() - t0, model.n_gaussians)

    def run(self, first: int, last: int, on_iteration: Optional[Callable[[FinetuneStats], None]] = None) -> list[FinetuneStats]:
        """Iterations ``first..last`` inclusive; returns their stats."""
        stats = []
        for k in range(first, last + 1):
            s = self.step(k)
            stats.append(s)
            if on_iteration is not None:
                on_iteration(s)
        return stats

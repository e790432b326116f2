"""Adam optimizers with the 3DGS learning rates, one optimizer per parameter.

gsplat's ``DefaultStrategy`` edits optimizer state when it clones, splits or prunes Gaussians and
requires exactly one ``param_group`` per optimizer, keyed like the parameters (``means``,
``scales``, ``quats``, ``opacities``, ``sh0``, ``shN``). Learning rates (Kerbl et al. 2023):

    means      1.6e-4 → 1.6e-6, exponential over position_lr_max_steps, × scene extent
    sh0        2.5e-3            shN  2.5e-3 / 20
    opacities  5e-2              scales 5e-3          quats 1e-3
"""

from __future__ import annotations

import math
from typing import Mapping

import torch

from arguments import OptimizationParams


def base_learning_rates(opt: OptimizationParams, spatial_lr_scale: float) -> dict[str, float]:
    """Initial learning rate per parameter key (``means`` already multiplied by the extent)."""
    return {
        "means": opt.position_lr_init * spatial_lr_scale,
        "scales": opt.scaling_lr,
        "quats": opt.rotation_lr,
        "opacities": opt.opacity_lr,
        "sh0": opt.feature_lr,
        "shN": opt.feature_lr / opt.shN_lr_divisor,
    }


def build_optimizers(
    params: Mapping[str, torch.nn.Parameter], opt: OptimizationParams, spatial_lr_scale: float
) -> dict[str, torch.optim.Adam]:
    """One ``Adam(eps=opt.adam_eps)`` per parameter of ``params`` (keys as in GaussianModel).

    Keys this module does not know get ``opt.feature_lr`` — callers with extra parameters
    should set their own rate after building.
    """
    rates = base_learning_rates(opt, spatial_lr_scale)
    optimizers = {}
    for key, param in params.items():
        lr = rates.get(key, opt.feature_lr)
        optimizers[key] = torch.optim.Adam([{"params": [param], "lr": lr, "name": key}], lr=lr, eps=opt.adam_eps)
    return optimizers


def exponential_lr(step: int, lr_init: float, lr_final: float, max_steps: int) -> float:
    """Log-linear interpolation ``exp((1 − t)·ln lr_init + t·ln lr_final)``, ``t = clip(step/max_steps, 0, 1)``.

    3DGS's ``get_expon_lr_func`` with ``lr_delay_steps = 0`` (its default for positions).
    A zero ``lr_init`` or ``lr_final`` gives 0 (the parameter is frozen).
    """
    if lr_init <= 0.0 or lr_final <= 0.0:
        return 0.0
    t = min(max(step / max(max_steps, 1), 0.0), 1.0)
    return math.exp((1.0 - t) * math.log(lr_init) + t * math.log(lr_final))


def position_lr(step: int, opt: OptimizationParams, spatial_lr_scale: float) -> float:
    """Learning rate of the means at iteration ``step``: exponential decay × scene extent."""
    max_steps = opt.position_lr_max_steps if opt.position_lr_max_steps is not None else opt.iterations
    return exponential_lr(step, opt.position_lr_init * spatial_lr_scale, opt.position_lr_final * spatial_lr_scale, max_steps)


def update_learning_rates(
    optimizers: Mapping[str, torch.optim.Optimizer], step: int, opt: OptimizationParams, spatial_lr_scale: float
) -> float:
    """Set the position learning rate for iteration ``step``; returns it."""
    lr = position_lr(step, opt, spatial_lr_scale)
    if "means" in optimizers:
        for group in optimizers["means"].param_groups:
            group["lr"] = lr
    return lr

"""Adaptive density control: gsplat 1.5.3's ``DefaultStrategy`` plus the opacity reset it skips.

Clone / split / prune follow 3DGS (Kerbl et al. 2023, §5.2) as implemented by
``gsplat.DefaultStrategy`` (pure torch, runs on CPU): every ``densification_interval``
iterations after ``densify_from_iter`` and before ``densify_until_iter``, Gaussians whose mean
screen-space gradient ``‖∂L/∂μ₂ᴅ · (W/2, H/2)‖`` exceeds ``densify_grad_threshold`` are cloned
(``max exp(scale) ≤ percent_dense · extent``) or split into two samples with scales / 1.6; those
with ``sigmoid(opacity) < min_opacity`` (and, after the first reset, those larger than
``prune_scale3d · extent``) are removed. The optimizer state of every parameter is edited in the
same step (new rows get zero moments), so parameters and Adam state stay aligned.

**gsplat 1.5.3 bug.** Its reset test ``step % reset_every == 0 & step > 0`` parses as the chained
comparison ``(step % reset_every == (0 & step)) and ((0 & step) > 0)``, which is always False: the
opacity reset never fires. This module performs it itself, as 3DGS does: at every iteration
``k`` with ``0 < k < densify_until_iter`` and ``k % opacity_reset_interval == 0``, logit
opacities are clamped to at most ``logit(2 · min_opacity)`` (gsplat's rule; 0.01 with the default
``min_opacity = 0.005``, which is 3DGS's fixed value) and the Adam moments of the opacity parameter are zeroed (its step count is kept,
as 3DGS's ``replace_tensor_to_optimizer`` does). The reset runs after the strategy's refinement of
the same iteration, like gsplat's fixed versions.

Iterations are 1-based here (3DGS's numbering): the strategy sees ``step = iteration``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, MutableMapping

import torch

from arguments import OptimizationParams

LOGGER = logging.getLogger(__name__)

RESET_OPACITY = 0.01  # 3DGS's reset value (inverse_sigmoid(min(opacity, 0.01)))


@dataclass
class DensifyEvent:
    """What ``Densifier.post_backward`` did at one iteration."""

    refined: bool = False
    opacity_reset: bool = False
    n_before: int = 0
    n_after: int = 0


def reset_opacities(
    params: MutableMapping[str, torch.nn.Parameter],
    optimizers: Mapping[str, torch.optim.Optimizer],
    max_opacity: float = RESET_OPACITY,
) -> None:
    """Clamp ``params["opacities"]`` (logits) to ``≤ logit(max_opacity)`` in place and zero its Adam moments.

    The Parameter object stays the same, so the optimizer keeps pointing at it.
    """
    param = params["opacities"]
    limit = math.log(max_opacity / (1.0 - max_opacity))
    with torch.no_grad():
        param.clamp_(max=limit)
    opt = optimizers.get("opacities")
    if opt is None:
        return
    state = opt.state.get(param)
    if not state:
        return
    for key, value in state.items():
        if key != "step" and isinstance(value, torch.Tensor):
            value.zero_()


class Densifier:
    """Runs gsplat's ``DefaultStrategy`` and the opacity reset on a GaussianModel's ``params``.

    Usage per iteration ``k`` (1-based)::

        densifier.pre_backward(params, optimizers, k, info)   # before loss.backward()
        loss.backward(); [o.step() for o in optimizers.values()]
        event = densifier.post_backward(params, optimizers, k, info)

    ``info`` is the renderer's gsplat-layout dict (``means2d [1,N,2]`` in the graph, ``radii
    [1,N,2]``, ``width``, ``height``, ``n_cameras``, ``gaussian_ids``).
    """

    def __init__(self, opt: OptimizationParams, scene_extent: float):
        from gsplat.strategy import DefaultStrategy  # pure torch; imported lazily (no work at import)

        opt = opt.resolved()
        self.opt = opt
        self.enabled = bool(opt.densify)
        self.strategy = DefaultStrategy(
            prune_opa=opt.min_opacity,
            grow_grad2d=opt.densify_grad_threshold,
            grow_scale3d=opt.percent_dense,
            prune_scale3d=opt.prune_scale3d,
            refine_start_iter=opt.densify_from_iter,
            refine_stop_iter=opt.densify_until_iter,
            reset_every=opt.opacity_reset_interval,
            refine_every=opt.densification_interval,
            verbose=False,
        )
        self.state: dict[str, Any] = self.strategy.initialize_state(scene_scale=float(scene_extent))
        # gsplat resets to 2 · prune_opa; with the default min_opacity 0.005 that is 3DGS's 0.01.
        self.reset_value = 2.0 * opt.min_opacity if 0.0 < opt.min_opacity < 0.5 else RESET_OPACITY

    def check(self, params: Mapping[str, torch.nn.Parameter], optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
        """gsplat's sanity check (same keys, one param_group per optimizer)."""
        if self.enabled:
            self.strategy.check_sanity(params, optimizers)

    def pre_backward(self, params, optimizers, iteration: int, info: dict) -> None:
        """Retain the gradient of ``info["means2d"]`` while densification is active."""
        if self.enabled and iteration < self.opt.densify_until_iter:
            self.strategy.step_pre_backward(params, optimizers, self.state, iteration, info)

    def is_refine_iteration(self, iteration: int) -> bool:
        o = self.opt
        return (
            self.enabled
            and o.densify_from_iter < iteration < o.densify_until_iter
            and iteration % o.densification_interval == 0
        )

    def is_reset_iteration(self, iteration: int) -> bool:
        o = self.opt
        return self.enabled and 0 < iteration < o.densify_until_iter and iteration % o.opacity_reset_interval == 0

    def post_backward(self, params, optimizers, iteration: int, info: dict) -> DensifyEvent:
        """Accumulate gradient statistics, refine at refine iterations, reset opacities at reset iterations.

        Call after the optimizer step. Returns what happened.
        """
        n_before = int(params["means"].shape[0])
        event = DensifyEvent(n_before=n_before, n_after=n_before)
        if not self.enabled or iteration >= self.opt.densify_until_iter:
            return event
        self.strategy.step_post_backward(params, optimizers, self.state, iteration, info, packed=False)
        event.refined = self.is_refine_iteration(iteration)
        if self.is_reset_iteration(iteration):
            reset_opacities(params, optimizers, max_opacity=self.reset_value)
            event.opacity_reset = True
        event.n_after = int(params["means"].shape[0])
        if event.refined or event.opacity_reset:
            LOGGER.debug(
                "iteration %d: %d -> %d Gaussians%s", iteration, n_before, event.n_after,
                " (opacity reset)" if event.opacity_reset else "",
            )
        return event

    def state_dict(self) -> dict[str, Any]:
        """Running statistics (``grad2d``, ``count`` [N] or None, ``scene_scale``) for checkpoints."""
        return {k: (v.detach().clone() if isinstance(v, torch.Tensor) else v) for k, v in self.state.items()}

    def load_state_dict(self, state: Mapping[str, Any], device: torch.device) -> None:
        self.state = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in state.items()}

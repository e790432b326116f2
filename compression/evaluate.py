"""Evaluation of (quantized) Gaussians on a set of views, through ``training.evaluate.evaluate_views``
(renders clamped to [0, 1], PSNR with data range 1, eval SSIM, mean over views — the same protocol
train.py and render.py use for PLY models).

The quantized attributes are computed once per evaluation round (not per view): parameters do not
change between views.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch

from compression.attributes import QuantizedGaussians, activate_attributes, render_attributes
from codec.channel_layout import ChannelLayout
from training.evaluate import EvalResult, evaluate_views

__all__ = ["evaluate_gaussians", "evaluate_attributes", "evaluate_quantized", "source_gaussians"]


def evaluate_gaussians(
    gaussians: dict[str, torch.Tensor],
    sh_degree: int,
    cameras: Sequence[Any],
    *,
    background: torch.Tensor,
    backend: str,
    on_view: Optional[Callable] = None,
) -> EvalResult:
    """PSNR/SSIM of renderer inputs ``gaussians`` (means, quats, scales, opacities, sh_coeffs)."""
    device = gaussians["means"].device
    bg = background.to(device=device, dtype=torch.float32)
    with torch.no_grad():
        return evaluate_views(
            lambda cam: render_attributes(gaussians, cam, bg, backend, sh_degree), cameras, device, on_view=on_view
        )


def evaluate_attributes(
    attrs: torch.Tensor,
    means: torch.Tensor,
    layout: ChannelLayout,
    cameras: Sequence[Any],
    *,
    background: torch.Tensor,
    backend: str,
    on_view: Optional[Callable] = None,
) -> EvalResult:
    """Evaluate an [N, C] attribute matrix at voxel positions ``means`` (all SH bands active)."""
    with torch.no_grad():
        g = activate_attributes(attrs.detach(), means, layout)
    return evaluate_gaussians(g, layout.sh_degree, cameras, background=background, backend=backend, on_view=on_view)


def evaluate_quantized(
    model: QuantizedGaussians,
    cameras: Sequence[Any],
    *,
    background: torch.Tensor,
    backend: str,
    on_view: Optional[Callable] = None,
) -> tuple[EvalResult, torch.Tensor]:
    """Evaluate the quantized model (eval-mode quantizers: no range update). Returns the result
    and the quantized attributes X̂ [N, C] it rendered (what ``save_npz`` stores and ``load_npz`` decodes)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            attrs_hat = model.quantized_attributes()
        result = evaluate_attributes(attrs_hat, model.means, model.layout, cameras, background=background,
                                     backend=backend, on_view=on_view)
    finally:
        model.train(was_training)
    return result, attrs_hat


def source_gaussians(model: Any) -> dict[str, torch.Tensor]:
    """Renderer inputs of a ``scene.GaussianModel`` (raw quaternions, activated scales/opacities)."""
    with torch.no_grad():
        return {
            "means": model.means.detach(),
            "quats": model.quats_wxyz.detach(),
            "scales": model.scales_act.detach(),
            "opacities": model.opacities_act.detach(),
            "sh_coeffs": model.sh_coeffs.detach(),
        }

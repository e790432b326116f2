"""Render a GaussianModel through ``gaussian_renderer.render`` with its active SH degree."""

from __future__ import annotations

from typing import Any, Optional

import torch


def render_gaussians(
    model: Any,
    camera: Any,
    background: torch.Tensor,
    backend: str = "auto",
    sh_degree: Optional[int] = None,
) -> dict:
    """``gaussian_renderer.render`` on the model's activated parameters.

    ``sh_degree`` defaults to ``model.active_sh_degree`` (the SH warm-up degree during training;
    a loaded PLY's full degree). Returns the renderer's dict (``image [H,W,3]``, ``alpha``,
    ``radii``, ``means2d``, ``visibility``, ``info`` in gsplat's layout for densification).
    """
    from gaussian_renderer import render

    degree = model.active_sh_degree if sh_degree is None else sh_degree
    return render(
        model.params["means"],
        model.quats_wxyz,
        model.scales_act,
        model.opacities_act,
        camera,
        sh_coeffs=model.sh_coeffs,
        sh_degree=degree,
        background=background,
        backend=backend,
    )

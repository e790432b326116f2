"""Importance of each Gaussian (MesonGS, notes §2) and importance-based pruning.

View-dependent term, computed with the renderer itself:

    I_d(i) = Σ_views Σ_pixels α_i(p) · T_i(p)

With the colours as a leaf tensor c [N, 3] (no SH), the rendered image is
image_ch(p) = Σ_i c_{i,ch} α_i(p) T_i(p) + T_final(p)·bg_ch, so

    ∂(Σ_p image_0(p)) / ∂c_{i,0} = Σ_p α_i(p) T_i(p)

— one backward per view gives I_d for that view, with exactly the renderer's α clamp, 1/255 skip
and early-termination rules, on either backend (torch or gsplat). Per-view results are added in
float64 in view order, so the score is deterministic wherever the renderer is (CPU torch backend:
bit-reproducible; gsplat uses float atomics inside a view, so the last bits may vary there, but no
update is lost — unlike MesonGS's non-atomic ``+=``, notes §11.1).

View-independent term, in log space: V_i = Π_k exp(s_ik) ⇒ log V_i = Σ_k s_ik;
V_ref = the value at index ⌊0.9·N⌋ of V sorted in descending order;
v_i = (V_i / V_ref)^β = exp(β·(log V_i − log V_ref)), unclipped. Score I_i = v_i · I_d(i).

Pruning rule (stated as the notes ask): remove exactly ⌊p·N⌋ Gaussians with the lowest score;
ties are broken by index (a stable sort keeps the lower index first, so among equal scores the
lower indices go first); p = 0 is a true no-op.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence

import torch

logger = logging.getLogger(__name__)

__all__ = ["view_importance", "volume_term", "importance_scores", "prune_mask"]

#: render(means, quats, scales, opacities, camera, *, colors, background, backend) -> {"image": ...}
RenderFn = Callable[..., dict]


def _default_render() -> RenderFn:
    from gaussian_renderer import render

    return render


def view_importance(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    cameras: Sequence,
    *,
    backend: str = "auto",
    render_fn: Optional[RenderFn] = None,
) -> torch.Tensor:
    """I_d [N] float64 (on the device of ``means``): Σ over ``cameras`` and pixels of α·T.

    Args:
        means [N,3], quats [N,4] (wxyz, any norm), scales [N,3] (activated), opacities [N]
        (activated): the Gaussians (detached inside).
        cameras: the training views (3DGS rule: at training resolution).
        backend: renderer backend; render_fn: override of ``gaussian_renderer.render``.
    """
    render = render_fn or _default_render()
    means, quats, scales, opacities = (t.detach() for t in (means, quats, scales, opacities))
    n = means.shape[0]
    total = torch.zeros(n, dtype=torch.float64, device=means.device)
    background = torch.zeros(3, dtype=means.dtype, device=means.device)
    for cam in cameras:
        with torch.enable_grad():
            colors = torch.zeros(n, 3, dtype=means.dtype, device=means.device, requires_grad=True)
            out = render(means, quats, scales, opacities, cam, colors=colors, background=background, backend=backend)
            (grad,) = torch.autograd.grad(out["image"][..., 0].sum(), colors)
        total += grad[:, 0].to(torch.float64)
    return total


def volume_term(log_scales: torch.Tensor, beta: float) -> torch.Tensor:
    """v [N] float64 = exp(β·(Σ_k s_ik − log V_ref)), V_ref = descending-sorted V at ⌊0.9·N⌋."""
    log_v = log_scales.detach().to(torch.float64).sum(dim=1)
    n = log_v.shape[0]
    if n == 0:
        return log_v
    desc = torch.sort(log_v, descending=True).values
    ref = desc[min(int(0.9 * n), n - 1)]
    return torch.exp(float(beta) * (log_v - ref))


def importance_scores(
    means: torch.Tensor,
    quats: torch.Tensor,
    log_scales: torch.Tensor,
    logit_opacities: torch.Tensor,
    cameras: Sequence,
    *,
    beta: float = 0.1,
    backend: str = "auto",
    render_fn: Optional[RenderFn] = None,
) -> torch.Tensor:
    """Score I [N] float64 = (V/V_ref)^β · Σ_views Σ_pixels α·T (raw parameters in, activated inside)."""
    if len(cameras) == 0:
        raise ValueError("importance needs at least one training view; the scene has none")
    hits = view_importance(
        means, quats, torch.exp(log_scales.detach()), torch.sigmoid(logit_opacities.detach()), cameras,
        backend=backend, render_fn=render_fn,
    )
    return hits * volume_term(log_scales, beta)


def prune_mask(scores: torch.Tensor, percent: float) -> torch.Tensor:
    """Keep-mask [N] bool removing exactly ⌊percent·N⌋ lowest scores (stable index tie-break)."""
    if not 0.0 <= float(percent) < 1.0:
        raise ValueError(f"prune percent must lie in [0, 1), got {percent!r}")
    n = scores.shape[0]
    n_remove = int(float(percent) * n)
    keep = torch.ones(n, dtype=torch.bool, device=scores.device)
    if n_remove > 0:
        order = torch.sort(scores.detach(), stable=True).indices
        keep[order[:n_remove]] = False
    return keep

"""Gaussian-splatting renderer with two backends and one convention (gsplat 1.5.3).

- ``"gsplat"``: ``gsplat.rasterization`` on CUDA tensors (``gsplat_backend.py``).
- ``"torch"``: pure PyTorch on any device, differentiable (``torch_backend.py``).
- ``"auto"``: gsplat for CUDA tensors when gsplat is installed, torch otherwise.

Public API: :func:`render`, :func:`resolve_backend`, ``BACKENDS``.
"""

from __future__ import annotations

import functools
import logging
import math

import torch

from gaussian_renderer import gsplat_backend, torch_backend

BACKENDS = ("auto", "gsplat", "torch")

_logger = logging.getLogger(__name__)


def resolve_backend(name: str, device: torch.device | str) -> str:
    """Turn a ``--backend`` choice into the backend that will run on ``device``.

    Args:
        name: ``"auto"``, ``"gsplat"`` or ``"torch"``.
        device: device of the Gaussians.

    Returns:
        ``"gsplat"`` or ``"torch"``; ``auto`` gives gsplat for a CUDA device when gsplat is
        installed. The choice is logged once per process (per distinct choice).

    Raises:
        ValueError: unknown name; ``"gsplat"`` on a non-CUDA device or without gsplat.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown renderer backend {name!r}; choose one of {', '.join(BACKENDS)}")
    device = torch.device(device)
    cuda_ok = gsplat_backend.is_supported_device(device)
    if name == "gsplat":
        if not cuda_ok:
            raise ValueError(
                f"backend 'gsplat' needs a CUDA device, got '{device}'; "
                "use --backend torch (or auto) on this machine"
            )
        if not gsplat_backend.gsplat_installed():
            raise ValueError(
                "backend 'gsplat' needs the gsplat package (pip install gsplat==1.5.3); "
                "or use --backend torch"
            )
        resolved = "gsplat"
    elif name == "torch":
        resolved = "torch"
    else:
        resolved = "gsplat" if cuda_ok and gsplat_backend.gsplat_installed() else "torch"
    _log_choice(name, resolved, device.type)
    return resolved


@functools.lru_cache(maxsize=None)
def _log_choice(requested: str, resolved: str, device_type: str) -> None:
    """Log a backend choice; cached so each distinct choice is logged once per process."""
    _logger.info("renderer backend: %s (requested %s, device %s)", resolved, requested, device_type)


def render(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    camera,
    *,
    sh_coeffs: torch.Tensor | None = None,
    sh_degree: int | None = None,
    colors: torch.Tensor | None = None,
    background: torch.Tensor | None = None,
    backend: str = "auto",
) -> dict:
    """Render N Gaussians into one camera.

    Args:
        means: ``[N, 3]`` world positions.
        quats: ``[N, 4]`` wxyz rotations, any non-zero norm.
        scales: ``[N, 3]`` activated standard deviations (> 0).
        opacities: ``[N]`` activated opacities in [0, 1].
        camera: object with ``world_to_camera [4, 4]``, ``intrinsics [3, 3]``, ``width``,
            ``height`` (matrices are moved to the device and dtype of ``means``).
        sh_coeffs: ``[N, K, 3]`` SH coefficients; colour = max(SH(mean − camera centre) + 0.5, 0).
        sh_degree: degree to evaluate (≤ 3, (degree+1)² ≤ K); default: the largest K allows.
        colors: ``[N, 3]`` post-activation colours; used instead of SH when given.
        background: ``[3]`` colour behind the Gaussians; None = black.
        backend: ``"auto"``, ``"gsplat"`` or ``"torch"`` (see :func:`resolve_backend`).

    Returns:
        dict with ``image [H, W, 3]``, ``alpha [H, W, 1]``, ``radii [N, 2]`` int32 (0 = culled),
        ``means2d [N, 2]`` pixels, ``depths [N]`` camera z, ``visibility [N]`` bool (radii > 0),
        and ``info``: gsplat's layout with one camera (``means2d [1, N, 2]``, ``radii [1, N, 2]``,
        ``depths``, ``conics``, ``width``, ``height``, ``n_cameras = 1``,
        ``gaussian_ids = None``) so gsplat's ``DefaultStrategy`` runs on it. For densification
        call ``info["means2d"].retain_grad()`` (works with both backends); with the torch
        backend ``means2d`` itself can retain its gradient too. The torch backend also returns
        ``n_pairs`` (pixel–Gaussian pairs composited).

    Conventions (gsplat 1.5.3): pixel centres at +0.5, eps2d 0.3, near plane 0.01,
    α = min(0.999, o·exp(−σ)) skipped below 1/255, front to back by camera z, stop when the
    transmittance would fall to 1e-4 or below (exclusive), background added as (1 − alpha)·bg.
    """
    n = _check_gaussians(means, quats, scales, opacities)
    if colors is None:
        if sh_coeffs is None:
            raise ValueError("render needs either colors [N, 3] or sh_coeffs [N, K, 3]; both are None")
        if sh_coeffs.dim() != 3 or sh_coeffs.shape[0] != n or sh_coeffs.shape[2] != 3:
            raise ValueError(f"sh_coeffs must have shape [N={n}, K, 3], got {tuple(sh_coeffs.shape)}")
        max_degree = math.isqrt(sh_coeffs.shape[1]) - 1
        if sh_degree is None:
            sh_degree = min(max_degree, 3)
        if not 0 <= sh_degree <= min(max_degree, 3):
            raise ValueError(
                f"sh_degree {sh_degree} is not usable with {sh_coeffs.shape[1]} SH coefficients "
                f"(at most degree {min(max_degree, 3)})"
            )
    elif colors.dim() != 2 or colors.shape[0] != n:
        raise ValueError(f"colors must have shape [N={n}, D], got {tuple(colors.shape)}")

    width, height = int(camera.width), int(camera.height)
    if width <= 0 or height <= 0:
        raise ValueError(f"camera size must be positive, got width={camera.width}, height={camera.height}")
    world_to_camera = torch.as_tensor(camera.world_to_camera).to(device=means.device, dtype=means.dtype)
    intrinsics = torch.as_tensor(camera.intrinsics).to(device=means.device, dtype=means.dtype)
    if world_to_camera.shape != (4, 4) or intrinsics.shape != (3, 3):
        raise ValueError(
            f"camera needs world_to_camera [4, 4] and intrinsics [3, 3], got "
            f"{tuple(world_to_camera.shape)} and {tuple(intrinsics.shape)}"
        )
    chosen = resolve_backend(backend, means.device)
    module = gsplat_backend if chosen == "gsplat" else torch_backend
    return module.rasterize(
        means,
        quats,
        scales,
        opacities,
        world_to_camera,
        intrinsics,
        width,
        height,
        colors=colors,
        sh_coeffs=sh_coeffs if colors is None else None,
        sh_degree=sh_degree if colors is None else None,
        background=background,
    )


def _check_gaussians(means, quats, scales, opacities) -> int:
    """Validate the shapes of the Gaussian tensors; returns N."""
    if means.dim() != 2 or means.shape[1] != 3:
        raise ValueError(f"means must have shape [N, 3], got {tuple(means.shape)}")
    n = means.shape[0]
    expected = {"quats": (quats, (n, 4)), "scales": (scales, (n, 3)), "opacities": (opacities, (n,))}
    for label, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{label} must have shape {list(shape)}, got {list(tensor.shape)}")
    return n


__all__ = ["render", "resolve_backend", "BACKENDS"]

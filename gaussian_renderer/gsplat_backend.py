"""CUDA backend: ``gsplat.rasterization`` (gsplat 1.5.3), imported lazily.

This is the only module of the project that imports gsplat's rasteriser. gsplat has no CPU
path (every compute call on CPU tensors fails), so :func:`rasterize` refuses non-CUDA tensors
with a ``ValueError`` before touching gsplat.

Call made: ``rasterization(means, quats, scales, opacities, colors, viewmats[None], Ks[None],
width, height, sh_degree=…, backgrounds=…, packed=False, rasterize_mode="classic",
near_plane=0.01, eps2d=0.3)``; outputs are converted to the single-view dict of
``gaussian_renderer.render``. Note that gsplat's radii are opacity-aware (0 when o < 1/255,
``min(3.33, sqrt(2 ln(255 o)))`` σ otherwise), while the torch backend reports 3.33 σ.
"""

from __future__ import annotations

import importlib.util

import torch

from gaussian_renderer.projection import DEFAULT_EPS2D, DEFAULT_FAR, DEFAULT_NEAR

GSPLAT_DEVICE_TYPE = "cuda"


def is_supported_device(device: torch.device | str) -> bool:
    """True when ``device`` is a CUDA device (the only kind gsplat can rasterise on)."""
    return torch.device(device).type == GSPLAT_DEVICE_TYPE


def gsplat_installed() -> bool:
    """True when the ``gsplat`` package can be found (nothing is imported)."""
    return importlib.util.find_spec("gsplat") is not None


def rasterize(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    world_to_camera: torch.Tensor,
    intrinsics: torch.Tensor,
    width: int,
    height: int,
    *,
    colors: torch.Tensor | None = None,
    sh_coeffs: torch.Tensor | None = None,
    sh_degree: int | None = None,
    background: torch.Tensor | None = None,
    eps2d: float = DEFAULT_EPS2D,
    near_plane: float = DEFAULT_NEAR,
    far_plane: float = DEFAULT_FAR,
) -> dict:
    """Render one view with ``gsplat.rasterization`` (same arguments as the torch backend).

    Raises:
        ValueError: tensors not on a CUDA device, or not float32.
    """
    if not is_supported_device(means.device):
        raise ValueError(
            f"the gsplat backend needs CUDA tensors, but the Gaussians are on '{means.device}'; "
            "use backend='torch' (or 'auto') on this device"
        )
    if means.dtype != torch.float32:
        raise ValueError(
            f"the gsplat backend renders float32 only, got {means.dtype}; convert the Gaussians "
            "with .float() or use backend='torch'"
        )
    from gsplat import rasterization  # lazy: gsplat's CUDA extension loads on first use

    device = means.device
    viewmats = world_to_camera.to(device=device, dtype=torch.float32)[None]
    ks = intrinsics.to(device=device, dtype=torch.float32)[None]
    if colors is not None:
        feats, degree = colors, None
    else:
        feats, degree = sh_coeffs, sh_degree
    backgrounds = None
    if background is not None:
        backgrounds = background.to(device=device, dtype=torch.float32)[None]
    image, alpha, info = rasterization(
        means,
        quats,
        scales,
        opacities,
        feats,
        viewmats,
        ks,
        width,
        height,
        sh_degree=degree,
        backgrounds=backgrounds,
        packed=False,
        rasterize_mode="classic",
        near_plane=near_plane,
        far_plane=far_plane,
        eps2d=eps2d,
    )
    radii = info["radii"][0]
    depths = info["depths"][0]
    return {
        "image": image[0],
        "alpha": alpha[0],
        "radii": radii,
        "means2d": info["means2d"][0],
        "depths": depths,
        "visibility": (radii > 0).all(dim=-1),
        "info": info,
    }

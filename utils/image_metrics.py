"""Image losses and metrics: L1, PSNR, SSIM (train and eval variants), the 3DGS training loss.

Images are channels-last: ``[H, W, C]`` (or a batch ``[B, H, W, C]``), float, data range 1.

SSIM (Wang et al. 2004) with an 11×11 Gaussian window, σ = 1.5, C1 = 0.01², C2 = 0.03²:
    SSIM = ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2))
where μ, σ² and σxy are Gaussian-weighted local means, variances and covariance
(population form: E[x²] − E[x]²). The window is separable, so it is applied as two 1-D
convolutions.
- ``mode="train"``: zero-padded "same" convolution and the mean over every pixel and channel,
  as in 3DGS (Kerbl et al. 2023, ``utils/loss_utils.py``); differentiable.
- ``mode="eval"``: the map only where the window lies fully inside the image (a border of 5
  pixels is dropped), mean per channel, then over channels: the value of
  ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=1, channel_axis=-1)``. Computed in float64.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2


def l1_loss(img: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean absolute error ``mean(|img − gt|)`` over all elements. Shapes must match."""
    _check_pair(img, gt)
    return (img - gt).abs().mean()


def mse(img: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all elements."""
    _check_pair(img, gt)
    return ((img - gt) ** 2).mean()


def psnr(img: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for data range 1: ``−10·log10(mse)``.

    Identical images give +inf.
    """
    return -10.0 * torch.log10(mse(img, gt))


def gaussian_window_1d(
    size: int = SSIM_WINDOW,
    sigma: float = SSIM_SIGMA,
    dtype: torch.dtype = torch.float32,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Normalised 1-D Gaussian ``g_i ∝ exp(−(i − size//2)² / (2σ²))``, ``[size]``, Σ g = 1."""
    x = torch.arange(size, dtype=torch.float64) - (size // 2)
    g = torch.exp(-(x**2) / (2.0 * sigma**2))
    g = g / g.sum()
    return g.to(dtype=dtype, device=device)


def ssim(img: torch.Tensor, gt: torch.Tensor, mode: str = "train") -> torch.Tensor:
    """Structural similarity of two channels-last images (see the module docstring).

    Args:
        img, gt: ``[H, W, C]`` or ``[B, H, W, C]``, same shape, data range 1.
        mode: ``"train"`` (zero-padded same convolution, differentiable, dtype of the input)
            or ``"eval"`` (valid region, float64, equal to scikit-image's value).

    Returns:
        Scalar tensor (mean SSIM; for a batch, the mean over the batch).
    """
    _check_pair(img, gt)
    if img.dim() not in (3, 4):
        raise ValueError(
            f"ssim expects channels-last [H, W, C] or [B, H, W, C] images, got shape {tuple(img.shape)}"
        )
    if mode not in ("train", "eval"):
        raise ValueError(f"ssim mode must be 'train' or 'eval', got {mode!r}")
    x = img if img.dim() == 4 else img.unsqueeze(0)
    y = gt if gt.dim() == 4 else gt.unsqueeze(0)
    # to [B, C, H, W]
    x = x.permute(0, 3, 1, 2)
    y = y.permute(0, 3, 1, 2)
    if mode == "eval":
        x = x.double()
        y = y.double()
        height, width = x.shape[-2:]
        if height < SSIM_WINDOW or width < SSIM_WINDOW:
            raise ValueError(
                f"eval SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, "
                f"got {height}×{width}"
            )
    pad = SSIM_WINDOW // 2 if mode == "train" else 0
    batch, channels = x.shape[:2]
    maps = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # [B, 5C, H, W]
    filtered = _gaussian_filter(maps, pad)
    mu_x, mu_y, e_xx, e_yy, e_xy = filtered.split(channels, dim=1)
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov_xy = e_xy - mu_x * mu_y
    numerator = (2.0 * mu_x * mu_y + SSIM_C1) * (2.0 * cov_xy + SSIM_C2)
    denominator = (mu_x * mu_x + mu_y * mu_y + SSIM_C1) * (var_x + var_y + SSIM_C2)
    ssim_map = numerator / denominator  # [B, C, H', W']
    return ssim_map.mean()


def gaussian_training_loss(
    img: torch.Tensor, gt: torch.Tensor, lambda_dssim: float = 0.2
) -> torch.Tensor:
    """3DGS photometric loss ``(1 − λ)·L1 + λ·(1 − SSIM_train)``, λ = ``lambda_dssim``."""
    if not 0.0 <= lambda_dssim <= 1.0:
        raise ValueError(f"lambda_dssim must be in [0, 1], got {lambda_dssim}")
    return (1.0 - lambda_dssim) * l1_loss(img, gt) + lambda_dssim * (1.0 - ssim(img, gt, mode="train"))


def _gaussian_filter(maps: torch.Tensor, pad: int) -> torch.Tensor:
    """Separable 11-tap Gaussian filter per channel of ``[B, K, H, W]``; zero padding ``pad``."""
    channels = maps.shape[1]
    g = gaussian_window_1d(dtype=maps.dtype, device=maps.device)
    w_row = g.view(1, 1, 1, SSIM_WINDOW).expand(channels, 1, 1, SSIM_WINDOW)
    w_col = g.view(1, 1, SSIM_WINDOW, 1).expand(channels, 1, SSIM_WINDOW, 1)
    out = F.conv2d(maps, w_row, padding=(0, pad), groups=channels)
    return F.conv2d(out, w_col, padding=(pad, 0), groups=channels)


def _check_pair(img: torch.Tensor, gt: torch.Tensor) -> None:
    if img.shape != gt.shape:
        raise ValueError(
            f"image and reference must have the same shape, got {tuple(img.shape)} and {tuple(gt.shape)}"
        )


__all__ = [
    "SSIM_WINDOW",
    "SSIM_SIGMA",
    "SSIM_C1",
    "SSIM_C2",
    "l1_loss",
    "mse",
    "psnr",
    "ssim",
    "gaussian_training_loss",
    "gaussian_window_1d",
]

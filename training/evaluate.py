"""Render a list of views and score them: PSNR and SSIM per view and their means (3DGS protocol).

Renders are clamped to [0, 1] before scoring and saving (3DGS does the same). PSNR uses data
range 1 (``−10·log10(MSE)``); ``psnr_8bit`` scores the render rounded to 8 bits against the 8-bit
target (what a screen shows: float PSNR above about 58 dB is invisible there), SSIM is the evaluation SSIM of ``utils.image_metrics.ssim(mode="eval")``
(valid region, equal to scikit-image's Gaussian-weighted SSIM). Split means are the mean of the
per-view values, as 3DGS's ``metrics.py`` reports them. train.py (at test iterations) and
render.py (from the saved PLY) both go through :func:`evaluate_views`, so their numbers agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch

RenderFn = Callable[[Any], dict]
ViewCallback = Callable[[int, Any, torch.Tensor, torch.Tensor], None]


@dataclass
class ViewMetrics:
    name: str
    psnr: float
    ssim: float
    psnr_8bit: float = float("nan")


@dataclass
class EvalResult:
    views: list[ViewMetrics] = field(default_factory=list)

    def _over_views(self, key: str, reduce) -> float:
        values = [getattr(v, key) for v in self.views]
        return reduce(values) if values else float("nan")

    @property
    def psnr(self) -> float:
        """Mean PSNR over the views in dB (NaN when there are none)."""
        return self._over_views("psnr", lambda v: sum(v) / len(v))

    @property
    def ssim(self) -> float:
        return self._over_views("ssim", lambda v: sum(v) / len(v))

    @property
    def psnr_worst(self) -> float:
        """The lowest PSNR of any view in dB (NaN when there are none)."""
        return self._over_views("psnr", min)

    @property
    def psnr_8bit(self) -> float:
        """Mean PSNR of the 8-bit renders against the 8-bit targets in dB (inf where they are equal)."""
        return self._over_views("psnr_8bit", lambda v: sum(v) / len(v))

    @property
    def psnr_8bit_worst(self) -> float:
        return self._over_views("psnr_8bit", min)

    def summary(self) -> dict[str, Any]:
        return {"PSNR": self.psnr, "SSIM": self.ssim, "n_views": len(self.views), "PSNR_worst": self.psnr_worst,
                "PSNR_8bit": self.psnr_8bit, "PSNR_8bit_worst": self.psnr_8bit_worst}


@torch.no_grad()
def evaluate_views(
    render_fn: RenderFn,
    cameras: Sequence[Any],
    device: torch.device,
    on_view: Optional[ViewCallback] = None,
) -> EvalResult:
    """Render every camera with ``render_fn(camera)["image"]`` and score it against ``camera.image()``.

    ``on_view(i, camera, render [H,W,3] in [0,1], gt [H,W,3])`` is called per view (to save PNGs
    or log images).
    """
    from utils.image_metrics import psnr, ssim

    result = EvalResult()
    for i, cam in enumerate(cameras):
        image = render_fn(cam)["image"].clamp(0.0, 1.0)
        gt = cam.image(device=device)
        gt8 = cam.image_uint8.to(device=device, dtype=torch.float32) / 255.0
        image8 = (image * 255.0).round() / 255.0
        result.views.append(
            ViewMetrics(name=str(cam.name), psnr=float(psnr(image, gt)), ssim=float(ssim(image, gt, mode="eval")),
                        psnr_8bit=float(psnr(image8, gt8)))
        )
        if on_view is not None:
            on_view(i, cam, image, gt)
    return result


def evenly_spaced(items: Sequence[Any], count: int) -> list[Any]:
    """Up to ``count`` items spread over ``items`` (first included); all of them when fewer."""
    n = len(items)
    if count <= 0 or n == 0:
        return []
    if count >= n:
        return list(items)
    return [items[(i * n) // count] for i in range(count)]

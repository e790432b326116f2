"""The views a compression run fits and scores on, behind one interface (DESIGN §3).

A :class:`ViewSet` has ``train_cameras`` (the fitting views: importance and pruning, sensitivity,
fine-tuning) and ``test_cameras`` (held out: never fitted, they score the result), like
``scene.SceneData``, so ``compression.pipeline.run_compression`` takes either. Two sources:

- **photos** (:func:`photo_views`): a scene's cameras and images (``-s``), the 3DGS split;
- **virtual** (:func:`virtual_views`): cameras placed from the Gaussians alone
  (``scene/virtual_cameras.py``) with renders of the original model as targets (self-distillation).
  Targets are float32 renders clamped to [0, 1] (``Camera.image_float``); uint8 would cap PSNR near
  59 dB and hide what the codec loses. Fitting and held-out cameras come from the same layout with
  shifted patterns, so no held-out view coincides with a fitting one.

:func:`view_schedule` scales the number of views, their size and the fine-tuning iterations with the
number of Gaussians, so that a default image-free run stays within a few minutes on a 2-core CPU
(the figures are in the README's table, from ``scripts/bench_rd.py --image_free``).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import torch

from compression.attributes import render_attributes
from compression.evaluate import source_gaussians
from scene.cameras import Camera
from scene.virtual_cameras import FrameParams, place_cameras, push_out_of_cores, scene_frame

logger = logging.getLogger(__name__)

__all__ = ["ViewSet", "ViewSchedule", "view_schedule", "photo_views", "virtual_views", "in_frustum"]


@dataclass
class ViewSet:
    """Fitting views (``train_cameras``) and held-out views (``test_cameras``), and where they came from."""

    train_cameras: list
    test_cameras: list
    kind: str  # "photos" | "virtual"
    description: dict = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class ViewSchedule:
    """How many virtual views, how large, and how many fine-tuning iterations."""

    n_views: int
    n_heldout: int
    long_side: int
    iterations: int


#: Gaussians up to which the full schedule is used; above, the work per Gaussian shrinks (view_schedule)
FULL_SCHEDULE_GAUSSIANS = 200_000


def view_schedule(n_gaussians: int, *, n_views: Optional[int] = None, n_heldout: int = 8,
                  long_side: Optional[int] = None, iterations: Optional[int] = None) -> ViewSchedule:
    """Defaults scaled with the scene (explicit values win).

    Up to 200k Gaussians: 32 fitting views of 320 px and 100 fine-tuning iterations. Above, the
    render cost grows with N, so the pixels per view shrink as √(200k/N) (at least 192 px), the views
    to 24 and the iterations as 200k/N (at least 30): about the same CPU time per run up to 500k.
    """
    n = max(1, int(n_gaussians))
    scale = min(1.0, FULL_SCHEDULE_GAUSSIANS / n)
    side = long_side if long_side is not None else max(192, int(round(320 * math.sqrt(scale) / 16)) * 16)
    views = n_views if n_views is not None else (32 if scale >= 1.0 else 24)
    iters = iterations if iterations is not None else max(30, int(round(100 * scale)))
    if views < 1 or n_heldout < 1 or side < 16 or iters < 0:
        raise ValueError(f"virtual views need n_views >= 1, n_heldout >= 1, a side >= 16 px and iterations >= 0; "
                         f"got {views}, {n_heldout}, {side}, {iters}")
    return ViewSchedule(n_views=views, n_heldout=n_heldout, long_side=side, iterations=iters)


def photo_views(scene: Any) -> ViewSet:
    """The scene's cameras as a :class:`ViewSet` (train / test split of the scene)."""
    return ViewSet(list(scene.train_cameras), list(scene.test_cameras), "photos",
                   {"source": "photos", "n_train": len(scene.train_cameras), "n_test": len(scene.test_cameras)})


def virtual_views(source: Any, schedule: ViewSchedule, *, background: torch.Tensor, backend: str,
                  layout: str = "auto", fov_deg: float = 60.0, aspect: float = 0.75,
                  params: FrameParams = FrameParams()) -> ViewSet:
    """Fitting and held-out virtual views of ``source`` (a ``scene.GaussianModel``), targets rendered from it.

    Args:
        schedule: counts and size (:func:`view_schedule`); layout: ``auto|forward|orbit|sphere``;
        fov_deg: horizontal field of view; aspect: height / width of the views.
    """
    t0 = time.perf_counter()
    device = source.means.device
    with torch.no_grad():
        opac = source.opacities_act.detach()
        frame = scene_frame(source.means.detach().cpu().numpy(), opac.cpu().numpy(), params, layout)
    width = int(schedule.long_side)
    height = max(16, int(round(width * aspect)))
    fit = place_cameras(frame, schedule.n_views, width, height, fov_deg, params, phase=0.5)
    held = place_cameras(frame, schedule.n_heldout, width, height, fov_deg, params, phase=0.0)
    # one core check for all cameras (it builds every Gaussian's rotation once)
    cams_all, moved_total = push_out_of_cores(fit + held, frame, source.means, source.quats_wxyz, source.log_scales,
                                              opac, params)
    fit, held = cams_all[:len(fit)], cams_all[len(fit):]
    gauss = source_gaussians(source)
    sh_degree = int(getattr(source, "active_sh_degree", source.max_sh_degree))
    bg = background.to(device, torch.float32)
    sets = []
    for prefix, cams in (("virtual", fit), ("virtual_heldout", held)):
        out = []
        for i, (w2c, k) in enumerate(cams):
            cam = Camera(f"{prefix}_{i:03d}", torch.from_numpy(w2c).float(), torch.from_numpy(k).float(), width, height,
                         torch.zeros(height, width, 3, dtype=torch.uint8))
            with torch.no_grad():
                image = render_attributes(gauss, cam, bg, backend, sh_degree)["image"].clamp(0.0, 1.0)
            image = image.detach().to("cpu", torch.float32).contiguous()
            cam.image_float = image
            cam.image_uint8 = (image * 255.0).round().to(torch.uint8)
            out.append(cam)
        sets.append(out)
    coverage = _coverage(source.means.detach(), sets[0])
    description = {"source": "virtual", **frame.describe(), "n_views": schedule.n_views, "n_heldout": schedule.n_heldout,
                   "width": width, "height": height, "fov_deg": float(fov_deg), "moved_out_of_cores": moved_total,
                   "in_frustum_median": coverage}
    seconds = time.perf_counter() - t0
    logger.info("virtual views: layout %s (auto: %s), %d fitting + %d held-out views of %dx%d, fov %.0f deg; "
                "median Gaussian inside %.0f %% of the frusta; %.1f s", frame.layout, frame.stats["auto_layout"],
                len(sets[0]), len(sets[1]), width, height, fov_deg, 100 * coverage, seconds)
    return ViewSet(sets[0], sets[1], "virtual", description, seconds)


def in_frustum(means: torch.Tensor, cam: Camera, near: float = 0.01) -> torch.Tensor:
    """[N] bool: the centre projects inside the image and lies in front of the camera (beyond ``near``)."""
    w2c = cam.world_to_camera.to(means)
    k = cam.intrinsics.to(means)
    p = means @ w2c[:3, :3].T + w2c[:3, 3]
    z = p[:, 2]
    u = k[0, 0] * p[:, 0] / z.clamp(min=1e-9) + k[0, 2]
    v = k[1, 1] * p[:, 1] / z.clamp(min=1e-9) + k[1, 2]
    return (z > near) & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)


def _coverage(means: torch.Tensor, cams: Sequence[Camera]) -> float:
    """Median over Gaussians of the fraction of ``cams`` whose frustum holds the Gaussian's centre."""
    if not cams:
        return 0.0
    count = torch.zeros(means.shape[0], dtype=torch.float32, device=means.device)
    for cam in cams:
        count += in_frustum(means, cam).float()
    return float(np.median((count / len(cams)).cpu().numpy()))

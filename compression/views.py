"""The views a compression run fits and scores on, behind one interface (DESIGN §3).

A :class:`ViewSet` has ``train_cameras`` (the fitting views: importance and pruning, sensitivity,
fine-tuning) and ``test_cameras`` (held out: never fitted, they score the result), like
``scene.SceneData``, so ``compression.pipeline.run_compression`` takes either. Two sources:

- **photos** (:func:`photo_views`): a scene's cameras and images (``-s``), the 3DGS split;
- **virtual** (:func:`virtual_views`): cameras placed from the Gaussians alone
  (``scene/virtual_cameras.py``) with renders of the original model as targets (self-distillation).
  Targets are float32 renders clamped to [0, 1] (``Camera.image_float``, and their 8-bit rounding in
  ``image_uint8`` for the 8-bit score); uint8 alone would cap PSNR near 59 dB and hide what the codec
  loses. The fitting cameras follow the layout (all around by default); the held-out cameras never do:
  a Fibonacci sphere at two distances turned by a seeded random rotation, random roll
  (``scene.virtual_cameras.evaluation_cameras``), so the score does not depend on the layout's guess.

:func:`view_schedule` scales the number of views, their size and the fine-tuning iterations with the
number of Gaussians, so that a default image-free run stays within a few minutes on a 2-core CPU
(the figures are in docs/benchmarks.md, from ``scripts/bench_rd.py --image_free``).
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from compression.attributes import render_attributes
from compression.evaluate import source_gaussians
from scene.cameras import Camera
from scene.virtual_cameras import FrameParams, evaluation_cameras, fitting_cameras, push_out_of_cores, scene_frame

logger = logging.getLogger(__name__)

__all__ = ["ViewSet", "ViewSchedule", "view_schedule", "photo_views", "virtual_views", "render_target", "rotated_camera",
           "EVALUATION_SEED"]

#: seed of the held-out views' random rotation and rolls (fixed: two runs score on the same views)
EVALUATION_SEED = 0


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


def view_schedule(n_gaussians: int, *, n_views: Optional[int] = None, n_heldout: int = 16,
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
        means_np, opac_np = source.means.detach().cpu().numpy(), opac.cpu().numpy()
        frame = scene_frame(means_np, opac_np, params, layout)
    width = int(schedule.long_side)
    height = max(16, int(round(width * aspect)))
    fit, added = fitting_cameras(frame, schedule.n_views, width, height, means_np, opac_np, fov_deg, params)
    held = evaluation_cameras(frame, schedule.n_heldout, width, height, fov_deg, params, seed=EVALUATION_SEED,
                              means=means_np, opacities=opac_np)
    # one core check for all cameras (it builds every Gaussian's rotation once)
    cams_all, moved_total = push_out_of_cores(fit + held, frame, source.means, source.quats_wxyz, source.log_scales,
                                              opac, params)
    fit, held = cams_all[:len(fit)], cams_all[len(fit):]
    bg = background.to(device, torch.float32)
    sets = [[render_target(source, f"{prefix}_{i:03d}", w2c, k, width, height, bg, backend) for i, (w2c, k) in enumerate(cams)]
            for prefix, cams in (("virtual", fit), ("virtual_heldout", held))]
    description = {"source": "virtual", **frame.describe(), "n_views": len(sets[0]), "n_heldout": len(sets[1]),
                   "heldout_views": "layout-independent: Fibonacci sphere at 2 distances, random rotation and roll",
                   "views_added": {key: added[key] for key in ("n_front", "n_inside", "n_coverage")},
                   "width": width, "height": height, "fov_deg": float(fov_deg), "moved_out_of_cores": moved_total,
                   "frustum_coverage": round(float(added["coverage"]), 6)}
    seconds = time.perf_counter() - t0
    logger.info("virtual views: layout %s (shape: %s%s), %d fitting views (%d front, %d inside, %d for coverage) + "
                "%d layout-independent held-out views of %dx%d, fov %.0f deg; %.2f %% of the opacity inside a fitting "
                "view; %.1f s", frame.layout, frame.shape, ", surrounds its centre" if frame.surrounds else "",
                len(sets[0]), added["n_front"], added["n_inside"], added["n_coverage"], len(sets[1]), width, height,
                fov_deg, 100 * added["coverage"], seconds)
    return ViewSet(sets[0], sets[1], "virtual", description, seconds)


def render_target(source: Any, name: str, w2c: np.ndarray, k: np.ndarray, width: int, height: int,
                  background: torch.Tensor, backend: str) -> Camera:
    """A camera whose target is the float render of ``source`` (and its 8-bit rounding)."""
    cam = Camera(name, torch.from_numpy(np.asarray(w2c)).float(), torch.from_numpy(np.asarray(k)).float(), width, height,
                 torch.zeros(height, width, 3, dtype=torch.uint8))
    sh_degree = int(getattr(source, "active_sh_degree", source.max_sh_degree))
    with torch.no_grad():
        image = render_attributes(source_gaussians(source), cam, background, backend, sh_degree)["image"].clamp(0.0, 1.0)
    image = image.detach().to("cpu", torch.float32).contiguous()
    cam.image_float = image
    cam.image_uint8 = (image * 255.0).round().to(torch.uint8)
    return cam


def rotated_camera(cam: Camera, rotation: np.ndarray, translation: Optional[np.ndarray] = None) -> Camera:
    """The same view of content moved by x' = R·x + t: world_to_camera' = world_to_camera · [Rᵀ, −Rᵀt; 0, 1]
    (same intrinsics and images)."""
    rot = np.asarray(rotation, dtype=np.float64)
    t = np.zeros(3) if translation is None else np.asarray(translation, dtype=np.float64)
    inv = np.eye(4)
    inv[:3, :3] = rot.T
    inv[:3, 3] = -rot.T @ t
    w2c = cam.world_to_camera.to(torch.float64).numpy() @ inv
    out = Camera(cam.name, torch.from_numpy(w2c).float(), cam.intrinsics.clone(), cam.width, cam.height, cam.image_uint8)
    out.image_float = cam.image_float
    return out

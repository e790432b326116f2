"""Helpers for the scene tests: a tiny demo scene (16 views, 64×64) written in both formats."""
from __future__ import annotations

import shutil
from pathlib import Path

from scene.demo_scene import generate_demo, write_blender, write_colmap

TINY = dict(seed=0, n_views=16, size=64, supersample=2, n_points=400)


def build_tiny_scenes(root: Path, **overrides) -> dict[str, Path]:
    """Render the tiny demo once and write it as ``root/blender`` and ``root/colmap`` (binary +
    text in ``sparse/0``). Returns {"blender": path, "colmap": path}."""
    params = dict(TINY, **overrides)
    demo = generate_demo(**params)
    return {"blender": write_blender(demo, root / "blender"),
            "colmap": write_colmap(demo, root / "colmap", write_text=True)}


def copy_scene(src: Path, dst: Path) -> Path:
    """A private copy of a scene folder that a test may damage."""
    shutil.copytree(src, dst)
    return dst


def small_camera(size: int = 32, distance: float = 3.0):
    """A camera at (0, -distance, 0) looking at the origin (OpenCV axes, world z up), 50° FoV,
    with a black image."""
    import math

    import numpy as np
    import torch

    from scene.cameras import Camera, focal_from_fov, intrinsics_matrix
    from scene.demo_scene import look_at_c2w

    c2w = look_at_c2w(np.array([0.0, -distance, 0.0]), np.zeros(3))
    f = focal_from_fov(math.radians(50.0), size)
    return Camera(name="small", world_to_camera=torch.from_numpy(np.linalg.inv(c2w)).float(),
                  intrinsics=torch.from_numpy(intrinsics_matrix(f, f, size / 2, size / 2)).float(),
                  width=size, height=size, image_uint8=torch.zeros(size, size, 3, dtype=torch.uint8))

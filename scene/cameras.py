"""Pinhole cameras with their images, in the OpenCV / COLMAP convention.

Convention (the one gsplat 1.5.3 uses):
- ``world_to_camera`` [4, 4] maps world points to camera coordinates with x right, y down,
  z forward (OpenCV). The camera centre is ``C = -Rᵀ t``.
- ``intrinsics`` K [3, 3] = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in pixels; a camera point
  (x, y, z) lands at u = fx·x/z + cx, v = fy·y/z + cy, where the centre of pixel column j is
  u = j + 0.5 (so cx = W/2 for a centred principal point).
- The image is kept on the CPU as ``uint8`` [H, W, 3]; ``image()`` converts it when needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch


def focal_from_fov(fov_rad: float, pixels: float) -> float:
    """Focal length in pixels for a field of view: f = pixels / (2·tan(fov/2))."""
    return pixels / (2.0 * math.tan(fov_rad / 2.0))


def fov_from_focal(focal: float, pixels: float) -> float:
    """Field of view in radians for a focal length in pixels: fov = 2·atan(pixels / (2f))."""
    return 2.0 * math.atan(pixels / (2.0 * focal))


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """K [3, 3] float64 from focal lengths and principal point (pixels)."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


@dataclass
class Camera:
    """One view: pose, intrinsics, size and its image.

    Fields:
        name: image name without extension (e.g. ``"r_0"`` or ``"view_003"``).
        world_to_camera: [4, 4] float32, OpenCV axes (x right, y down, z forward).
        intrinsics: [3, 3] float32 K in pixels (pixel centres at +0.5).
        width, height: image size in pixels.
        image_uint8: [H, W, 3] uint8 on the CPU (RGB, already composited on the background).
        image_float: optional [H, W, 3] float32 target in [0, 1] on the CPU; when set, ``image()``
            returns it instead of ``image_uint8 / 255`` (virtual views keep their float renders:
            uint8 would cap PSNR near 59 dB and hide what a codec loses).
    """

    name: str
    world_to_camera: torch.Tensor
    intrinsics: torch.Tensor
    width: int
    height: int
    image_uint8: torch.Tensor
    image_float: Optional[torch.Tensor] = None

    def __post_init__(self) -> None:
        if tuple(self.world_to_camera.shape) != (4, 4):
            raise ValueError(f"camera {self.name!r}: world_to_camera must be [4, 4], "
                             f"got {tuple(self.world_to_camera.shape)}")
        if tuple(self.intrinsics.shape) != (3, 3):
            raise ValueError(f"camera {self.name!r}: intrinsics must be [3, 3], "
                             f"got {tuple(self.intrinsics.shape)}")
        expected = (int(self.height), int(self.width), 3)
        if tuple(self.image_uint8.shape) != expected or self.image_uint8.dtype != torch.uint8:
            raise ValueError(f"camera {self.name!r}: image must be uint8 {list(expected)}, got "
                             f"{self.image_uint8.dtype} {list(self.image_uint8.shape)}")
        if self.image_float is not None and (tuple(self.image_float.shape) != expected
                                             or self.image_float.dtype != torch.float32):
            raise ValueError(f"camera {self.name!r}: image_float must be float32 {list(expected)}, got "
                             f"{self.image_float.dtype} {list(self.image_float.shape)}")

    def image(self, device: torch.device | str | None = None) -> torch.Tensor:
        """[H, W, 3] float32 in [0, 1] (``image_float``, else uint8 / 255), on ``device`` (default CPU)."""
        if self.image_float is not None:
            return self.image_float if device is None else self.image_float.to(device)
        img = self.image_uint8
        if device is not None:
            img = img.to(device)
        return img.to(torch.float32) / 255.0

    @property
    def camera_center(self) -> torch.Tensor:
        """[3] camera centre in world coordinates, C = -Rᵀ t (same dtype/device as the pose)."""
        rot = self.world_to_camera[:3, :3]
        trans = self.world_to_camera[:3, 3]
        return -(rot.T @ trans)

    @property
    def fov_x(self) -> float:
        """Horizontal field of view in radians, 2·atan(W / (2 fx))."""
        return fov_from_focal(float(self.intrinsics[0, 0]), self.width)

    @property
    def fov_y(self) -> float:
        """Vertical field of view in radians, 2·atan(H / (2 fy))."""
        return fov_from_focal(float(self.intrinsics[1, 1]), self.height)

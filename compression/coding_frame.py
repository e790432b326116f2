"""The coding frame an encoder picks (``--coding_frame``; what a file stores is in codec/frame.py).

``content``: the content's own axes, the principal axes of its opacity-weighted core as
``scene.virtual_cameras.scene_frame`` finds them (weighted PCA, each axis signed by the core's third
moment, e₃ = e₁ × e₂). They turn with the content, so a turned copy of a capture becomes the same
coded content: the same octree, the same Euler angles, the same SH coefficients, and the same file up
to float rounding. ``world``: the input's axes (the identity frame).

The run then works on the content in its own axes: :func:`into_frame` turns the Gaussians and
:func:`cameras_into_frame` the views (their images stay: the same content seen from the same place),
and the file stores the frame so that every decoder turns the content back.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from arguments.compression import CODING_FRAMES
from codec.frame import IDENTITY_FRAME, frame_matrix
from scene.transform import rotate_gaussians
from utils.rotations import euler_to_quat, rotmat_to_euler

__all__ = ["CODING_FRAMES", "content_frame", "into_frame", "cameras_into_frame"]


def content_frame(means: np.ndarray, opacities: np.ndarray) -> np.ndarray:
    """float32 [4] unit quaternion (w x y z) of the principal axes of the Gaussians' core."""
    from scene.virtual_cameras import scene_frame

    axes = scene_frame(np.asarray(means, dtype=np.float64), np.asarray(opacities, dtype=np.float64)).axes
    q = euler_to_quat(rotmat_to_euler(torch.as_tensor(axes, dtype=torch.float64)))
    q = q * torch.sign(q[0]) if float(q[0]) != 0.0 else q  # w >= 0: one of the two equal quaternions
    q = (q / q.norm()).numpy().astype(np.float32)
    return IDENTITY_FRAME.copy() if not np.isfinite(q).all() else q


def into_frame(source: Any, frame: np.ndarray) -> Any:
    """A ``scene.GaussianModel`` of ``source`` turned into the frame (by Mᵀ), on the same device."""
    from scene.gaussian_model import GaussianModel

    turned = rotate_gaussians(source.to_arrays(), frame_matrix(frame).numpy().T)
    return GaussianModel.from_arrays(turned, active_sh_degree=source.active_sh_degree, device=source.means.device)


def cameras_into_frame(cameras: Sequence[Any], frame: np.ndarray) -> list:
    """The same views of the content turned into the frame (``compression.views.rotated_camera``)."""
    from compression.views import rotated_camera

    inverse = frame_matrix(frame).numpy().T
    return [rotated_camera(cam, inverse) for cam in cameras]

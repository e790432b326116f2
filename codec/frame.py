"""The coding frame of format version 4: the axes a file codes its content in.

A version-4 file stores a unit quaternion F (``geometry.npz`` key ``frame``, float32 [4], w x y z;
``[1, 0, 0, 0]`` means the world's own axes). Everything else in the file (the voxel grid and its
bbox, the Euler angles, the SH coefficients) describes the content turned by F⁻¹, i.e. in its own
axes, so that a turned copy of the same content codes alike. The decoder turns it back, in float64
with float32 results:

- M = the rotation matrix of F normalised in float64 (``utils.rotations.quat_to_rotmat``);
- position x = M·c of the voxel centre c (float32), summed as (M_k0·c_0 + M_k1·c_1) + M_k2·c_2;
- rotation q_F ⊗ q of the decoded quaternion q (``utils.rotations.quat_multiply``);
- SH bands 1..3 of each colour: sh = A_l·sh_coded, A_l the band-l rotation for M
  (``utils.sh.sh_rotation``: the colour turned with the content, c'(d) = c(Mᵀd)).

An identity frame skips all three (the decode is then bit-exact with version 3). A reader refuses a
frame that is not finite or whose norm is not 1 within :data:`NORM_TOLERANCE`.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from utils.rotations import quat_multiply, quat_to_rotmat
from utils.sh import sh_rotation

from .container import CompressedFormatError

__all__ = ["IDENTITY_FRAME", "NORM_TOLERANCE", "check_frame", "is_identity", "frame_matrix", "frame_positions",
           "frame_quaternions", "frame_sh"]

IDENTITY_FRAME = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
#: how far from 1 the stored quaternion's norm may be (float32 rounding of a unit quaternion is ~1e-7)
NORM_TOLERANCE = 1e-4


def check_frame(frame: np.ndarray, where: str) -> np.ndarray:
    """``frame`` as float32 [4] if it is a finite unit quaternion; :class:`CompressedFormatError` otherwise."""
    frame = np.asarray(frame)
    if frame.dtype != np.float32 or frame.shape != (4,):
        raise CompressedFormatError(f"{where}: frame must be float32 [4] (a quaternion w x y z), got {frame.dtype} "
                                    f"{list(frame.shape)}")
    if not np.isfinite(frame).all() or abs(float(np.linalg.norm(frame.astype(np.float64))) - 1.0) > NORM_TOLERANCE:
        raise CompressedFormatError(f"{where}: frame {frame.tolist()} is not a unit quaternion")
    return frame


def is_identity(frame: Optional[np.ndarray]) -> bool:
    return frame is None or np.array_equal(np.asarray(frame), IDENTITY_FRAME)


def frame_matrix(frame: np.ndarray) -> torch.Tensor:
    """[3, 3] float64 rotation matrix M of the stored quaternion."""
    return quat_to_rotmat(torch.as_tensor(np.asarray(frame), dtype=torch.float64))


def frame_positions(centres: torch.Tensor, frame: Optional[np.ndarray]) -> torch.Tensor:
    """World positions [N, 3] float32 of coded positions ``centres`` [N, 3] float32 (module docstring)."""
    if is_identity(frame):
        return centres
    m = frame_matrix(frame).to(centres.device)
    c = centres.to(torch.float64)
    cols = [(m[k, 0] * c[:, 0] + m[k, 1] * c[:, 1]) + m[k, 2] * c[:, 2] for k in range(3)]
    return torch.stack(cols, dim=1).to(torch.float32)


def frame_quaternions(quats: torch.Tensor, frame: Optional[np.ndarray]) -> torch.Tensor:
    """World rotations q_F ⊗ q [N, 4] of coded unit quaternions ``quats`` (float32 out)."""
    if is_identity(frame):
        return quats
    qf = torch.nn.functional.normalize(torch.as_tensor(np.asarray(frame), dtype=torch.float64), dim=0).to(quats.device)
    return quat_multiply(qf.expand(quats.shape[0], 4), quats.to(torch.float64)).to(quats.dtype)


def frame_sh(sh_rest: torch.Tensor, frame: Optional[np.ndarray]) -> torch.Tensor:
    """World SH bands 1..deg [N, K−1, 3] of coded ones (float32 out)."""
    if is_identity(frame) or sh_rest.shape[1] == 0:
        return sh_rest
    degree = int(round((sh_rest.shape[1] + 1) ** 0.5)) - 1
    a = sh_rotation(degree, frame_matrix(frame)).to(sh_rest.device)
    return torch.einsum("ij,njc->nic", a, sh_rest.to(torch.float64)).to(sh_rest.dtype)

"""VGGT pose encoding ("absT_quaR_FoV") ↔ camera matrices, and depth unprojection.

Layout of ``pose_enc [..., 9]``: [t_x, t_y, t_z, q_x, q_y, q_z, q_w, fov_h, fov_w]
- quaternion XYZW (scalar last); a non-unit quaternion is implicitly normalised;
- FoVs are full angles in radians for the image size (H, W) fed to the model.

Extrinsic [R | t] is camera-from-world, OpenCV convention (x right, y down, z forward):
X_cam = R·X_world + t; camera centre C = −Rᵀt.  By training convention the world frame is
the first frame's camera.

Intrinsics: f_y = (H/2)/tan(fov_h/2), f_x = (W/2)/tan(fov_w/2), c_x = W/2, c_y = H/2.
Inverse: fov_h = 2·atan((H/2)/f_y), fov_w = 2·atan((W/2)/f_x); the quaternion is recovered with
the best-conditioned of the four standard candidates and standardised to q_w ≥ 0.

Depth to points (pixel u = column, v = row, integers from 0):
X_cam = ((u − c_x)·d/f_x, (v − c_y)·d/f_y, d), X_world = Rᵀ(X_cam − t).
"""

from __future__ import annotations

from typing import Sequence, Tuple

import torch

POSE_ENCODING_TYPE = "absT_quaR_FoV"


def _image_hw(image_size_hw: Sequence[int]) -> Tuple[int, int]:
    if len(image_size_hw) != 2:
        raise ValueError(f"image_size_hw must be (H, W), got {image_size_hw!r}")
    h, w = int(image_size_hw[0]), int(image_size_hw[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"image_size_hw must be positive, got {image_size_hw!r}")
    return h, w


def quat_to_mat(quat_xyzw: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``[..., 3, 3]`` from quaternions ``[..., 4]`` (x, y, z, w; any norm)."""
    x, y, z, w = quat_xyzw.unbind(-1)
    s = 2.0 / (quat_xyzw * quat_xyzw).sum(-1)
    rows = [
        1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w),
        s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w),
        s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y),
    ]
    return torch.stack(rows, dim=-1).reshape(*quat_xyzw.shape[:-1], 3, 3)


def mat_to_quat(rot: torch.Tensor) -> torch.Tensor:
    """Unit quaternions ``[..., 4]`` (x, y, z, w) with w ≥ 0 from rotation matrices ``[..., 3, 3]``.

    Four candidates (largest |w|, |x|, |y| or |z| first) are formed from the diagonal and the
    off-diagonal sums/differences; the one with the largest pivot is kept (numerically stable).
    """
    if rot.shape[-2:] != (3, 3):
        raise ValueError(f"mat_to_quat expects [..., 3, 3], got {tuple(rot.shape)}")
    m = rot
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # 4·q_i² for (w, x, y, z)
    four_sq = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    pivot = torch.sqrt(torch.clamp(four_sq, min=0.0))  # 2·|q_i|
    # candidate c scaled by 2·q_c (rows: pivot on w, x, y, z), components (w, x, y, z)
    cands = torch.stack(
        [
            torch.stack([pivot[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], -1),
            torch.stack([m21 - m12, pivot[..., 1] ** 2, m10 + m01, m02 + m20], -1),
            torch.stack([m02 - m20, m10 + m01, pivot[..., 2] ** 2, m12 + m21], -1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, pivot[..., 3] ** 2], -1),
        ],
        dim=-2,
    )  # [..., 4 candidates, 4 components]; candidate c = 4·q_c·q
    denom = 2.0 * torch.clamp(pivot, min=0.1)[..., None]
    cands = cands / denom
    best = pivot.argmax(dim=-1)
    idx = best[..., None, None].expand(*best.shape, 1, 4)
    q_wxyz = torch.gather(cands, -2, idx).squeeze(-2)
    q_wxyz = q_wxyz / q_wxyz.norm(dim=-1, keepdim=True)
    q_xyzw = torch.cat([q_wxyz[..., 1:], q_wxyz[..., :1]], dim=-1)
    return torch.where(q_xyzw[..., 3:] < 0, -q_xyzw, q_xyzw)


def pose_encoding_to_extri_intri(
    pose_enc: torch.Tensor, image_size_hw: Sequence[int], min_fov: float = 1e-6
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``pose_enc [..., 9]`` → (extrinsics [..., 3, 4] camera-from-world, intrinsics [..., 3, 3]).

    ``min_fov`` (radians) clamps the FoV before tan(): the head's ReLU can output exactly 0,
    which would give an infinite focal length.
    """
    if pose_enc.shape[-1] != 9:
        raise ValueError(f"pose_enc must end in 9 values ({POSE_ENCODING_TYPE}), got {tuple(pose_enc.shape)}")
    h, w = _image_hw(image_size_hw)
    t = pose_enc[..., :3]
    rot = quat_to_mat(pose_enc[..., 3:7])
    fov_h = pose_enc[..., 7].clamp(min=min_fov)
    fov_w = pose_enc[..., 8].clamp(min=min_fov)
    fy = (h / 2.0) / torch.tan(fov_h / 2.0)
    fx = (w / 2.0) / torch.tan(fov_w / 2.0)
    extrinsics = torch.cat([rot, t[..., None]], dim=-1)
    intrinsics = torch.zeros(*pose_enc.shape[:-1], 3, 3, dtype=pose_enc.dtype, device=pose_enc.device)
    intrinsics[..., 0, 0] = fx
    intrinsics[..., 1, 1] = fy
    intrinsics[..., 0, 2] = w / 2.0
    intrinsics[..., 1, 2] = h / 2.0
    intrinsics[..., 2, 2] = 1.0
    return extrinsics, intrinsics


def extri_intri_to_pose_encoding(
    extrinsics: torch.Tensor, intrinsics: torch.Tensor, image_size_hw: Sequence[int]
) -> torch.Tensor:
    """(extrinsics [..., 3, 4], intrinsics [..., 3, 3]) → ``pose_enc [..., 9]`` (q_w ≥ 0)."""
    if extrinsics.shape[-2:] != (3, 4) or intrinsics.shape[-2:] != (3, 3):
        raise ValueError(f"expected extrinsics [..., 3, 4] and intrinsics [..., 3, 3], got "
                         f"{tuple(extrinsics.shape)} and {tuple(intrinsics.shape)}")
    h, w = _image_hw(image_size_hw)
    quat = mat_to_quat(extrinsics[..., :3, :3])
    t = extrinsics[..., :3, 3]
    fov_h = 2 * torch.atan((h / 2.0) / intrinsics[..., 1, 1])
    fov_w = 2 * torch.atan((w / 2.0) / intrinsics[..., 0, 0])
    return torch.cat([t, quat, fov_h[..., None], fov_w[..., None]], dim=-1)


def camera_centers(extrinsics: torch.Tensor) -> torch.Tensor:
    """Camera centres in world coordinates ``[..., 3]`` = −Rᵀt from extrinsics ``[..., 3, 4]``."""
    rot, t = extrinsics[..., :3, :3], extrinsics[..., :3, 3:]
    return -(rot.transpose(-1, -2) @ t)[..., 0]


def align_quaternion_sign(pose_enc: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Flip the quaternion of ``pose_enc [..., 9]`` where ⟨q, q_ref⟩ < 0 (q and −q are the same
    rotation), so that elementwise comparisons with ``reference`` are meaningful."""
    q, q_ref = pose_enc[..., 3:7], reference[..., 3:7]
    sign = torch.where((q * q_ref).sum(-1, keepdim=True) < 0, -1.0, 1.0).to(pose_enc.dtype)
    return torch.cat([pose_enc[..., :3], q * sign, pose_enc[..., 7:]], dim=-1)


def rotation_angle_deg(rot_a: torch.Tensor, rot_b: torch.Tensor) -> torch.Tensor:
    """Geodesic angle (degrees) between rotations ``[..., 3, 3]``: acos((tr(AᵀB) − 1)/2)."""
    rel = rot_a.transpose(-1, -2) @ rot_b
    cos = ((rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1.0, 1.0)
    return torch.rad2deg(torch.acos(cos))


def depth_to_world_points(depth: torch.Tensor, extrinsics: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """Unproject ``depth [..., H, W]`` (or ``[..., H, W, 1]``) with per-view ``extrinsics [..., 3, 4]``
    and ``intrinsics [..., 3, 3]`` → world points ``[..., H, W, 3]`` (see module docstring)."""
    if depth.shape[-1] == 1 and depth.dim() >= 3 and depth.shape[-2] != 1:
        depth = depth[..., 0]
    h, w = depth.shape[-2:]
    v, u = torch.meshgrid(torch.arange(h, dtype=depth.dtype, device=depth.device),
                          torch.arange(w, dtype=depth.dtype, device=depth.device), indexing="ij")
    fx = intrinsics[..., 0, 0][..., None, None]
    fy = intrinsics[..., 1, 1][..., None, None]
    cx = intrinsics[..., 0, 2][..., None, None]
    cy = intrinsics[..., 1, 2][..., None, None]
    cam = torch.stack([(u - cx) * depth / fx, (v - cy) * depth / fy, depth], dim=-1)  # [..., H, W, 3]
    rot = extrinsics[..., :3, :3][..., None, None, :, :]
    t = extrinsics[..., :3, 3][..., None, None, :]
    return ((cam - t).unsqueeze(-2) @ rot).squeeze(-2)  # Rᵀ(X − t) as a row vector: (X − t)ᵀ R

"""3-D Gaussians → screen-space ellipses (EWA splatting), with gsplat 1.5.3's conventions.

Pinhole camera, one view. Per Gaussian i (Zwicker et al. 2001; Kerbl et al. 2023):
    Σ      = R S Sᵀ Rᵀ,               R from the normalised wxyz quaternion, S = diag(scales)
    t      = W_rot μ + W_trans        (camera-space mean, z = depth)
    μ2d    = (K[:2] t) / t_z          (pixel coordinates; pixel centres sit at +0.5)
    J      = [[fx/z, 0, −fx·x'/z²], [0, fy/z, −fy·y'/z²]],  x' = z·clamp(x/z, −(cx/fx + 0.3·tan_x),
             (W − cx)/fx + 0.3·tan_x), tan_x = W/(2 fx) (likewise y): gsplat's frustum clamp
    Σ2d    = J W_rot Σ W_rotᵀ Jᵀ + eps2d·I     (eps2d = 0.3 px² low-pass)
    conic  = (a, b, c) with Σ2d⁻¹ = [[a, b], [b, c]]
    radius = (ceil(3.33·sqrt(Σ2d_xx)), ceil(3.33·sqrt(Σ2d_yy)))   int32, per axis
A Gaussian gets radius (0, 0) when det Σ2d ≤ 0, its depth is outside (near, far), or its box
``μ2d ± radius`` misses the image. These are the rules of ``gsplat.cuda._torch_impl.
_fully_fused_projection`` (the CUDA kernel additionally shrinks radii by opacity; images are
unaffected). Values returned for Gaussians with radius 0 carry no meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

RADIUS_SIGMAS = 3.33
DEFAULT_EPS2D = 0.3
DEFAULT_NEAR = 0.01
DEFAULT_FAR = 1e10


@dataclass
class Projection:
    """Screen-space Gaussians of one view.

    Attributes:
        means2d: ``[N, 2]`` pixel coordinates of the projected means (x right, y down).
        conics: ``[N, 3]`` (a, b, c), the inverse of the blurred 2-D covariance.
        depths: ``[N]`` camera-space z of the means (world units).
        radii: ``[N, 2]`` int32 half-extent of the screen box in pixels, 0 when culled.
        cov2d: ``[N, 3]`` (Σxx, Σxy, Σyy) of the blurred 2-D covariance, in pixels².
    """

    means2d: torch.Tensor
    conics: torch.Tensor
    depths: torch.Tensor
    radii: torch.Tensor
    cov2d: torch.Tensor


def quat_to_rotmat(quats: torch.Tensor) -> torch.Tensor:
    """Rotation matrices from wxyz quaternions of any non-zero length, ``[..., 4] → [..., 3, 3]``."""
    q = torch.nn.functional.normalize(quats, dim=-1)
    w, x, y, z = q.unbind(-1)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    rows = torch.stack(
        [
            1.0 - 2.0 * (yy + zz), 2.0 * (xy - wz), 2.0 * (xz + wy),
            2.0 * (xy + wz), 1.0 - 2.0 * (xx + zz), 2.0 * (yz - wx),
            2.0 * (xz - wy), 2.0 * (yz + wx), 1.0 - 2.0 * (xx + yy),
        ],
        dim=-1,
    )
    return rows.reshape(q.shape[:-1] + (3, 3))


def covariance_factor(quats: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """``M = R·diag(scales)``, so that ``Σ = M Mᵀ``; ``[..., 4], [..., 3] → [..., 3, 3]``."""
    return quat_to_rotmat(quats) * scales.unsqueeze(-2)


def quat_scale_to_covariance(quats: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """World-space covariance ``Σ = R S Sᵀ Rᵀ``; ``[..., 4] wxyz, [..., 3] (activated) → [..., 3, 3]``."""
    m = covariance_factor(quats, scales)
    return m @ m.transpose(-1, -2)


def camera_center(world_to_camera: torch.Tensor) -> torch.Tensor:
    """Camera centre in world coordinates, ``−Rᵀ t`` for a rigid ``[4, 4]`` world-to-camera matrix."""
    rot = world_to_camera[:3, :3]
    trans = world_to_camera[:3, 3]
    return -(rot.transpose(0, 1) @ trans)


def project_gaussians(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    world_to_camera: torch.Tensor,
    intrinsics: torch.Tensor,
    width: int,
    height: int,
    eps2d: float = DEFAULT_EPS2D,
    near_plane: float = DEFAULT_NEAR,
    far_plane: float = DEFAULT_FAR,
) -> Projection:
    """EWA projection of N Gaussians into one pinhole view (formulas in the module docstring).

    Args:
        means: ``[N, 3]`` world positions.
        quats: ``[N, 4]`` wxyz rotations (any non-zero norm).
        scales: ``[N, 3]`` activated (positive) standard deviations along the local axes.
        world_to_camera: ``[4, 4]`` rigid transform (OpenCV axes: x right, y down, z forward).
        intrinsics: ``[3, 3]`` pinhole matrix K in pixels.
        width, height: image size in pixels.
        eps2d: added to the diagonal of the 2-D covariance (pixels²).
        near_plane, far_plane: depth range that is kept.

    Returns:
        :class:`Projection`; differentiable w.r.t. means, quats and scales (radii are not).
    """
    dtype = means.dtype
    rot_w2c = world_to_camera[:3, :3].to(dtype)
    trans_w2c = world_to_camera[:3, 3].to(dtype)
    k = intrinsics.to(dtype)

    means_cam = means @ rot_w2c.transpose(0, 1) + trans_w2c  # [N, 3]
    x, y, z = means_cam.unbind(-1)
    in_depth = (z > near_plane) & (z < far_plane)
    # Divide by a safe depth: Gaussians outside (near, far) are culled anyway, and a zero depth
    # would put 0·inf = NaN into the gradients of the kept ones.
    z_safe = torch.where(in_depth, z, torch.ones_like(z))
    inv_z = 1.0 / z_safe

    fx, fy = k[0, 0], k[1, 1]
    cx, cy = k[0, 2], k[1, 2]
    means2d = torch.stack(
        [
            (k[0, 0] * x + k[0, 1] * y + k[0, 2] * z_safe) * inv_z,
            (k[1, 0] * x + k[1, 1] * y + k[1, 2] * z_safe) * inv_z,
        ],
        dim=-1,
    )

    tan_x = 0.5 * width / fx
    tan_y = 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + 0.3 * tan_x
    lim_x_neg = cx / fx + 0.3 * tan_x
    lim_y_pos = (height - cy) / fy + 0.3 * tan_y
    lim_y_neg = cy / fy + 0.3 * tan_y
    u = torch.maximum(torch.minimum(x * inv_z, lim_x_pos), -lim_x_neg)  # clamped x/z
    v = torch.maximum(torch.minimum(y * inv_z, lim_y_pos), -lim_y_neg)  # clamped y/z

    # J·W_rot·M = (rows of J applied to the camera-space covariance factor), Σ2d = A Aᵀ
    m_cam = rot_w2c @ covariance_factor(quats, scales)  # [N, 3, 3]
    row0 = m_cam[:, 0, :] - u.unsqueeze(-1) * m_cam[:, 2, :]  # (J row 0)·z / fx
    row1 = m_cam[:, 1, :] - v.unsqueeze(-1) * m_cam[:, 2, :]  # (J row 1)·z / fy
    a_x = row0 * (fx * inv_z).unsqueeze(-1)
    a_y = row1 * (fy * inv_z).unsqueeze(-1)
    cov_xx = (a_x * a_x).sum(-1) + eps2d
    cov_xy = (a_x * a_y).sum(-1)
    cov_yy = (a_y * a_y).sum(-1) + eps2d

    det = cov_xx * cov_yy - cov_xy * cov_xy
    inv_det = 1.0 / det.clamp_min(1e-10)
    conics = torch.stack([cov_yy * inv_det, -cov_xy * inv_det, cov_xx * inv_det], dim=-1)

    with torch.no_grad():
        radius_x = torch.ceil(RADIUS_SIGMAS * torch.sqrt(cov_xx))
        radius_y = torch.ceil(RADIUS_SIGMAS * torch.sqrt(cov_yy))
        mx, my = means2d[:, 0], means2d[:, 1]
        keep = (
            (det > 0)
            & in_depth
            & (mx + radius_x > 0)
            & (mx - radius_x < width)
            & (my + radius_y > 0)
            & (my - radius_y < height)
        )
        radii = torch.stack([radius_x, radius_y], dim=-1)
        radii = torch.where(keep.unsqueeze(-1), radii, torch.zeros_like(radii)).to(torch.int32)

    cov2d = torch.stack([cov_xx, cov_xy, cov_yy], dim=-1)
    return Projection(means2d=means2d, conics=conics, depths=z, radii=radii, cov2d=cov2d)

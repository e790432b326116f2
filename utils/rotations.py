"""Rotation conversions: quaternion (w, x, y, z) <-> Euler ZYX <-> rotation matrix.

Convention (MesonGS, notes §4): Euler angles are stored as ``[φ, θ, ψ]`` = (roll about x,
pitch about y, yaw about z) and ``R = R_z(ψ) · R_y(θ) · R_x(φ)`` (intrinsic Z-Y'-X''
Tait–Bryan). ``quat_to_rotmat`` is the 3DGS quaternion matrix; ``euler_to_rotmat`` of
``quat_to_euler(q)`` equals it.

NaN safety (notes §4 "pitfalls"): the textbook ``θ = asin(2(wy − xz))`` needs ``t`` clamped
and has an infinite derivative at ``|t| = 1``, and both ``atan2`` calls hit ``atan2(0, 0)`` at
gimbal lock. ``quat_to_euler`` therefore decomposes the rotation matrix instead
(Shoemake/Eberly):

    ψ = atan2(R10, R00)                       (= atan2(2(wz + xy), 1 − 2(y² + z²)))
    θ = atan2(−R20, √(R00² + R10²))           (= asin(t), t = −R20 = 2(wy − xz), never out of domain)
    φ = atan2(sψ·R02 − cψ·R12, cψ·R11 − sψ·R01)

The first two are the notes' formulas written with ``atan2`` (same values; ``atan2`` is total,
so no clamp of ``t`` is needed and ``t`` slightly above 1 after rounding gives θ = ±π/2, not
NaN); φ is taken from the rotation that remains after removing ψ — the row
``(0, cφ, −sφ)`` of ``R_zᵀ(ψ)·R`` is a unit vector, so this ``atan2`` is never at the origin.
At exact gimbal lock ``(R00, R10) = (0, 0)`` ψ is set to 0 and φ absorbs the whole remaining
rotation, so the decomposition still reproduces R to float rounding. Square roots and the
ψ ``atan2`` use guarded inputs (double-``where``) so gradients stay finite everywhere.

Ranges: φ, ψ ∈ (−π, π], θ ∈ [−π/2, π/2]; invariant under q → −q. Decoded angles outside these
ranges are harmless (only sin/cos are used).
"""
from __future__ import annotations

import torch

__all__ = [
    "normalize_quat",
    "quat_to_rotmat",
    "quat_to_euler",
    "rotmat_to_euler",
    "canonical_axes",
    "AXIS_CHOICES",
    "euler_to_quat",
    "euler_to_rotmat",
    "quat_multiply",
]

# Below this squared norm a quaternion is treated as zero and replaced by the identity.
_QUAT_NORM2_EPS = 1e-24
# Below this squared length (R00² + R10²) = cos²θ the yaw is undetermined (gimbal lock).
_LOCK_EPS2 = 1e-20


def normalize_quat(q: torch.Tensor) -> torch.Tensor:
    """Unit quaternion ``q / ‖q‖`` [..., 4] (wxyz); a (near-)zero quaternion becomes (1, 0, 0, 0).

    Gradient-safe: the zero case goes through a replaced input, so no 0/0 appears in autograd.
    """
    n2 = (q * q).sum(dim=-1, keepdim=True)
    small = n2 < _QUAT_NORM2_EPS
    ident = torch.zeros_like(q)
    ident[..., 0] = 1.0
    q_safe = torch.where(small, ident, q)
    n2_safe = torch.where(small, torch.ones_like(n2), n2)
    return q_safe / torch.sqrt(n2_safe)


def quat_to_rotmat(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [..., 3, 3] of quaternions [..., 4] (wxyz, any norm; normalised inside).

    The 3DGS matrix: R = [[1−2(y²+z²), 2(xy−wz), 2(xz+wy)], [2(xy+wz), 1−2(x²+z²), 2(yz−wx)],
    [2(xz−wy), 2(yz+wx), 1−2(x²+y²)]].
    """
    w, x, y, z = normalize_quat(q).unbind(-1)
    rows = [
        torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], dim=-1),
        torch.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], dim=-1),
        torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], dim=-1),
    ]
    return torch.stack(rows, dim=-2)


def _safe_hypot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """√(a² + b²) with a finite gradient at (0, 0) (returns 0 there, gradient 0)."""
    r2 = a * a + b * b
    small = r2 < _LOCK_EPS2
    r2_safe = torch.where(small, torch.ones_like(r2), r2)
    return torch.where(small, torch.zeros_like(r2), torch.sqrt(r2_safe))


def _safe_atan2(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """atan2(y, x), returning 0 with gradient 0 when (x, y) ≈ (0, 0)."""
    small = (x * x + y * y) < _LOCK_EPS2
    x_safe = torch.where(small, torch.ones_like(x), x)
    y_safe = torch.where(small, torch.zeros_like(y), y)
    return torch.atan2(y_safe, x_safe)


def quat_to_euler(q: torch.Tensor) -> torch.Tensor:
    """Euler ZYX angles ``[φ, θ, ψ]`` [..., 3] (radians) of quaternions [..., 4] (wxyz, any norm).

    NaN-free for every finite input (zero quaternion → identity → zeros) with finite gradients
    everywhere, gimbal lock included; see the module docstring for the formulas.
    """
    if q.shape[-1] != 4:
        raise ValueError(f"quat_to_euler expects [..., 4] quaternions (wxyz), got shape {tuple(q.shape)}")
    return rotmat_to_euler(quat_to_rotmat(q))


def rotmat_to_euler(r: torch.Tensor) -> torch.Tensor:
    """Euler ZYX angles ``[φ, θ, ψ]`` [..., 3] of rotation matrices [..., 3, 3] (module docstring)."""
    r00, r01, r02 = r[..., 0, 0], r[..., 0, 1], r[..., 0, 2]
    r10, r11, r12 = r[..., 1, 0], r[..., 1, 1], r[..., 1, 2]
    r20 = r[..., 2, 0]
    psi = _safe_atan2(r10, r00)
    theta = torch.atan2(-r20, _safe_hypot(r00, r10))
    s_psi, c_psi = torch.sin(psi), torch.cos(psi)
    phi = torch.atan2(s_psi * r02 - c_psi * r12, c_psi * r11 - s_psi * r01)
    return torch.stack([phi, theta, psi], dim=-1)


def euler_to_quat(euler: torch.Tensor) -> torch.Tensor:
    """Unit quaternions [..., 4] (wxyz) of Euler ZYX angles ``[φ, θ, ψ]`` [..., 3].

    q = q_z(ψ) ⊗ q_y(θ) ⊗ q_x(φ), closed form with half angles (c· = cos(·/2), s· = sin(·/2)):
    w = cφcθcψ + sφsθsψ, x = sφcθcψ − cφsθsψ, y = cφsθcψ + sφcθsψ, z = cφcθsψ − sφsθcψ.
    Differentiable everywhere (only sin/cos).
    """
    if euler.shape[-1] != 3:
        raise ValueError(f"euler_to_quat expects [..., 3] angles (phi, theta, psi), got shape {tuple(euler.shape)}")
    half = 0.5 * euler
    c = torch.cos(half)
    s = torch.sin(half)
    cp, ct, cy = c.unbind(-1)
    sp, st, sy = s.unbind(-1)
    w = cp * ct * cy + sp * st * sy
    x = sp * ct * cy - cp * st * sy
    y = cp * st * cy + sp * ct * sy
    z = cp * ct * sy - sp * st * cy
    return torch.stack([w, x, y, z], dim=-1)


def euler_to_rotmat(euler: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [..., 3, 3] ``R = R_z(ψ)·R_y(θ)·R_x(φ)`` of ``[φ, θ, ψ]`` [..., 3].

    Rows: (cθcψ, sφsθcψ − cφsψ, cφsθcψ + sφsψ), (cθsψ, sφsθsψ + cφcψ, cφsθsψ − sφcψ),
    (−sθ, sφcθ, cφcθ).
    """
    if euler.shape[-1] != 3:
        raise ValueError(f"euler_to_rotmat expects [..., 3] angles, got shape {tuple(euler.shape)}")
    c = torch.cos(euler)
    s = torch.sin(euler)
    cp, ct, cy = c.unbind(-1)
    sp, st, sy = s.unbind(-1)
    rows = [
        torch.stack([ct * cy, sp * st * cy - cp * sy, cp * st * cy + sp * sy], dim=-1),
        torch.stack([ct * sy, sp * st * sy + cp * cy, cp * st * sy - sp * cy], dim=-1),
        torch.stack([-st, sp * ct, cp * ct], dim=-1),
    ]
    return torch.stack(rows, dim=-2)


def _axis_symmetries() -> tuple[torch.Tensor, torch.Tensor]:
    """The 24 proper signed permutation matrices P (det +1; float64 [24, 3, 3]) and their
    permutations π (int64 [24, 3], column j of R·P is ±column π[j] of R)."""
    import itertools

    mats, perms = [], []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            p = torch.zeros(3, 3, dtype=torch.float64)
            for j in range(3):
                p[perm[j], j] = signs[j]
            if torch.det(p) > 0:
                mats.append(p)
                perms.append(list(perm))
    return torch.stack(mats), torch.tensor(perms, dtype=torch.int64)


#: ``canonical_axes`` choices: which of the 24 equivalent axis assignments describes each Gaussian
AXIS_CHOICES = ("scales", "rotation", "input")


def canonical_axes(quats: torch.Tensor, log_scales: torch.Tensor, choice: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The same ellipsoids with another choice of principal axes: (rotation matrices [N, 3, 3],
    log-scales [N, 3]), float64 inside, returned in the inputs' dtypes.

    A Gaussian's covariance R·S²·Rᵀ does not change when the columns of R are permuted together
    with the scales, or when two of them change sign: 24 rotations describe each ellipsoid, and a
    trained splat holds an arbitrary one (its optimiser never cared). ``choice``:

    - ``scales``: the scales largest first, and of the 4 rotations that keep that order the one
      closest to the identity (largest trace: the smallest rotation angle, ≤ 120°). Each scale
      channel then holds one kind of extent (the largest, the middle, the thickness), so
      neighbours agree and the RAHT codes them in fewer bits.
    - ``rotation``: the rotation closest to the identity of all 24 (≤ 62.8°; the scales follow):
      the Euler angles stay far from their ±π wrap, the scales are in no fixed order.
    - ``input``: as given (MesonGS).
    """
    if choice not in AXIS_CHOICES:
        raise ValueError(f"axis choice must be one of {AXIS_CHOICES}, got {choice!r}")
    r = quat_to_rotmat(quats).to(torch.float64)
    ls = log_scales.to(torch.float64)
    if choice == "input":
        return r.to(quats.dtype), log_scales
    mats, perms = _axis_symmetries()
    mats, perms = mats.to(r.device), perms.to(r.device)
    # (R·P)[j, j] = σ_j·R[j, π_j], σ_j = P[π_j, j]
    cols = torch.arange(3, device=r.device).expand_as(perms)
    sign = mats[torch.arange(mats.shape[0], device=r.device)[:, None], perms, cols]  # [24, 3]
    trace = (r[:, cols, perms] * sign[None]).sum(-1)  # [N, 24]
    if choice == "scales":
        order = torch.argsort(ls, dim=1, descending=True, stable=True)  # [N, 3]
        allowed = (perms[None, :, :] == order[:, None, :]).all(-1)  # [N, 24]: 4 per Gaussian
        trace = torch.where(allowed, trace, torch.full_like(trace, -torch.inf))
    best = trace.argmax(dim=1)
    return (r @ mats[best]).to(quats.dtype), torch.gather(ls, 1, perms[best]).to(log_scales.dtype)


def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a ⊗ b [..., 4] (wxyz): the rotation b followed by a (R(a ⊗ b) = R(a)·R(b))."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz,
                        aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx,
                        aw * bz + ax * by - ay * bx + az * bw], dim=-1)

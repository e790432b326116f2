"""utils/rotations.py: quaternion <-> Euler ZYX <-> matrix, NaN safety at gimbal lock."""
import math

import pytest
import torch

from utils.rotations import (
    AXIS_CHOICES,
    canonical_axes,
    euler_to_quat,
    euler_to_rotmat,
    normalize_quat,
    quat_to_euler,
    quat_to_rotmat,
    rotmat_to_euler,
)


def _random_quats(n, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 4, generator=g, dtype=dtype)


def _gimbal_quats(dtype=torch.float64):
    """Quaternions with pitch exactly / nearly ±90°, with various roll and yaw."""
    out = []
    for pitch in (math.pi / 2, -math.pi / 2, math.pi / 2 - 1e-7, -math.pi / 2 + 1e-5):
        for roll in (0.0, 0.3, -2.0, 3.1):
            for yaw in (0.0, 1.0, -2.9):
                out.append([roll, pitch, yaw])
    return euler_to_quat(torch.tensor(out, dtype=dtype))


def _rodrigues(axis, angle):
    """Independent rotation matrix (axis-angle, Rodrigues) for cross-checking."""
    axis = axis / axis.norm()
    k = torch.tensor([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]], dtype=axis.dtype)
    return torch.eye(3, dtype=axis.dtype) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def test_quat_matrix_matches_rodrigues():
    axis = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
    angle = 1.234
    half = angle / 2
    q = torch.cat([torch.tensor([math.cos(half)], dtype=torch.float64), math.sin(half) * axis / axis.norm()])
    assert torch.allclose(quat_to_rotmat(q[None])[0], _rodrigues(axis, angle), atol=1e-12)


def test_euler_matrix_is_rz_ry_rx():
    phi, theta, psi = 0.4, -1.1, 2.5
    rx = _rodrigues(torch.tensor([1.0, 0, 0], dtype=torch.float64), phi)
    ry = _rodrigues(torch.tensor([0, 1.0, 0], dtype=torch.float64), theta)
    rz = _rodrigues(torch.tensor([0, 0, 1.0], dtype=torch.float64), psi)
    r = euler_to_rotmat(torch.tensor([[phi, theta, psi]], dtype=torch.float64))[0]
    assert torch.allclose(r, rz @ ry @ rx, atol=1e-12)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_quat_euler_matrix_roundtrip(dtype, tol):
    q = torch.cat([_random_quats(2000, dtype=dtype), _gimbal_quats(dtype)])
    q[:50, 0] = -q[:50, 0].abs()  # w < 0 cases
    e = quat_to_euler(q)
    assert torch.isfinite(e).all()
    assert torch.allclose(euler_to_rotmat(e), quat_to_rotmat(q), atol=tol)
    # Euler -> quaternion gives the same rotation (up to sign) and a unit quaternion
    q2 = euler_to_quat(e)
    assert torch.allclose(q2.norm(dim=-1), torch.ones(len(q), dtype=dtype), atol=tol)
    assert torch.allclose(quat_to_rotmat(q2), quat_to_rotmat(q), atol=tol)
    # ranges
    assert (e[:, 1].abs() <= math.pi / 2 + 1e-6).all()
    assert (e[:, [0, 2]].abs() <= math.pi + 1e-6).all()


def test_generic_angles_match_textbook_formulas():
    q = normalize_quat(_random_quats(500, seed=3))
    w, x, y, z = q.unbind(-1)
    phi = torch.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    theta = torch.asin((2 * (w * y - x * z)).clamp(-1, 1))
    psi = torch.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    e = quat_to_euler(q)
    assert torch.allclose(e, torch.stack([phi, theta, psi], -1), atol=1e-9)


def test_sign_invariance():
    q = torch.cat([_random_quats(300, seed=1), _gimbal_quats()])
    assert torch.allclose(quat_to_euler(q), quat_to_euler(-q), atol=1e-12)


def test_scale_invariance_and_zero_quaternion():
    q = _random_quats(100, seed=2)
    assert torch.allclose(quat_to_euler(q), quat_to_euler(7.5 * q), atol=1e-12)
    zero = torch.zeros(3, 4, dtype=torch.float64)
    assert torch.equal(quat_to_euler(zero), torch.zeros(3, 3, dtype=torch.float64))
    assert torch.equal(normalize_quat(zero)[:, 0], torch.ones(3, dtype=torch.float64))


def test_rounding_beyond_unit_t_is_not_nan():
    # a quaternion whose t = 2(wy − xz) rounds to slightly above 1 in float32
    q = torch.tensor([[0.70710677, 0.0, 0.70710683, 0.0]], dtype=torch.float32)
    e = quat_to_euler(q)
    assert torch.isfinite(e).all()
    assert abs(e[0, 1].item() - math.pi / 2) < 1e-3


def test_euler_roundtrip_in_principal_range():
    g = torch.Generator().manual_seed(5)
    e = torch.rand(1000, 3, generator=g, dtype=torch.float64) * 2 - 1
    e = e * torch.tensor([math.pi * 0.999, math.pi / 2 * 0.999, math.pi * 0.999], dtype=torch.float64)
    assert torch.allclose(quat_to_euler(euler_to_quat(e)), e, atol=1e-9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_gradients_everywhere(dtype):
    q = torch.cat([_random_quats(200, seed=4, dtype=dtype), _gimbal_quats(dtype), torch.zeros(2, 4, dtype=dtype)])
    q.requires_grad_(True)
    e = quat_to_euler(q)
    (e * torch.arange(1, 4, dtype=dtype)).sum().backward()
    assert torch.isfinite(q.grad).all()
    a = torch.tensor([[0.1, math.pi / 2, 0.3], [0.0, -math.pi / 2, 0.0]], dtype=dtype, requires_grad=True)
    (euler_to_quat(a).sum() + euler_to_rotmat(a).sum()).backward()
    assert torch.isfinite(a.grad).all()


def test_gradcheck_generic_points():
    q = normalize_quat(_random_quats(6, seed=9)).requires_grad_(True)
    assert torch.autograd.gradcheck(quat_to_euler, (q,))
    e = torch.tensor([[0.2, 0.5, -1.0], [2.0, -0.3, 0.1]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(euler_to_quat, (e,))
    assert torch.autograd.gradcheck(euler_to_rotmat, (e,))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="quat_to_euler"):
        quat_to_euler(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="euler_to_quat"):
        euler_to_quat(torch.zeros(3, 4))


# ---------------------------------------------------------------- principal axes
def _covariances(rot: torch.Tensor, log_scales: torch.Tensor) -> torch.Tensor:
    r = rot.to(torch.float64)
    return r @ torch.diag_embed(torch.exp(2 * log_scales.to(torch.float64))) @ r.transpose(1, 2)


@pytest.mark.parametrize("choice", AXIS_CHOICES)
def test_canonical_axes_keep_every_covariance(choice):
    gen = torch.Generator().manual_seed(3)
    q, ls = torch.randn(2000, 4, generator=gen), torch.randn(2000, 3, generator=gen)
    rot, out = canonical_axes(q, ls, choice)
    assert rot.dtype == q.dtype and out.dtype == ls.dtype
    assert torch.allclose(_covariances(rot, out), _covariances(quat_to_rotmat(q), ls), atol=1e-5, rtol=1e-5)
    assert torch.allclose(torch.det(rot.double()), torch.ones(2000, dtype=torch.float64), atol=1e-5)
    # the same Euler round trip as every coded rotation
    assert torch.allclose(euler_to_rotmat(rotmat_to_euler(rot)), rot, atol=1e-5)


def test_canonical_axes_choices():
    gen = torch.Generator().manual_seed(4)
    q, ls = torch.randn(5000, 4, generator=gen), torch.randn(5000, 3, generator=gen)
    angle = lambda r: torch.rad2deg(torch.acos(((torch.diagonal(r.double(), dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1)))
    rot, out = canonical_axes(q, ls, "scales")
    assert bool((out[:, 0] >= out[:, 1]).all() and (out[:, 1] >= out[:, 2]).all())
    assert float(angle(rot).max()) <= 120.0 + 1e-3
    rot, out = canonical_axes(q, ls, "rotation")
    # the rotation group of the cube covers SO(3) within 62.8°: no Gaussian needs a larger angle
    assert float(angle(rot).max()) <= 62.8 + 1e-3
    assert float(angle(rot).mean()) < float(angle(quat_to_rotmat(q)).mean())
    rot, out = canonical_axes(q, ls, "input")
    assert torch.equal(out, ls) and torch.allclose(rot, quat_to_rotmat(q))
    with pytest.raises(ValueError, match="axis choice"):
        canonical_axes(q, ls, "sorted")


def test_canonical_axes_of_an_identity_rotation_with_sorted_scales_are_unchanged():
    q = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    ls = torch.tensor([[0.5, 0.0, -1.0]])
    for choice in AXIS_CHOICES:
        rot, out = canonical_axes(q, ls, choice)
        assert torch.allclose(rot, torch.eye(3)[None]) and torch.equal(out, ls)


def test_setup_codes_the_chosen_axes_and_the_same_gaussians():
    """compression_setup(axes=...): every choice gives the same covariances before quantization, and
    ``scales`` stores each Gaussian's scales largest first."""
    from compression.setup import compression_setup
    from tests.compression_helpers import tiny_scene

    source, train, test, _ = tiny_scene(n=60, sh_degree=0, n_views=2, size=12, seed=5)
    kw = dict(depth=8, percent=0.0, beta=0.1, n_block=2, bits=16, quantizer="rd", sensitivity="hutchinson",
              background=torch.zeros(3), backend="torch", evaluate=False)
    covariances = {}
    for choice in AXIS_CHOICES:
        model = compression_setup(source, train, test, axes=choice, **kw).model
        g = model.gaussians()
        covariances[choice] = _covariances(quat_to_rotmat(g["quats"]), torch.log(g["scales"]))
        if choice == "scales":
            s = g["scales"]
            assert bool((s[:, 0] >= s[:, 1]).all() and (s[:, 1] >= s[:, 2]).all())
    for choice in ("scales", "rotation"):
        torch.testing.assert_close(covariances[choice], covariances["input"], atol=1e-6, rtol=1e-4)

"""Metrics, losses, SH and small helpers (utils/): cross-checks with scikit-image and with the math."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data
from skimage.metrics import structural_similarity

from utils.general import inverse_sigmoid, set_seed
from utils.image_metrics import gaussian_training_loss, gaussian_window_1d, l1_loss, psnr, ssim
from utils.sh import SH_C0, eval_sh, num_sh_bases, rgb_to_sh0, sh0_to_rgb, sh_basis


@functools.lru_cache(maxsize=None)
def photo(name: str, factor: int) -> np.ndarray:
    """A scikit-image photograph as RGB float64 in [0, 1], downscaled by ``factor`` (box mean)."""
    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = img[..., :3].astype(np.float64) / 255.0
    h, w = (img.shape[0] // factor) * factor, (img.shape[1] // factor) * factor
    return img[:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean(axis=(1, 3))


def real_image_pair(name: str, factor: int, noise: float, seed: int, crop: tuple[int, int] | None = None):
    """A downscaled scikit-image photograph and a noisy, slightly blurred copy."""
    img = photo(name, factor)
    if crop is not None:
        img = img[: crop[0], : crop[1]]
    rng = np.random.default_rng(seed)
    noisy = np.clip(0.9 * img + 0.1 * np.roll(img, 1, axis=1) + rng.normal(0.0, noise, img.shape), 0.0, 1.0)
    return img, noisy


def skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1
    )


@pytest.mark.parametrize("name,factor,noise", [("astronaut", 4, 0.05), ("coffee", 5, 0.02), ("chelsea", 3, 0.1)])
def test_eval_ssim_equals_skimage(name, factor, noise):
    ref, noisy = real_image_pair(name, factor, noise, seed=len(name))
    expected = skimage_ssim(ref, noisy)
    assert 0.3 < expected < 0.99  # a meaningful, non-trivial value
    ours = ssim(torch.from_numpy(noisy).float(), torch.from_numpy(ref).float(), mode="eval")
    assert abs(ours.item() - expected) < 1e-4
    ours64 = ssim(torch.from_numpy(noisy), torch.from_numpy(ref), mode="eval")
    assert abs(ours64.item() - expected) < 1e-8


def reference_train_ssim(img: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """3DGS-style SSIM written independently: full 11×11 2-D window, zero padding 5."""
    x = img.permute(2, 0, 1)[None].double()
    y = gt.permute(2, 0, 1)[None].double()
    c = x.shape[1]
    ax = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(ax**2) / (2 * 1.5**2))
    g = g / g.sum()
    win = (g[:, None] * g[None, :]).expand(c, 1, 11, 11)

    def filt(t):
        return F.conv2d(t, win, padding=5, groups=c)

    mx, my = filt(x), filt(y)
    sxx = filt(x * x) - mx**2
    syy = filt(y * y) - my**2
    sxy = filt(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    return (((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))).mean()


def test_train_ssim_matches_full_window_zero_padded_reference():
    ref, noisy = real_image_pair("astronaut", 4, 0.08, seed=3, crop=(48, 40))
    a, b = torch.from_numpy(noisy).float(), torch.from_numpy(ref).float()
    ours = ssim(a, b, mode="train")
    assert abs(ours.item() - reference_train_ssim(a, b).item()) < 1e-6
    # zero padding makes the border differ from the valid-region value
    assert abs(ours.item() - ssim(a, b, mode="eval").item()) > 1e-3


def test_ssim_identity_bounds_and_gradient():
    ref, noisy = real_image_pair("astronaut", 4, 0.1, seed=1, crop=(32, 32))
    a = torch.from_numpy(noisy).float().requires_grad_(True)
    b = torch.from_numpy(ref).float()
    for mode in ("train", "eval"):
        assert ssim(b, b, mode=mode).item() == pytest.approx(1.0, abs=1e-6)
    value = ssim(a, b)
    assert -1.0 <= value.item() < 1.0
    value.backward()
    assert a.grad is not None and torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0
    # moving towards the reference raises SSIM
    with torch.no_grad():
        better = ssim(a + 0.5 * (b - a), b)
    assert better.item() > value.item()


def test_ssim_batch_and_errors():
    x = torch.rand(2, 16, 16, 3)
    y = torch.rand(2, 16, 16, 3)
    batched = ssim(x, y)
    single = 0.5 * (ssim(x[0], y[0]) + ssim(x[1], y[1]))
    assert batched.item() == pytest.approx(single.item(), abs=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        ssim(x[0], y[0, :8])
    with pytest.raises(ValueError, match="mode"):
        ssim(x[0], y[0], mode="fast")
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.rand(8, 8, 3), torch.rand(8, 8, 3), mode="eval")


def test_gaussian_window():
    g = gaussian_window_1d(dtype=torch.float64)
    assert g.shape == (11,) and g.sum().item() == pytest.approx(1.0, abs=1e-15)
    assert (g[5] / g[4]).item() == pytest.approx(math.exp(1 / (2 * 1.5**2)), rel=1e-12)


def test_l1_psnr_and_training_loss():
    gt = torch.rand(20, 24, 3, generator=torch.Generator().manual_seed(0)) * 0.8
    img = gt + 0.1
    assert l1_loss(img, gt).item() == pytest.approx(0.1, abs=1e-6)
    assert psnr(img, gt).item() == pytest.approx(20.0, abs=1e-4)  # mse = 0.01
    assert psnr(gt, gt).item() == math.inf
    loss = gaussian_training_loss(img, gt)
    expected = 0.8 * l1_loss(img, gt) + 0.2 * (1 - ssim(img, gt))
    assert loss.item() == pytest.approx(expected.item(), abs=1e-7)
    assert gaussian_training_loss(img, gt, lambda_dssim=0.0).item() == pytest.approx(0.1, abs=1e-6)
    with pytest.raises(ValueError, match="lambda_dssim"):
        gaussian_training_loss(img, gt, lambda_dssim=1.5)


def test_sh_basis_is_orthonormal_on_the_sphere():
    """∫ Y_i Y_j dΩ = δ_ij, by a quadrature exact for degree-6 polynomials."""
    nodes, weights = np.polynomial.legendre.leggauss(8)  # in cos θ
    n_phi = 16
    phi = torch.arange(n_phi, dtype=torch.float64) * (2 * math.pi / n_phi)
    ct = torch.from_numpy(nodes)
    st = torch.sqrt(1 - ct**2)
    dirs = torch.stack(
        [st[:, None] * torch.cos(phi)[None], st[:, None] * torch.sin(phi)[None], ct[:, None].expand(-1, n_phi)], dim=-1
    ).reshape(-1, 3)
    w = (torch.from_numpy(weights)[:, None].expand(-1, n_phi) * (2 * math.pi / n_phi)).reshape(-1)
    basis = sh_basis(3, dirs)  # [Q, 16]
    gram = basis.T @ (basis * w[:, None])
    assert torch.allclose(gram, torch.eye(16, dtype=torch.float64), atol=1e-12)


def test_eval_sh_linear_prefix_and_normalisation():
    gen = torch.Generator().manual_seed(4)
    sh = torch.randn(50, 16, 3, generator=gen, dtype=torch.float64)
    dirs = torch.randn(50, 3, generator=gen, dtype=torch.float64)
    assert torch.allclose(eval_sh(3, sh, dirs), eval_sh(3, sh, 7.5 * dirs), atol=1e-12)
    assert torch.allclose(eval_sh(1, sh, dirs), eval_sh(1, sh[:, :4], dirs), atol=1e-15)
    assert torch.allclose(eval_sh(0, sh, dirs), SH_C0 * sh[:, 0], atol=1e-15)
    # degree 1 along +z: Y_2 = C1·z only
    z = torch.tensor([[0.0, 0.0, 2.0]], dtype=torch.float64)
    one = torch.zeros(1, 4, 3, dtype=torch.float64)
    one[0, 2] = 1.0
    assert eval_sh(1, one, z)[0].tolist() == pytest.approx([0.4886025119029199] * 3, abs=1e-15)
    with pytest.raises(ValueError, match="needs 16 coefficients"):
        eval_sh(3, sh[:, :9], dirs)
    assert [num_sh_bases(d) for d in range(4)] == [1, 4, 9, 16]


def test_rgb_sh0_round_trip():
    rgb = torch.rand(100, 3, dtype=torch.float64)
    assert torch.allclose(sh0_to_rgb(rgb_to_sh0(rgb)), rgb, atol=1e-15)
    assert torch.allclose(sh0_to_rgb(torch.zeros(3)), torch.full((3,), 0.5))


def test_general_helpers():
    x = torch.linspace(-6, 6, 101, dtype=torch.float64)
    assert torch.allclose(inverse_sigmoid(torch.sigmoid(x)), x, atol=1e-9)
    set_seed(123)
    a = (torch.rand(3), np.random.rand(3))
    set_seed(123)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="seed"):
        set_seed(-1)

"""Pruning and octree depth by rate–distortion (compression/rd_structure.py): the removal estimate is
exact for one Gaussian, the choice keeps more as the quality rises, and the image gets better with
the quality, on the built-in tiny scene and on real captures (decimated and cropped)."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from compression.attributes import render_attributes
from compression.rd_structure import MAX_PRUNE_SHARE, bit_price, choose_structure, removal_distortion
from compression.sensitivity import HutchinsonDiagonals, hutchinson_diagonals
from compression.setup import compression_setup
from quant.rate_distortion import quality_to_kappa
from tests.compression_helpers import one_thread, tiny_scene

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)

CAPTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "captures")


@pytest.fixture(scope="module")
def small():
    source, train, test, _ = tiny_scene(n=80, sh_degree=0, n_views=4, size=12, seed=3)
    setup = compression_setup(source, train, test, depth=7, percent=0.0, beta=0.1, n_block=3, bits=16,
                              quantizer="rd", sensitivity="hutchinson", background=torch.zeros(3), backend="torch",
                              evaluate=False)
    return setup.model, train


def _render(model, attrs, cam):
    return render_attributes(model.gaussians(attrs), cam, torch.zeros(3), "torch", model.sh_degree)["image"]


def test_removal_distortion_is_exact_for_one_gaussian(small):
    """ΔI of removing Gaussian i equals −(∂I/∂ℓ_i)/(1 − o_i): the image is linear in its α."""
    model, train = small
    cam = train[0]
    x0 = model.attributes().detach()
    jac = torch.autograd.functional.jacobian(lambda lo: _render(model, torch.cat([lo, x0[:, 1:]], 1), cam).reshape(-1),
                                             x0[:, :1])  # [P, N, 1]
    exact_diag = jac[..., 0].to(torch.float64).square().sum(dim=0)
    attrs = torch.zeros(model.n_gaussians, x0.shape[1], dtype=torch.float64)
    attrs[:, 0] = exact_diag
    diag = HutchinsonDiagonals(attrs.clone(), attrs, torch.zeros(model.n_gaussians, 3, dtype=torch.float64))
    est = removal_distortion(diag, x0[:, 0])
    full = _render(model, x0, cam)
    checked = 0
    for i in torch.argsort(exact_diag, descending=True)[:6].tolist():
        if not math.isfinite(float(est[i])):
            continue
        gone = x0.clone()
        gone[i, 0] = -60.0  # opacity 0: the Gaussian is gone
        true = float((_render(model, gone, cam) - full).to(torch.float64).square().sum())
        assert float(est[i]) == pytest.approx(true, rel=2e-3, abs=1e-9)
        checked += 1
    assert checked >= 3


def test_opaque_gaussians_are_never_judged_removable():
    diag = HutchinsonDiagonals(torch.zeros(3, 4, dtype=torch.float64), torch.zeros(3, 4, dtype=torch.float64),
                               torch.zeros(3, 3, dtype=torch.float64))
    est = removal_distortion(diag, torch.tensor([0.0, 20.0, -20.0]))
    assert est[0] == 0 and est[2] == 0 and math.isinf(float(est[1]))


def test_diagonals_match_the_exact_ones_for_positions(small):
    model, train = small
    cam = train[1]
    x0 = model.attributes().detach()

    def image_of(means):
        gaussians = model.gaussians(x0)
        gaussians["means"] = means
        return render_attributes(gaussians, cam, torch.zeros(3), "torch", model.sh_degree)["image"].reshape(-1)

    exact = torch.autograd.functional.jacobian(image_of, model.means.detach()).to(torch.float64).square().sum(0)
    est = hutchinson_diagonals(model, [cam], background=torch.zeros(3), backend="torch", probes=300, seed=2)
    assert abs(float(est.positions.sum() / exact.sum()) - 1.0) < 0.08
    # the coefficient and attribute diagonals carry the same energy (the RAHT is orthonormal)
    torch.testing.assert_close(est.coefficients.sum(0), est.attributes.sum(0), rtol=1e-6, atol=1e-12)


def test_choice_keeps_more_and_finer_as_the_quality_rises(small):
    model, _ = small
    diag = model.hutchinson
    rows = []
    for q in (-16, 0, 16, 32, 48, 64):
        c = choose_structure(model, diag, quality_to_kappa(q), 90.0)
        rows.append(c)
        assert c.n_pruned <= int(MAX_PRUNE_SHARE * model.n_gaussians)
        assert c.lam == pytest.approx(bit_price(__import__("compression.sensitivity", fromlist=["x"]).block_sensitivity(
            diag.coefficients, model.n_block), quality_to_kappa(q)))
    for coarse, fine in zip(rows, rows[1:]):
        assert bool((fine.keep | ~coarse.keep).all())  # whatever the finer quality prunes, the coarser did too
        assert fine.depth >= coarse.depth
    assert rows[0].n_pruned > rows[-1].n_pruned and rows[-1].depth == model.depth


def _psnrs(path, tmp_path, qualities):
    import compress
    from codec import load_npz

    out = []
    for q in qualities:
        bundle = tmp_path / f"q{q}.bundle"
        assert compress.main([str(path), "-o", str(bundle), "--quality", str(q), "--iterations", "0", "--n_views", "6",
                              "--n_heldout_views", "3", "--view_size", "64", "--n_block", "8", "--quiet"]) == 0
        conf = load_npz(str(bundle)).payload.config
        out.append((conf["heldout"]["psnr"], conf["percent"], conf["depth"]))
    return out


def _check_monotone(rows):
    """PSNR rises with the quality; the pruned share falls and the depth rises (or stay)."""
    psnr, pruned, depth = zip(*rows)
    assert all(b > a for a, b in zip(psnr, psnr[1:])), rows
    assert all(b <= a for a, b in zip(pruned, pruned[1:])), rows
    assert all(b >= a for a, b in zip(depth, depth[1:])), rows
    assert pruned[0] > 0 or depth[0] < depth[-1], rows  # the lowest quality did change the structure


QUALITIES = (8, 24, 40, 56)


def test_psnr_rises_with_quality_on_the_tiny_scene(tmp_path):
    from scene.ply_io import write_gaussian_ply
    from tests.compression_helpers import teacher_arrays

    path = tmp_path / "tiny.ply"
    write_gaussian_ply(path, teacher_arrays(400, 1, seed=5))
    _check_monotone(_psnrs(path, tmp_path, QUALITIES))


@pytest.mark.skipif(not os.path.isdir(CAPTURES), reason=f"{CAPTURES} (shared data, real captures) is absent")
@pytest.mark.parametrize("name,cut", [("massa.sog", "decimated"), ("donut.ply", "cropped")])
def test_psnr_rises_with_quality_on_real_captures(name, cut, tmp_path):
    from scene.splat_files import read_splat
    from scene.ply_io import write_gaussian_ply

    arrays = read_splat(os.path.join(CAPTURES, name))
    n = arrays["means"].shape[0]
    if cut == "decimated":  # a lean capture: one Gaussian in 12
        keep = np.arange(n) % 12 == 0
    else:  # a small piece at full density: the Gaussians nearest the median point
        d = np.linalg.norm(arrays["means"] - np.median(arrays["means"], axis=0), axis=1)
        keep = d <= np.sort(d)[4000]
    subset = {k: (v[keep] if isinstance(v, np.ndarray) and v.shape[:1] == (n,) else v) for k, v in arrays.items()}
    path = tmp_path / f"{cut}.ply"
    write_gaussian_ply(path, subset)
    _check_monotone(_psnrs(path, tmp_path, QUALITIES))


def test_position_factor_moves_the_depth_choice_finer(small, monkeypatch):
    """A larger factor on the position distortion never picks a coarser octree (what tuning the factor
    relies on)."""
    import compression.rd_structure as rd

    model, _ = small
    for q in (-16, 0, 16):
        depths = []
        for factor in (0.25, 1.0, 4.0, 64.0):
            monkeypatch.setattr(rd, "POSITION_DISTORTION_FACTOR", factor)
            depths.append(choose_structure(model, model.hutchinson, quality_to_kappa(q), 90.0).depth)
        assert depths == sorted(depths), (q, depths)
    assert depths[-1] > depths[0] or depths[0] == model.depth

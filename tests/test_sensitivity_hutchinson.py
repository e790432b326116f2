"""The Hutchinson sensitivity (compression/sensitivity.py): an unbiased estimate of diag(JᵀJ) in the
RAHT coefficient domain, independent of the targets, and exactly per coefficient."""
from __future__ import annotations

import pytest
import torch

from compression.attributes import render_attributes
from compression.sensitivity import attribute_sensitivity, block_sensitivity, coefficient_sensitivity
from compression.setup import compression_setup
from raht import raht_inverse
from tests.compression_helpers import one_thread, tiny_scene

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)


@pytest.fixture(scope="module")
def small():
    model, train, test, _ = tiny_scene(n=60, sh_degree=0, n_views=4, size=10, seed=2)
    setup = compression_setup(model, train, test, depth=6, percent=0.0, beta=0.1, n_block=3, bits=16,
                              quantizer="rd", background=torch.zeros(3), backend="torch", evaluate=False)
    return setup.model, train


def _exact_diag(model, cam) -> torch.Tensor:
    """diag(JᵀJ) of image w.r.t. the RAHT coefficients, by one backward per pixel value."""
    coeffs0 = __import__("raht").raht_forward(model.attributes().detach(), model.plan)

    def image_of(c):
        return render_attributes(model.gaussians(raht_inverse(c, model.plan)), cam, torch.zeros(3), "torch",
                                 model.sh_degree)["image"].reshape(-1)

    jac = torch.autograd.functional.jacobian(image_of, coeffs0)  # [P, N, C]
    return jac.to(torch.float64).square().sum(dim=0)


def test_matches_the_exact_diagonal_on_average(small):
    model, train = small
    cam = train[0]
    exact = _exact_diag(model, cam)
    est = coefficient_sensitivity(model, [cam], background=torch.zeros(3), backend="torch", probes=400, seed=1)
    big = exact > exact.max() * 0.05
    rel = (est[big] - exact[big]).abs() / exact[big]
    assert float(rel.median()) < 0.15
    # summed over everything the estimate is tight (the trace of JᵀJ)
    assert abs(float(est.sum() / exact.sum()) - 1.0) < 0.05


def test_needs_no_residual(small):
    """With targets equal to the renders, the Fisher measure is zero; Hutchinson's is not."""
    model, train = small
    cam = train[0]
    with torch.no_grad():
        img = render_attributes(model.gaussians(), cam, torch.zeros(3), "torch", model.sh_degree)["image"].clamp(0, 1)
    cam2 = type(cam)(cam.name, cam.world_to_camera, cam.intrinsics, cam.width, cam.height, cam.image_uint8,
                     image_float=img.contiguous())
    fisher = attribute_sensitivity(model, [cam2], background=torch.zeros(3), backend="torch", lambda_dssim=0.0)
    hutch = coefficient_sensitivity(model, [cam2], background=torch.zeros(3), backend="torch")
    assert float(fisher.abs().max()) < 1e-10
    assert float(hutch.sum()) > 0


def test_deterministic_and_blocks_cover_exactly_the_slots(small):
    model, train = small
    a = coefficient_sensitivity(model, train, background=torch.zeros(3), backend="torch", seed=5)
    b = coefficient_sensitivity(model, train, background=torch.zeros(3), backend="torch", seed=5)
    assert torch.equal(a, b)
    blocks = block_sensitivity(a, model.n_block)
    from quant.granularity import split_length

    sizes = split_length(model.n_gaussians - 1, model.n_block)
    start = 1
    for j, size in enumerate(sizes):
        assert torch.allclose(blocks[:, j].double(), a[start:start + size].mean(dim=0), rtol=1e-6)
        start += size


def test_bad_arguments(small):
    model, train = small
    with pytest.raises(ValueError, match="views"):
        coefficient_sensitivity(model, [], background=torch.zeros(3), backend="torch")
    with pytest.raises(ValueError, match="probes"):
        coefficient_sensitivity(model, train, background=torch.zeros(3), backend="torch", probes=0)

"""Unseen is not free (compression.sensitivity.with_view_prior): rows no view sees get the view-independent
prior, seen rows keep their measurement, the coefficient diagonal only grows, and a Gaussian
that no view sees is not pruned for free."""
from __future__ import annotations

import pytest
import torch

from compression.rd_structure import removal_distortion
from compression.sensitivity import HutchinsonDiagonals, with_view_prior
from tests.compression_helpers import one_thread, synthetic_quantized

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)


def _diagonals(model, unseen: torch.Tensor, seed: int = 0) -> HutchinsonDiagonals:
    g = torch.Generator().manual_seed(seed)
    n, c = model.n_gaussians, model.layout.n_channels
    attrs = torch.rand(n, c, generator=g, dtype=torch.float64) + 0.5
    pos = torch.rand(n, 3, generator=g, dtype=torch.float64) + 0.5
    attrs[unseen] = 0.0
    pos[unseen] = 0.0
    coeff = torch.rand(n, c, generator=g, dtype=torch.float64)
    return HutchinsonDiagonals(coeff, attrs, pos)


def test_unseen_rows_get_the_prior_and_seen_ones_keep_their_measure():
    model = synthetic_quantized(n=300, sh_degree=1, n_block=4, bits=16, quantizer="rd", seed=2)
    n = model.n_gaussians
    unseen = torch.zeros(n, dtype=torch.bool)
    unseen[::5] = True
    diag = _diagonals(model, unseen)
    out = with_view_prior(diag, model, 0.1)
    assert out.prior["raised"] >= int(unseen.sum())
    assert bool((out.attributes[unseen] > 0).all()) and bool((out.positions[unseen] > 0).all())
    assert bool((out.attributes >= diag.attributes).all()) and bool((out.coefficients >= diag.coefficients).all())
    assert torch.equal(out.attributes[~unseen], diag.attributes[~unseen])  # a measurement stands, however small
    assert torch.equal(out.positions[~unseen], diag.positions[~unseen])
    assert out.prior["seen"] == pytest.approx(1.0 - float(unseen.double().mean()))
    opacity = torch.sigmoid(model.attributes().detach()[:, 0].double())
    assert out.prior["seen_opacity"] == pytest.approx(float(opacity[~unseen].sum() / opacity.sum()))
    # a larger share raises more; share 0 changes nothing but still counts what is seen
    more = with_view_prior(diag, model, 0.5)
    assert float(more.attributes[unseen].sum()) == pytest.approx(5.0 * float(out.attributes[unseen].sum()))
    none = with_view_prior(diag, model, 0.0)
    assert torch.equal(none.attributes, diag.attributes) and torch.equal(none.coefficients, diag.coefficients)
    assert none.prior["raised"] == 0 and none.prior["seen"] == out.prior["seen"]
    with pytest.raises(ValueError):
        with_view_prior(diag, model, -0.1)


def test_an_unseen_gaussian_is_not_free_to_remove():
    model = synthetic_quantized(n=200, sh_degree=0, n_block=3, bits=16, quantizer="rd", seed=3)
    unseen = torch.zeros(model.n_gaussians, dtype=torch.bool)
    unseen[:10] = True
    diag = _diagonals(model, unseen, seed=1)
    assert bool((removal_distortion(diag, model.opacity)[unseen] == 0).all())
    raised = with_view_prior(diag, model, 0.1)
    assert bool((removal_distortion(raised, model.opacity)[unseen] > 0).all())


def test_the_prior_reaches_the_coefficients_through_the_transform():
    """The coefficient diagonal gains E[(Q·(ε ⊙ √deficit))²]: its total equals the attribute deficit's
    total (Q orthonormal) up to the probes' noise."""
    model = synthetic_quantized(n=400, sh_degree=0, n_block=3, bits=16, quantizer="rd", seed=4)
    unseen = torch.zeros(model.n_gaussians, dtype=torch.bool)
    unseen[::3] = True
    diag = _diagonals(model, unseen, seed=2)
    out = with_view_prior(diag, model, 0.2)
    gained_attr = float((out.attributes - diag.attributes).sum())
    gained_coeff = float((out.coefficients - diag.coefficients).sum())
    assert gained_coeff == pytest.approx(gained_attr, rel=0.1)

"""The per-scene channel transform (format v3): the fitted KLT is orthonormal, block diagonal over the
colour groups, deterministic and decorrelating; the coded model round-trips through the file and its
Hutchinson sensitivities live in the coded channels."""
from __future__ import annotations

import pytest
import torch

from codec.channel_layout import layout_for_sh_degree
from codec.channel_transform import from_coded, to_coded
from compression.channel_basis import TRANSFORMED_GROUPS, fit_channel_basis
from compression.sensitivity import hutchinson_diagonals
from compression.setup import compression_setup
from tests.compression_helpers import one_thread, tiny_scene

_threads = pytest.fixture(scope="module", autouse=True)(one_thread)


def _correlated(n: int, degree: int, seed: int = 0) -> torch.Tensor:
    layout = layout_for_sh_degree(degree)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, layout.n_channels, generator=g)
    for name, sl in layout.group_slices().items():
        if name in TRANSFORMED_GROUPS:  # strongly correlated columns, like RGB
            shared = torch.randn(n, 1, generator=g) * 3.0
            x[:, sl] = x[:, sl] * 0.3 + shared
    return x


@pytest.mark.parametrize("degree", [0, 1, 3])
def test_basis_is_orthonormal_block_diagonal_and_decorrelating(degree):
    layout = layout_for_sh_degree(degree)
    x = _correlated(2000, degree, seed=degree)
    basis = fit_channel_basis(x, layout)
    c = layout.n_channels
    assert basis.dtype == torch.float32 and basis.shape == (c, c)
    torch.testing.assert_close(basis.double() @ basis.double().T, torch.eye(c, dtype=torch.float64), atol=1e-6, rtol=0)
    for name, sl in layout.group_slices().items():
        block = basis[sl, sl]
        if name not in TRANSFORMED_GROUPS:
            assert torch.equal(block, torch.eye(sl.stop - sl.start))
        outside = basis[sl].clone()
        outside[:, sl] = 0
        assert torch.count_nonzero(outside) == 0  # nothing mixes two groups
    coded = to_coded(x, basis).double()
    cov = torch.cov(coded.T)
    for name, sl in layout.group_slices().items():
        if name in TRANSFORMED_GROUPS and sl.stop > sl.start:
            block = cov[sl, sl]
            off = block - torch.diag(torch.diag(block))
            assert off.abs().max() < 1e-3 * block.diag().max()  # decorrelated
            assert bool((block.diag()[:-1] >= block.diag()[1:] - 1e-9).all())  # largest variance first
    torch.testing.assert_close(from_coded(to_coded(x, basis), basis), x, atol=1e-5, rtol=1e-5)
    assert torch.equal(fit_channel_basis(x, layout), basis)  # deterministic, signs included


def test_identity_when_absent():
    x = torch.randn(5, 14)
    assert to_coded(x, None) is x and from_coded(x, None) is x


def test_setup_fits_it_and_the_sensitivities_are_in_the_coded_channels():
    source, train, test, _ = tiny_scene(n=80, sh_degree=1, n_views=4, size=12, seed=4)
    kw = dict(depth=7, percent=0.0, beta=0.1, n_block=3, bits=16, quantizer="rd", sensitivity="hutchinson",
              background=torch.zeros(3), backend="torch", evaluate=False)
    plain = compression_setup(source, train, test, **kw).model
    coded = compression_setup(source, train, test, channel_transform="klt", **kw).model
    assert plain.channel_basis is None and coded.channel_basis is not None
    assert torch.equal(coded.channel_basis, fit_channel_basis(plain.attributes().detach(), plain.layout))
    d = hutchinson_diagonals(coded, train[:1], background=torch.zeros(3), backend="torch", probes=4, seed=0)
    # per probe, (Q·(g·B))² summed over the coefficient slots equals ‖g·B‖² per coded channel: the
    # coefficient diagonal carries the coded channels' energy, not the raw attributes'
    raw = d.attributes.sum(0)
    coded_energy = d.coefficients.sum(0)
    sl = coded.layout.group_slices()["f_dc"]
    assert not torch.allclose(coded_energy[sl], raw[sl], rtol=1e-3)
    torch.testing.assert_close(coded_energy.sum(), raw.sum(), rtol=1e-6, atol=0)  # B orthonormal: same total

"""compression/importance.py: Σ α·T via the colour gradient, volume term, pruning rule."""
import pytest
import torch

from compression.importance import importance_scores, prune_mask, view_importance, volume_term
from gaussian_renderer import render
from tests.compression_helpers import one_thread, tiny_scene

_one_thread = pytest.fixture(autouse=True, scope="module")(one_thread)


@pytest.fixture(scope="module")
def scene():
    model, train, test, _ = tiny_scene(n=150, sh_degree=0, n_views=8, size=20, seed=3)
    return model, train


def _act(model):
    return model.means.detach(), model.quats_wxyz.detach(), model.scales_act.detach(), model.opacities_act.detach()


def test_per_view_total_equals_alpha_map(scene):
    """Σ_i α_i T_i over a pixel = 1 − T_final = alpha: one view's total is Σ_p alpha(p)."""
    model, train = scene
    for cam in train[:3]:
        hits = view_importance(*_act(model), [cam], backend="torch")
        with torch.no_grad():
            alpha = render(*_act(model), cam, colors=torch.zeros(model.num_gaussians, 3), backend="torch")["alpha"]
        assert hits.sum().item() == pytest.approx(alpha.double().sum().item(), rel=1e-5)
        assert (hits >= 0).all()


def test_matches_brute_force_single_gaussian_weights(scene):
    """Cross-check against the colour-linearity of the image: rendering with colour e_i on channel 0
    (only Gaussian i coloured) gives Σ_p α_i T_i directly."""
    model, train = scene
    cam = train[0]
    hits = view_importance(*_act(model), [cam], backend="torch")
    for i in torch.argsort(hits, descending=True)[:3].tolist() + [int(torch.argmin(hits))]:
        colors = torch.zeros(model.num_gaussians, 3)
        colors[i, 0] = 1.0
        with torch.no_grad():
            img = render(*_act(model), cam, colors=colors, backend="torch")["image"]
        assert hits[i].item() == pytest.approx(img[..., 0].double().sum().item(), rel=1e-4, abs=1e-6)


def test_deterministic_and_view_order_independent(scene):
    model, train = scene
    a = importance_scores(model.means, model.quats_wxyz, model.log_scales, model.logit_opacities, train, backend="torch")
    b = importance_scores(model.means, model.quats_wxyz, model.log_scales, model.logit_opacities, train, backend="torch")
    c = importance_scores(model.means, model.quats_wxyz, model.log_scales, model.logit_opacities, train[::-1], backend="torch")
    assert a.dtype == torch.float64
    assert torch.equal(a, b)
    assert torch.allclose(a, c, rtol=1e-12, atol=0)


def test_volume_term_formula():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(101, 3, generator=g)
    beta = 0.3
    v = volume_term(s, beta)
    vol = torch.exp(s.double().sum(1))
    v_ref = torch.sort(vol, descending=True).values[int(0.9 * 101)]
    assert torch.allclose(v, (vol / v_ref) ** beta, rtol=1e-12)
    assert volume_term(s, 0.0).eq(1).all()
    # log space: no overflow for huge scales
    big = torch.full((10, 3), 200.0)
    big[0] = 260.0
    assert torch.isfinite(volume_term(big, 1.0)).all()


def test_prune_exact_count_ties_and_noop():
    scores = torch.tensor([0.0, 0.0, 0.0, 1.0, 2.0, 0.5, 3.0, 0.0, 4.0, 5.0], dtype=torch.float64)
    keep = prune_mask(scores, 0.3)
    assert int((~keep).sum()) == 3  # exactly floor(0.3 * 10), ties at 0 broken by index
    assert (~keep).nonzero().flatten().tolist() == [0, 1, 2]
    assert prune_mask(scores, 0.0).all()  # p = 0 is a true no-op even with ties at the minimum
    assert int((~prune_mask(scores, 0.55)).sum()) == 5
    with pytest.raises(ValueError, match="percent"):
        prune_mask(scores, 1.0)
